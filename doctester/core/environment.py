"""Where a page's commands run. What the core asks of an environment (a
folder for the page's files, set-up from its front matter, a shell to type
into, a tear-down that says what went wrong, and optional capabilities) is
written in core.contract. A profile provides one through the
pytest_doctester_environment hook; without a profile, pages run in a local
bash (LocalEnvironment), which is also how the core is tested without any
engine."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .terminal import SHELLS, Spawn, descendants, process_table

SHELL = SHELLS["bash"]  # the default reader shell


def reader_home(workdir: Path) -> dict[str, str]:
    """The page's shell's own home folder: the folder holding the page's
    working folder, so `cd ~/NAME` (doc_workdir_name) takes a reader's shell
    there from anywhere, and `~` in a page's commands means a folder of the
    run's. A convenience, not isolation: in a local shell the page can still
    name the real home by its path; only a sandbox keeps it out of reach."""
    return {"HOME": str(Path(workdir).parent)}


class SetupError(Exception):
    """Preparing or reaching a page's environment failed; the message says why and what to do."""


def signal_here(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill_descendants(pid: int, table: Callable[[], Mapping[int, int]] = process_table,
                     send: Callable[[Sequence[int], signal.Signals], None] = signal_here) -> None:
    """End every process below `pid`: TERM, half a second, then KILL, the
    deepest first. On this machine by default; a profile whose processes
    live elsewhere (a sandbox) gives its own process table and signal sender."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        below = descendants(pid, table())
        if below:
            send(list(reversed(below)), sig)
        time.sleep(0.5 if sig == signal.SIGTERM and below else 0)


class Workspace:
    """The page's folder: `workshop/` (the reader's, with the project's files
    copied in) and `scratch/` (where the page's shell keeps a command's output)."""

    def __init__(self, root: Path, copy: Path | None = None, ignore: Iterable[str] = (), name: str = "workshop") -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="page-", dir=root))
        self.workdir = self.tmp / name  # the shell's home is self.tmp: `cd ~/NAME` comes here
        self.workdir.mkdir()
        if copy is not None:  # the project's files, as in a clone of it
            shutil.copytree(copy, self.workdir / copy.name, ignore=shutil.ignore_patterns(*ignore))
        self.scratch = self.tmp / "scratch"
        self.scratch.mkdir()

    def write(self, relative_to: Path, title: str, content: str) -> bool:
        """Write a file block; False if its title points outside the page's folder."""
        target = (relative_to / title).resolve()
        if not target.is_relative_to(self.tmp.resolve()):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        return True

    def remove(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class LocalEnvironment:
    """A page's commands in a bash of this machine, in a folder of its own.
    It has the environment's required members only (core.contract.Environment):
    no placeholders of its own, and python fences run in the test process."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.page_root = Path(tempfile.mkdtemp(prefix="doctester-"))
        self.env = dict(os.environ, **(env or {}))

    def workspace(self, copy: Path | None = None, ignore: Iterable[str] = (), name: str = "workshop") -> Workspace:
        """The page's folder (see Workspace)."""
        return Workspace(self.page_root, copy, ignore, name)

    def prepare(self, meta: dict[str, Any], journey: bool = False) -> None:
        pass

    def spawn(self, workdir: Path, shell: str = "bash") -> Spawn:
        """(program, args, env, cwd) that start the reader's shell (a name of SHELLS)."""
        argv = SHELLS[shell]
        return argv[0], list(argv[1:]), dict(self.env, **reader_home(workdir)), str(workdir)

    def kill_processes(self, pid: int) -> None:
        kill_descendants(pid)

    def finish_page(self) -> list[str]:
        return []

    def close(self) -> None:
        shutil.rmtree(self.page_root, ignore_errors=True)


class LocalProvider:
    """One LocalEnvironment per test process."""

    def __init__(self) -> None:
        self.environment: LocalEnvironment | None = None

    def check(self) -> str:
        """Is the environment reachable? Returns a string that changes when it does."""
        return "local"

    def get(self) -> LocalEnvironment:
        self.environment = self.environment or LocalEnvironment()
        return self.environment

    def describe(self) -> dict[str, Any]:
        return {"name": "bash", "version": os.environ.get("BASH_VERSION", "")}

    def close(self) -> list[str]:
        if self.environment is not None:
            self.environment.close()
        return []
