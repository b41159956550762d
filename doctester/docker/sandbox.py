"""A private Docker engine for a test worker: an attendee's laptop in a box.

The sandbox is a container of the outer engine (the user's Docker, Docker
Desktop, or the one bring-up started). Inside it run a Docker engine of its
own, with its own socket, data root (a tmpfs: image layers unpack several
times faster than on disk, and nothing of it outlives the sandbox), exec
root, pid file, network
namespace and iptables, and the room mirror served read-only from the
mirror's storage. The page's bash runs inside it too, so `-p 8000:8000` on
one worker never collides with another worker's, and `curl localhost:8000`
reaches the page's own container. Removing the sandbox container removes
everything the engine ever made; `ownership.Run` records the sandbox and its
network before they exist, so a killed run is reaped later.
"""
import ipaddress
import json
import random
import time
from pathlib import Path

from .dockerstate import DockerCLI, EngineError
from .ownership import RUN_LABEL

# Every capability but SYS_RESOURCE: what an engine inside a container needs
# where `--privileged` is refused. CAP_BPF and friends are left out: engines
# before 20.10.? do not know them.
CAPABILITIES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
                "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
                "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
                "SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE "
                "MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ").split()
MIRROR_ADDRESS = "127.0.0.1:5999"  # inside the sandbox; 5000 is left to the pages' own registries
OUTER_POOL = ipaddress.ip_network("10.213.0.0/16")  # outside Docker's default pools, as on a laptop
DETACH_KEYS = "ctrl-^,ctrl-_"  # not ctrl-p ctrl-q: those must reach the page's own `docker run -it`
READY_TIMEOUT = 60
DATA_ROOT_LIMIT = "16g"  # a ceiling, not a reservation: the site's pages use about 2 GB


def upstream_nameservers(files=("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")):
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


def daemon_config(dns, mirror, features=None, outside_socket=None):
    """`outside_socket`: a second socket, in a folder shared with this machine,
    for the page's python fences, which run in the test process."""
    hosts = ["unix:///var/run/docker.sock"] + ([f"unix://{outside_socket}"] if outside_socket else [])
    config = {"registry-mirrors": [f"http://{MIRROR_ADDRESS}"] if mirror else [],
              "bip": "172.17.0.1/16", "pidfile": "/run/doctest-dockerd.pid",
              "exec-root": "/run/doctest-docker", "hosts": hosts}
    if dns:
        config["dns"] = dns
    if features:
        config["features"] = features
    return config


def registry_config():
    return {"version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": "/var/lib/mirror"},
                        "maintenance": {"readonly": {"enabled": True},
                                        "uploadpurging": {"enabled": False}}},
            "http": {"addr": MIRROR_ADDRESS}}


class Sandbox:
    def __init__(self, run, worker, image, mirror_storage=None, features=None, outer=("docker",)):
        self.run, self.image = run, image
        self.name = f"doctest-{run.id}-{worker}"
        self.mirror_storage = Path(mirror_storage) if mirror_storage else None
        self.features = features
        self.outer = DockerCLI(outer)
        self.docker = DockerCLI([*outer, "exec", self.name, "docker"])  # the private engine
        self.etc = run.dir / worker / "etc"
        # A unix socket's path has at most 107 bytes; a longer state folder
        # leaves the python fences without the engine (they say so).
        socket = run.dir / worker / "docker.sock"
        self.outside_socket = socket if len(str(socket)) < 100 else None

    def start(self):
        if self.outer.run("image", "inspect", self.image, check=False).returncode != 0:
            raise EngineError(f"the sandbox image {self.image} is missing on the outer engine: "
                              "build it with `make images`")
        started = time.monotonic()
        self.etc.mkdir(parents=True)
        mirror = self.mirror_storage is not None and self.mirror_storage.is_dir()
        (self.etc / "daemon.json").write_text(json.dumps(
            daemon_config(upstream_nameservers(), mirror, self.features, self.outside_socket), indent=1))
        label = ["--label", f"{RUN_LABEL}={self.run.id}"]
        self.run.record("network", self.name)
        self._create_network(label)
        self.run.record("container", self.name)
        argv = ["run", "-d", "--init", "--name", self.name, *label, "--hostname", "laptop",
                "--network", self.name, *[f"--cap-add={c}" for c in CAPABILITIES],
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--security-opt", "systempaths=unconfined",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
                "--tmpfs", f"/var/lib/docker:exec,size={DATA_ROOT_LIMIT}", "-v", f"{self.etc}:/etc/doctest:ro",
                "-v", f"{self.run.dir}:{self.run.dir}"]
        if mirror:
            (self.etc / "registry.yml").write_text(json.dumps(registry_config(), indent=1))
            argv += ["-v", f"{self.mirror_storage}:/var/lib/mirror:ro"]
        self.outer.run(*argv, self.image)
        self._wait_ready()
        self.ready_after = time.monotonic() - started

    def _create_network(self, label):
        """A network of our own, on a subnet nothing else uses, so the private
        engine can keep Docker's usual 172.17.0.0/16 inside. It has IPv6 too,
        as a laptop has: engines then publish ports on [::] as well."""
        subnets = list(OUTER_POOL.subnets(new_prefix=24))
        for subnet in random.sample(subnets, 16):
            ipv6 = f"fd0d:{subnet.network_address.packed[2]:x}:{random.getrandbits(16):x}::/64"
            result = self.outer.run("network", "create", *label, "--subnet", str(subnet), "--ipv6",
                                    "--subnet", ipv6, self.name, check=False)
            if result.returncode == 0:
                return
            if "overlap" not in result.stderr:
                raise EngineError(f"creating the sandbox network failed: {result.stderr.strip()}")
        raise EngineError(f"no free /24 in {OUTER_POOL} for the sandbox network after 16 tries")

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.docker.run("version", check=False, timeout=10).returncode == 0:
                return
            state = self.outer.run("inspect", "-f", "{{.State.Running}}", self.name, check=False)
            if state.stdout.strip() != "true":
                break
            time.sleep(0.1)
        log = self.outer.run("exec", self.name, "tail", "-n", "15", "/var/log/dockerd.log", check=False)
        logs = log.stdout or self.outer.run("logs", "--tail", "15", self.name, check=False).stderr
        raise EngineError(f"the private engine in {self.name} did not answer within {READY_TIMEOUT} s; "
                          f"its log ends:\n{logs.strip()}")

    def shell(self, *argv, interactive=False, workdir=None, env=None):
        """argv of a command run in the sandbox (as the reader's terminal)."""
        flags = ["-it", f"--detach-keys={DETACH_KEYS}"] if interactive else []
        flags += ["-w", str(workdir)] if workdir else []
        for key, value in (env or {}).items():
            flags += ["-e", f"{key}={value}"]
        return [*self.outer.prefix, "exec", *flags, self.name, *argv]

    def sh(self, script, timeout=300, check=True):
        return self.outer.run("exec", self.name, "bash", "-c", script, timeout=timeout, check=check)
