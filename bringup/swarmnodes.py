"""Swarm nodes on this one machine: Docker engines of bring-up's own, each in
a network namespace of its own, cabled to one switch, forming one Swarm. It
is how seats placed by Swarm (bringup.swarmseats) are tested without more
machines; a room's real nodes are machines of their own.

A node keeps everything apart from the machine and from bring-up's engine:
its data root, exec root and socket under FOLDER, its bridge, iptables rules
and Swarm ports inside its namespace (the switch's namespace holds the only
link between them, and nothing leads out of it), its containers under a
cgroup of its own. Its dockerd is a bring-up service (bringup.services: a pid
file that proves the process is ours), so `make engine-stop`, or the next
start, stops what a killed test left, then removes what is left of it:
processes in its namespace or cgroup, mounts, namespaces and folders. The
nodes' lock is held while they serve: nothing stops the nodes of a run that
is alive. The names of namespaces and cgroups carry this cache's own mark,
so a bring-up of another cache on the machine never touches them.

The nodes' dockerd takes an allow-all seccomp profile of its own: an engine
older than Docker 25 (API 1.44) cannot lift seccomp for one service, and a
seat's engine needs it lifted, as on the organizer's machine (where the seat
gets `--security-opt seccomp=unconfined`). A room's real seat nodes are
dedicated to seats for the same reason.
"""
from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from doctester.docker.dockerstate import DockerCLI

from . import paths, services
from .engine import DOCKERD
from .progress import BringupError

FOLDER = paths.CACHE / "swarm-nodes"
MAX_NODES = 3
# The cable between the nodes' namespaces, and the pool of their overlay
# networks: private ranges nothing of bring-up's or Docker's defaults use.
CABLE = ipaddress.ip_network("10.199.77.0/24")
OVERLAY_POOL = "10.198.0.0/16"
LOCK = paths.RUN / "swarm-nodes.lock"
MARK = hashlib.sha256(str(paths.CACHE).encode()).hexdigest()[:6]  # this cache's nodes, not another's
SWITCH = f"idt-swarm-{MARK}-0"  # the namespace holding the bridge every node is cabled to
ALLOW_ALL = {"defaultAction": "SCMP_ACT_ALLOW"}
READY_SECONDS = 60


@dataclass(frozen=True)
class Node:
    number: int

    @property
    def name(self) -> str:
        """Its service name (bringup.services)."""
        return f"swarm-node-{self.number}"

    @property
    def netns(self) -> str:
        """Its network namespace, and the parent of its containers' cgroups."""
        return f"idt-swarm-{MARK}-{self.number}"

    @property
    def address(self) -> str:
        return str(CABLE[self.number])

    @property
    def root(self) -> Path:
        return FOLDER / self.name

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def docker(self) -> list[str]:
        """The docker CLI's argv prefix for this node's engine."""
        return ["docker", "--host", self.host]

    def cli(self) -> DockerCLI:
        return DockerCLI(self.docker)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode:
        raise BringupError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


_HELD: list[IO[str]] = []  # the nodes' lock, while this process has them


def hold() -> bool:
    """Take the nodes' lock (True), unless a live run holds it (False)."""
    if _HELD:
        return True
    paths.ensure()
    lock = open(LOCK, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return False
    _HELD.append(lock)
    return True


def release() -> None:
    while _HELD:
        _HELD.pop().close()


def start_nodes(count: int = 2) -> list[Node]:
    """`count` engines cabled together, the first a Swarm manager, the others
    workers; stop_nodes() removes them. Needs root (namespaces, a dockerd)."""
    if not 2 <= count <= MAX_NODES:
        raise BringupError(f"a Swarm of {count} nodes: give 2 or {MAX_NODES}")
    if os.geteuid() != 0 or shutil.which("ip") is None or not Path(DOCKERD).is_file():
        raise BringupError(f"Swarm nodes on one machine need root, `ip` (iproute2) and {DOCKERD}: `make engine`")
    if not hold():
        raise BringupError("another run on this machine has the Swarm nodes: wait for it to end")
    remove_nodes()  # what a killed run left
    paths.private_folder(FOLDER)
    nodes = [Node(n) for n in range(1, count + 1)]
    try:
        cable(nodes)
        for node in nodes:
            start_engine(node)
        form_swarm(nodes)
    except BaseException:
        stop_nodes()
        raise
    return nodes


def cable(nodes: list[Node]) -> None:
    """Each node's namespace, with a link to the switch's bridge."""
    ip("netns", "add", SWITCH)
    ip("-n", SWITCH, "link", "add", "switch", "type", "bridge")
    ip("-n", SWITCH, "link", "set", "switch", "up")
    for node in nodes:
        ip("netns", "add", node.netns)
        ip("-n", node.netns, "link", "set", "lo", "up")
        ip("-n", SWITCH, "link", "add", f"port{node.number}", "type", "veth", "peer", "name", "cable",
           "netns", node.netns)
        ip("-n", SWITCH, "link", "set", f"port{node.number}", "master", "switch", "up")
        ip("-n", node.netns, "addr", "add", f"{node.address}/{CABLE.prefixlen}", "dev", "cable")
        ip("-n", node.netns, "link", "set", "cable", "up")


def start_engine(node: Node) -> None:
    node.root.mkdir(mode=0o700, exist_ok=True)
    seccomp = paths.write_private(node.root / "seccomp.json", json.dumps(ALLOW_ALL))
    # cgroupfs named: under systemd's driver a cgroup parent is a slice, not this path.
    config = paths.write_private(node.root / "daemon.json", json.dumps(
        {"seccomp-profile": str(seccomp), "cgroup-parent": f"/{node.netns}", "log-driver": "none",
         "exec-opts": ["native.cgroupdriver=cgroupfs"]}))
    dockerd = [DOCKERD, "--config-file", str(config), "--data-root", str(node.root / "data"),
               "--exec-root", str(node.root / "exec"), "--pidfile", str(node.root / "dockerd.pid"),
               "--host", node.host]
    # nsenter joins the namespace alone: `ip netns exec` would also mount a
    # /sys of its own, without the cgroup hierarchies dockerd needs.
    # A node pulls no image a service names: it runs the seats' image it was given, never one of that
    # name from a registry (Swarm would try the registry first otherwise, at every task).
    services.start(node.name, ["nsenter", f"--net=/run/netns/{node.netns}", "--", "env",
                               "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1", *dockerd], shows_as=dockerd,
                   ready=lambda: node.cli().run("version", check=False, timeout=10).returncode == 0,
                   timeout=READY_SECONDS)


def form_swarm(nodes: list[Node]) -> None:
    manager, *workers = nodes
    manager.cli().run("swarm", "init", "--advertise-addr", manager.address, "--listen-addr",
                      f"{manager.address}:2377", "--default-addr-pool", OVERLAY_POOL, timeout=60)
    token = manager.cli().run("swarm", "join-token", "-q", "worker").stdout.strip()
    for worker in workers:
        worker.cli().run("swarm", "join", "--token", token, "--advertise-addr", worker.address,
                         "--listen-addr", f"{worker.address}:2377", f"{manager.address}:2377", timeout=60)


def stop_nodes() -> list[str]:
    """Stop every node engine this cache's bring-up started, unless a live
    run holds them, then remove what is left of the nodes; returns the names
    of the engines stopped."""
    if not hold():
        return []
    try:
        return remove_nodes()
    finally:
        release()


def remove_nodes() -> list[str]:
    """Stop the nodes' engines and remove what is left of them (the lock held)."""
    stopped = []
    for node in map(Node, range(1, MAX_NODES + 1)):
        if services.running_pid(node.name):
            node.cli().run("swarm", "leave", "--force", check=False, timeout=30)
            services.stop(node.name)
            stopped.append(node.name)
        kill_in(node)
    unmount_under(FOLDER)
    for netns in [*(Node(n).netns for n in range(1, MAX_NODES + 1)), SWITCH]:
        if (Path("/run/netns") / netns).exists():
            ip("netns", "delete", netns, check=False)
    if FOLDER.exists():
        shutil.rmtree(FOLDER, ignore_errors=True)
    return stopped


def kill_in(node: Node) -> None:
    """Kill what a node left running (after its dockerd was killed): every
    process in its namespace (containerd, shims) and in its cgroup (its
    containers, in namespaces of their own), then remove its cgroups."""
    pids = ip("netns", "pids", node.netns, check=False).stdout.split()
    groups = sorted(Path("/sys/fs/cgroup").glob(f"*/{node.netns}"), reverse=True)
    groups += sorted(Path("/sys/fs/cgroup").glob(node.netns))  # cgroup v2's single hierarchy
    for group in groups:
        for procs in group.rglob("cgroup.procs"):
            pids += procs.read_text().split()
    for pid in set(pids):
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    deadline = time.monotonic() + 10
    for group in groups:
        for folder in sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [group]:
            while folder.exists() and time.monotonic() < deadline:
                try:
                    folder.rmdir()
                except OSError:  # its processes are still exiting
                    time.sleep(0.1)


def unmount_under(folder: Path) -> None:
    """Unmount what a node's engine left mounted in its folders (its layers,
    its containers' network namespaces), deepest first."""
    prefix = str(folder) + "/"
    with open("/proc/self/mountinfo") as table:
        points = [line.split()[4] for line in table if line.split()[4].startswith(prefix)]
    for point in sorted(set(points), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
