"""The pytest plugin of the core: collects the configured Markdown pages,
runs their blocks in order in one session per page, reports, and rewrites
expected output on request. What it knows of a tool (Docker) comes from a
profile through the hooks of hookspecs.py. Under pytest-xdist each worker
has its own environment and runs whole pages; the controller writes the report."""
import fcntl
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_markdown_docs.plugin import MarkdownInlinePythonItem

from . import hookspecs
from .environment import LocalProvider, SetupError
from .items import BlockItem, MarkdownPage
from .markdown import Grammar
from .matching import Rules
from .report import Report
from .settings import OPTIONS, Settings, add_options
from .signals import uninterrupted


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser):
    group = parser.getgroup("doctester", "doc tests of Markdown pages")
    group.addoption("--doc-update", action="store_true",
                    help="rewrite the expected output blocks of the pages with the real, normalized output")
    group.addoption("--doc-cache", action="store_true",
                    help="skip a page whose text, cache inputs and environment are unchanged since it passed")
    group.addoption("--doc-journey", action="store_true",
                    help="run the pages in the order given, as one reader would: one shell, one environment, "
                         "nothing reset between pages")
    add_options(parser, OPTIONS)


@dataclass
class Doc:
    """What the run knows, on config.doc."""
    settings: Settings
    grammar: Grammar
    rules: Rules
    interactive: object        # command -> Interactive or None
    environments: object       # the provider of page environments
    extra_cache_files: list
    report: Report
    updates: list = None       # with --doc-update: (page, span, lines) rewrites
    environment_state: str = ""
    journey: bool = False      # --doc-journey: the pages in order, in one PageRun
    journey_run: object = None

    def cache_files(self):
        return self.settings.cache_files(self.extra_cache_files)


def _ask(pytest_config, name, **kwargs):
    """Call a profile hook; a hook that raises is one usage error naming it."""
    try:
        return getattr(pytest_config.hook, name)(**kwargs)
    except pytest.UsageError:
        raise
    except Exception as error:
        raise pytest.UsageError(f"doctester: the hook {name} raised {type(error).__name__}: {error}")


def pytest_configure(config):
    settings = Settings.from_config(config)
    keys = [key for found in _ask(config, "pytest_doctester_annotation_keys") for key in found]
    languages = {lang: name for found in _ask(config, "pytest_doctester_file_languages") for lang, name in
                 found.items()}
    checks = [lambda block: config.hook.pytest_doctester_check_block(block=block)]
    try:
        rules = Rules.of([n for answer in _ask(config, "pytest_doctester_normalizers") for n in answer])
    except ValueError as error:
        raise pytest.UsageError(f"doctester: pytest_doctester_normalizers: {error}")
    grammar = Grammar.with_profile(keys, languages, checks, rules.variant_names,
                                   page_checks=[lambda page: config.hook.pytest_doctester_check_page(page=page)],
                                   other_system=lambda block: config.hook.pytest_doctester_other_system(block=block),
                                   console_without_prompt=settings.console_without_prompt,
                                   untitled_files=settings.untitled_files, foreign_syntax=settings.foreign_syntax,
                                   tabs=settings.tabs)
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    environments = _ask(config, "pytest_doctester_environment", config=config, worker=worker) or LocalProvider()
    extra = [Path(p) for answer in _ask(config, "pytest_doctester_cache_inputs", config=config) for p in answer]
    config.doc = Doc(settings, grammar, rules, lambda command: config.hook.pytest_doctester_interactive(
        command=command), environments, extra, Report(settings.report),
        [] if config.getoption("doc_update") else None, journey=config.getoption("doc_journey"))
    if config.doc.journey and (getattr(config.option, "numprocesses", None) or config.getoption("doc_cache")):
        raise pytest.UsageError("doctester: --doc-journey runs the pages one after another in one session: "
                                "drop -n/--numprocesses and --doc-cache")
    # Marks pages of one group; pytest-xdist, when installed, acts on it.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")
    if getattr(config.option, "dist", "no") == "load":
        # A page is one story: all its blocks on one worker. (`loadgroup`
        # would also keep a group's pages together, but its workers parse the
        # command line again, see `-n` as `load`, and do not name tests by
        # group; `loadfile` is decided by the controller alone.)
        config.option.dist = "loadfile"
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum, frame):
    """A TERM (from CI or `timeout`) unwinds like Ctrl-C, so pages still tear down."""
    raise KeyboardInterrupt


def pytest_collect_file(file_path, parent):
    if file_path.suffix != ".md":
        return None
    settings = parent.config.doc.settings
    # Nothing until configured; then the configured pages, and any page named on the command line.
    wanted = settings.pages and (settings.wants(file_path) or parent.session.isinitpath(file_path))
    return MarkdownPage.from_parent(parent, path=file_path) if wanted else None


def pytest_collection_modifyitems(session, config, items):
    """Pages of one group run in a row; a page's blocks stay together and in
    order. A journey keeps the order the pages were given in."""
    # With --markdown-docs, pytest-markdown-docs collects our pages' python
    # fences as well: they run once, as blocks of their page.
    ours = {item.path for item in items if isinstance(item.parent, MarkdownPage)}
    twice = {item for item in items if isinstance(item, MarkdownInlinePythonItem)
             and not isinstance(item.parent, MarkdownPage) and item.path in ours}
    if twice:
        config.hook.pytest_deselected(items=list(twice))
        items[:] = [item for item in items if item not in twice]
    if config.doc.journey:
        return

    def group(item):
        return item.parent.group if isinstance(item.parent, MarkdownPage) else ""
    first_seen = {}
    for item in items:
        first_seen.setdefault(group(item), len(first_seen))
    items.sort(key=lambda item: first_seen[group(item)])


def pytest_collection_finish(session):
    """One clear error when the environment cannot be reached, instead of one per block."""
    config = session.config
    needs = any(isinstance(item, BlockItem) and not item.block.options.skip for item in session.items)
    if not needs or config.getoption("collectonly"):
        return
    try:
        config.doc.environment_state = config.doc.environments.check()
    except SetupError as error:
        pytest.exit(f"doctester: {error}", returncode=3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not isinstance(item, (BlockItem, MarkdownInlinePythonItem)) or not isinstance(item.parent, MarkdownPage):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        reason = None
        status = report.outcome
        if report.skipped and isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            status = "cached" if reason.startswith("cached:") else "skipped"
            if isinstance(item, BlockItem):  # point -rs at the page, not at the plugin
                report.longrepr = (item.parent.label, item.block.line, reason)
        block = getattr(item, "block", None)
        command = block.commands[0].text if getattr(block, "commands", None) else None
        item.config.doc.report.add(item.parent.label, int(item.name.split("-")[1]),
                                   block.kind if block else "python", status, report.duration, reason, command)


def pytest_sessionfinish(session, exitstatus):
    for item in session.items:  # pages interrupted mid-way (Ctrl-C) still tear down
        page = item.parent
        if isinstance(page, MarkdownPage) and page.run is not None:
            page.teardown()
    config = session.config
    doc = config.doc
    with uninterrupted():
        problems = doc.journey_run.finish() if doc.journey_run is not None else []
        problems += doc.environments.close()
    if problems:
        config.doc_environment_problems = problems
        session.exitstatus = session.exitstatus or 1
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller writes the report
        config.workeroutput["doc_report"] = {"pages": doc.report.pages, "environment": doc.report.environment,
                                             "problems": problems}
    elif doc.report.pages:
        write_report(config)
    if doc.updates:
        rewritten = apply_updates(doc.updates, doc.settings.root)
        config.doc_update_summary = f"--doc-update rewrote {rewritten} output block(s)"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """An xdist worker is done: its pages join the controller's report."""
    output = getattr(node, "workeroutput", {}).get("doc_report")
    if not output:
        return
    report = node.config.doc.report
    for page, blocks in output["pages"].items():
        report.pages.setdefault(page, []).extend(blocks)
    report.environment = report.environment or output["environment"]
    if output["problems"]:
        node.config.doc_environment_problems = getattr(node.config, "doc_environment_problems", []) \
            + output["problems"]


def write_report(config):
    """Write the record under a lock: two runs at once merge, never clobber."""
    report = config.doc.report
    report.path.parent.mkdir(parents=True, exist_ok=True)
    with open(report.path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = report.write()
    totals = ", ".join(f"{n} {s}" for s, n in sorted(record["totals"].items()))
    config.doc_report_summary = f"doc tests: {totals} in {len(report.pages)} pages; report: {report.path}"


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    if not hasattr(config, "doc_report_summary") and config.doc.report.pages:
        write_report(config)  # under xdist the workers' pages arrive after sessionfinish
    for summary in ("doc_report_summary", "doc_update_summary"):
        if getattr(config, summary, None):
            terminalreporter.write_line(getattr(config, summary))
    for note in getattr(config.doc.environments, "notes", []):
        terminalreporter.write_line(f"doctester: {note}")
    for problem in getattr(config, "doc_environment_problems", []):
        terminalreporter.write_line(f"doctester: tearing down the environments failed: {problem}", red=True)


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
