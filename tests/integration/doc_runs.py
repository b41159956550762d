"""Runs of the fixture pages through the harness, as a separate pytest, and
what the tests look at on the engine around them (shared by the integration
modules that run pages)."""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker.errors

from tests.conftest import ROOT

PAGES = ROOT / "tests" / "fixtures" / "pages"
RUN_LABEL = "org.intro-to-docker.doctest.run"

def run_pages(*pages, extra=(), report=None, timeout=300):
    """The run's CompletedProcess, with its `pid`: the sandboxes of a run
    without workers carry a run id that starts with it (`left_by`)."""
    # `-c`: pages outside this tree are configured by this tree's pytest.ini.
    argv = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "-p", "no:cacheprovider", "-q",
            *map(str, pages), *extra]
    # Fixture pages never write into the site's report.
    argv += ["--doc-report", str(report or Path(tempfile.mkdtemp()) / "report.json")]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    result = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    result.pid = proc.pid
    return result


def owner_alive(run_id):
    """Whether the process a run id names (`<pid>-<hex>`) still lives."""
    try:
        os.kill(int(run_id.split("-")[0]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def daemon_state(client):
    """What a user sees on the outer engine, without the sandboxes of live
    runs (other tests' meanwhile); a dead run's sandbox and network count."""
    def kept(labels):
        return RUN_LABEL not in (labels or {}) or not owner_alive(labels[RUN_LABEL])
    return ({c.id for c in client.containers.list(all=True) if kept(c.labels)},
            sorted(t for i in client.images.list() for t in i.tags),
            {v.name for v in client.volumes.list() if kept(v.attrs.get("Labels"))},
            {n.name for n in client.networks.list() if kept(n.attrs.get("Labels"))})


def sandboxes(client):
    return client.containers.list(all=True, filters={"label": RUN_LABEL})


def left_by(client, pid):
    """The sandboxes and networks still there of the run with this process id."""
    mine = f"{pid}-"
    return ([c.name for c in sandboxes(client) if c.labels[RUN_LABEL].startswith(mine)]
            + [n.name for n in client.networks.list(filters={"label": RUN_LABEL})
               if n.attrs["Labels"][RUN_LABEL].startswith(mine)])


def started_by(run_id, proc):
    """Whether the run with this id is `proc` or one of its workers (a run
    started in a session of its own leads that session)."""
    pid = int(run_id.split("-")[0])
    try:
        return pid == proc.pid or os.getsid(pid) == proc.pid
    except ProcessLookupError:
        return False


def wait_for_hung_container(client, proc):
    """The hung page's container, inside the private engine of `proc`'s run
    (other tests' runs come and go meanwhile)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        for sandbox in sandboxes(client):
            if not started_by(sandbox.labels[RUN_LABEL], proc):
                continue
            try:
                found = sandbox.exec_run(["docker", "ps", "-q", "--filter", "name=doctest-hung"])
            except docker.errors.APIError:  # gone, or not started yet
                continue
            if found.exit_code == 0 and found.output.strip():
                return sandbox
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the page never started its container in a private engine")
