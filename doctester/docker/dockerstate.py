"""What an engine holds, read and changed through the docker CLI.

The harness speaks to an engine the way its pages do: through `docker`, with
a prefix that says which engine (`docker exec <sandbox> docker` for a private
engine, plain `docker` for the reachable daemon). The page's commands and
the clean-up can then never address two different daemons.
"""
import concurrent.futures
import json
import subprocess
from dataclasses import asdict, dataclass

from ..core.environment import SetupError


class EngineError(SetupError):
    """The engine did not do what the harness asked; the text says what."""


def already_gone(stderr):
    """Whether a removal failed only because the engine no longer has the
    object (`No such container: ...`, `network ... not found`): what was to
    be removed is gone, which is what the caller wanted."""
    return "No such" in stderr or "not found" in stderr


class DockerCLI:
    def __init__(self, prefix=("docker",)):
        self.prefix = list(prefix)

    def run(self, *args, timeout=300, check=True, stdin=None):
        try:
            result = subprocess.run([*self.prefix, *args], capture_output=True, text=True,
                                    timeout=timeout, input=stdin)
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {' '.join(args)}` did not finish within {timeout} s")
        if check and result.returncode:
            raise EngineError(f"`docker {' '.join(args)}` exited {result.returncode}: "
                              f"{(result.stderr or result.stdout).strip()[-1500:]}")
        return result

    def lines(self, *args):
        return [line for line in self.run(*args).stdout.splitlines() if line.strip()]

    def container_ids(self):
        """Every container, oldest first (`docker ps` lists the newest first)."""
        return list(reversed(self.lines("ps", "-a", "--no-trunc", "--format", "{{.ID}}")))

    def running_ids(self):
        return self.lines("ps", "--no-trunc", "--format", "{{.ID}}")

    def image_ids(self):
        """Every image ID (sha256:...), oldest first."""
        ids = self.lines("images", "-a", "--no-trunc", "--format", "{{.ID}}")
        return list(dict.fromkeys(reversed(ids)))

    def tags(self):
        """{"repo:tag": image ID} of every tagged image."""
        found = {}
        for line in self.lines("images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"):
            tag, image_id = line.rsplit(" ", 1)
            if "<none>" not in tag:
                found[tag] = image_id
        return found

    def volumes(self):
        return self.lines("volume", "ls", "-q")

    def networks(self):
        """User-made networks (bridge, host and none always exist)."""
        return [n for n in self.lines("network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}")
                if n.split()[1] not in ("bridge", "host", "none")]

    def versions(self):
        text = self.run("version", "--format", "{{json .}}").stdout
        info = json.loads(text)
        server = info.get("Server") or {}
        driver = self.run("info", "--format", "{{.Driver}}").stdout.strip()
        store = "containerd" if driver.startswith("overlayfs") or "snapshotter" in driver else driver
        return {"name": "Docker Engine", "version": server.get("Version"),
                "client": (info.get("Client") or {}).get("Version"), "store": store,
                "variant": f"{store} image store"}

    def remove_containers(self, ids):
        """Force-remove containers, several at once: each kill takes a while."""
        problems = []
        with concurrent.futures.ThreadPoolExecutor(max(1, min(8, len(ids)))) as pool:
            for result in pool.map(lambda i: self.run("rm", "-f", "-v", i, check=False, timeout=60), ids):
                if result.returncode and not already_gone(result.stderr):
                    problems.append(result.stderr.strip())
        return problems


@dataclass
class Snapshot:
    """What the reachable daemon held before a page ran (--doc-engine=existing)."""
    containers: list
    tags: dict          # "repo:tag" -> image ID
    image_ids: list
    volumes: list
    networks: list
    aside: dict = None  # "repo:tag" a page wanted absent -> the tag it was moved to

    @classmethod
    def take(cls, docker):
        return cls(docker.container_ids(), docker.tags(), docker.image_ids(), docker.volumes(),
                   docker.networks(), {})

    def to_json(self):
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    def is_empty(self):
        return not (self.containers or self.tags or self.volumes or self.networks)
