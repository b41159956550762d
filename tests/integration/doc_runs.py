"""Runs of the fixture pages through the harness, as a separate pytest, and
what the tests look at on the engine around them (shared by the integration
modules that run pages)."""
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker.errors

from doctester.docker.identity import Identity
from doctester.docker.ownership import RUN_LABEL as DEFAULT_RUN_LABEL
from tests.conftest import ROOT

PAGES = ROOT / "tests" / "fixtures" / "pages"
# The label this project's runs put on their sandboxes, from its pytest.ini
# (doc_label_namespace). The wheel's test (test_installed_elsewhere) runs
# another project, with the harness's neutral default, meanwhile: a live
# run's objects carry one of the two.
RUN_LABEL = Identity.from_ini(ROOT / "pytest.ini").run_label
RUN_LABELS = tuple(dict.fromkeys((RUN_LABEL, DEFAULT_RUN_LABEL)))


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
    runs (other tests' meanwhile); a dead run's sandbox and network count.
    Each kind is listed in one call: what goes meanwhile is no error."""
    def kept(labels):
        return not any(label in (labels or {}) and owner_alive(labels[label]) for label in RUN_LABELS)
    return ({c["Id"] for c in client.api.containers(all=True) if kept(c["Labels"])},
            sorted(t for i in client.api.images() for t in i["RepoTags"] or () if t != "<none>:<none>"),
            {v["Name"] for v in client.api.volumes()["Volumes"] or () if kept(v.get("Labels"))},
            {n["Name"] for n in client.api.networks() if kept(n.get("Labels"))})


Sandbox = collections.namedtuple("Sandbox", "id name run")


def sandboxes(client):
    """Every labelled sandbox on the outer engine, with the id of its run."""
    return [Sandbox(c["Id"], c["Names"][0].lstrip("/"), c["Labels"][RUN_LABEL])
            for c in client.api.containers(all=True, filters={"label": RUN_LABEL})]


def left_by(client, pid):
    """The sandboxes and networks still there of the run with this process id."""
    mine = f"{pid}-"
    return ([c.name for c in sandboxes(client) if c.run.startswith(mine)]
            + [n["Name"] for n in client.api.networks(filters={"label": RUN_LABEL})
               if n["Labels"][RUN_LABEL].startswith(mine)])


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
            if not started_by(sandbox.run, proc):
                continue
            try:
                found = client.containers.get(sandbox.id).exec_run(["docker", "ps", "-q", "--filter",
                                                                    "name=doctest-hung"])
            except docker.errors.APIError:  # gone, or not started yet
                continue
            if found.exit_code == 0 and found.output.strip():
                return sandbox
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("the page never started its container in a private engine")
