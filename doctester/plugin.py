"""The pytest plugin: collects Markdown pages, runs their blocks in order in
one session per page on a private engine, reports, and rewrites expected
output on request. Under pytest-xdist each worker has its own engine and
runs whole pages; the controller writes the report."""
import fcntl
import hashlib
import signal
import subprocess
from pathlib import Path

import pytest
from pytest_markdown_docs.definitions import FenceTestDefinition
from pytest_markdown_docs.plugin import MarkdownInlinePythonItem

from . import fences
from .dockerstate import EngineError
from .pagerun import BlockFailure, PageRun
from .provider import EngineProvider, uninterrupted
from .report import Report
from .settings import Settings, add_options

RUN_KINDS = {"shell", "file", "action", "skipped"}


def pytest_addoption(parser):
    group = parser.getgroup("doctester", "Docker doc tests of Markdown pages")
    group.addoption("--doc-update", action="store_true",
                    help="rewrite the expected output blocks of the pages with the real, normalized output")
    group.addoption("--doc-cache", action="store_true",
                    help="skip a page whose text, cache inputs and engine are unchanged since it passed")
    add_options(parser, group)


def pytest_configure(config):
    config.doc = settings = Settings.from_config(config)
    # Marks pages that start from the same image; pytest-xdist, when installed, acts on it.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")
    config.doc_report = Report(settings.report)
    config.doc_updates = [] if config.getoption("doc_update") else None
    if getattr(config.option, "dist", "no") == "load":
        # A page is one story: all its blocks on one worker. Pages that start
        # from the same images share a worker, one after another (see collect).
        config.option.dist = "loadgroup"
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    config.doc_engines = EngineProvider(settings.engine, settings.state_dir, worker, settings.sandbox_image,
                                        settings.mirror_storage, settings.existing_ok)
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    """A TERM (from CI or `timeout`) unwinds like Ctrl-C, so pages still clean up."""
    raise KeyboardInterrupt


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".md":
        return None
    settings = parent.config.doc
    # Nothing until configured; then the configured pages, and any page named on the command line.
    wanted = settings.pages and (settings.wants(file_path) or parent.session.isinitpath(file_path))
    return MarkdownPage.from_parent(parent, path=file_path) if wanted else None


class MarkdownPage(pytest.File):
    run = None

    def collect(self):
        try:
            self.page = fences.parse_page(self._label(), self.path.read_text(encoding="utf-8"),
                                          root=self.config.doc.root, conventions=self.config.doc)
        except fences.PageError as error:
            raise self.CollectError(str(error))
        group = pytest.mark.xdist_group(self.image_group())
        for item in self._items():
            item.add_marker(group)
            yield item

    def image_group(self):
        """Pages whose first `present` image is the same run on one worker, one
        after another (under xdist, and in collection order otherwise), so that
        image is unpacked once there rather than page after page."""
        present = self.page.front_matter.get("present", [])
        return f"image:{present[0]}" if present else f"page:{self._label()}"

    def _items(self):
        for block in self.page.blocks:
            name = f"line-{block.line}"
            if block.kind == "python":
                yield MarkdownInlinePythonItem.from_parent(
                    self, name=name, test_definition=FenceTestDefinition(
                        "\n" * block.line + block.content, (), block.line, self.path, None))
            elif block.kind in RUN_KINDS:
                yield BlockItem.from_parent(self, name=name, block=block)

    def _label(self):
        return self.config.doc.relative(self.path)

    def cache_key(self):
        digest = hashlib.sha256(self.path.read_bytes())
        for path in self.config.doc.cache_files():
            digest.update(path.read_bytes())
        digest.update(self.config.doc_engine_state.encode())
        return digest.hexdigest()

    def setup(self):
        self.cached, self.key = False, None
        if self.config.getoption("doc_cache"):
            self.key = self.cache_key()  # once: teardown records this same key after a pass
            known = self.config.cache.get("doctester/passed", {})
            self.cached = known.get(self._label()) == self.key
        self.failures = 0
        if not self.cached and any(isinstance(i, BlockItem) for i in self.collect_items()):
            try:
                engine = self.config.doc_engines.get()
            except EngineError as error:
                pytest.exit(f"doctester: {error}", returncode=3)
            if self.config.doc_report.docker is None:
                self.config.doc_report.docker = engine.describe()
            self.run = PageRun(self.page, self.config.doc, engine, update=self.config.doc_updates)

    def collect_items(self):
        return [item for item in self.session.items if item.parent is self]

    def teardown(self):
        if self.run is not None:
            run, self.run = self.run, None
            with uninterrupted():
                problems = run.finish()
            if problems:
                raise RuntimeError(f"{self._label()}: cleaning up after the page failed:\n  "
                                   + "\n  ".join(problems))
            if self.config.getoption("doc_cache") and not self.failures:
                known = self.config.cache.get("doctester/passed", {})
                known[self._label()] = self.key
                self.config.cache.set("doctester/passed", known)


class BlockItem(pytest.Item):
    def __init__(self, *, block, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def runtest(self):
        page = self.parent
        if page.cached:
            pytest.skip("cached: page, examples and engine unchanged since it last passed")
        run = page.run
        if run.failed_at:
            pytest.skip(f"not run: {run.failed_at} failed earlier on this page")
        # Blocks before this one that -k/--lf deselected still run: the page is one story.
        for earlier in page.page.blocks:
            if earlier.line >= self.block.line:
                break
            if earlier.line not in run.done and earlier.kind in RUN_KINDS:
                run.run_block(earlier)
        try:
            status = run.run_block(self.block)
        except BlockFailure:
            page.failures += 1
            raise
        if status == "skipped":
            pytest.skip(self.block.options.skip)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, BlockFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        first = self.block.commands[0].text.splitlines()[0] if self.block.commands else self.block.title
        return self.path, self.block.line - 1, f"{self.block.label}: {first or self.block.kind}"


def pytest_collection_modifyitems(session, config, items):
    """Pages that start from the same image run in a row; a page's blocks stay
    together and in order."""
    def group(item):
        page = item.parent
        return page.image_group() if isinstance(page, MarkdownPage) else ""
    first_seen = {}
    for item in items:
        first_seen.setdefault(group(item), len(first_seen))
    items.sort(key=lambda item: first_seen[group(item)])


def pytest_collection_finish(session):
    """One clear error for a missing daemon, instead of one per block."""
    needs_docker = any(isinstance(item, BlockItem) and item.block.kind in ("shell", "action")
                       for item in session.items)
    config = session.config
    config.doc_engine_state = ""
    if not needs_docker or config.getoption("collectonly"):
        return
    engines = config.doc_engines
    probe = ["docker", "version", "--format", "{{.Server.Version}}"]
    if engines.mode == "private":
        probe = ["docker", "image", "inspect", "--format", "{{.Id}}", engines.sandbox_image]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        result = subprocess.CompletedProcess(probe, 1, "", str(error))
    if result.returncode:
        message = result.stderr.strip().splitlines()[-1:] or ["no answer"]
        if "No such image" in message[0]:
            pytest.exit(f"doctester: the private engines' image {engines.sandbox_image} is missing: "
                        "build it with `make images`", returncode=3)
        pytest.exit(f"doctester: no Docker daemon answers ({message[0]}). {config.doc.no_engine_hint}",
                    returncode=3)
    config.doc_engine_state = f"{engines.mode}|{result.stdout.strip()}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not isinstance(item, (BlockItem, MarkdownInlinePythonItem)):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        reason = None
        status = report.outcome
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            status = "cached" if reason.startswith("cached:") else "skipped"
            if isinstance(item, BlockItem):  # point -rs at the page, not at the plugin
                report.longrepr = (item.parent._label(), item.block.line, reason)
        block = getattr(item, "block", None)
        command = block.commands[0].text if block is not None and block.commands else None
        item.config.doc_report.add(item.parent._label(), int(item.name.split("-")[1]),
                                   block.kind if block else "python", status, report.duration,
                                   reason, command)


def pytest_sessionfinish(session, exitstatus):
    for item in session.items:  # pages interrupted mid-way (Ctrl-C) still clean up
        page = item.parent
        if isinstance(page, MarkdownPage) and page.run is not None:
            page.teardown()
    config = session.config
    problems = config.doc_engines.close()
    if problems:
        config.doc_engine_problems = problems
        session.exitstatus = session.exitstatus or 1
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller writes the report
        config.workeroutput["doc_report"] = {"pages": config.doc_report.pages,
                                             "docker": config.doc_report.docker,
                                             "problems": problems}
    elif config.doc_report.pages:
        write_report(config)
    if config.doc_updates:
        rewritten = apply_updates(config.doc_updates, config.doc.root)
        config.doc_update_summary = f"--doc-update rewrote {rewritten} output block(s)"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """An xdist worker is done: its pages join the controller's report."""
    output = getattr(node, "workeroutput", {}).get("doc_report")
    if not output:
        return
    report = node.config.doc_report
    for page, blocks in output["pages"].items():
        report.pages.setdefault(page, []).extend(blocks)
    report.docker = report.docker or output["docker"]
    if output["problems"]:
        node.config.doc_engine_problems = getattr(node.config, "doc_engine_problems", []) + output["problems"]


def write_report(config):
    """Write the record under a lock: two runs at once merge, never clobber."""
    path = Path(config.doc_report.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = config.doc_report.write()
    totals = ", ".join(f"{n} {s}" for s, n in sorted(record["totals"].items()))
    config.doc_report_summary = f"doc tests: {totals} in {len(config.doc_report.pages)} pages; " \
                                f"report: {config.doc_report.path}"


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    if not hasattr(config, "doc_report_summary") and config.doc_report.pages:
        write_report(config)  # under xdist the workers' pages arrive after sessionfinish
    for summary in ("doc_report_summary", "doc_update_summary"):
        if getattr(config, summary, None):
            terminalreporter.write_line(getattr(config, summary))
    engines = config.doc_engines
    if engines.reaped:
        terminalreporter.write_line(f"doctester: reaped what killed runs left: {', '.join(engines.reaped)}")
    for problem in getattr(config, "doc_engine_problems", []):
        terminalreporter.write_line(f"doctester: cleaning up the engines failed: {problem}", red=True)


def apply_updates(updates, root):
    """Replace expected-output lines in the pages, bottom-up so spans stay valid."""
    by_page = {}
    for path, span, lines in updates:
        by_page.setdefault(path, []).append((span, lines))
    for path, edits in by_page.items():
        file = root / path if not Path(path).is_absolute() else Path(path)
        text = file.read_text(encoding="utf-8")
        page_lines = text.split("\n")
        for (first, last), lines in sorted(edits, key=lambda e: -e[0][0]):
            anchor = page_lines[first - 1] if first > 0 else ""
            indent = anchor[:len(anchor) - len(anchor.lstrip(" "))]
            page_lines[first:last + 1] = [indent + line if line else "" for line in lines]
        file.write_text("\n".join(page_lines), encoding="utf-8")
    return len(updates)
