"""Where a page's commands run: a private engine (the default) or, on request,
the reachable daemon. Both offer what a page run needs: a state to start
from, a shell to type into, the engine's objects to bind placeholders to,
and a clean-up that says what went wrong."""
from __future__ import annotations

import os
import signal
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.contract import (Environment, KnownFaults, Placeholders, PythonFences, PythonRunner,
                             StopsStarted, TracksCommands)
from ..core.environment import Workspace, kill_descendants, reader_home
from ..core.matching import Bindings
from ..core.terminal import SHELLS, Spawn
from ..core.report import write_atomically
from . import rules
from .dockerstate import DockerCLI, EngineError, Snapshot, already_gone
from .fences import SandboxPython
from .ownership import RUN_LABEL, Run
from .provenance import Provenance
from .sandbox import Sandbox
from .workspace import SandboxWorkspace

PAGE_ENV = {"TERM": "xterm", "DOCKER_CLI_HINTS": "false", "LANG": "C.UTF-8"}
CONTAINER_WORDS = {"ID", "CONTAINER", "CONTAINER_ID", "CONTAINER_NAME", "NAME"}
IMAGE_WORDS = {"IMAGE", "IMAGE_ID"}
# Words of a docker command that may be values the page showed: IDs and random names.
DOCKER_WORD = re.compile(r"(?<![\w.:/-])[0-9a-f]{2,64}(?![\w.:/-])|(?<![\w.:/-])[a-z]+_[a-z]+(?![\w.:/-])")


def with_default_tag(reference: str) -> str:
    """`python` -> `python:latest`, as `docker images` names it."""
    return reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest"


# A private engine before a page: nothing but the images the page asks for.
RESET = r"""
set -u
ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
docker volume prune -af >/dev/null
docker network prune -f >/dev/null
docker builder prune -af >/dev/null 2>&1 || true
rm -rf "$HOME/.docker" /tmp/* 2>/dev/null
keep=" $* "
for ref in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>'); do
  case "$keep" in *" $ref "*) ;; *) docker rmi -f "$ref" >/dev/null ;; esac
done
docker image prune -f >/dev/null
for ref in "$@"; do
  docker image inspect "$ref" >/dev/null 2>&1 || docker pull -q "$ref" >/dev/null || exit 3
done
"""


# Every process of the sandbox but its init, the engine's tree (the oldest
# child of init: sandbox-init's rootlesskit) and this script: what pages left,
# whether `docker exec` started it or init adopted it (setsid, double fork).
STRAYS = r"""
ps -eo pid=,ppid= | awk -v self=$$ '
  { parent[$1] = $2; if ($2 == 1 && (engine == "" || $1 + 0 < engine + 0)) engine = $1 }
  END { for (pid in parent) { if (pid == 1) continue; p = pid; keep = 0
          while (p != "" && p != 0 && p != 1) { if (p == engine || p == self) { keep = 1; break }; p = parent[p] }
          if (!keep) print pid } }' | xargs -r kill -9 2>/dev/null
true
"""


class PageEngine:
    """What both engines share: the objects a page made since it started, and
    the placeholders and shown values that stand for them."""
    docker: DockerCLI
    placeholder_names: tuple[str, ...] = ("CONTAINER ID", "IMAGE ID")
    provenance: Provenance | None = None  # in a journey: which command made what

    def known_fault(self, output: str) -> str | None:
        return rules.known_fault(output)

    def note_command(self, label: str, command: str) -> None:
        if self.provenance is not None and not rules.makes_nothing(command):
            self.provenance.note(label)

    def explain(self, failure: str, page: str) -> list[str]:
        return self.provenance.explain(failure, page) if self.provenance is not None else []

    def mark_start(self) -> None:
        self.start_containers = set(self.docker.container_ids())
        self.start_images = set(self.docker.image_ids())

    def new_containers(self) -> list[str]:
        return [c for c in self.docker.container_ids() if c not in self.start_containers]

    def new_images(self) -> list[str]:
        return [i for i in self.docker.image_ids() if i not in self.start_images]

    def all_ids(self) -> set[str]:
        return set(self.docker.container_ids()) | {i.split(":")[-1] for i in self.docker.image_ids()}

    def stop_started(self) -> None:
        """A command timed out: kill the containers the page started."""
        running = set(self.docker.running_ids())
        for container in self.new_containers():
            if container in running:
                self.docker.run("kill", container, check=False)

    def placeholder(self, word: str) -> str | None:
        """<CONTAINER ID> and its kin: the last container the page created;
        <IMAGE ID>: the last image it built. None for other words."""
        key = re.sub(r"[\s-]+", "_", word.strip()).upper()
        if key in CONTAINER_WORDS:
            made = self.new_containers()
            if not made:
                raise LookupError("stands for the last container the page created, but it has created none yet")
            return made[-1][:12]
        if key in IMAGE_WORDS:
            made = self.new_images()
            if not made:
                raise LookupError("stands for the last image the page built, but it has built none yet")
            return made[-1].split(":")[-1][:12]
        return None

    def rewrite(self, command: str, bindings: Bindings) -> str:
        """In a docker command, IDs and names the page showed become the real ones."""
        if not command.lstrip().startswith("docker "):
            return command
        return DOCKER_WORD.sub(lambda m: self._real_word(m.group(), bindings), command)

    def _real_word(self, word: str, bindings: Bindings) -> str:
        real = bindings.real_for(word)
        if real is None or real == word:
            return word
        if re.fullmatch(r"[0-9a-f]{2,63}", word) and len(real) > len(word):
            # A short ID prefix: the shortest prefix of the real ID that is at
            # least as long and names nothing else on the daemon.
            others = self.all_ids()
            for length in range(len(word), len(real) + 1):
                prefix = real[:length]
                if sum(1 for other in others if other.startswith(prefix)) <= 1:
                    bindings.bind(word, prefix)
                    return prefix
        return real


class PrivateEngine(PageEngine):
    """A page in its sandbox: its shell, files and python fences all inside."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox, self.docker = sandbox, sandbox.docker
        self.python_runner: SandboxPython | None = None

    def workspace(self, copy: Path | None = None, ignore: Sequence[str] = (),
                  name: str = "workshop") -> SandboxWorkspace:
        return SandboxWorkspace(self.sandbox, copy, ignore, name)

    def prepare(self, meta: dict[str, Any], journey: bool = False) -> None:
        present = [with_default_tag(r) for r in meta.get("present", [])]
        absent = {with_default_tag(r) for r in meta.get("absent", [])} & set(present)
        if absent:
            raise EngineError(f"front matter lists {', '.join(sorted(absent))} as both present and absent")
        result = self.sandbox.run_script(f"set -- {' '.join(map(shlex.quote, present))}\n" + RESET, check=False)
        if result.returncode:
            raise EngineError(f"resetting the private engine failed ({result.returncode}): "
                              f"{result.stderr.strip()[-1500:]}")
        self.mark_start()
        self.provenance = Provenance(self.docker) if journey else None
        self.python_runner = SandboxPython(self.sandbox)
        self.memory_kills = self.sandbox.memory_kills() or 0

    def spawn(self, workdir: Path, shell: str = "bash") -> Spawn:
        argv = self.sandbox.exec_argv(*SHELLS[shell], interactive=True, workdir=workdir,
                                  env=dict(PAGE_ENV, **reader_home(workdir)))
        return argv[0], argv[1:], dict(os.environ), None

    def python_env(self) -> dict[str, str]:
        return {}  # the fences run in the sandbox (python_runner), with its environment

    def kill_processes(self, pid: int) -> None:
        """Every process below the page's shell, inside the sandbox (the core's
        kill_descendants, on the sandbox's process table)."""
        kill_descendants(pid, self._process_table, self._signal)

    def _process_table(self) -> dict[int, int]:
        listed = self.sandbox.run_script("ps -eo pid=,ppid=", check=False, timeout=30).stdout
        return {int(pid): int(parent) for pid, parent in (line.split() for line in listed.splitlines())
                if pid.isdigit() and parent.isdigit()}

    def _signal(self, pids: Sequence[int], sig: signal.Signals) -> None:
        self.sandbox.run_script('kill -s "$1" -- "${@:2}" 2>/dev/null; true', sig.name.removeprefix("SIG"),
                                *map(str, pids), check=False, timeout=30)

    def finish_page(self) -> list[str]:
        if self.python_runner is not None:
            self.python_runner.close()
        # What the page started and left behind, even in a session of its own
        # (setsid) or adopted by the sandbox's init: every process outside the engine.
        self.sandbox.run_script(STRAYS, check=False, timeout=30)
        # Stop what the page left running now; the next page's reset removes the rest.
        return self.docker.remove_containers(self.docker.container_ids())

    def explain(self, failure: str, page: str) -> list[str]:
        """Beside the journey's causes: a limit of the sandbox that the failure hit."""
        lines = super().explain(failure, page)
        limits = self.sandbox.limits
        kills = self.sandbox.memory_kills()
        if kills is not None and kills > self.memory_kills:
            self.memory_kills = kills
            lines.append(f"the sandbox's memory limit ({limits.gib()} GiB) was reached: a process was ended "
                         "to free memory (set doc_sandbox_memory for more)")
        if "No space left on device" in failure:
            lines.append(f"the sandbox's disk limit ({limits.gib()} GiB of memory-backed storage) was reached "
                         "(set doc_sandbox_memory for more)")
        if "Resource temporarily unavailable" in failure or "Cannot fork" in failure:
            lines.append(f"the sandbox's process limit ({limits.pids}) may have been reached "
                         "(doc_sandbox_pids)")
        return lines

    def describe(self) -> dict[str, Any]:
        return {**self.docker.versions(), "mode": "private"}


class ExistingEngine(PageEngine):
    """--doc-engine=existing: the reachable daemon, for CI jobs that have only
    DOCKER_HOST. A page's changes are found by difference with a snapshot
    written to disk first; an image it wants absent is moved aside under a
    tag of ours and put back."""

    def __init__(self, run: Run, allow_foreign: bool = False) -> None:
        self.run, self.docker = run, DockerCLI(("docker",))
        self.page_root = run.dir / "pages"
        self.page_root.mkdir(exist_ok=True)
        self.python_runner: PythonRunner | None = None  # trusted pages: python fences run in the test process
        self.snapshot_file = run.dir / "snapshot.json"
        found = Snapshot.take(self.docker)
        if not found.is_empty() and not allow_foreign:
            raise EngineError(
                f"--doc-engine=existing: the daemon holds {len(found.containers)} containers, "
                f"{len(found.tags)} image tags, {len(found.volumes)} volumes and {len(found.networks)} "
                "networks that this run cannot prove it made; pages would create, tag and remove "
                "objects beside them. Use the default private engines, or pass --doc-existing-ok "
                "(ini doc_existing_ok = true) to go on")

    def prepare(self, meta: dict[str, Any], journey: bool = False) -> None:
        self.before = Snapshot.take(self.docker)
        self._save()
        for number, reference in enumerate(with_default_tag(r) for r in meta.get("absent", [])):
            if reference in self.before.tags:
                aside = f"doctest-aside/{self.run.id}:{number}"
                assert self.before.aside is not None  # Snapshot.take gives a dict
                self.before.aside[reference] = aside
                self._save()  # on disk before the image is touched
                self.docker.run("tag", reference, aside)
                self.docker.run("rmi", reference)  # untags only: the aside tag keeps the image
        for reference in (with_default_tag(r) for r in meta.get("present", [])):
            if reference not in self.before.tags:
                self.docker.run("pull", "-q", reference)
        self.mark_start()
        self.provenance = Provenance(self.docker) if journey else None

    def _save(self) -> None:
        write_atomically(self.snapshot_file, self.before.to_json())

    def spawn(self, workdir: Path, shell: str = "bash") -> Spawn:
        argv = SHELLS[shell]
        # The daemon the user's CLI reaches may be named by a context in
        # their Docker config, which a home of the page's own would hide.
        config = {"DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG", os.path.expanduser("~/.docker"))}
        return argv[0], list(argv[1:]), dict(os.environ, **PAGE_ENV, **reader_home(workdir), **config), str(workdir)

    def workspace(self, copy: Path | None = None, ignore: Sequence[str] = (),
                  name: str = "workshop") -> Workspace:
        return Workspace(self.page_root, copy, ignore, name)

    def python_env(self) -> dict[str, str]:
        return {}  # the reachable daemon, as the shell blocks see it

    def kill_processes(self, pid: int) -> None:
        kill_descendants(pid)

    def finish_page(self) -> list[str]:
        problems = restore(self.docker, self.before, self.run.label)
        if not problems:
            self.snapshot_file.unlink(missing_ok=True)
        return problems

    def describe(self) -> dict[str, Any]:
        return {**self.docker.versions(), "mode": "existing"}


def restore(docker: DockerCLI, before: Snapshot, run_label: str = RUN_LABEL) -> list[str]:
    """Remove what a page made beside the snapshot; put back what it removed,
    the images it moved aside included. Returns problems. A doc-test
    sandbox, or its network, that came meanwhile (`run_label` on it) is
    another run's: kept."""
    containers, networks = docker.container_ids(), docker.networks()
    # Listed after the objects: whatever of those is a sandbox is in here.
    label = f"label={run_label}"
    others = set(docker.lines("ps", "-a", "--no-trunc", "--filter", label, "--format", "{{.ID}}")
                 + docker.lines("network", "ls", "--no-trunc", "--filter", label, "--format", "{{.ID}}"))
    problems = docker.remove_containers([c for c in containers if c not in before.containers and c not in others])
    aside_tags = set((before.aside or {}).values())
    for tag, image_id in docker.tags().items():
        if tag not in aside_tags and before.tags.get(tag) != image_id:
            _try(problems, docker, "rmi", "-f", tag)
    for image_id in docker.image_ids():
        if image_id not in before.image_ids:
            _try(problems, docker, "rmi", "-f", image_id)
    for volume in docker.volumes():
        if volume not in before.volumes:
            _try(problems, docker, "volume", "rm", "-f", volume)
    for network in networks:
        if network not in before.networks and network.split()[0] not in others:
            _try(problems, docker, "network", "rm", network.split()[0])
    current = docker.tags()
    for tag, image_id in before.tags.items():
        if tag in current:
            continue
        aside = (before.aside or {}).get(tag)
        result = docker.run("tag", aside or image_id, tag, check=False)
        if result.returncode:
            problems.append(f"putting back {tag} failed: {result.stderr.strip()}")
        elif aside:
            _try(problems, docker, "rmi", aside)
    return problems


def _try(problems: list[str], docker: DockerCLI, *args: str) -> None:
    result = docker.run(*args, check=False)
    if result.returncode and not already_gone(result.stderr):
        problems.append(f"docker {' '.join(args)}: {result.stderr.strip()}")


def recover_existing(folder: Path) -> list[str]:
    """A dead existing-mode run: put back the images it had moved aside."""
    snapshot_file = folder / "snapshot.json"
    if not snapshot_file.exists():
        return []
    before = Snapshot.from_json(snapshot_file.read_text())
    problems: list[str]
    docker, problems = DockerCLI(("docker",)), []
    for tag, aside in (before.aside or {}).items():
        if tag not in docker.tags() and docker.run("tag", aside, tag, check=False).returncode:
            problems.append(f"putting back {tag} from {aside} failed")
            continue
        _try(problems, docker, "rmi", aside)
    return problems


if TYPE_CHECKING:  # mypy holds both engines to the core's contract, capabilities included
    _ENGINES: tuple[type[Environment], ...] = (PrivateEngine, ExistingEngine)
    _FENCES: tuple[type[PythonFences], ...] = (PrivateEngine, ExistingEngine)
    _PLACEHOLDERS: tuple[type[Placeholders], ...] = (PrivateEngine, ExistingEngine)
    _STOPS: tuple[type[StopsStarted], ...] = (PrivateEngine, ExistingEngine)
    _TRACKS: tuple[type[TracksCommands], ...] = (PrivateEngine, ExistingEngine)
    _FAULTS: tuple[type[KnownFaults], ...] = (PrivateEngine, ExistingEngine)
