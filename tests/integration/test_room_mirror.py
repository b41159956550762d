"""The room's mirror (`make mirror LISTEN=...`), served on a second loopback
address as it would be on the venue's LAN: pulls work, a push and a delete
are refused, its log names who tried, and SIGTERM stops it."""
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from bringup import organizer, registry, services
from tests.conftest import ROOT
from tests.integration.conftest import sh

ROOM = "127.0.0.2"
URL = f"http://{ROOM}:{registry.PORT}"


@pytest.fixture(scope="module")
def room_mirror():
    proc = subprocess.Popen([sys.executable, "-m", "bringup", "mirror", "--listen", ROOM], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shown, watchdog = [], threading.Timer(30, proc.kill)  # a mirror that never says it serves is ended
    watchdog.start()
    for line in proc.stdout:  # until it says it serves: the snippet and the reminder are out then
        shown.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    watchdog.cancel()
    assert registry.answers(URL), "the room's mirror did not start:\n" + "".join(shown)
    proc.shown = "".join(shown)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_pulls_work(room_mirror, client):
    reference = f"{ROOM}:{registry.PORT}/library/hello-world:latest"
    try:
        sh("docker", "pull", reference)
        assert client.images.get(reference).attrs["Config"]["Cmd"] == ["/hello"]
    finally:
        sh("docker", "rmi", reference, check=False)


def test_a_push_is_refused_and_logged(room_mirror, client):
    target = f"{ROOM}:{registry.PORT}/library/python:latest"
    client.images.get("hello-world").tag(target)
    try:
        result = sh("docker", "push", target, check=False, timeout=120)
    finally:
        client.images.remove(target)
    assert result.returncode != 0
    # Debian's distribution answers a write in read-only mode with 405.
    assert "405" in result.stderr and "method not allowed" in result.stderr.lower(), result.stderr
    log = services.log_file(organizer.ROOM).read_text(errors="replace")
    assert "POST /v2/library/python/blobs/uploads/" in log and ROOM in log
    # Still the real image behind the name, for every attendee.
    labels = registry.image_labels("library/python", "latest")
    assert labels is not None and "org.intro-to-docker.recipe" in labels


def test_a_delete_is_refused(room_mirror):
    manifest = urllib.request.Request(f"{URL}/v2/library/hello-world/manifests/latest", method="HEAD",
                                      headers={"Accept": registry.MANIFEST_TYPES})
    with urllib.request.urlopen(manifest, timeout=10) as response:
        digest = response.headers["Docker-Content-Digest"]
    delete = urllib.request.Request(f"{URL}/v2/library/hello-world/manifests/{digest}", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(delete, timeout=10)
    assert refused.value.code == 405
    assert registry.image_labels("library/hello-world", "latest") is not None


def test_sigterm_stops_it(room_mirror):
    room_mirror.send_signal(signal.SIGTERM)
    output, _ = room_mirror.communicate(timeout=30)
    assert "stopped the LAN mirror" in output
    assert "After the event, take both entries out again" in room_mirror.shown
    assert not registry.answers(URL)
    assert services.running_pid(organizer.ROOM) is None


def test_an_address_of_another_machine_is_refused_before_anything_starts():
    result = sh(sys.executable, "-m", "bringup", "mirror", "--listen", "192.0.2.10", cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "LISTEN=192.0.2.10 is not an address of this machine" in result.stderr
    assert not services.pid_file(organizer.ROOM).exists(), "nothing may start for a foreign address"
