"""A private Docker engine for a test worker: a reader's machine in a box.

The sandbox is a container of the outer engine (the user's Docker, Docker
Desktop, or the one bring-up started), and holds nothing the machine grants
beyond what a rootless engine needs. Everything in it runs as an ordinary
user (no effective capability, a uid no account of the machine has); its Docker engine is a rootless
one, in a user namespace whose root the machine maps to unprivileged uids,
with its own network namespace (slirp4netns) and the room mirror served
read-only inside it. Its capabilities' bounding set is SETUID, SETGID,
SYS_ADMIN and DAC_OVERRIDE, which only newuidmap and newgidmap (its only
setuid programs) can use, to write the namespace's uid map.

The page's shell, its python fences and its files live inside it, and
nothing of the machine is mounted into it but the mirror's storage,
read-only: commands, files and output travel over `docker exec`. Its root
file system is read-only and what it writes goes to tmpfs, so memory, pids,
CPU share and disk are all bounded (`Limits`). Removing the sandbox removes
everything the engine ever made; `ownership.Run` records the sandbox and its
network before they exist, so a killed run is reaped later.
"""
from __future__ import annotations

import ipaddress
import json
import os
import random
import secrets
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dockerstate import DockerCLI, EngineError
from .identity import DEFAULT_HOSTNAME
from .ownership import Run
from .registry_config import registry_config

# The bounding set newuidmap needs to map the engine's namespace (the reader
# itself has no effective capability).
CAPABILITIES = ("SETUID", "SETGID", "SYS_ADMIN", "DAC_OVERRIDE")
# The reader's uid, and the 65536 uids its engine maps its containers' users
# to (sandbox_recipe/Dockerfile). The outer engine does not remap them, so
# they are uids of the machine: the reader's is in the range Debian reserves
# and never allocates (65000-65533; it must stay below 65536, since a build
# context the Docker SDK sends carries the reader's uid into the engine's
# namespace), the others far above any account's or subuid range's.
READER_UID = 65000
READER = f"{READER_UID}:{READER_UID}"
RUNTIME_DIR = f"/run/user/{READER_UID}"  # the reader's XDG_RUNTIME_DIR: the engine's socket and logs
READER_HOME = "/home/reader"             # a tmpfs: the pages' folders
DATA_ROOT = "/var/lib/docker"            # a tmpfs of the reader's: where a Linux engine keeps its data
ENGINE_SOCKET = f"unix://{RUNTIME_DIR}/docker.sock"
MIRROR_ADDRESS = "127.0.0.1:5999"  # inside the engine's namespace; 5000 is left to the pages' own registries
MIRROR_STORAGE = "/var/lib/mirror"  # where the outer mirror's storage is mounted, read-only
OUTER_POOL = ipaddress.ip_network("10.213.0.0/16")  # outside Docker's default pools, as on a laptop
DETACH_KEYS = "ctrl-^,ctrl-_"  # not ctrl-p ctrl-q: those must reach the page's own `docker run -it`
READY_TIMEOUT = 60
GIB = 1 << 30
HARDENING_HINT = ("the sandbox runs a rootless engine: the machine under the outer engine needs user "
                  "namespaces (sysctl user.max_user_namespaces > 0) and /dev/net/tun. Where it has "
                  "neither, run pages you trust on the reachable daemon with --doc-engine=existing "
                  "--doc-trusted-pages")


@dataclass(frozen=True)
class Limits:
    """What one sandbox may take: memory (its tmpfs, the images it holds,
    included), processes, a relative CPU share, and the disk it writes, which
    is its tmpfs."""
    memory: int        # bytes
    pids: int
    cpu_shares: int

    @classmethod
    def for_machine(cls, workers: int, memory: int | None = None, pids: int = 4096, cpu_shares: int = 512,
                    total: int | None = None) -> Limits:
        """Unset memory: all workers' sandboxes together fit in 80 % of this
        machine's memory, at least 2 GiB each."""
        if not memory:
            total = total or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            memory = max(2 * GIB, int(total * 0.8 / max(1, workers)) // GIB * GIB)
        if not 64 <= pids <= 4096:
            raise EngineError(f"doc_sandbox_pids = {pids}: use a number from 64 to 4096")
        return cls(int(memory), int(pids), int(cpu_shares))

    def gib(self) -> str:
        return f"{self.memory / GIB:.1f}".rstrip("0").rstrip(".")

    def flags(self) -> list[str]:
        return ["--memory", str(self.memory), "--memory-swap", str(self.memory),
                "--pids-limit", str(self.pids), "--cpu-shares", str(self.cpu_shares)]


def parse_size(text: str | None) -> int | None:
    """`6g`, `512m`, `2048` (bytes) -> bytes; empty -> None."""
    text = (text or "").strip().lower()
    if not text:
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": GIB}
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)
    except ValueError:
        raise EngineError(f"doc_sandbox_memory = {text!r}: write a size such as 6g or 4096m") from None


def upstream_nameservers(
        files: Sequence[str] = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")) -> list[str]:
    """The resolvers this machine uses, for the containers inside the sandbox
    (which cannot reach the outer engine's 127.0.0.11); none found: the
    engine's own default."""
    for path in files:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        found = [line.split()[1] for line in text.splitlines()
                 if line.startswith("nameserver") and len(line.split()) > 1]
        found = [n for n in found if not ipaddress.ip_address(n).is_loopback]
        if found:
            return found
    return []


def daemon_config(dns: list[str], mirror: bool, features: dict[str, Any] | None = None) -> dict[str, Any]:
    """The rootless engine's settings; its socket and exec root are rootless
    defaults under RUNTIME_DIR, its data root where pages expect it."""
    config: dict[str, Any] = {"registry-mirrors": [f"http://{MIRROR_ADDRESS}"] if mirror else [], "bip": "172.17.0.1/16",
              "data-root": DATA_ROOT}
    if dns:
        config["dns"] = dns
    if features:
        config["features"] = features
    return config


def hardening_flags(limits: Limits) -> list[str]:
    """`docker run` flags of a sandbox: an unprivileged reader, the bounding
    set newuidmap needs, a read-only root, every write on a bounded tmpfs.
    seccomp and the system paths are unconfined because the rootless engine
    mounts /proc for its containers and unshares namespaces; what the
    reader can do with them is what any user of a rootless engine can."""
    size = limits.memory
    return ["--user", READER, "--cap-drop", "ALL", *[f"--cap-add={c}" for c in CAPABILITIES],
            "--security-opt", "seccomp=unconfined", "--security-opt", "systempaths=unconfined",
            "--security-opt", "apparmor=unconfined", "--device", "/dev/net/tun", "--read-only",
            "--tmpfs", f"{READER_HOME}:exec,uid={READER_UID},gid={READER_UID},mode=755,size={size}",
            "--tmpfs", f"{DATA_ROOT}:exec,uid={READER_UID},gid={READER_UID},mode=710,size={size}",
            "--tmpfs", f"{RUNTIME_DIR}:exec,uid={READER_UID},gid={READER_UID},mode=700,size=64m",
            "--tmpfs", f"/tmp:exec,mode=1777,size={size}", "--tmpfs", "/run:mode=755,size=16m",
            "-e", f"HOME={READER_HOME}", "-e", f"XDG_RUNTIME_DIR={RUNTIME_DIR}",
            "-e", f"DOCKER_HOST={ENGINE_SOCKET}", *limits.flags(),
            # What the sandbox's init writes would grow a log file on the machine's disk without end.
            "--log-driver", "none"]


def build_hint(image: str) -> str:
    """How to build a missing sandbox image (doctester.docker.sandbox_image)."""
    return f"`python -m doctester.docker.sandbox_image build --tag {image}`, or as your project builds it"


def create_network(outer: DockerCLI, name: str, label: list[str]) -> None:
    """A network of our own, on a subnet nothing else uses, so the private
    engine can keep Docker's usual 172.17.0.0/16 inside. It has IPv6 too,
    as a laptop has: engines then publish ports on [::] as well."""
    subnets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(OUTER_POOL.subnets(new_prefix=24))
    for subnet in random.sample(subnets, 16):
        ipv6 = f"fd0d:{subnet.network_address.packed[2]:x}:{random.getrandbits(16):x}::/64"
        result = outer.run("network", "create", *label, "--subnet", str(subnet), "--ipv6",
                            "--subnet", ipv6, name, check=False)
        if result.returncode == 0:
            return
        if "overlap" not in result.stderr:
            raise EngineError(f"creating the sandbox network failed: {result.stderr.strip()}")
    raise EngineError(f"no free /24 in {OUTER_POOL} for the sandbox network after 16 tries")


class SandboxDocker(DockerCLI):
    """The private engine's `docker`, run in the sandbox as the reader.
    Several commands at once share one `docker exec`: each exec costs the
    outer engine about what the command costs, and a journey lists the
    private engine after most commands a page runs. `exec_in(*flags)` is
    the outer engine's `docker exec ... <sandbox>`."""

    def __init__(self, outer: Sequence[str], exec_in: Callable[..., list[str]]) -> None:
        super().__init__([*outer, *exec_in(), "docker"])
        self.shell = [*outer, *exec_in("-i"), "bash", "-s"]  # the script on stdin, not in any argv

    def outputs(self, commands: Mapping[str, Sequence[str]], timeout: float = 300) -> dict[str, str]:
        # All at once, each into a pipe of the shell's (process substitution),
        # read in turn, each after a line with a salt nothing listed holds.
        separator = f"__OUTPUT_{secrets.token_hex(8)}__"
        script = "".join(f"exec {{fd{number}}}< <(docker {shlex.join(argv)} 2>/dev/null)\n"
                         for number, argv in enumerate(commands.values()))
        script += "".join(f"printf '\\n%s\\n' {separator}; cat <&$fd{number}\n" for number in range(len(commands)))
        try:
            printed = subprocess.run(self.shell, input=script, capture_output=True, text=True, timeout=timeout,
                                     errors="replace", env=self.environment()).stdout
        except subprocess.TimeoutExpired:
            raise EngineError(f"listing the private engine did not finish within {timeout} s")
        parts = printed.split(f"\n{separator}\n")[1:]
        if len(parts) != len(commands):
            raise EngineError(f"listing the private engine gave {len(parts)} of {len(commands)} listings "
                              "(its shell in the sandbox was stopped?)")
        return dict(zip(commands, parts))


class Sandbox:
    def __init__(self, run: Run, worker: str, image: str, limits: Limits,
                 mirror_storage: str | os.PathLike[str] | None = None, features: dict[str, Any] | None = None,
                 outer: Sequence[str] = ("docker",), hostname: str = DEFAULT_HOSTNAME) -> None:
        self.run, self.image, self.limits, self.hostname = run, image, limits, hostname
        self.name = f"doctest-{run.id}-{worker}"
        self.mirror_storage = Path(mirror_storage) if mirror_storage else None
        self.features = features
        self.outer = DockerCLI(outer)
        self.docker = SandboxDocker(outer, self.as_reader)  # the private engine
        self.etc = run.dir / worker / "etc"  # written here, mounted read-only

    def start(self) -> None:
        if self.outer.run("image", "inspect", self.image, check=False).returncode != 0:
            raise EngineError(f"the sandbox image {self.image} is missing on the outer engine: "
                              f"build it ({build_hint(self.image)})")
        started = time.monotonic()
        self.etc.mkdir(parents=True)
        mirror = self.mirror_storage is not None and self.mirror_storage.is_dir()
        (self.etc / "daemon.json").write_text(json.dumps(
            daemon_config(upstream_nameservers(), mirror, self.features), indent=1))
        label = ["--label", f"{self.run.label}={self.run.id}"]
        self.run.record("network", self.name)
        create_network(self.outer, self.name, label)
        self.run.record("container", self.name)
        argv = ["run", "-d", "--init", "--name", self.name, *label, "--hostname", self.hostname,
                "--network", self.name, *hardening_flags(self.limits), "-v", f"{self.etc}:/etc/doctest:ro"]
        if mirror:
            registry = registry_config(MIRROR_ADDRESS, MIRROR_STORAGE)
            (self.etc / "registry.yml").write_text(json.dumps(registry, indent=1))
            argv += ["-v", f"{self.mirror_storage}:{MIRROR_STORAGE}:ro"]
        self.outer.run(*argv, self.image)
        self._wait_ready()
        self.ready_after = time.monotonic() - started

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.docker.run("version", check=False, timeout=10).returncode == 0:
                return
            state = self.outer.run("inspect", "-f", "{{.State.Running}}", self.name, check=False)
            if state.stdout.strip() != "true":
                break
            time.sleep(0.1)
        log = self.outer.run(*self.as_reader(), "tail", "-n", "15", f"{RUNTIME_DIR}/dockerd.log", check=False)
        logs = log.stdout or self.outer.run("logs", "--tail", "15", self.name, check=False).stderr
        raise EngineError(f"the private engine in {self.name} stopped or did not answer within {READY_TIMEOUT} s "
                          f"({HARDENING_HINT}); its log ends:\n{logs.strip()}")

    def as_reader(self, *flags: str) -> list[str]:
        """`docker exec` into the sandbox as the reader, named: a sandbox whose
        first process starts as root (a seat placed by Swarm) still runs
        everything else as the reader."""
        return ["exec", "--user", READER, *flags, self.name]

    def exec_argv(self, *argv: str, interactive: bool = False, workdir: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None, stdin: bool = False) -> list[str]:
        """argv of a command run in the sandbox, as the reader (the reader's terminal)."""
        flags = ["-it", f"--detach-keys={DETACH_KEYS}"] if interactive else (["-i"] if stdin else [])
        flags += ["-w", str(workdir)] if workdir else []
        for key, value in (env or {}).items():
            flags += ["-e", f"{key}={value}"]
        return [*self.outer.prefix, *self.as_reader(*flags), *argv]

    def run_script(self, script: str, *args: str, timeout: float = 300, check: bool = True,
                   stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash script in the sandbox as the reader; `args` are its $1..."""
        flags = ["-i"] if stdin is not None else []
        return self.outer.run(*self.as_reader(*flags), "bash", "-c", script, "bash", *args,
                              timeout=timeout, check=check, stdin=stdin)

    def in_engine_namespace(self, script: str, *args: str, timeout: float = 120,
                            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a script as the root of the engine's user namespace (which owns
        what the engine's containers wrote into the pages' folders)."""
        enter = (f'nsenter -U --preserve-credentials -m -t "$(cat {RUNTIME_DIR}/dockerd-rootless/child_pid)" '
                 'bash -c "$0" "$@"')
        return self.outer.run(*self.as_reader(), "bash", "-c", enter, script, *args, timeout=timeout, check=check)

    def memory_kills(self) -> int | None:
        """How many processes the sandbox's memory limit has ended so far
        (cgroup v1 memory.oom_control, or v2 memory.events); None if unknown."""
        result = self.outer.run(*self.as_reader(), "cat", "/sys/fs/cgroup/memory/memory.oom_control",
                                "/sys/fs/cgroup/memory.events", check=False, timeout=20)
        for line in result.stdout.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return None
