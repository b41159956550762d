"""What the unit tests that run pages share: a page's shell on this machine
(no engine), and running a page's blocks in it as the harness does."""
import contextlib
import threading
from types import SimpleNamespace

import pytest
from waitress.server import create_server

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


@contextlib.contextmanager
def waitress_server(app, **settings):
    """A WSGI app served by waitress on 127.0.0.1 (a port of its own), in a
    thread while the block runs; yields the server (`effective_port`)."""
    server = create_server(app, host="127.0.0.1", port=0, **settings)
    # waitress's own loop, a round at a time, until the test is done: closing
    # the server while its loop waits in select() would pull its sockets away.
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.asyncore.loop(timeout=0.1, map=server._map, count=1)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.fixture
def ca_folder(tmp_path, monkeypatch):
    """A room CA folder of the test's own (see tests.conftest.use_room_ca_folder)."""
    from tests.conftest import use_room_ca_folder
    return use_room_ca_folder(monkeypatch, tmp_path / "room-ca")
