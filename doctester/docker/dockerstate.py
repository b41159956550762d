"""What an engine holds, read and changed through the docker CLI.

The harness speaks to an engine the way its pages do: through `docker`, with
a prefix that says which engine (`docker exec <sandbox> docker` for a private
engine, plain `docker` for the reachable daemon). The page's commands and
the clean-up can then never address two different daemons.
"""
from __future__ import annotations

import concurrent.futures
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core.environment import SetupError


class EngineError(SetupError):
    """The engine did not do what the harness asked; the text says what."""


def already_gone(stderr: str) -> bool:
    """Whether a removal failed only because the engine no longer has the
    object (`No such container: ...`, `network ... not found`): what was to
    be removed is gone, which is what the caller wanted."""
    return "No such" in stderr or "not found" in stderr


class DockerCLI:
    def __init__(self, prefix: Iterable[str] = ("docker",)) -> None:
        self.prefix = list(prefix)

    def run(self, *args: str, timeout: float = 300, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                    timeout=timeout, input=stdin)
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {' '.join(args)}` did not finish within {timeout} s")
        if check and result.returncode:
            raise EngineError(f"`docker {' '.join(args)}` exited {result.returncode}: "
                              f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result

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
