"""Seats placed by Docker Swarm: for a room bigger than one machine, each seat
is a Swarm service of one task, and Swarm picks its node, by the memory the
seat reserves, among the nodes labelled `workshop-seats=yes`.

A seat is the same hardened sandbox as on the organizer's machine
(bringup.seats), expressed in what a Swarm service can say:

- Swarm has no `systempaths=unconfined`: /proc and /sys come with masked and
  read-only paths, under which a rootless engine cannot mount /proc for its
  containers. The task starts as root with the seat's bounding set, unmounts
  those paths, and drops to the reader with setpriv (no effective
  capability, the same bounding set, no new groups) before sandbox-init: from
  there on it is the seat of the organizer's machine. Every `docker exec`
  names the reader (Sandbox.as_reader).
- Swarm has no devices: /dev/net/tun is bind-mounted (Docker's default
  device rules let a container open it).
- A service's tmpfs has neither `exec` nor an owner before API 1.46: the
  writable folders are memory-backed volumes of the local driver.
- seccomp per service needs API 1.44 (Docker 25). It is asked for; older
  engines drop it without a word, so their seat nodes must lift seccomp
  themselves (a seccomp profile in the nodes' daemon.json: nodes dedicated
  to seats; bringup.swarmnodes does so).
- No CPU share: the memory reservation spreads the seats instead.

The seat's engine settings travel as Swarm configs; the mirror's storage is
read from the node's own disk, at the path the organizer's machine keeps it.
The service names the seats' image by its ID, as this machine has it: a node
runs the copy it was given or nothing, never an image of that name from a
registry, and each placed seat is checked to run exactly that image.
Everything is created on the manager by a run (doctester.docker.ownership)
that records it first, in a state folder of that Swarm's own (state_dir), so
a killed room is reaped there, with the manager's engine, and never by a
reaper that holds the local one.
"""
from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from doctester.docker.dockerstate import DockerCLI, EngineError
from doctester.docker.ownership import DEFAULT_STATE, Run
from doctester.docker.registry_config import registry_config
from doctester.docker.sandbox import (CAPABILITIES, DATA_ROOT, ENGINE_SOCKET, MIRROR_ADDRESS, MIRROR_STORAGE,
                                      READER_HOME, READER_UID, RUNTIME_DIR, Limits, Sandbox, SandboxDocker,
                                      daemon_config, upstream_nameservers)

from .seats import Restore, Seat, host_networks, make_seat

NODE_LABEL = "workshop-seats"  # `docker node update --label-add workshop-seats=yes NODE`: this node takes seats
PLACED_WITHIN = 120  # seconds for Swarm to place a seat and its node to start it
# Run as root, first thing: the masked and read-only paths under /proc and
# /sys/firmware unmounted (deepest first, until none is left), then the reader.
UNMASK = ("for round in 1 2 3; do "
          "points=$(awk '$5 ~ \"^/proc/.\" || $5 == \"/sys/firmware\" {print $5}' /proc/self/mountinfo | sort -r); "
          "[ -z \"$points\" ] && break; for p in $points; do umount \"$p\" 2>/dev/null; done; done; "
          f"exec setpriv --reuid={READER_UID} --regid={READER_UID} --clear-groups --inh-caps=-all sandbox-init")


@dataclass(frozen=True)
class Swarm:
    """A Swarm's manager and nodes, each as the address of its engine (for
    the docker CLI: unix://, ssh://, tcp://), and the ID of the seats' image
    as this machine has it (what every node must run)."""
    manager: str
    nodes: dict[str, str]  # node ID -> its engine's address
    image_id: str = ""

    @functools.cached_property
    def networks(self) -> list[str]:
        """Every network and address of this machine and of every node, which
        no seat may reach wherever it is placed (read once)."""
        found = set(host_networks())
        for host in self.nodes.values():
            listing = DockerCLI(self.docker(host)).run(
                "run", "--rm", "--pull", "never", "--network", "host", "--user", "65000", "--cap-drop", "ALL",
                "--read-only", "--log-driver", "none", "--entrypoint", "ip", self.image_id, "-j", "addr", "show").stdout
            found.update(host_networks(listing))
        return sorted(found)

    @classmethod
    def of(cls, hosts: Sequence[str]) -> Swarm:
        """From the engines' addresses, the manager's first; each says which node it is."""
        nodes = {}
        for host in hosts:
            node = DockerCLI(["docker", "--host", host]).run("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
            if not node:
                raise EngineError(f"the engine at {host} is not a node of a Swarm: `docker swarm join` it first")
            nodes[node] = host
        return cls(hosts[0], nodes)

    def with_image(self, image: str) -> Swarm:
        """This Swarm, for seats of `image` (this machine's copy, by ID)."""
        found = DockerCLI().run("image", "inspect", "--format", "{{.Id}}", image, check=False)
        if found.returncode:
            raise EngineError(f"the seats' image {image} is not on this machine, to hand to the Swarm's nodes: "
                              "`make images`")
        return Swarm(self.manager, self.nodes, found.stdout.strip())

    def node(self, node_id: str) -> list[str]:
        """The docker CLI of the node whose ID this is."""
        if node_id not in self.nodes:
            raise EngineError(f"Swarm placed a seat on node {node_id}, whose engine the room was not given: "
                              "give every node labelled workshop-seats=yes in SWARM")
        return self.docker(self.nodes[node_id])

    def docker(self, host: str) -> list[str]:
        return ["docker", "--host", host]


def state_dir(swarm: Swarm, base: Path = DEFAULT_STATE) -> Path:
    """Where runs on `swarm` record what they make: apart from the runs of
    the local engine, since a reaper removes a dead run's objects with the
    engine it is given, never one a record names."""
    return base / "swarm" / hashlib.sha256(swarm.manager.encode()).hexdigest()[:16]


def tmpfs_volume(target: str, size: int, mode: str, owner: bool = True) -> dict[str, Any]:
    """A memory-backed folder, as the seat's tmpfs on the organizer's machine."""
    options = f"size={size},mode={mode},exec,nosuid,nodev" + (f",uid={READER_UID},gid={READER_UID}" if owner else "")
    return {"Type": "volume", "Target": target, "VolumeOptions": {"DriverConfig": {
        "Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs", "o": options}}}}


def task_template(sandbox: SwarmSandbox) -> dict[str, Any]:
    """The seat as a Swarm task, its configs made already."""
    limits, size = sandbox.limits, sandbox.limits.memory
    mounts = [{"Type": "bind", "Source": "/dev/net/tun", "Target": "/dev/net/tun"},
              tmpfs_volume(READER_HOME, size, "755"), tmpfs_volume(DATA_ROOT, size, "710"),
              tmpfs_volume(RUNTIME_DIR, 64 << 20, "700"), tmpfs_volume("/tmp", size, "1777", owner=False),
              {"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 16 << 20, "Mode": 0o755}}]
    if sandbox.mirror_storage is not None:
        mounts.append({"Type": "bind", "Source": str(sandbox.mirror_storage), "Target": MIRROR_STORAGE,
                       "ReadOnly": True})
    return {"ContainerSpec": {
        "Image": sandbox.swarm.image_id, "Command": ["sh", "-c", UNMASK], "User": "0:0", "Hostname": sandbox.hostname,
        "Env": [f"HOME={READER_HOME}", f"XDG_RUNTIME_DIR={RUNTIME_DIR}", f"DOCKER_HOST={ENGINE_SOCKET}"],
        "Init": True, "ReadOnly": True, "CapabilityDrop": ["ALL"],
        "CapabilityAdd": [f"CAP_{capability}" for capability in CAPABILITIES],
        "Privileges": {"Seccomp": {"Mode": "unconfined"}, "AppArmor": {"Mode": "disabled"}},
        "Mounts": mounts, "Labels": {sandbox.run.label: sandbox.run.id},
        "Configs": [{"File": {"Name": f"/etc/doctest/{file}", "UID": str(READER_UID), "GID": str(READER_UID),
                              "Mode": 0o444}, "ConfigID": config_id, "ConfigName": name}
                    for file, (name, config_id) in sandbox.configs.items()]},
        "Resources": {"Limits": {"MemoryBytes": limits.memory, "Pids": limits.pids},
                      "Reservations": {"MemoryBytes": limits.memory}},
        "RestartPolicy": {"Condition": "none"}, "LogDriver": {"Name": "none"},
        "Placement": {"Constraints": [f"node.labels.{NODE_LABEL} == yes"]},
        "Networks": [{"Target": sandbox.service}]}


class SwarmSandbox(Sandbox):
    """A seat's sandbox as a Swarm service; once placed, the same Sandbox,
    reached on its node's engine."""

    def __init__(self, run: Run, number: int, image: str, limits: Limits, swarm: Swarm,
                 mirror_storage: Path | None, hostname: str) -> None:
        super().__init__(run, f"seat{number}", image, limits, mirror_storage,
                         outer=swarm.docker(swarm.manager), hostname=hostname)
        self.swarm, self.service = swarm, self.name
        self.configs: dict[str, tuple[str, str]] = {}  # file -> (config name, config ID)
        self.node = ""

    @property
    def names(self) -> tuple[str, ...]:
        """What its run records for it: the service, its network and configs."""
        return self.service, f"{self.service}.daemon", f"{self.service}.registry"

    def start(self) -> None:
        started = time.monotonic()
        manager, label = self.outer, ["--label", f"{self.run.label}={self.run.id}"]
        self.run.record("network", self.service)
        manager.run("network", "create", "--driver", "overlay", *label, self.service)
        files = {"daemon.json": json.dumps(daemon_config(upstream_nameservers(), self.mirror_storage is not None))}
        if self.mirror_storage is not None:
            files["registry.yml"] = json.dumps(registry_config(MIRROR_ADDRESS, MIRROR_STORAGE))
        for (file, text), name in zip(files.items(), self.names[1:]):
            self.run.record("config", name)
            self.configs[file] = (name, manager.run("config", "create", *label, name, "-", stdin=text).stdout.strip())
        self.run.record("service", self.service)
        # An ssh:// manager through the machine's own ssh client (its keys and known hosts), as the docker CLI does.
        client = docker.APIClient(base_url=self.swarm.manager, version="auto",
                                  use_ssh_client=self.swarm.manager.startswith("ssh://"))
        try:
            # types-docker leaves the Swarm calls untyped; the dict is the Engine API's own TaskTemplate.
            client.create_service(task_template(self), name=self.service,  # type: ignore[no-untyped-call]
                                  labels={self.run.label: self.run.id})
            node, container = wait_placed(client, self.service)
        finally:
            client.close()
        self.node = node
        self.outer = DockerCLI(self.swarm.node(node))
        self.name = container  # from here on, a Sandbox whose container is on that node
        running = self.outer.run("inspect", "--format", "{{.Image}}", container).stdout.strip()
        if running != self.swarm.image_id:
            raise EngineError(f"the seat {self.service} on node {node} runs image {running[:19]}, not this "
                              f"machine's {self.image} ({self.swarm.image_id[:19]}): load that image on the node")
        self.docker = SandboxDocker(self.outer.prefix, self.as_reader)
        self._wait_ready()
        self.ready_after = time.monotonic() - started


def wait_placed(client: docker.APIClient, service: str) -> tuple[str, str]:
    """(node ID, container ID) of the service's task once it runs."""
    deadline, said = time.monotonic() + PLACED_WITHIN, "no task yet"
    while time.monotonic() < deadline:
        for task in client.tasks(filters={"service": service}):  # type: ignore[no-untyped-call]
            status = task.get("Status", {})
            said = status.get("Err") or status.get("Message") or status.get("State", "")
            if status.get("State") == "running":
                return task["NodeID"], status["ContainerStatus"]["ContainerID"]
            if status.get("State") in ("failed", "rejected", "shutdown", "complete", "orphaned"):
                raise EngineError(f"the seat {service} did not start on its node: {said}")
        time.sleep(0.5)
    raise EngineError(f"Swarm placed no seat {service} within {PLACED_WITHIN} s ({said}): is a node labelled "
                      f"{NODE_LABEL}=yes with enough free memory?")


def on_node(sandbox: Sandbox) -> tuple[Restore, Sequence[str]]:
    """Where a placed seat's way out is closed from: its node's engine runs
    the restore in the seat's network namespace (a container of the seats'
    image by ID, root with NET_ADMIN only, gone at once); the seat may reach
    no network of this machine's nor of any node's."""
    assert isinstance(sandbox, SwarmSandbox)
    node, container, swarm = sandbox.outer.prefix, sandbox.name, sandbox.swarm
    label = ["--label", f"{sandbox.run.label}={sandbox.run.id}"]

    def restore(command: str, table: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*node, "run", "--rm", "-i", "--pull", "never", *label,
                               "--network", f"container:{container}", "--user", "0", "--cap-drop", "ALL",
                               "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW", "--log-driver", "none",
                               "--entrypoint", f"{command}-restore", swarm.image_id, "--noflush", "-w"],
                              input=table, capture_output=True, text=True, timeout=120)
    return restore, swarm.networks


def start_swarm_seat(swarm: Swarm, run: Run, number: int, image: str, limits: Limits, mirror_storage: Path | None,
                     hostname: str, room: tuple[str, int] | None = None, room_ca: str | None = None) -> Seat:
    """A seat placed by Swarm (blocking: call it in a thread): the same
    arguments as bringup.seats.start_seat, `swarm` (with_image) first."""
    sandbox = SwarmSandbox(run, number, image, limits, swarm, mirror_storage, hostname)
    return make_seat(run, sandbox, room, room_ca, on_node, sandbox.names)


def starter(swarm: Swarm, image: str) -> functools.partial[Seat]:
    """The room's seat starter for `swarm`, its seats of `image` (bringup.room.Room's `starter`)."""
    return functools.partial(start_swarm_seat, swarm.with_image(image))

