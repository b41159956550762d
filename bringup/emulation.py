"""Run a program in a user and mount namespace of its own, in which programs
built for another CPU run under QEMU (Debian's qemu-user-static).

binfmt_misc, the kernel's table of such handlers, is machine-wide, except
that since Linux 6.7 every user namespace may mount an instance of its own:
a handler registered there is seen only by the processes of that namespace
and its children. So bring-up never reads or changes the host's handlers,
and its handler is gone with the namespace's last process, a kill -9
included.

    python3 -m bringup.emulation arm64 --qemu-root DIR [--own-network] -- PROGRAM [ARG...]

DIR holds the files of Debian's qemu-user-static package, unpacked, never
installed: installing it would register its handlers machine-wide (systemd
loads /usr/lib/binfmt.d at every boot and on the package's install).

The program (a build engine, a chroot) runs as root in the namespace. Ids
0..IDS-1 map to the same ids outside, so the files it writes keep their
owners; the range is not the whole one, so dockerd and runc see that they run
in a user namespace, and bind device nodes instead of making them.
Without --own-network the program shares the host's network namespace but
has no capability over it (an engine cannot run containers so); with it, it
has a network namespace of its own, reaching out through slirp4netns, with
no way to the host's loopback.
"""
import argparse
import ctypes
import os
import re
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
IDS = 1_000_000_000
# Debian's machine names (dpkg --print-architecture) and QEMU's, for the CPUs
# the workshop serves images for.
QEMU_CPU = {"arm64": "aarch64", "amd64": "x86_64"}
HANDLERS = Path("/usr/lib/binfmt.d")  # where qemu-user-static keeps its registration lines, one per CPU
PACKAGE = "qemu-user-static"
SLIRP = "slirp4netns"  # Debian's package of that name
BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")
USAGE = "%(prog)s ARCH --qemu-root DIR [--own-network] -- PROGRAM [ARG...]"
MINIMUM_KERNEL = (6, 7)


class EmulationError(Exception):
    pass


def handler_line(arch: str, qemu_root: str | os.PathLike[str]) -> str:
    """The binfmt_misc registration line qemu-user-static ships for `arch`
    (the package's own magic, mask and flags, F among them: the interpreter
    is opened when registered, so it works inside a chroot), its interpreter
    taken from `qemu_root`, where the package's files were unpacked."""
    cpu = QEMU_CPU.get(arch)
    if cpu is None:
        raise EmulationError(f"no QEMU emulation known for the {arch!r} architecture "
                             f"(known: {', '.join(sorted(QEMU_CPU))})")
    conf = Path(qemu_root) / HANDLERS.relative_to("/") / f"qemu-{cpu}.conf"
    try:
        line = conf.read_text().strip()
    except OSError:
        raise EmulationError(f"{conf} is missing: {PACKAGE}'s files are not unpacked there") from None
    fields = line.split(":")
    if len(fields) != 8 or "F" not in fields[7] or not fields[6].startswith("/"):
        raise EmulationError(f"{conf} is not a binfmt_misc line with the F flag: {line[:80]!r}")
    fields[6] = str(Path(qemu_root) / fields[6].lstrip("/"))
    return ":".join(fields)


def kernel_supported(release: str | None = None) -> bool:
    """Does this kernel give each user namespace a binfmt_misc of its own?"""
    match = re.match(r"(\d+)\.(\d+)", release or os.uname().release)
    return match is not None and tuple(map(int, match.groups())) >= MINIMUM_KERNEL


def _check(result: int, what: str) -> None:
    if result != 0:
        raise EmulationError(f"{what}: {os.strerror(ctypes.get_errno())}")


def _map_ids(parent: int, own_network: bool, ready_read: int, network_ready: tuple[int, int]) -> None:
    """The child's part: map the parent's ids; with `own_network`, then become
    slirp4netns, the parent namespace's way out (user-mode networking: a
    program's sockets, no rights over the host's network, no way to its
    loopback, in a sandbox and a seccomp filter of its own)."""
    try:
        if os.read(ready_read, 1) != b"1":
            return  # the parent could not unshare, and has gone
        for kind in ("uid_map", "gid_map"):
            Path(f"/proc/{parent}/{kind}").write_text(f"0 0 {IDS}\n")
        if own_network:
            ready_write, exit_read = network_ready
            os.set_inheritable(ready_write, True)
            os.set_inheritable(exit_read, True)
            # --exit-fd: it ends when the namespace's last process (all hold the pipe's other end) does.
            os.execvp(SLIRP, [SLIRP, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                              "--enable-seccomp", f"--ready-fd={ready_write}", f"--exit-fd={exit_read}",
                              str(parent), "tap0"])
    finally:
        os._exit(0)


def enter(arch: str, qemu_root: str | os.PathLike[str], own_network: bool = False) -> None:
    """Move this process into a new user and mount namespace (and network
    namespace, with `own_network`) and register `arch`'s handler there. A
    child of ours, still outside, writes the id maps (a process cannot map
    ids it has no rights over from inside)."""
    if not kernel_supported():
        raise EmulationError(f"Linux {os.uname().release} gives user namespaces no binfmt_misc of their own "
                             f"(Linux {'.'.join(map(str, MINIMUM_KERNEL))} or newer does): images for "
                             f"{arch} cannot be built here without changing the machine's own handlers")
    line = handler_line(arch, qemu_root)
    libc = ctypes.CDLL(None, use_errno=True)
    ready_read, ready_write = os.pipe()
    network_read, network_write = os.pipe()  # slirp4netns says "1" once the network is up
    exit_read, exit_write = os.pipe()  # held by this process and its children: slirp4netns' lifeline
    mapper = os.fork()
    if mapper == 0:
        for unused in (ready_write, network_read, exit_write):  # a parent that fails must not leave it waiting
            os.close(unused)
        _map_ids(os.getppid(), own_network, ready_read, (network_write, exit_read))
    os.close(ready_read)
    os.close(network_write)
    os.close(exit_read)
    flags = CLONE_NEWUSER | CLONE_NEWNS | (CLONE_NEWNET if own_network else 0)
    _check(libc.unshare(flags), "creating a user namespace")
    os.write(ready_write, b"1")
    os.close(ready_write)
    if own_network:
        if os.read(network_read, 1) != b"1":
            raise EmulationError(f"{SLIRP} did not bring the namespace's network up")
        os.set_inheritable(exit_write, True)
    else:
        os.waitpid(mapper, 0)
        os.close(exit_write)
    os.close(network_read)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    _check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making the mounts private")
    # At the usual place, over the host's (which this namespace then no longer sees).
    _check(libc.mount(b"binfmt_misc", str(BINFMT_MISC).encode(), b"binfmt_misc", 0, None),
           "mounting a binfmt_misc of this namespace's own")
    (BINFMT_MISC / "register").write_text(line)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python3 -m bringup.emulation", usage=USAGE,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", choices=sorted(QEMU_CPU))
    parser.add_argument("--qemu-root", required=True, help=f"where {PACKAGE}'s files were unpacked")
    parser.add_argument("--own-network", action="store_true", help="a network namespace of its own (slirp4netns)")
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("no program to run after --")
    args = parser.parse_args(argv[:argv.index("--")])
    program = argv[argv.index("--") + 1:]
    try:
        enter(args.arch, args.qemu_root, args.own_network)
    except (EmulationError, OSError) as error:
        sys.exit(f"emulation: {error}")
    os.execvp(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
