"""The hooks a profile implements to teach the core about one tool. A profile
is a pytest plugin (this package's Docker profile is doctester.docker.plugin,
registered by its own `pytest11` entry point); each hook is documented on the
authoring page. A hook that raises is reported at the page:line or setting
that called it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .annotations import AnnotationKey
from .blocks import Block, Page, ShellBlock
from .contract import Normalizers, Provider
from .kinds import BlockKind
from .session import Interactive

if TYPE_CHECKING:
    from .pagerun import PageRun


@pytest.hookspec
def pytest_doctester_annotation_keys() -> list[AnnotationKey]:
    """Return a list of core.annotations.AnnotationKey: extra `key=value`
    words for `<!-- doctest: ... -->`. Their values land in Options.extra."""


@pytest.hookspec
def pytest_doctester_block_kinds() -> list[BlockKind]:
    """Return a list of core.kinds.BlockKind: fence languages this profile
    reads and runs, each a language no other kind claims (a clash is a usage
    error). core.core_kinds.file_kind makes one for languages that are files
    (`dockerfile` fences are written to `Dockerfile`)."""


@pytest.hookspec
def pytest_doctester_check_block(block: Block) -> None:
    """Refuse a parsed block by raising core.blocks.PageError (at its line)."""


@pytest.hookspec
def pytest_doctester_check_page(page: Page) -> None:
    """Refuse a parsed page (core.blocks.Page, its blocks in order) by raising
    core.blocks.PageError at the line of the block at fault: for rules that
    depend on what came before a block (a shell the page opened, say)."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_other_system(block: ShellBlock) -> bool | str | None:
    """A shell block shown for readers of another system (in a Windows or
    PowerShell tab, or a powershell fence), parsed as a core.blocks.ShellBlock
    as the page's shell would read it: return True if the page's shell runs
    it with the same effect, so it is run, or the reason it is skipped. First
    answer wins; without one it is skipped ("Windows shell: not run on Linux")."""


@pytest.hookspec
def pytest_doctester_normalizers() -> Normalizers:
    """Return a list of core.matching.Normalizer and LineFold: fields of this
    tool's output that legitimately vary between runs."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_interactive(command: str) -> Interactive | None:
    """Return core.session.Interactive if `command` takes the terminal (a
    shell or REPL the next commands are typed into), else None. First answer wins."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_environment(config: pytest.Config, worker: str) -> Provider | None:
    """Return the provider of page environments for this test process
    (`worker` is "main" or the xdist worker id): an object with check(),
    get(), describe() and close(), as core.environment.LocalProvider. First
    answer wins; without one, pages run in a local bash."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_page_group(page: Page) -> str | None:
    """Return a name: pages with the same one run in a row, so pages that start
    from the same state share its set-up (under xdist each page stays whole on
    one worker instead). First answer wins."""


@pytest.hookspec
def pytest_doctester_journey_page_end(config: pytest.Config, page: Page, run: PageRun) -> None:
    """In a journey (--doc-journey), a page is done: `run` is the journey's
    core.pagerun.PageRun (its environment and workspace as the page left
    them). For records of where each page leaves the reader."""


@pytest.hookspec
def pytest_doctester_journey_block_start(config: pytest.Config, page: Page, block: Block, run: PageRun) -> None:
    """In a journey, `block` is about to run, every block before it on its
    page done. For records of where a step (not only a page) leaves the reader."""


@pytest.hookspec
def pytest_doctester_cache_inputs(config: pytest.Config) -> list[str | Path]:
    """Return a list of files whose change makes --doc-cache run pages again."""

