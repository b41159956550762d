"""Doc tests never touch what they did not start: pages run on private
engines, the user's daemon keeps its objects while they run, a run killed
with -9 is reaped by the next, and two runs at once both pass."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker.errors
import pytest

from tests.conftest import ROOT
from tests.integration.doc_runs import (PAGES, RUN_LABEL, daemon_state, left_by, run_pages, sandboxes,
                                        started_by, wait_for_hung_container)



class Churn(threading.Thread):
    """A user working on the default daemon meanwhile: containers, images,
    volumes and networks created and removed, in a bounded loop. What it
    leaves at the end is what the test checks."""

    def __init__(self, client, seconds):
        super().__init__(daemon=True)
        self.client, self.deadline = client, time.monotonic() + seconds
        self.tag = f"churn-{os.getpid()}"
        self.kept, self.rounds, self.errors = [], 0, []

    def run(self):
        client, n = self.client, 0
        while time.monotonic() < self.deadline and n < 200:
            n += 1
            name = f"{self.tag}-{n}"
            made = []  # this round's objects, as each is created: a failed round leaves none behind
            try:
                made.append(client.containers.create("hello-world", name=name))
                client.images.get("hello-world").tag(self.tag, str(n))
                made.append(f"{self.tag}:{n}")
                made.append(client.volumes.create(name))
                made.append(client.networks.create(name))
                # A few rounds stay, like the user's own work (not many: each network
                # takes one of the engine's few default address pools).
                if n % 2 and len(self.kept) < 5:
                    self.kept.append((made[0].id, made[1], made[2].name, made[3].id))
                    made = []
                self.remove(made)
            except Exception as error:  # noqa: BLE001 - recorded and asserted on
                self.errors.append(f"round {n}: {error!r}")
                self.remove(made, quietly=True)
            self.rounds = n
            time.sleep(0.2)

    def remove(self, made, quietly=False):
        for thing in reversed(made):
            try:
                self.client.images.remove(thing) if isinstance(thing, str) else thing.remove()
            except docker.errors.APIError:
                if not quietly:
                    raise

    def clean(self):
        for container_id, tag, volume, network in self.kept:
            self.client.containers.get(container_id).remove(force=True)
            self.client.images.remove(tag)
            self.client.volumes.get(volume).remove()
            self.client.networks.get(network).remove()


class OuterEvents:
    """Objects created on the user's daemon while the block runs, streamed as
    they happen: the daemon keeps only its last few hundred events, and a
    long run's own `docker exec` events would push the early ones out."""

    def __init__(self, folder):
        self.path = Path(folder) / "events.jsonl"

    def __enter__(self):
        self.stream = self.path.open("w")
        self.process = subprocess.Popen(["docker", "events", "--filter", "event=create", "--format", "{{json .}}"],
                                        stdout=self.stream, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        time.sleep(1)  # the last events on their way
        self.process.terminate()
        self.process.wait(timeout=30)
        self.stream.close()

    def found(self):
        """(type, name, labels) of each creation."""
        found = []
        for line in self.path.read_text().splitlines():
            event = json.loads(line)
            attributes = event.get("Actor", {}).get("Attributes", {})
            # A volume event names the volume in the actor's ID; other events in an attribute.
            name = attributes.get("name") or event.get("Actor", {}).get("ID", "")
            found.append((event.get("Type"), name, attributes))
        return found


# Pages that together make every kind of object on their engine: a Compose
# project (builds, containers with ports, a volume, a network), a registry
# with tags, pushes, pulls and removals, and containers and a build made
# through the SDK from this very process. The whole site runs in `make
# doctest`; once more here would cost minutes. One worker a page: three
# sandboxes at once on the user's daemon is the harder case, and faster.
CHURN_PAGES = ["docs/compose.md", "docs/sharing.md", "docs/python-sdk.md"]


def test_pages_run_while_the_user_works_on_the_default_daemon(client, tmp_path):
    churn = Churn(client, seconds=600)
    before = daemon_state(client)
    with OuterEvents(tmp_path) as outer:
        churn.start()
        try:
            result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(len(CHURN_PAGES)),
                                     *CHURN_PAGES, "--doc-report", str(tmp_path / "report.json")],
                                    cwd=ROOT, capture_output=True, text=True, timeout=1200)
        finally:
            churn.deadline = 0
            churn.join(timeout=60)
    try:
        assert result.returncode == 0, result.stdout[-4000:]
        assert churn.rounds >= 10 and not churn.errors, churn.errors
        for container_id, tag, volume, network in churn.kept:  # each as the user left it
            assert client.containers.get(container_id).status == "created"
            client.images.get(tag)
            client.volumes.get(volume)
            client.networks.get(network)
        events = outer.found()
        assert any(name.startswith(churn.tag) for _, name, _ in events), "the event scan saw nothing"
        for kind, name, attributes in events:
            if kind in ("container", "network", "volume"):
                assert name.startswith(churn.tag) or re.fullmatch(r"doctest-\d+-[0-9a-f]{6}-\w+", name), \
                    f"a page's {kind} {name!r} was created on the user's daemon"
        assert daemon_state(client)[0] <= before[0] | {c[0] for c in churn.kept}, "a run's sandbox is still there"
    finally:
        churn.clean()


def test_sentinels_on_the_users_daemon_survive_a_page_that_removes_things(client):
    label = f"sentinel-{os.getpid()}"
    container = client.containers.create("python:alpine", "true", name=label)
    client.images.get("python:alpine").tag("doctest-sentinel", label)
    volume = client.volumes.create(label)
    network = client.networks.create(label)
    hello = client.images.get("hello-world").id
    before = daemon_state(client)
    try:
        result = run_pages(PAGES / "restores.md")
        assert result.returncode == 0, result.stdout + result.stderr
        assert daemon_state(client) == before
        assert client.images.get("hello-world").id == hello
        for made in ("doctest-made-tag",):
            with pytest.raises(docker.errors.ImageNotFound):
                client.images.get(made)
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get("doctest-made-volume")
        assert not client.networks.list(names=["doctest-made-network"])
    finally:
        container.remove(force=True)
        client.images.remove(f"doctest-sentinel:{label}")
        volume.remove()
        network.remove()


@pytest.fixture
def own_state(tmp_path):
    """A state folder of the test's own: another worker's run, reaping the
    default one, must not take its dead run first. Whatever the test leaves
    there (it failed before its next run reaped) is reaped at its end."""
    yield tmp_path
    subprocess.run([sys.executable, "-m", "doctester", "reap", "--state-dir", str(tmp_path)], cwd=ROOT,
                   capture_output=True, timeout=300)


def test_a_run_killed_with_9_is_reaped_by_the_next(client, own_state):
    tmp_path = own_state
    before = daemon_state(client)
    own = ["--doc-state-dir", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             str(PAGES / "long-running.md"), "--doc-timeout", "60", *own],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        killed_run = wait_for_hung_container(client, proc).run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (tmp_path / "runs" / killed_run).is_dir(), "the killed run's record must be on disk"
    result = run_pages(PAGES / "passing.md", extra=own)
    assert result.returncode == 0, result.stdout
    assert f"reaped what killed runs left: {killed_run}" in result.stdout
    assert not client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={killed_run}"})
    assert not client.networks.list(filters={"label": f"{RUN_LABEL}={killed_run}"})
    assert not (tmp_path / "runs" / killed_run).exists()
    assert daemon_state(client) == before


def test_the_first_run_after_a_killed_parallel_run_is_green(client, own_state):
    """As when `make doctest` is killed: every process of a run on two
    workers at once, mid-way; the next run on two workers reaps it (each
    dead run once) and passes."""
    tmp_path = own_state
    before = daemon_state(client)
    own = ["--doc-state-dir", str(tmp_path)]
    pages = [str(PAGES / "long-running.md"), str(PAGES / "passing.md"), str(PAGES / "passing.md")]
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2", *pages,
                             "--doc-timeout", "60", *own], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for_hung_container(client, proc)
        killed = {s.run for s in sandboxes(client) if started_by(s.run, proc)}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert killed, "the killed run's sandboxes are still there, to be reaped"
    result = run_pages(PAGES / "passing.md", PAGES / "absent-local.md", extra=["-n", "2", *own])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert not [run for run in killed if (tmp_path / "runs" / run).exists()], "a killed run's record was not reaped"
    assert not [s for s in sandboxes(client) if s.run in killed]
    assert daemon_state(client) == before


@pytest.fixture
def local_only_image(client):
    """An image that exists only on the user's daemon: no registry has it."""
    image = client.images.get("hello-world")
    image.tag("doctest-local-only", "1")
    yield image.id
    client.images.remove("doctest-local-only:1")


def test_an_absent_image_that_exists_only_locally_survives(client, local_only_image):
    result = run_pages(PAGES / "absent-local.md")
    assert result.returncode == 0, result.stdout
    assert client.images.get("doctest-local-only:1").id == local_only_image


def test_existing_engine_moves_an_absent_image_aside_and_puts_it_back(client, local_only_image):
    untrusted = run_pages(PAGES / "absent-local.md", extra=["--doc-engine", "existing"])
    assert untrusted.returncode == 4, untrusted.stdout + untrusted.stderr
    assert "--doc-trusted-pages" in untrusted.stderr and "outside any sandbox" in untrusted.stderr
    trusted = ["--doc-engine", "existing", "--doc-trusted-pages"]
    refused = run_pages(PAGES / "absent-local.md", extra=trusted)
    assert refused.returncode == 3
    assert "cannot prove it made" in refused.stdout and "--doc-existing-ok" in refused.stdout
    assert client.images.get("doctest-local-only:1").id == local_only_image
    result = run_pages(PAGES / "absent-local.md", extra=[*trusted, "--doc-existing-ok"])
    assert result.returncode == 0, result.stdout
    assert client.images.get("doctest-local-only:1").id == local_only_image
    assert not [t for i in client.images.list() for t in i.tags if t.startswith("doctest-aside/")]


def test_two_runs_at_once_both_pass_on_engines_of_their_own(client):
    # Both publish port 8000 and 8001: on one engine, the second would fail.
    page = ROOT / "docs" / "troubleshooting.md"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(page)]
    runs = [subprocess.Popen(argv + ["--doc-report", f"/tmp/doctest-concurrent-{n}.json"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in (1, 2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(outputs)
    assert not [left for run in runs for left in left_by(client, run.pid)]
