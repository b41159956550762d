"""Bring up a Docker engine: reuse a reachable daemon, or install and start one."""
import enum
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import docker

from . import emulation, host, paths, registry, services
from .progress import BringupError, say, step

PACKAGES = ["docker.io", "docker-registry", "debootstrap", "musl-tools", "skopeo"]
DOCKERD = "/usr/sbin/dockerd"
CLI_PLUGIN_DIR = Path("/usr/local/lib/docker/cli-plugins")
CLI_PLUGINS = {"docker-compose": "docker-compose", "docker-buildx": "docker-buildx"}  # package: binary
DEFAULT_SOCKET = "/var/run/docker.sock"


SLOW_ENGINE_WAIT = 30  # seconds an engine that shows signs of life gets to answer
SOCKET_RECORD = "dockerd.socket"  # under paths.RUN: the socket our dockerd made
# Our dockerd's own socket: the system's /var/run/docker.sock stays free for a
# Docker the user installs later. The Makefile points DOCKER_HOST here while
# the socket exists.
SOCKET_NAME = "docker.sock"


def own_socket() -> Path:
    return paths.RUN / SOCKET_NAME


def own_host() -> str:
    return f"unix://{own_socket()}"


class Plan(enum.Enum):
    REUSE = "reuse the reachable daemon"
    START = "install what is missing and start dockerd"
    FOREIGN = "another engine is here"
    NOT_ROOT = "not root"
    UNSUPPORTED = "unsupported system"


def decide(reachable: bool, is_root: bool, debian_like: bool, has_apt: bool, foreign: str | None = None) -> Plan:
    """What bring-up does, from the facts it can observe. Pure, for unit tests.
    `foreign` names another engine's trace (an active system service, a socket
    we did not make) when none answers: bring-up never starts a second one."""
    if reachable:
        return Plan.REUSE
    if foreign:
        return Plan.FOREIGN
    if not (debian_like and has_apt):
        return Plan.UNSUPPORTED
    if not is_root:
        return Plan.NOT_ROOT
    return Plan.START


def how_to_start_docker(system: str | None = None) -> str:
    system = system or sys.platform
    if system == "darwin":
        return "start Docker Desktop (Applications > Docker) and wait for 'Engine running'"
    if system.startswith("win"):
        return "start Docker Desktop from the Start menu and wait for 'Engine running'"
    return ("start your Docker engine (`sudo systemctl start docker`), or run "
            "`sudo make engine` on Debian/Ubuntu to install and start one")


def client(timeout: int = 5) -> docker.DockerClient:
    return docker.from_env(timeout=timeout)


def daemon_reachable(socket_path: str | os.PathLike[str] | None = None) -> bool:
    """Does the engine DOCKER_HOST names answer, or the one on `socket_path`?"""
    try:
        asked = docker.DockerClient(base_url=f"unix://{socket_path}", timeout=3) if socket_path \
            else client(timeout=3)
    except Exception:  # the SDK raises several unrelated types for "no daemon"
        return False
    try:
        return bool(asked.ping())
    except Exception:
        return False
    finally:
        asked.close()  # this is polled several times a second: no connection pool left behind each time


def system_service() -> str | None:
    """`docker.service is active`-like words when systemd runs Docker here
    (active, starting, or waiting on its socket), else None."""
    if not (Path("/run/systemd/system").is_dir() and shutil.which("systemctl")):
        return None
    for unit in ("docker.service", "docker.socket"):
        state = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True).stdout.strip()
        if state in ("active", "activating", "reloading"):
            return f"systemd's {unit} is {state}"
    return None


def our_socket() -> str | None:
    """The socket path our dockerd made, if it made one and has not been stopped."""
    try:
        return paths.read_private(paths.RUN / SOCKET_RECORD).strip() or None
    except OSError:
        return None


def foreign_engine() -> str | None:
    """Why another engine owns this machine's Docker, or None."""
    service = system_service()
    if service:
        return service
    if os.path.exists(DEFAULT_SOCKET) and our_socket() != DEFAULT_SOCKET:
        return f"the socket {DEFAULT_SOCKET} exists and bring-up did not make it"
    return None


def wait_for_slow_engine(wait: float | None = None) -> bool:
    """An engine with a socket or a service may be starting (or socket-activated,
    started by this very call): give it time to answer before judging."""
    deadline = time.monotonic() + (SLOW_ENGINE_WAIT if wait is None else wait)
    while time.monotonic() < deadline:
        if daemon_reachable():
            return True
        time.sleep(1)
    return False


FOREIGN_HELP = ("bring-up never starts a second engine beside another one. Start that engine "
                "(`sudo systemctl start docker`, or Docker Desktop) and run `make engine` again; if that "
                "engine is gone for good, remove its socket ({socket}) yourself first")


def missing_packages(names: Sequence[str] = PACKAGES) -> list[str]:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *names],
                            capture_output=True, text=True)
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [name for name in names if name not in installed]


def install_packages(names: Sequence[str] = PACKAGES) -> None:
    missing = missing_packages(names)
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with step(f"installing {' '.join(missing)} from the distribution's packages"):
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            result = subprocess.run(argv, env=env, capture_output=True, text=True)
            if result.returncode:
                raise BringupError(f"`{' '.join(argv)}` failed ({result.returncode}):\n"
                                   f"{result.stderr.strip()[-2000:]}")


def install_cli_plugins() -> None:
    """compose v2 and buildx, taken from the next Debian release's packages."""
    wanted = [pkg for pkg, binary in CLI_PLUGINS.items() if not (CLI_PLUGIN_DIR / binary).exists()]
    if not wanted:
        return
    current = host.codename()
    following = host.NEXT_RELEASE.get(current)
    if not following:
        say(f"    no newer release known after '{current}': skipping {', '.join(wanted)}")
        return
    mirror = host.debian_mirror(current)
    with step(f"installing CLI plugins {', '.join(wanted)} from Debian {following}"), \
            tempfile.TemporaryDirectory(dir=paths.WORK) as scratch_name:
        scratch = Path(scratch_name)
        (scratch / "lists/partial").mkdir(parents=True)
        paths.write_private(scratch / "sources.list", f"deb {mirror} {following} main\n", mode=0o644)
        options = ["-o", f"Dir::Etc::SourceList={scratch / 'sources.list'}",
                   "-o", "Dir::Etc::SourceParts=/dev/null",
                   "-o", f"Dir::State::Lists={scratch / 'lists'}",
                   "-o", f"Dir::Cache={scratch / 'cache'}",
                   "-o", "APT::Sandbox::User=root"]
        for argv in (["apt-get", *options, "update", "-qq"], ["apt-get", *options, "download", *wanted]):
            result = subprocess.run(argv, cwd=scratch, capture_output=True, text=True)
            if result.returncode:
                raise BringupError(f"`{' '.join(argv[:1] + argv[-2:])}` failed:\n{result.stderr[-2000:]}")
        CLI_PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
        for package in wanted:
            deb = paths.only_match(scratch, f"{package}_*.deb", f"apt-get download {package}")
            unpacked = scratch / package
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
            binary = paths.only_match(unpacked, f"**/cli-plugins/{CLI_PLUGINS[package]}", f"the package {package}")
            # Written beside its final name and renamed (never through a link), executable by all.
            paths.write_private(CLI_PLUGIN_DIR / binary.name, binary.read_bytes(), mode=0o755)


def daemon_config() -> dict[str, list[str]]:
    return {"registry-mirrors": [registry.MIRROR_URL]}


def start_dockerd() -> None:
    config = paths.write_private(paths.RUN / "daemon.json", json.dumps(daemon_config(), indent=2) + "\n")
    own_pid_file = paths.RUN / "dockerd.docker-pid"
    if os.path.lexists(own_pid_file) and not services.running_pid("dockerd"):
        own_pid_file.unlink()  # left by a dockerd that was killed; it would refuse to start
    paths.write_private(paths.RUN / SOCKET_RECORD, f"{own_socket()}\n")  # on disk before dockerd makes it
    # Its own socket, data root and exec root: nothing of a system engine's
    # state is shared or changed, and its socket path stays free.
    argv = [DOCKERD, "--config-file", str(config), "--pidfile", str(own_pid_file), "--host", own_host(),
            "--data-root", str(paths.DOCKER_DATA), "--exec-root", str(paths.RUN / "docker-exec")]
    os.environ["DOCKER_HOST"] = own_host()  # for the readiness check, and what this process does next
    with step("starting dockerd"):
        services.start("dockerd", argv, ready=daemon_reachable, timeout=60)
    say(f"    dockerd runs in the background on its own socket; log: {services.log_file('dockerd')}")
    say(f"    `make` targets use it; in your shell: export DOCKER_HOST={own_host()}")


def forget_stale_socket() -> None:
    """What our dockerd left when it was killed: its socket (the Makefile would
    point DOCKER_HOST at a dead one) and its record."""
    if services.running_pid("dockerd"):
        return
    if our_socket() == DEFAULT_SOCKET and os.path.exists(DEFAULT_SOCKET) and not daemon_reachable(DEFAULT_SOCKET):
        os.unlink(DEFAULT_SOCKET)  # made by an earlier version's dockerd, which died
    if own_socket().is_socket():
        own_socket().unlink()  # only our dockerd makes a socket there
    (paths.RUN / SOCKET_RECORD).unlink(missing_ok=True)
    if os.environ.get("DOCKER_HOST") == own_host():
        del os.environ["DOCKER_HOST"]  # set by the Makefile for the socket that is gone


def check_mirror_configured() -> None:
    mirrors = client().info().get("RegistryConfig", {}).get("Mirrors") or []
    if not any(m.rstrip("/") == registry.MIRROR_URL for m in mirrors):
        say(f"    note: this daemon does not use {registry.MIRROR_URL} as a registry mirror; "
            f"add {json.dumps(daemon_config())} to its daemon.json for offline pulls")


def use_own_engine() -> None:
    """While our dockerd runs, it is the engine to use, unless DOCKER_HOST
    names another (an empty one names none)."""
    if not os.environ.get("DOCKER_HOST") and services.running_pid("dockerd"):
        os.environ["DOCKER_HOST"] = own_host()


def ensure_engine() -> Plan:
    paths.ensure()
    forget_stale_socket()
    use_own_engine()
    reachable = daemon_reachable()
    foreign = None if reachable else foreign_engine()
    if foreign:
        reachable = wait_for_slow_engine()
    plan = decide(reachable, host.is_root(), host.is_debian_like(), host.has_apt(), foreign)
    if plan is Plan.FOREIGN:
        raise BringupError(f"no Docker daemon answered within {SLOW_ENGINE_WAIT} s, but {foreign}: "
                           + FOREIGN_HELP.format(socket=DEFAULT_SOCKET))
    if plan is Plan.UNSUPPORTED:
        raise BringupError(f"no Docker daemon is reachable ({os.environ.get('DOCKER_HOST') or DEFAULT_SOCKET}); "
                           f"{how_to_start_docker()}")
    if plan is Plan.NOT_ROOT:
        raise BringupError("no Docker daemon is reachable and installing one needs root: "
                           "run `sudo make engine`, or start your own engine")
    if plan is Plan.START:
        install_packages()
        install_cli_plugins()
    started_registry = False
    if host.is_debian_like() and shutil.which("docker-registry"):
        started_registry = registry.ensure_running()
        if started_registry:
            say(f"    registry mirror listens on {registry.MIRROR_URL}; data in {paths.REGISTRY_DATA}")
    elif not registry.answers():
        raise BringupError(f"no registry answers on {registry.MIRROR_URL}; install Debian's "
                           "docker-registry package or start a registry there")
    if plan is Plan.START:
        try:
            start_dockerd()
        except BaseException:
            if started_registry:  # leave nothing half-started behind
                registry.stop()
            raise
    else:
        check_mirror_configured()
    return plan


def stop_dockerd() -> bool:
    stopped = services.stop("dockerd")
    if stopped:
        forget_stale_socket()  # dockerd removes its socket on a clean exit; not after a kill
    return stopped


def emulating_engine(arch: str) -> str:
    """The service name of bring-up's engine for `arch` programs (bringup.multiarch)."""
    return f"dockerd-{arch}"


def stop_emulating_engines() -> list[str]:
    return [arch for arch in emulation.QEMU_CPU if services.stop(emulating_engine(arch))]
