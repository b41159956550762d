"""Running one page: its folder, its session in its environment, its blocks
in order (each run by its kind), and the environment torn down afterwards."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Protocol

from . import matching
from .blocks import Block, Output, Page
from .contract import (Environment, InteractiveVerdict, KnownFaults, PageWorkspace, Placeholders,
                       StopsStarted, TracksCommands)
from .core_kinds import CORE_KINDS
from .environment import SetupError
from .failures import BlockFailure, exit_ok, tail
from .kinds import BlockKinds
from .session import PageSession, Result, never_interactive
from .terminal import CommandTimeout, SessionError


class RanAgain(UserWarning):
    """A command failed with a fault of the tool itself (KnownFaults) and was run once more."""


PLACEHOLDER = re.compile(r"<([A-Za-z][A-Za-z0-9 _-]*)>")
# With --doc-update: (page, span of the shown output, the real output's lines) to write back.
Update = tuple[str, tuple[int, int], list[str]]


class PageSettings(Protocol):
    """The settings a page run reads (core.settings.Settings has them)."""
    timeout: float
    copy: Path | None
    copy_ignore: list[str]
    reader_shell: str
    workdir_name: str


class Substitution:
    """What a command becomes before it runs: its placeholders filled (the
    page's captures first, then the environment's own), and values the page
    showed written as the real ones they are bound to."""

    def __init__(self, environment: Environment, bindings: matching.Bindings) -> None:
        self.environment, self.bindings = environment, bindings
        self.captures: dict[str, str] = {}

    def __call__(self, command: str, block: Block) -> str:
        environment = self.environment if isinstance(self.environment, Placeholders) else None

        def placeholder(match: re.Match[str]) -> str:
            word = match.group(1)
            if word in self.captures:
                return self.captures[word]
            try:
                value = environment.placeholder(word) if environment is not None else None
            except LookupError as error:
                raise BlockFailure(f"{block.label}: <{word}> {error}") from None
            if value is None:
                names = environment.placeholder_names if environment is not None else ()
                known = ", ".join(f"<{n}>" for n in names) or "no other"
                raise BlockFailure(f"{block.label}: unbound placeholder <{word}>; name a capture "
                                   f"({', '.join(self.captures) or 'none yet'}) or one of {known}")
            return value
        filled = PLACEHOLDER.sub(placeholder, command)
        return environment.rewrite(filled, self.bindings) if environment is not None else filled


class OutputCheck:
    """Shown output against real output; with --doc-update, a mismatch is
    kept as a rewrite of the page instead of a failure."""

    def __init__(self, bindings: matching.Bindings, rules: matching.Rules, update: list[Update] | None = None) -> None:
        self.bindings, self.rules, self.update = bindings, rules, update

    def _compare(self, block: Block, expected: Output, output: str) -> matching.Outcome:
        return matching.compare(expected.lines, output, self.bindings, self.rules.declaring(block.options.variants))

    def matches(self, block: Block, expected: Output | None, output: str) -> bool:
        """Does `output` pass the block's shown output (if it is checked)?"""
        return expected is None or not block.options.check_output or self._compare(block, expected, output).matched

    def __call__(self, block: Block, text: str, line: int, expected: Output, output: str) -> None:
        outcome = self._compare(block, expected, output)
        if outcome.matched:
            return
        if self.update is not None:
            self.update.append((block.path, expected.span, outcome.actual))
            return
        # The diff is of normalized text; what was printed as is tells a lost
        # line from one a normalizer folded away.
        raise BlockFailure(f"{block.path}:{line}: {text.splitlines()[0] if text else ''}: output differs\n"
                           f"{outcome.diff()}\n--- printed, as is\n{tail(output) or '(nothing)'}", output)


def captured(block: Block, line: int, output: str) -> str:
    """What a command's output gives the block's capture: the group (or the
    match) of its pattern, or without one the whole output, stripped."""
    if not block.options.pattern:
        return output.strip()
    found = re.search(block.options.pattern, output, re.M)
    if not found:
        raise BlockFailure(f"{block.path}:{line}: capture pattern {block.options.pattern!r} "
                           f"found nothing in:\n{output.rstrip()}")
    return found.group(1) if found.groups() else found.group()


def open_session(environment: Environment, workspace: PageWorkspace, shell: str,
                 interactive: InteractiveVerdict | None) -> PageSession:
    """The page's session: the reader's `shell`, started by the environment in the page's folder."""
    return PageSession(workspace.workdir, workspace.scratch, environment.spawn(workspace.workdir, shell),
                       environment.kill_processes,
                       on_timeout=environment.stop_started if isinstance(environment, StopsStarted) else None,
                       interactive=interactive or never_interactive, shell=shell)


class PageRun:
    """A page's blocks, run in order in its session and environment."""

    def __init__(self, page: Page, settings: PageSettings, environment: Environment,
                 rules: matching.Rules = matching.CORE_RULES, interactive: InteractiveVerdict | None = None,
                 update: list[Update] | None = None, journey: bool = False, kinds: BlockKinds = CORE_KINDS) -> None:
        """`journey`: pages after this one go on in this run (see start_page); the
        environment starts empty, whatever the first page's front matter says,
        and tracks which command made each of its objects. `kinds` run the blocks."""
        self.page, self.environment, self.kinds = page, environment, kinds
        self.default_timeout = settings.timeout
        bindings = matching.Bindings()
        self.substitute = Substitution(environment, bindings)
        self.check_output = OutputCheck(bindings, rules, update)
        self.done: set[str] = set()     # labels (page:line) of blocks already run
        self.failed_at: str | None = None
        self.python_namespace: dict[str, Any] = {}  # the page's python fences', as one Python session's
        self.session: PageSession | None = None
        self.workspace = environment.workspace(settings.copy, settings.copy_ignore, settings.workdir_name)
        try:
            environment.prepare({} if journey else page.meta or {}, journey=journey)
            self.session = open_session(environment, self.workspace, settings.reader_shell, interactive)
        except (SetupError, SessionError) as error:
            self.finish()
            raise BlockFailure(f"{page.path}:1: preparing the page's environment failed: {error}")
        except BaseException:
            self.finish()
            raise

    def start_page(self, page: Page) -> None:
        """The journey: the next page goes on in the same shell and environment
        (its python fences in a Python session of their own)."""
        self.page, self.failed_at, self.python_namespace = page, None, {}

    def run_block(self, block: Block) -> str:
        """Run a block; returns "passed", or "skipped" for a block with a skip reason
        (never run, whether it is the block asked for or one run before it)."""
        self.done.add(block.label)
        if block.options.skip:
            return "skipped"
        try:
            self.kinds.runner(block.kind)(self, block, block.options.timeout or self.default_timeout)
        except (BlockFailure, CommandTimeout, SessionError) as error:
            self.failed_at = block.label
            message = str(error) if isinstance(error, BlockFailure) else f"{block.label}: {error}"
            # What earlier pages left that the real output names (the environment knows; in a journey).
            causes = self.environment.explain(getattr(error, "output", "") or message, self.page.path) \
                if isinstance(self.environment, TracksCommands) else []
            raise BlockFailure("\n".join([message, *causes])) from None
        return "passed"

    def _session(self) -> PageSession:
        if self.session is None:
            raise SessionError("the page's shell did not start")
        return self.session

    def cwd(self) -> Path:
        """The folder the page's shell is in, where a file block is written and a python fence runs."""
        return self._session().cwd()

    def press(self, keys: list[str]) -> Result:
        return self._session().press(keys)

    def run_command(self, block: Block, text: str, line: int, expected: Output | None, timeout: float,
                    expect: str | None) -> str:
        """Run one command; it must exit with `expect` (None: 0). A command
        that fails with a fault the environment knows as the tool's own
        (KnownFaults) runs once more, and the run says so (a warning)."""
        real = self.substitute(text, block)
        result = self._run_once(block, text, line, real, timeout)
        # The fault's text first: a command that passes is not compared twice.
        fault = self.environment.known_fault(result.output) if isinstance(self.environment, KnownFaults) else None
        if fault is not None and not (
                exit_ok(result.exit_code, expect) and self.check_output.matches(block, expected, result.output)):
            warnings.warn(RanAgain(f"{block.path}:{line}: {text}: ran again after {fault}"), stacklevel=1)
            result = self._run_once(block, text, line, real, timeout)
        if not exit_ok(result.exit_code, expect):
            raise BlockFailure(f"{block.path}:{line}: {text} exited {result.exit_code} (expected {expect or 0})\n"
                               f"--- output ---\n{tail(result.output)}", result.output)
        if block.options.capture:
            self.substitute.captures[block.options.capture] = captured(block, line, result.output)
        if expected is not None and block.options.check_output:
            self.check_output(block, text, line, expected, result.output)
        return result.output

    def _run_once(self, block: Block, text: str, line: int, real: str, timeout: float) -> Result:
        try:
            return self._session().run(real, timeout)
        except CommandTimeout as error:
            raise BlockFailure(f"{block.path}:{line}: {text}\n{error}")
        finally:
            if isinstance(self.environment, TracksCommands):
                self.environment.note_command(f"{block.path}:{line}", real)

    def finish(self) -> list[str]:
        """Close the session and tear the environment and the folder down; returns problems."""
        problems: list[str] = []
        try:
            if self.session is not None:
                self.session.close()
        finally:
            try:
                problems = self.environment.finish_page()
            except SetupError as error:
                problems = [str(error)]
            finally:
                self.workspace.remove()
        return problems
