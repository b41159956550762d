"""What the unit tests that run pages share: a page's shell on this machine
(no engine), and running a page's blocks in it as the harness does."""
from types import SimpleNamespace

import pytest

from doctester.core.environment import LocalEnvironment
from doctester.core.markdown import parse_page
from doctester.core.pagerun import PageRun


def page_settings(shell="bash", **extra):
    return SimpleNamespace(**{"timeout": 20, "copy": None, "copy_ignore": [], "reader_shell": shell,
                              "workdir_name": "workshop", **extra})


@pytest.fixture
def local():
    environment = LocalEnvironment()
    yield environment
    environment.close()


@pytest.fixture
def run_page():
    """run_page(environment, shell, text, interactive=None, **settings): every
    block of the page in order; the page must leave nothing behind."""
    def run(environment, shell, text, interactive=None, **extra):
        page = parse_page("page.md", text)
        pagerun = PageRun(page, page_settings(shell, **extra), environment, interactive=interactive)
        try:
            for block in page.blocks:
                pagerun.run_block(block)
        finally:
            problems = pagerun.finish()
        assert problems == []
        return pagerun
    return run
