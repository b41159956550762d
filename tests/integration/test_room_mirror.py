"""The room's mirror (`make mirror LISTEN=...`), served on an address of this
machine that a private engine reaches as an attendee's laptop reaches the
organizer's: the gateway of the sandbox's own network. An engine that trusts
the room's CA pulls; one that does not is refused; plain HTTP gets no
registry; only the images named are served; a push and a delete are refused
and logged; SIGTERM stops it."""
import ipaddress
import json
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from bringup import organizer, registry, roomca, services
from doctester.docker import ownership
from doctester.docker.ownership import DEFAULT_STATE
from doctester.docker.sandbox import Limits, Sandbox
from tests.conftest import ROOT
from tests.integration.conftest import sh


@pytest.fixture(scope="module")
def laptop(client, identity):
    """A private engine on a network of its own: the attendee's laptop."""
    run = ownership.Run(DEFAULT_STATE, label=identity.run_label)
    try:
        sandbox = Sandbox(run, "room", identity.sandbox_image, Limits.for_machine(1), hostname=identity.hostname)
        sandbox.start()
        network = client.networks.get(sandbox.name)
        # The engine gives the network's first address to this machine's side of the bridge.
        subnet = next(c["Subnet"] for c in network.attrs["IPAM"]["Config"] if "." in c["Subnet"])
        sandbox.gateway = str(ipaddress.ip_network(subnet)[1])
        yield sandbox
    finally:
        assert run.release() == []


@pytest.fixture(scope="module")
def room_mirror(laptop):
    proc = subprocess.Popen([sys.executable, "-m", "bringup", "mirror", "--listen", laptop.gateway,
                             "--only", "hello-world"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shown, watchdog = [], threading.Timer(30, proc.kill)  # a mirror that never says it serves is ended
    watchdog.start()
    for line in proc.stdout:  # until it says it serves: the snippet and the reminder are out then
        shown.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    watchdog.cancel()
    proc.where = f"{laptop.gateway}:{registry.PORT}"
    proc.url = f"https://{proc.where}"
    assert registry.answers(proc.url, cafile=str(roomca.CA_CERT)), "the room's mirror did not start:\n" + "".join(shown)
    proc.shown = "".join(shown)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def trusting(url, **kwargs):
    """urlopen that trusts the room's CA alone."""
    context = ssl.create_default_context(cafile=str(roomca.CA_CERT))
    return urllib.request.urlopen(url, timeout=10, context=context, **kwargs)


def pull(laptop, reference):
    return laptop.run_script('docker pull "$1"', reference, check=False, timeout=120)


def test_an_engine_that_does_not_trust_the_room_is_refused(laptop, room_mirror):
    result = pull(laptop, f"{room_mirror.where}/library/hello-world:latest")
    assert result.returncode != 0
    assert "certificate signed by unknown authority" in result.stderr, result.stderr


def test_an_engine_that_trusts_the_rooms_ca_pulls(laptop, room_mirror):
    # Rootless engines read ~/.config/docker/certs.d as others read /etc/docker/certs.d.
    laptop.run_script('mkdir -p ~/.config/docker/certs.d/"$1" && cat > ~/.config/docker/certs.d/"$1"/ca.crt',
              room_mirror.where, stdin=roomca.CA_CERT.read_text())
    try:
        result = pull(laptop, f"{room_mirror.where}/library/hello-world:latest")
        assert result.returncode == 0, result.stderr
        run = laptop.run_script('docker run --rm "$1"', f"{room_mirror.where}/library/hello-world:latest", check=False)
        assert "Hello from Docker!" in run.stdout
    finally:
        laptop.run_script("rm -rf ~/.config/docker/certs.d")


def test_the_announcement_says_how_to_trust_it_and_asks_for_no_insecure_registry(room_mirror):
    assert roomca.fingerprint() in room_mirror.shown
    assert f'"https://{room_mirror.where}"' in room_mirror.shown
    assert "insecure-registries" not in room_mirror.shown
    assert f"/etc/docker/certs.d/{room_mirror.where}/ca.crt" in room_mirror.shown


def test_plain_http_gets_no_registry(room_mirror):
    assert not registry.answers(f"http://{room_mirror.where}")


def test_only_the_images_named_are_served(room_mirror):
    with trusting(f"{room_mirror.url}/v2/_catalog") as response:
        assert json.load(response)["repositories"] == ["library/hello-world"]
    with pytest.raises(urllib.error.HTTPError) as absent:
        trusting(f"{room_mirror.url}/v2/library/python/manifests/latest")
    assert absent.value.code == 404


def test_a_push_is_refused_and_logged(room_mirror):
    upload = urllib.request.Request(f"{room_mirror.url}/v2/library/python/blobs/uploads/", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        trusting(upload)
    # Debian's distribution answers a write in read-only mode with 405.
    assert refused.value.code == 405
    log = services.log_file(organizer.ROOM).read_text(errors="replace")
    assert "POST /v2/library/python/blobs/uploads/" in log and room_mirror.where.split(":")[0] in log


def test_a_delete_is_refused(room_mirror):
    manifest = urllib.request.Request(f"{room_mirror.url}/v2/library/hello-world/manifests/latest", method="HEAD",
                                      headers={"Accept": registry.MANIFEST_TYPES})
    with trusting(manifest) as response:
        digest = response.headers["Docker-Content-Digest"]
    delete = urllib.request.Request(f"{room_mirror.url}/v2/library/hello-world/manifests/{digest}", method="DELETE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        trusting(delete)
    assert refused.value.code == 405
    assert registry.image_labels("library/hello-world", "latest") is not None


def test_sigterm_stops_it(room_mirror):
    room_mirror.send_signal(signal.SIGTERM)
    output, _ = room_mirror.communicate(timeout=30)
    assert "stopped the LAN mirror" in output
    assert "After the event, take the mirror entry and the room's certificate out again" in room_mirror.shown
    assert not registry.answers(room_mirror.url, cafile=str(roomca.CA_CERT))
    assert services.running_pid(organizer.ROOM) is None


def test_an_address_of_another_machine_is_refused_before_anything_starts():
    result = sh(sys.executable, "-m", "bringup", "mirror", "--listen", "192.0.2.10", cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "LISTEN=192.0.2.10 is not an address of this machine" in result.stderr
    assert not services.pid_file(organizer.ROOM).exists(), "nothing may start for a foreign address"


def test_an_image_the_workshop_does_not_use_is_refused_before_anything_starts():
    result = sh(sys.executable, "-m", "bringup", "mirror", "--listen", "127.0.0.2", "--only", "nginx",
                cwd=ROOT, check=False)
    assert result.returncode == 1
    assert "nginx:latest: not an image the workshop uses" in result.stderr
    assert not services.pid_file(organizer.ROOM).exists()
