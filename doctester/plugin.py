"""The pytest plugin: collects Markdown pages, runs their blocks in order in
one session per page, reports, and rewrites expected output on request."""
import hashlib
import signal
from pathlib import Path

import docker
import pytest
from pytest_markdown_docs.definitions import FenceTestDefinition
from pytest_markdown_docs.plugin import MarkdownInlinePythonItem

from . import fences
from .pagerun import BlockFailure, PageRun
from .report import Report, client_version

ROOT = Path(__file__).resolve().parent.parent
RUN_KINDS = {"shell", "file", "action", "skipped"}


def pytest_addoption(parser):
    group = parser.getgroup("doctester", "Docker doc tests of Markdown pages")
    group.addoption("--doc-update", action="store_true",
                    help="rewrite the expected output blocks of the pages with the real, normalized output")
    group.addoption("--doc-cache", action="store_true",
                    help="skip a page whose text, examples, images and engine are unchanged since it passed")
    group.addoption("--doc-timeout", type=float, default=120.0,
                    help="seconds a command may run before it is killed (default 120)")
    group.addoption("--doc-report", default=str(ROOT / "build" / "doctest-report.json"),
                    help="where to write the JSON report of the run")


def pytest_configure(config):
    config.doc_report = Report(config.getoption("doc_report"))
    config.doc_updates = [] if config.getoption("doc_update") else None
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    """A TERM (from CI or `timeout`) unwinds like Ctrl-C, so pages still clean up."""
    raise KeyboardInterrupt


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".md":
        return None
    wanted = (parent.session.isinitpath(file_path) or file_path.is_relative_to(ROOT / "docs")
              or file_path == ROOT / "examples" / "README.md")
    return MarkdownPage.from_parent(parent, path=file_path) if wanted else None


class MarkdownPage(pytest.File):
    run = None

    def collect(self):
        try:
            self.page = fences.parse_page(self._label(), self.path.read_text(encoding="utf-8"), root=ROOT)
        except fences.PageError as error:
            raise self.CollectError(str(error))
        for block in self.page.blocks:
            name = f"line-{block.line}"
            if block.kind == "python":
                yield MarkdownInlinePythonItem.from_parent(
                    self, name=name, test_definition=FenceTestDefinition(
                        "\n" * block.line + block.content, (), block.line, self.path, None))
            elif block.kind in RUN_KINDS:
                yield BlockItem.from_parent(self, name=name, block=block)

    def _label(self):
        return str(self.path.relative_to(ROOT)) if self.path.is_relative_to(ROOT) else str(self.path)

    def cache_key(self):
        digest = hashlib.sha256(self.path.read_bytes())
        for path in sorted((ROOT / "examples").rglob("*")) + sorted((ROOT / "doctester").glob("*.py")):
            if path.is_file() and "__pycache__" not in path.parts and path.name != "jams.json":
                digest.update(path.read_bytes())
        digest.update(self.config.doc_engine_state.encode())
        return digest.hexdigest()

    def setup(self):
        self.cached, self.key = False, None
        if self.config.getoption("doc_cache"):
            self.key = self.cache_key()  # once: teardown records this same key after a pass
            known = self.config.cache.get("doctester/passed", {})
            self.cached = known.get(self._label()) == self.key
        if not self.cached and any(isinstance(i, BlockItem) for i in self.collect_items()):
            self.run = PageRun(self.page, ROOT, self.config.getoption("doc_timeout"),
                               update=self.config.doc_updates)
        self.failures = 0

    def collect_items(self):
        return [item for item in self.session.items if item.parent is self]

    def teardown(self):
        if self.run is not None:
            run, self.run = self.run, None
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


def pytest_collection_finish(session):
    """One clear error for a missing daemon, instead of one per block."""
    needs_docker = any(isinstance(item, BlockItem) and item.block.kind in ("shell", "action")
                       for item in session.items)
    session.config.doc_engine_state = ""
    if not needs_docker or session.config.getoption("collectonly"):
        return
    try:
        api = docker.from_env(timeout=10)
        version = api.version()
        tags = sorted(f"{t}={i.id}" for i in api.images.list() for t in i.tags)
    except Exception as error:
        pytest.exit(f"doctester: no Docker daemon answers ({error}). Start one with `make engine`.",
                    returncode=3)
    session.config.doc_engine_state = f"{version.get('Version')}|{'|'.join(tags)}"
    session.config.doc_report.docker = {"client": client_version(), "engine": version.get("Version")}


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
    if config.doc_report.pages:
        record = config.doc_report.write()
        totals = ", ".join(f"{n} {s}" for s, n in sorted(record["totals"].items()))
        config.doc_report_summary = f"doc tests: {totals} in {len(config.doc_report.pages)} pages; " \
                                    f"report: {config.doc_report.path}"
    if config.doc_updates:
        rewritten = apply_updates(config.doc_updates)
        config.doc_update_summary = f"--doc-update rewrote {rewritten} output block(s)"


def pytest_terminal_summary(terminalreporter, config):
    for summary in ("doc_report_summary", "doc_update_summary"):
        if getattr(config, summary, None):
            terminalreporter.write_line(getattr(config, summary))


def apply_updates(updates):
    """Replace expected-output lines in the pages, bottom-up so spans stay valid."""
    by_page = {}
    for path, span, lines in updates:
        by_page.setdefault(path, []).append((span, lines))
    for path, edits in by_page.items():
        file = ROOT / path if not Path(path).is_absolute() else Path(path)
        text = file.read_text(encoding="utf-8")
        page_lines = text.split("\n")
        for (first, last), lines in sorted(edits, key=lambda e: -e[0][0]):
            anchor = page_lines[first - 1] if first > 0 else ""
            indent = anchor[:len(anchor) - len(anchor.lstrip(" "))]
            page_lines[first:last + 1] = [indent + line if line else "" for line in lines]
        file.write_text("\n".join(page_lines), encoding="utf-8")
    return len(updates)
