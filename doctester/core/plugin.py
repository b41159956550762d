"""The pytest plugin of the core: collects the configured Markdown pages,
runs their blocks in order in one session per page, reports, and rewrites
expected output on request. What it knows of a tool (Docker) comes from a
profile through the hooks of hookspecs.py. Under pytest-xdist each worker
has its own environment and runs whole pages; the controller writes the report."""
from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from pytest_markdown_docs.plugin import MarkdownInlinePythonItem

from . import hookspecs, profiles
from .contract import LeavesNotes
from .blocks import ShellBlock
from .environment import LocalProvider, SetupError
from .items import BlockItem, MarkdownPage
from .markdown import Grammar
from .matching import Rules
from .pagerun import Update
from .report import Report
from .session import Interactive
from .settings import OPTIONS, Settings, add_options
from .signals import interrupt_on_terminate, restore_terminate, uninterrupted
from .state import DOC_RUN, DocRun, doc_run


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("doctester", "doc tests of Markdown pages")
    group.addoption("--doc-update", action="store_true",
                    help="rewrite the expected output blocks of the pages with the real, normalized output")
    group.addoption("--doc-cache", action="store_true",
                    help="skip a page whose text, cache inputs and environment are unchanged since it passed")
    group.addoption("--doc-journey", action="store_true",
                    help="run the pages in the order given, as one reader would: one shell, one environment, "
                         "nothing reset between pages")
    add_options(parser, OPTIONS)


def _grammar(config: pytest.Config, settings: Settings, rules: Rules) -> Grammar:
    return Grammar.with_profile(profiles.annotation_keys(config), profiles.block_kinds(config.hook),
                                [lambda block: config.hook.pytest_doctester_check_block(block=block)],
                                rules.variant_names,
                                page_checks=[lambda page: config.hook.pytest_doctester_check_page(page=page)],
                                other_system=lambda block: config.hook.pytest_doctester_other_system(block=block),
                                console_without_prompt=settings.console_without_prompt,
                                untitled_files=settings.untitled_files, foreign_syntax=settings.foreign_syntax,
                                tabs=settings.tabs)


def pytest_configure(config: pytest.Config) -> None:
    settings = Settings.from_config(config)
    try:
        rules = Rules.of(profiles.normalizers(config))
    except ValueError as error:
        raise pytest.UsageError(f"doctester: pytest_doctester_normalizers: {error}") from None
    worker = getattr(config, "workerinput", {}).get("workerid", "main")

    def interactive(command: str) -> Interactive | None:
        verdict: Interactive | None = config.hook.pytest_doctester_interactive(command=command)
        return verdict
    updates: list[Update] | None = [] if config.getoption("doc_update") else None
    doc = DocRun(settings, _grammar(config, settings, rules), rules, interactive,
                 profiles.environment_provider(config, worker, LocalProvider), profiles.cache_inputs(config),
                 Report(settings.report), updates, journey=config.getoption("doc_journey"))
    if doc.journey and (getattr(config.option, "numprocesses", None) or config.getoption("doc_cache")):
        raise pytest.UsageError("doctester: --doc-journey runs the pages one after another in one session: "
                                "drop -n/--numprocesses and --doc-cache")
    config.stash[DOC_RUN] = doc
    # Marks pages of one group; pytest-xdist, when installed, acts on it.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")
    if getattr(config.option, "dist", "no") == "load":
        # A page is one story: all its blocks on one worker. (`loadgroup`
        # would also keep a group's pages together, but its workers parse the
        # command line again, see `-n` as `load`, and do not name tests by
        # group; `loadfile` is decided by the controller alone.)
        config.option.dist = "loadfile"
    doc.previous_terminate = interrupt_on_terminate()


def pytest_unconfigure(config: pytest.Config) -> None:
    if DOC_RUN in config.stash:
        restore_terminate(doc_run(config).previous_terminate)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> MarkdownPage | None:
    if file_path.suffix != ".md":
        return None
    settings = doc_run(parent.config).settings
    # Nothing until configured; then the configured pages, and any page named on the command line.
    wanted = settings.pages and (settings.wants(file_path) or parent.session.isinitpath(file_path))
    return MarkdownPage.from_parent(parent, path=file_path) if wanted else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Pages of one group run in a row; a page's blocks stay together and in
    order. A journey keeps the order the pages were given in."""
    # With --markdown-docs, pytest-markdown-docs collects our pages' python
    # fences as well: they run once, as blocks of their page.
    ours = {item.path for item in items if isinstance(item, BlockItem)}
    twice = {item for item in items if isinstance(item, MarkdownInlinePythonItem) and item.path in ours}
    if twice:
        config.hook.pytest_deselected(items=list(twice))
        items[:] = [item for item in items if item not in twice]
    if doc_run(config).journey:
        return

    def group(item: pytest.Item) -> str:
        return item.parent.group if isinstance(item, BlockItem) else ""
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(group(item), len(first_seen))
    items.sort(key=lambda item: first_seen[group(item)])


def pytest_collection_finish(session: pytest.Session) -> None:
    """One clear error when the environment cannot be reached, instead of one per block."""
    config = session.config
    needs = any(isinstance(item, BlockItem) and not item.block.options.skip for item in session.items)
    if not needs or config.getoption("collectonly"):
        return
    doc = doc_run(config)
    try:
        doc.environment_state = doc.environments.check()
    except SetupError as error:
        pytest.exit(f"doctester: {error}", returncode=3)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    if not isinstance(item, BlockItem):
        return report
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        reason = None
        status: str = report.outcome
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            status = "cached" if reason.startswith("cached:") else "skipped"
            report.longrepr = (item.parent.label, item.block.line, reason)  # point -rs at the page, not at the plugin
        block = item.block
        command = block.commands[0].text if isinstance(block, ShellBlock) and block.commands else None
        doc_run(item.config).report.add(item.parent.label, block.line, block.kind, status, report.duration,
                                        reason, command)
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After xdist's own (its workers' pages are in by then): tear down, then
    report, once, in the process that ran the pages or their controller."""
    for item in session.items:  # pages interrupted mid-way (Ctrl-C) still tear down
        page = item.parent
        if isinstance(page, MarkdownPage) and page.run is not None:
            page.teardown()
    config = session.config
    doc = doc_run(config)
    with uninterrupted():
        problems = doc.journey_run.finish() if doc.journey_run is not None else []
        problems += doc.environments.close()
    doc.problems += problems
    if doc.problems:
        session.exitstatus = session.exitstatus or 1
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller writes the report
        workeroutput["doc_report"] = doc.worker_output()
    elif doc.report.pages:
        doc.write_report()
    if doc.updates:
        rewritten = apply_updates(doc.updates, doc.settings.root)
        doc.summary.append(f"--doc-update rewrote {rewritten} output block(s)")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """An xdist worker is done: its pages join the controller's report."""
    output = getattr(node, "workeroutput", {}).get("doc_report")
    if output:
        doc_run(node.config).add_worker_output(output)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    doc = doc_run(config)
    for line in doc.summary:
        terminalreporter.write_line(line)
    for note in doc.environments.notes if isinstance(doc.environments, LeavesNotes) else []:
        terminalreporter.write_line(f"doctester: {note}")
    for problem in doc.problems:
        terminalreporter.write_line(f"doctester: tearing down the environments failed: {problem}", red=True)


def apply_updates(updates: list[Update], root: Path) -> int:
    """Replace expected-output lines in the pages, bottom-up so spans stay valid."""
    by_page: dict[str, list[tuple[tuple[int, int], list[str]]]] = {}
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
