"""What an engine holds, read and changed through the docker CLI.

The harness speaks to an engine the way its pages do: through `docker`, with
a prefix that says which engine (`docker exec <sandbox> docker` for a private
engine, plain `docker` for the reachable daemon). The page's commands and
the clean-up can then never address two different daemons.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any

from ..core.environment import SetupError


class EngineError(SetupError):
    """The engine did not do what the harness asked; the text says what."""


def already_gone(stderr: str) -> bool:
    """Whether a removal failed only because the engine no longer has the
    object (`No such container: ...`, `network ... not found`): what was to
    be removed is gone, which is what the caller wanted."""
    return "No such" in stderr or "not found" in stderr


class DockerCLI:
    """`docker` behind `prefix`; `env`: variables set for it on top of this
    process's environment (DOCKER_HOST, DOCKER_CONFIG), none by default."""

    def __init__(self, prefix: Iterable[str] = ("docker",), env: Mapping[str, str] | None = None) -> None:
        self.prefix = list(prefix)
        self.env = dict(env or {})

    def with_env(self, **variables: str) -> DockerCLI:
        """The same CLI with more variables set for it."""
        return DockerCLI(self.prefix, {**self.env, **variables})

    def environment(self) -> dict[str, str] | None:
        """What a command gets: None (this process's own) unless `env` adds
        to it. Read at each call, as a caller may set DOCKER_HOST later."""
        return dict(os.environ, **self.env) if self.env else None

    def run(self, *args: str, timeout: float | None = 300, check: bool = True,
            stdin: str | None = None, stream: bool = False,
            stdin_file: IO[bytes] | None = None) -> subprocess.CompletedProcess[str]:
        """`stream`: the output goes where this process's goes (a build's
        progress), uncaptured. `stdin_file`: what the command reads, when
        not the text `stdin` (an archive, another command's output)."""
        try:
            result = subprocess.run([*self.prefix, *args], capture_output=not stream, text=True,
                                    timeout=timeout, input=stdin, stdin=stdin_file, env=self.environment())
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {' '.join(args)}` did not finish within {timeout} s")
        if check and result.returncode:
            said = (result.stderr or result.stdout or "").strip()[-1500:]
            raise EngineError(f"`docker {' '.join(args)}` exited {result.returncode}" + (f": {said}" if said else ""))
        return result

    def outputs(self, commands: Mapping[str, Sequence[str]], timeout: float = 300) -> dict[str, str]:
        """What each of several commands (docker's arguments) printed on its
        standard output, by key, whether it failed or not; run at once."""
        with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:
            started = {key: pool.submit(self.run, *argv, check=False, timeout=timeout)
                       for key, argv in commands.items()}
        return {key: future.result().stdout for key, future in started.items()}

    def piped(self, *args: str) -> subprocess.Popen[bytes]:
        """`docker args` started, its output a pipe another command reads
        (`docker save` into a `docker load`); the caller waits for it."""
        return subprocess.Popen([*self.prefix, *args], stdout=subprocess.PIPE, env=self.environment())

    def lines(self, *args: str) -> list[str]:
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]

    def container_ids(self) -> list[str]:
        """Every container, oldest first (`docker ps` lists the newest first)."""
        return list(reversed(self.lines("ps", "-a", "--no-trunc", "--format", "{{.ID}}")))

    def running_ids(self) -> list[str]:
        return self.lines("ps", "--no-trunc", "--format", "{{.ID}}")

    def image_ids(self) -> list[str]:
        """Every image ID (sha256:...), oldest first."""
        ids = self.lines("images", "-a", "--no-trunc", "--format", "{{.ID}}")
        return list(dict.fromkeys(reversed(ids)))

    def tags(self) -> dict[str, str]:
        """{"repo:tag": image ID} of every tagged image."""
        found: dict[str, str] = {}
        for line in self.lines("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"):
            tag, image_id = line.rsplit(" ", 1)
            if "<none>" not in tag:
                found[tag] = image_id
        return found

    def volumes(self) -> list[str]:
        return self.lines("volume", "ls", "-q")

    def networks(self) -> list[str]:
        """User-made networks (bridge, host and none always exist)."""
        return [n for n in self.lines("network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}")
                if n.split()[1] not in ("bridge", "host", "none")]

    def versions(self) -> dict[str, Any]:
        text = self.run("version", "--format", "{{json .}}").stdout
        info: dict[str, Any] = json.loads(text)
        server = info.get("Server") or {}
        driver = self.run("info", "--format", "{{.Driver}}").stdout.strip()
        store = "containerd" if driver.startswith("overlayfs") or "snapshotter" in driver else driver
        return {"name": "Docker Engine", "version": server.get("Version"),
                "client": (info.get("Client") or {}).get("Version"), "store": store,
                "variant": f"{store} image store"}

    def remove_containers(self, ids: Sequence[str]) -> list[str]:
        """Force-remove containers, several at once: each kill takes a while."""
        problems: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(max(1, min(8, len(ids)))) as pool:
            for result in pool.map(lambda i: self.run("rm", "-f", "-v", i, check=False, timeout=60), ids):
                if result.returncode and not already_gone(result.stderr):
                    problems.append(result.stderr.strip())
        return problems


@dataclass
class Snapshot:
    """What the reachable daemon held before a page ran (--doc-engine=existing)."""
    containers: list[str]
    tags: dict[str, str]          # "repo:tag" -> image ID
    image_ids: list[str]
    volumes: list[str]
    networks: list[str]
    aside: dict[str, str] | None = None  # "repo:tag" a page wanted absent -> the tag it was moved to

    @classmethod
    def take(cls, docker: DockerCLI) -> Snapshot:
        return cls(docker.container_ids(), docker.tags(), docker.image_ids(), docker.volumes(),
                   docker.networks(), {})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        return cls(**json.loads(text))

    def is_empty(self) -> bool:
        return not (self.containers or self.tags or self.volumes or self.networks)
