import contextlib
import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "rest_server"))


# Tests in tiers. A test's tier is its folder: tests/unit needs nothing but
# this checkout, tests/integration a Docker engine (and the mirror `make
# images` fills), tests/browser Chromium and the built site, tests/workflow
# root and the package index (a fresh clone's venv, no engine); the pages
# (docs/, examples/README.md) run on private engines and take minutes. A bare
# `pytest` runs the unit tier (testpaths in pytest.ini); `-m` picks tiers
# out of a wider run, e.g. `pytest tests -m "not browser"`.
TIERS = {"unit": ("unit",), "integration": ("docker",), "browser": ("browser",), "workflow": ("slow",)}
PAGE_TIER = ("docker", "slow")
# Integration modules that run many pages, build a wheel's venv or an image
# (minutes, not seconds); `pytest tests -m "docker and not slow"` leaves them out.
SLOW_MODULES = {"test_escapes.py", "test_private_engines.py", "test_installed_elsewhere.py",
                "test_site_image.py", "test_check_real.py"}


def pytest_addoption(parser):
    parser.addoption("--require", action="append", default=[], choices=["docker", "browser"],
                     help="fail the run, instead of skipping the tier's tests, when what the tier needs "
                          "(a Docker engine, Chromium) is missing: make integration and make browser set it")


def tier_of(path):
    relative = Path(path).resolve().relative_to(ROOT)
    if relative.suffix == ".md":
        return PAGE_TIER
    if relative.parts[0] == "tests" and len(relative.parts) > 2:
        marks = TIERS.get(relative.parts[1], ())
        return marks + ("slow",) if relative.name in SLOW_MODULES else marks
    return ()


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            marks = tier_of(item.path)
        except ValueError:  # a page outside this checkout (tests write some into tmp_path)
            marks = PAGE_TIER if item.path.suffix == ".md" else ()
        for mark in marks:
            item.add_marker(mark)


def missing(config, tier, reason):
    """What a tier needs is not here: its tests are skipped with the reason,
    or, where the run requires the tier (`--require TIER`), the run stops with
    it, one clear reason instead of one error per test."""
    if tier in config.getoption("require", []):
        message = f"{reason} (--require {tier})"
        if not hasattr(config, "workerinput"):
            pytest.exit(message, returncode=1)
        # In an xdist worker pytest.exit is an internal error of xdist's: the
        # test fails with the reason, and the worker stops the run after it.
        config.pluginmanager.get_plugin("session").shouldstop = message
        pytest.fail(message, pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """A bare `pytest` (the unit tier, from testpaths) runs on two xdist
    workers per core: the unit tests mostly wait on the shells, servers and
    timeouts they start (on 2 idle cores: 57 s on one worker, 24 s on three,
    22.6 s on four). Runs that name their tests, or say `-n`, `-p no:xdist`
    or `--pdb`, are left as they are; so are xdist's own workers."""
    bare = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if (bare and getattr(config.option, "numprocesses", False) is None and not config.option.usepdb
            and not hasattr(config, "workerinput")):
        config.option.numprocesses = 2 * (os.cpu_count() or 1)


def free_port():
    """A port of 127.0.0.1 nothing listens on (for a server whose address must be known first)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def room_server(server, port, certificate=None, cap=None):
    """The room's aiohttp server (bringup.roomserver.RoomServer) on
    127.0.0.1:`port`, listening as the room does (bringup.roomlisten: HTTPS
    with `certificate`, the per-address cap), on an event loop of its own in
    a thread, while the block runs; yields the loop (for coroutines the test
    must run there)."""
    import asyncio

    from bringup.roomlisten import listen
    from bringup.roomserver import address_cap

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()  # everything on that loop, in its thread: the caller's may have a loop running (Playwright)

    async def start():
        return await listen(server.app(), "127.0.0.1", port, cap or address_cap(server.log), certificate)
    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield loop
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def use_room_ca_folder(patch, folder):
    """Point bringup.roomca at a CA folder of the test's own: never this
    machine's room CA, which attendees of a real room may trust."""
    from bringup import roomca
    for name, path in (("FOLDER", folder), ("CA_CERT", folder / "ca.crt"), ("CA_KEY", folder / "ca.key")):
        patch.setattr(roomca, name, path)
    return folder
