"""The pytest nodes: a Markdown page is a File; each block an Item, run by
its kind. A page is one story: its blocks run in order in one session, and
a block asked for alone (-k, --lf) first runs the blocks above it."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .blocks import Block, Page, PageError
from .environment import SetupError
from .failures import BlockFailure
from .markdown import parse_page
from .pagerun import PageRun
from .signals import uninterrupted
from .state import DocRun, doc_run


PASSED = "doctester/passed"  # in pytest's cache: page label -> the cache key of its last pass


def cache_key(path: Path, doc: DocRun) -> str:
    """What a page's pass depends on: the page, the files the settings name,
    the environment and the reader's shell."""
    digest = hashlib.sha256(path.read_bytes())
    for cached in doc.cache_files():
        digest.update(cached.read_bytes())
    digest.update(doc.environment_state.encode())
    digest.update(doc.settings.reader_shell.encode())
    return digest.hexdigest()


def start_page_run(config: pytest.Config, page: Page) -> PageRun:
    """The page's run in its environment: a new one, or in a journey the one
    the pages before it went on in."""
    doc = doc_run(config)
    try:
        environment = doc.environments.get()
    except SetupError as error:
        pytest.exit(f"doctester: {error}", returncode=3)
    if doc.report.environment is None:
        doc.report.environment = doc.environments.describe()
    if not doc.journey:
        run = PageRun(page, doc.settings, environment, doc.rules, doc.interactive, doc.updates,
                      kinds=doc.grammar.kinds)
    elif doc.journey_run is None:  # the attendee starts on an empty engine
        run = doc.journey_run = PageRun(page, doc.settings, environment, doc.rules, doc.interactive,
                                        doc.updates, journey=True, kinds=doc.grammar.kinds)
    else:
        run = doc.journey_run
        run.start_page(page)
    # pytest-markdown-docs' hook, if that plugin is installed: names every python fence starts with.
    for names in getattr(config.hook, "pytest_markdown_docs_globals", lambda: [])():
        run.python_namespace.update(names)
    return run


def call_journey_hook(config: pytest.Config, name: str, where: str, **arguments: object) -> None:
    """A profile's journey hook, which may write down where the reader is; what
    it raises is reported as that hook's error at `where`."""
    try:
        getattr(config.hook, name)(config=config, **arguments)
    except Exception as error:
        raise RuntimeError(f"{where}: {name} raised {type(error).__name__}: {error}") from None


class MarkdownPage(pytest.File):
    """A page: its blocks as items, and its run from before the first to after the last."""
    run: PageRun | None = None
    page: Page
    group: str
    cached: bool = False
    failures: int = 0

    @property
    def doc(self) -> DocRun:
        return doc_run(self.config)

    def collect(self) -> Iterator[BlockItem]:
        try:
            self.page = parse_page(self.label, self.path.read_text(encoding="utf-8"), self.doc.settings.root,
                                   self.doc.grammar)
        except PageError as error:
            raise self.CollectError(str(error)) from None
        self.group = self._group()
        # Read by `--dist loadgroup` when it is given on the command line (then
        # workers see it too): a group's pages share a worker, each page whole.
        group = pytest.mark.xdist_group(self.group)
        for block in self.page.blocks:
            item = BlockItem.from_parent(self, name=f"line-{block.line}", block=block)
            item.add_marker(group)
            yield item

    @property
    def label(self) -> str:
        return self.doc.settings.relative(self.path)

    def _group(self) -> str:
        """Pages a profile puts in one group (say, those that start from the
        same image) run in a row on one worker, under xdist and without it."""
        try:
            named = self.config.hook.pytest_doctester_page_group(page=self.page)
        except Exception as error:
            raise self.CollectError(f"{self.label}:1: pytest_doctester_page_group raised "
                                    f"{type(error).__name__}: {error}") from None
        return str(named) if named else f"page:{self.label}"

    def setup(self) -> None:
        self.cached, self.key = False, ""
        if self.config.getoption("doc_cache"):
            self.key = cache_key(self.path, self.doc)  # once: teardown records this same key after a pass
            known = self.config.cache.get(PASSED, {}) if self.config.cache else {}
            self.cached = known.get(self.label) == self.key
        self.failures = 0
        if not self.cached and any(not item.block.options.skip for item in self.collect_items()):
            self.run = start_page_run(self.config, self.page)

    def collect_items(self) -> list[BlockItem]:
        return [item for item in self.session.items if item.parent is self and isinstance(item, BlockItem)]

    def before_block(self, block: Block, run: PageRun) -> None:
        """In a journey, a profile may write down where the steps before `block` left the reader."""
        if self.doc.journey:
            call_journey_hook(self.config, "pytest_doctester_journey_block_start", block.label,
                              page=self.page, block=block, run=run)

    def teardown(self) -> None:
        if self.run is None:
            return
        run, self.run = self.run, None
        if self.doc.journey:
            # A profile may write down where the page left the reader (a journey's record).
            call_journey_hook(self.config, "pytest_doctester_journey_page_end", self.label, page=self.page, run=run)
            return  # the next page goes on where this one ended; the session finishes the run
        with uninterrupted():
            problems = run.finish()
        if problems:
            raise RuntimeError(f"{self.label}: tearing down after the page failed:\n  " + "\n  ".join(problems))
        if self.config.getoption("doc_cache") and not self.failures and self.config.cache:
            known = self.config.cache.get(PASSED, {})
            known[self.label] = self.key
            self.config.cache.set(PASSED, known)


class BlockItem(pytest.Item):
    parent: MarkdownPage

    def __init__(self, *, block: Block, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block = block

    def runtest(self) -> None:
        run = self.start_step()
        self.parent.before_block(self.block, run)
        try:
            run.run_block(self.block)
        except BlockFailure:
            self.parent.failures += 1
            raise

    def start_step(self) -> PageRun:
        """The page's run, with the steps above this one done; skips if this
        one must not run."""
        page = self.parent
        if page.cached:
            pytest.skip("cached: page, inputs and environment unchanged since it last passed")
        if self.block.options.skip:
            pytest.skip(self.block.options.skip)
        if self.skipped_in_journey(self.block):
            pytest.skip(f"in the journey the reader skips it: {self.block.options.alone}")
        if self.skipped_alone(self.block):
            pytest.skip(f"only in the journey, after the pages before this one: {self.block.options.in_order}")
        run = page.run
        if run is None:
            raise RuntimeError(f"{self.block.label}: the page's run did not start")
        if run.failed_at:
            pytest.skip(f"not run: {run.failed_at} failed earlier on this page")
        # Blocks before this one that -k/--lf deselected still run.
        for earlier in page.page.blocks:
            if earlier.line >= self.block.line:
                break
            if earlier.label not in run.done and not self.skipped_in_journey(earlier) \
                    and not self.skipped_alone(earlier):
                page.before_block(earlier, run)
                run.run_block(earlier)
        return run

    def skipped_in_journey(self, block: Block) -> bool:
        """A block for a reader starting at its page, which a reader in order skips."""
        return doc_run(self.config).journey and bool(block.options.alone)

    def skipped_alone(self, block: Block) -> bool:
        """A block for a reader who followed the pages before it, which a page run alone skips."""
        return not doc_run(self.config).journey and bool(block.options.in_order)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, BlockFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, self.block.line - 1, f"{self.block.label}: {self.block.summary()}"
