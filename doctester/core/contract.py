"""What the core asks of a profile, as types (checked by mypy, and at
configure time where a hook answers): the environment a page runs in (a
required core and optional capabilities, each found with isinstance), the
provider of environments, and the hooks' answers. core.environment's
LocalEnvironment and LocalProvider are the smallest implementations."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .matching import Bindings, LineFold, Normalizer
from .session import Interactive
from .terminal import Spawn

# A profile's verdict on a command: an Interactive if it takes the terminal.
InteractiveVerdict = Callable[[str], "Interactive | None"]
# What pytest_doctester_normalizers answers: fields that vary, and runs of lines to fold.
Normalizers = list["Normalizer | LineFold"]


@runtime_checkable
class PageWorkspace(Protocol):
    """The page's folder: the reader's working folder in it, and scratch
    space for the page's shell, wherever the shell runs."""

    @property
    def workdir(self) -> Path: ...

    @property
    def scratch(self) -> Path: ...

    def write(self, relative_to: Path, title: str, content: str) -> bool:
        """Write a file block; False if its title points outside the page's folder."""

    def remove(self) -> None: ...


@runtime_checkable
class Environment(Protocol):
    """What every environment does: a folder for the page, set-up from its
    front matter, a reader's shell, killing what a command left, tear-down."""

    def workspace(self, copy: Path | None = None, ignore: Sequence[str] = (),
                  name: str = "workshop") -> PageWorkspace: ...

    def prepare(self, meta: dict[str, Any], journey: bool = False) -> None: ...

    def spawn(self, workdir: Path, shell: str = "bash") -> Spawn: ...

    def kill_processes(self, pid: int) -> None: ...

    def finish_page(self) -> list[str]:
        """Tear the page down; returns problems."""


@runtime_checkable
class Placeholders(Protocol):
    """Optional: `<CONTAINER ID>` and its kin filled in, and values a page
    showed written as the real ones in its commands."""
    placeholder_names: tuple[str, ...]

    def placeholder(self, word: str) -> str | None:
        """The value of `<word>`, None if the word is not one; LookupError with the reason if it has none yet."""

    def rewrite(self, command: str, bindings: Bindings) -> str: ...


@runtime_checkable
class StopsStarted(Protocol):
    """Optional: a command timed out; stop what it started outside the shell (containers)."""

    def stop_started(self) -> None: ...


@runtime_checkable
class TracksCommands(Protocol):
    """Optional (journeys): which command made what, to name what an earlier page left."""

    def note_command(self, label: str, command: str) -> None:
        """`command` (as typed, at `label`: page:line) has run."""

    def explain(self, failure: str, page: str) -> list[str]:
        """Lines naming what earlier pages left that `failure` mentions."""


@runtime_checkable
class KnownFaults(Protocol):
    """Optional: failures of the tool itself, not of the page, that its
    makers have reported and that a second try gets past. The command is
    typed once more as it is, whole (`cd x && build` runs its `cd` again):
    name only faults that come before the command changes anything."""

    def known_fault(self, output: str) -> str | None:
        """Why a command that printed `output` failed, naming the upstream
        report, if it is such a fault (the command is then run once more); else None."""


class PythonRunner(Protocol):
    def run(self, label: str, code: str, cwd: Path, timeout: float) -> str:
        """Run one python fence in the page's Python session; returns what it
        printed; raises core.environment.SetupError if it fails."""


@runtime_checkable
class PythonFences(Protocol):
    """Optional: where python fences run. With a python_runner, the
    environment runs them (in its sandbox); else they run in the test
    process, with python_env()'s variables."""

    @property  # read-only here, so an environment may hold a runner of its own kind
    def python_runner(self) -> PythonRunner | None: ...

    def python_env(self) -> dict[str, str]: ...


@runtime_checkable
class Provider(Protocol):
    """What pytest_doctester_environment returns: the environments of one test process."""

    def check(self) -> str:
        """Is the environment reachable? Returns a string that changes when it
        does; raises core.environment.SetupError with what to do if not."""

    def get(self) -> Environment: ...

    def describe(self) -> dict[str, Any]:
        """For the report: name, version and variant of the environment."""

    def close(self) -> list[str]:
        """Remove everything this process started; returns problems."""


@runtime_checkable
class LeavesNotes(Protocol):
    """Optional, of a provider: what it tells the reader at the end of the run (what it reaped)."""

    @property
    def notes(self) -> list[str]: ...
