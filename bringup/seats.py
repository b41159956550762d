"""Seats: an attendee's laptop in a box, for those whose own cannot run Docker.

A seat is the doc tests' sandbox (doctester.docker.sandbox: an unprivileged
reader, a rootless engine of its own, the room's mirror read-only inside,
bounded memory, pids, CPU share and disk) with three things more:

- its way out is closed to everything of the room but the internet: the
  sandbox's own network namespace drops what it sends to private, shared,
  link-local and multicast addresses (the LAN, this machine through its
  bridge, the other seats), except DNS to this machine's resolvers;
- the workshop's folder, with `examples/`, in the reader's home;
- one login shell under a pseudo-terminal, kept with its scrollback while
  the attendee's browser comes and goes.

Seats are recorded by an `ownership.Run` before they exist, so a seat server
killed with SIGKILL leaves records that `make room-stop` (or the next doc-test
run) reaps.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ptyprocess import PtyProcess  # type: ignore[import-untyped]  # pexpect's own pty library, untyped

from doctester.docker.ownership import Run
from doctester.docker.sandbox import Limits, Sandbox, upstream_nameservers
from doctester.docker.workspace import SandboxWorkspace

from .progress import BringupError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The first chapters' images, in a seat before its card opens it (what it
# holds counts in its memory: the big `python` image is left to a pull).
PRELOADED = ("hello-world", "python:alpine")
ROOM_CA_FILE = "room-ca.crt"   # in a seat's home
SCROLLBACK = 256 * 1024        # bytes of a seat's output kept for a browser that comes back
READ_SIZE = 64 * 1024
PENDING = 256 * 1024           # bytes typed that the shell has not read yet
QUICK_EXIT, RESTART_MAX = 2.0, 30.0  # seconds: a shell that lived less waits before the next, up to this
# Where a seat may not send: every address that is not the internet's.
CLOSED_V4 = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
             "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
             "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")
CLOSED_V6 = ("::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48",
             "2001:db8::/32", "2001::/32", "2002::/16")  # NAT64's two, Teredo and 6to4 carry IPv4 addresses inside


def host_networks(listing: str | None = None) -> list[str]:
    """Every address of this machine and the network it is on (`ip -j addr`),
    which a seat must not reach even when they are public (a venue LAN on
    public or global addresses, the machine's own)."""
    if listing is None:
        listing = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found: list[str] = []
    for interface in json.loads(listing or "[]"):
        for info in interface.get("addr_info", []):
            try:
                network = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            except (KeyError, ValueError):
                continue
            if not network.ip.is_loopback:
                found += [str(network.network), str(ipaddress.ip_network(network.ip))]
    return sorted(set(found))


def egress_rules(nameservers: list[str], room: tuple[str, int] | None = None,
                 host: Sequence[str] = ()) -> dict[str, list[list[str]]]:
    """iptables / ip6tables rules (argv after the command) for a seat's
    OUTPUT chain: loopback, DNS to `nameservers` and TCP to the room's server
    pass; the closed ranges and this machine's own networks (`host`) are
    refused; everything else (the internet) passes."""
    rules: dict[str, list[list[str]]] = {"iptables": [], "ip6tables": []}
    for command in rules:
        rules[command].append(["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"])
    if room is not None:
        address, port = room
        command = "ip6tables" if ipaddress.ip_address(address).version == 6 else "iptables"
        rules[command].append(["-A", "OUTPUT", "-d", address, "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"])
    for server in nameservers:
        command = "ip6tables" if ipaddress.ip_address(server).version == 6 else "iptables"
        for protocol in ("udp", "tcp"):
            rules[command].append(["-A", "OUTPUT", "-d", server, "-p", protocol, "--dport", "53", "-j", "ACCEPT"])
    closed_networks = [ipaddress.ip_network(n) for n in (*CLOSED_V4, *CLOSED_V6)]
    mine = [n for n in map(ipaddress.ip_network, host)  # those the fixed ranges do not hold already
            if not any(n.version == c.version and n.subnet_of(c) for c in closed_networks)]  # type: ignore[arg-type]  # same version, checked first
    for command, closed, version in (("iptables", CLOSED_V4, 4), ("ip6tables", CLOSED_V6, 6)):
        for network in [*closed, *(str(n) for n in mine if n.version == version)]:
            rules[command].append(["-A", "OUTPUT", "-d", network, "-j", "REJECT"])
    return rules


# How a family's table gets into a seat's network namespace: (iptables or
# ip6tables, the table) -> the finished restore.
Restore = Callable[[str, str], "subprocess.CompletedProcess[str]"]


def restore_here(sandbox: Sandbox) -> Restore:
    """Restore from this machine, with nsenter into the sandbox's namespace
    (a seat on this machine)."""
    missing = [tool for tool in ("nsenter", "iptables-restore", "ip6tables-restore") if shutil.which(tool) is None]
    if missing:
        raise BringupError(f"seats need {', '.join(missing)} to close a seat's way to the LAN: "
                           "apt-get install util-linux iptables")
    pid = sandbox.outer.run("inspect", "-f", "{{.State.Pid}}", sandbox.name).stdout.strip()
    if not pid.isdigit() or pid == "0":
        raise BringupError(f"the seat {sandbox.name} is not running")
    return lambda command, table: subprocess.run(
        ["nsenter", "-t", pid, "-n", f"{command}-restore", "--noflush", "-w"],
        input=table, capture_output=True, text=True, timeout=30)


def close_egress(room: tuple[str, int] | None, restore: Restore, host: Sequence[str]) -> None:
    """Apply egress_rules in a seat's own network namespace (never the
    machine's), from outside it: the reader cannot change them. `host`: the
    networks of the machine the seat runs on."""
    for command, rules in egress_rules(upstream_nameservers(), room, host).items():
        # All of a family's rules in one process, applied whole or not at all;
        # --noflush keeps what the engine set up in the namespace (its DNS).
        result = restore(command, "*filter\n" + "".join(" ".join(rule) + "\n" for rule in rules) + "COMMIT\n")
        if result.returncode:
            raise BringupError(f"closing the seat's way out failed: {command}-restore: {result.stderr.strip()}")


class Terminal:
    """A login shell in a seat under a pseudo-terminal, and its recent output.
    Output goes to the attached listener (a browser's socket), if any."""

    def __init__(self, argv: list[str], loop: asyncio.AbstractEventLoop) -> None:
        self.argv, self.loop = argv, loop
        self.scrollback = bytearray()
        self.listener: Callable[[bytes], None] | None = None
        self.process: PtyProcess | None = None
        self.pending = bytearray()
        self.size = (24, 80)
        self.started, self.delay, self.closed = 0.0, 0.0, False

    def start(self) -> None:
        if self.closed:
            return
        self.started = time.monotonic()
        self.process = PtyProcess.spawn(self.argv, dimensions=self.size)
        self.pending = bytearray()
        # Never block the server's one thread on a full terminal: what the
        # shell has not read yet waits here, and is written when it can be.
        os.set_blocking(self.process.fd, False)
        self.loop.add_reader(self.process.fd, self._read)

    def _read(self) -> None:
        assert self.process is not None
        try:
            data: bytes = self.process.read(READ_SIZE)
        except BlockingIOError:
            return
        except EOFError:  # the shell ended (`exit`): a new one, in the same seat
            self.loop.remove_reader(self.process.fd)
            self.loop.remove_writer(self.process.fd)
            self.process.close()
            self.process = None
            # A shell that ends at once (a profile that exits) would restart without end: wait, longer each time.
            lived = time.monotonic() - self.started
            self.delay = 0.0 if lived > QUICK_EXIT else min(RESTART_MAX, max(1.0, self.delay * 2))
            self._keep(b"\r\n[the shell ended; a new one starts" +
                       (f" in {self.delay:.0f} s]".encode() if self.delay else b"]") + b"\r\n")
            self.loop.call_later(self.delay, self.start)
            return
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        self.scrollback += data
        del self.scrollback[:-SCROLLBACK]
        if self.listener is not None:
            self.listener(data)

    def write(self, data: bytes) -> None:
        """Type `data`; beyond PENDING bytes not yet read by the shell, input is dropped."""
        if self.process is None or len(self.pending) + len(data) > PENDING:
            return
        was_empty = not self.pending
        self.pending += data
        if was_empty:
            self._flush()

    def _flush(self) -> None:
        assert self.process is not None
        try:
            written = os.write(self.process.fd, self.pending)
        except BlockingIOError:
            written = 0
        except OSError:  # the shell is gone; _read starts the next one
            written = len(self.pending)
        del self.pending[:written]
        if self.pending:
            self.loop.add_writer(self.process.fd, self._flush)
        else:
            self.loop.remove_writer(self.process.fd)

    def resize(self, rows: int, cols: int) -> None:
        self.size = (rows, cols)
        if self.process is not None and self.process.isalive():
            self.process.setwinsize(rows, cols)

    def close(self) -> None:
        self.closed = True
        if self.process is not None:
            self.loop.remove_reader(self.process.fd)
            self.loop.remove_writer(self.process.fd)
            self.process.terminate(force=True)
            self.process.close()
            self.process = None


@dataclass
class Seat:
    """A started sandbox with the workshop's folder; its terminal once a card takes it."""
    sandbox: Sandbox
    workspace: SandboxWorkspace
    started: float
    last_used: float
    terminal: Terminal | None = None
    room_ca: Path | None = None  # in the seat: the room CA, which its check trusts to share over HTTPS
    names: tuple[str, ...] = ()  # the run's records that removing the seat removes (make_seat gives them)

    def open_terminal(self, card: str, loop: asyncio.AbstractEventLoop, room_url: str | None = None) -> Terminal:
        """The login shell, in the workshop's folder, for the card called
        `card` (WORKSHOP_SEAT; WORKSHOP_ROOM, where its check shares, if set)."""
        if self.terminal is None:
            env = {"HOME": str(self.workspace.tmp), "TERM": "xterm-256color", "WORKSHOP_SEAT": card}
            if room_url:
                env["WORKSHOP_ROOM"] = room_url
            if self.room_ca is not None:
                env["WORKSHOP_ROOM_CA"] = str(self.room_ca)
            # No XON/XOFF: Ctrl-S would freeze the terminal with no sign of why (as a browser shows it).
            argv = self.sandbox.exec_argv("bash", "-c", "stty -ixon; exec bash -l", interactive=True,
                                          workdir=self.workspace.workdir, env=env)
            self.terminal = Terminal(argv, loop)
            self.terminal.start()
        return self.terminal

    def close(self) -> None:
        if self.terminal is not None:
            self.terminal.close()


def start_seat(run: Run, number: int, image: str, limits: Limits, mirror_storage: Path | None,
               hostname: str, room: tuple[str, int] | None = None, room_ca: str | None = None) -> Seat:
    """Start a seat on this machine (blocking: call it in a thread); `room_ca`,
    the room CA's certificate, is written into its home for its check to trust."""
    sandbox = Sandbox(run, f"seat{number}", image, limits, mirror_storage, hostname=hostname)
    return make_seat(run, sandbox, room, room_ca)


# Where a seat's way out is closed from: a restore into its namespace, and the
# networks of the machine it runs on (bringup.swarmseats: another machine's).
Placed = Callable[[Sandbox], tuple[Restore, Sequence[str]]]


def make_seat(run: Run, sandbox: Sandbox, room: tuple[str, int] | None, room_ca: str | None,
              placed: Placed | None = None, owned: tuple[str, ...] = ()) -> Seat:
    """Start `sandbox` and make it a seat: its way out closed, the workshop's
    folder and the room CA in its home, the first chapters' images pulled.
    A seat half made is not left running."""
    started = time.monotonic()
    names = owned or (sandbox.name,)  # what the run records for it: more than its sandbox for a Swarm seat
    try:
        sandbox.start()
        restore, host = placed(sandbox) if placed else (restore_here(sandbox), host_networks())
        close_egress(room, restore, host)
        workspace = SandboxWorkspace(sandbox, EXAMPLES, ("__pycache__", "jams.json"), "intro-to-docker")
        if room_ca is not None:
            workspace.write(workspace.tmp, ROOM_CA_FILE, room_ca)
        for preloaded in PRELOADED:  # from the mirror inside the seat: no network
            sandbox.docker.run("pull", "-q", preloaded, timeout=120)
    except BaseException:
        run.release_some(*names)
        raise
    return Seat(sandbox, workspace, started, time.monotonic(),
                room_ca=workspace.tmp / ROOM_CA_FILE if room_ca is not None else None, names=names)
