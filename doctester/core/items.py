"""The pytest nodes: a Markdown page is a File; each runnable block an Item.
A page is one story: its blocks run in order in one session, and a block
asked for alone (-k, --lf) first runs the blocks above it."""
import hashlib

import pytest
from pytest_markdown_docs.definitions import FenceTestDefinition
from pytest_markdown_docs.plugin import MarkdownInlinePythonItem

from .blocks import PageError, PythonBlock
from .environment import SetupError
from .markdown import parse_page
from .pagerun import BlockFailure, PageRun, time_limit
from .signals import uninterrupted


class MarkdownPage(pytest.File):
    run = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.python_namespace = {}  # shared by the page's python fences

    def collect(self):
        doc = self.config.doc
        try:
            self.page = parse_page(self.label, self.path.read_text(encoding="utf-8"), doc.settings.root,
                                   doc.grammar)
        except PageError as error:
            raise self.CollectError(str(error))
        self.group = self._group()
        # Read by `--dist loadgroup` when it is given on the command line (then
        # workers see it too): a group's pages share a worker, each page whole.
        group = pytest.mark.xdist_group(self.group)
        for block in self.page.blocks:
            name = f"line-{block.line}"
            if isinstance(block, PythonBlock) and not block.options.skip:
                item = PythonFenceItem.from_parent(self, name=name, block=block, test_definition=FenceTestDefinition(
                    "\n" * block.line + block.content, (), block.line, self.path, None))
            else:
                item = BlockItem.from_parent(self, name=name, block=block)
            item.add_marker(group)
            yield item

    @property
    def label(self):
        return self.config.doc.settings.relative(self.path)

    def _group(self):
        """Pages a profile puts in one group (say, those that start from the
        same image) run in a row on one worker, under xdist and without it."""
        try:
            named = self.config.hook.pytest_doctester_page_group(page=self.page)
        except Exception as error:
            raise self.CollectError(f"{self.label}:1: pytest_doctester_page_group raised "
                                    f"{type(error).__name__}: {error}")
        return named or f"page:{self.label}"

    def cache_key(self):
        digest = hashlib.sha256(self.path.read_bytes())
        for path in self.config.doc.cache_files():
            digest.update(path.read_bytes())
        digest.update(self.config.doc.environment_state.encode())
        digest.update(self.config.doc.settings.reader_shell.encode())
        return digest.hexdigest()

    def setup(self):
        self.cached, self.key = False, None
        if self.config.getoption("doc_cache"):
            self.key = self.cache_key()  # once: teardown records this same key after a pass
            known = self.config.cache.get("doctester/passed", {})
            self.cached = known.get(self.label) == self.key
        self.failures = 0
        # A page of python fences only starts its environment too: an environment
        # that runs fences itself (in a sandbox) must have them, never this process.
        if not self.cached and any(isinstance(i, (BlockItem, PythonFenceItem)) and not i.block.options.skip
                                   for i in self.collect_items()):
            doc = self.config.doc
            try:
                environment = doc.environments.get()
            except SetupError as error:
                pytest.exit(f"doctester: {error}", returncode=3)
            if doc.report.environment is None:
                doc.report.environment = doc.environments.describe()
            if not doc.journey:
                self.run = PageRun(self.page, doc.settings, environment, doc.rules, doc.interactive, doc.updates)
            elif doc.journey_run is None:  # the attendee starts on an empty engine
                self.run = doc.journey_run = PageRun(self.page, doc.settings, environment, doc.rules,
                                                     doc.interactive, doc.updates, journey=True)
            else:
                self.run = doc.journey_run
                self.run.start_page(self.page)

    def collect_items(self):
        return [item for item in self.session.items if item.parent is self]

    def teardown(self):
        if self.run is not None:
            run, self.run = self.run, None
            if self.config.doc.journey:
                # A profile may write down where the page left the reader (a journey's record).
                try:
                    self.config.hook.pytest_doctester_journey_page_end(config=self.config, page=self.page, run=run)
                except Exception as error:
                    raise RuntimeError(f"{self.label}: pytest_doctester_journey_page_end raised "
                                       f"{type(error).__name__}: {error}") from None
                return  # the next page goes on where this one ended; the session finishes the run
            with uninterrupted():
                problems = run.finish()
            if problems:
                raise RuntimeError(f"{self.label}: tearing down after the page failed:\n  " + "\n  ".join(problems))
            if self.config.getoption("doc_cache") and not self.failures:
                known = self.config.cache.get("doctester/passed", {})
                known[self.label] = self.key
                self.config.cache.set("doctester/passed", known)


class StoryStep:
    """What a shell block and a python fence share: the page is one story, so
    a step runs after the steps above it, and not after one that failed."""

    def start_step(self):
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
        if run.failed_at:
            pytest.skip(f"not run: {run.failed_at} failed earlier on this page")
        # Blocks before this one that -k/--lf deselected still run. Python
        # fences above are left out: they run only as their own items.
        for earlier in page.page.blocks:
            if earlier.line >= self.block.line:
                break
            if earlier.label not in run.done and not isinstance(earlier, PythonBlock) \
                    and not self.skipped_in_journey(earlier) and not self.skipped_alone(earlier):
                run.run_block(earlier)
        return run

    def skipped_in_journey(self, block):
        """A block for a reader starting at its page, which a reader in order skips."""
        return self.config.doc.journey and bool(block.options.alone)

    def skipped_alone(self, block):
        """A block for a reader who followed the pages before it, which a page run alone skips."""
        return not self.config.doc.journey and bool(block.options.in_order)


class PythonFenceItem(StoryStep, MarkdownInlinePythonItem):
    """A python fence, run by pytest-markdown-docs in this process, in its
    place in the page: in the page's folder, against the page's engine, within
    its timeout."""

    def __init__(self, *, block, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def runtest(self):
        timeout = self.block.options.timeout or self.config.doc.settings.timeout
        if self.parent.run is None:
            # The page started no environment (setup): it is cached, or this
            # fence is skipped. Never run where pytest runs.
            pytest.skip("cached: page, inputs and environment unchanged since it last passed"
                        if self.parent.cached else self.block.options.skip)
        run = self.start_step()
        try:
            runner = run.environment.python_runner
            if runner is not None:  # the environment runs the fence (in its sandbox)
                return run.run_python_elsewhere(self.block, runner, timeout)
            # In the page's current folder, with its engine's settings, all undone after.
            with run.python_fence(self.block) as settings, pytest.MonkeyPatch.context() as patch:
                patch.chdir(run.session.cwd())
                for key, value in settings.items():
                    patch.setenv(key, value)
                with time_limit(self.block.label, timeout):
                    self.run_fence()
        except Exception:
            self.parent.failures += 1
            raise

    def run_fence(self):
        """pytest-markdown-docs' runner executes the fence. The fences of a page
        share one namespace, as lines typed into one Python session do: a
        later fence uses the `client` an earlier one made."""
        namespace = self.parent.python_namespace
        if not namespace:
            for names in self.config.hook.pytest_markdown_docs_globals():
                namespace.update(names)
        self.runner.runtest(self.test_definition, namespace)  # what it prints is captured, shown on failure


class BlockItem(StoryStep, pytest.Item):
    def __init__(self, *, block, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def runtest(self):
        run = self.start_step()
        try:
            run.run_block(self.block)
        except BlockFailure:
            self.parent.failures += 1
            raise

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, BlockFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.block.line - 1, f"{self.block.label}: {self.block.summary()}"
