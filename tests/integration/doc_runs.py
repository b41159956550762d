"""Runs of the fixture pages through the harness, as a separate pytest, and
what the tests look at on the engine around them (shared by the integration
modules that run pages)."""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import ROOT

PAGES = ROOT / "tests" / "fixtures" / "pages"


def run_pages(*pages, extra=(), report=None, timeout=300):
    # `-c`: pages outside this tree are configured by this tree's pytest.ini.
    argv = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "-p", "no:cacheprovider", "-q",
            *map(str, pages), *extra]
    # Fixture pages never write into the site's report.
    argv += ["--doc-report", str(report or Path(tempfile.mkdtemp()) / "report.json")]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def daemon_state(client):
    return ({c.id for c in client.containers.list(all=True)},
            sorted(t for i in client.images.list() for t in i.tags),
            {v.name for v in client.volumes.list()},
            {n.name for n in client.networks.list()})


def sandboxes(client):
    return client.containers.list(all=True, filters={"label": "org.intro-to-docker.doctest.run"})


def wait_for_hung_container(client, proc):
    """The hung page's container, inside the run's private engine."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for sandbox in sandboxes(client):
            found = sandbox.exec_run(["docker", "ps", "-q", "--filter", "name=doctest-hung"])
            if found.exit_code == 0 and found.output.strip():
                return sandbox
        time.sleep(0.3)
    raise AssertionError("the page never started its container in a private engine")
