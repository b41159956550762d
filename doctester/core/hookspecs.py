"""The hooks a profile implements to teach the core about one tool. A profile
is a pytest plugin (this package's Docker profile is doctester.docker.plugin,
registered by its own `pytest11` entry point); each hook is documented on the
authoring page. A hook that raises is reported at the page:line or setting
that called it."""
import pytest


@pytest.hookspec
def pytest_doctester_annotation_keys():
    """Return a list of core.annotations.AnnotationKey: extra `key=value`
    words for `<!-- doctest: ... -->`. Their values land in Options.extra."""


@pytest.hookspec
def pytest_doctester_file_languages():
    """Return {fence language: file name}: an untitled fence of that language
    is a file written under that name (`dockerfile` -> `Dockerfile`)."""


@pytest.hookspec
def pytest_doctester_check_block(block):
    """Refuse a parsed block by raising core.blocks.PageError (at its line)."""


@pytest.hookspec
def pytest_doctester_check_page(page):
    """Refuse a parsed page (core.blocks.Page, its blocks in order) by raising
    core.blocks.PageError at the line of the block at fault: for rules that
    depend on what came before a block (a shell the page opened, say)."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_other_system(block):
    """A shell block shown for readers of another system (in a Windows or
    PowerShell tab, or a powershell fence), parsed as a core.blocks.ShellBlock
    as the page's shell would read it: return True if the page's shell runs
    it with the same effect, so it is run, or the reason it is skipped. First
    answer wins; without one it is skipped ("Windows shell: not run on Linux")."""


@pytest.hookspec
def pytest_doctester_normalizers():
    """Return a list of core.matching.Normalizer and LineFold: fields of this
    tool's output that legitimately vary between runs."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_interactive(command):
    """Return core.session.Interactive if `command` takes the terminal (a
    shell or REPL the next commands are typed into), else None. First answer wins."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_environment(config, worker):
    """Return the provider of page environments for this test process
    (`worker` is "main" or the xdist worker id): an object with check(),
    get(), describe() and close(), as core.environment.LocalProvider. First
    answer wins; without one, pages run in a local bash."""


@pytest.hookspec(firstresult=True)
def pytest_doctester_page_group(page):
    """Return a name: pages with the same one run in a row, so pages that start
    from the same state share its set-up (under xdist each page stays whole on
    one worker instead). First answer wins."""


@pytest.hookspec
def pytest_doctester_journey_page_end(config, page, run):
    """In a journey (--doc-journey), a page is done: `run` is the journey's
    core.pagerun.PageRun (its environment and workspace as the page left
    them). For records of where each page leaves the reader."""


@pytest.hookspec
def pytest_doctester_cache_inputs(config):
    """Return a list of files whose change makes --doc-cache run pages again."""

