"""The workshop image: built from examples/, run with a published port on
127.0.0.1, called, and its data kept in a volume across containers."""
import json
import time
import urllib.request
import uuid

import pytest

from bringup import images
from tests.conftest import ROOT
from tests.integration.conftest import sh


def call(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def wait_until_up(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return call(port, "GET", "/health")
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"the server on 127.0.0.1:{port} did not answer within {seconds} s")


@pytest.fixture
def image(client):
    tag = f"intro-to-docker-test/jam:{uuid.uuid4().hex[:8]}"
    sh("docker", "build", "-q", "-t", tag, str(ROOT / "examples"))
    yield tag
    sh("docker", "rmi", "-f", tag, check=False)


@pytest.fixture
def names():
    made = []
    yield made
    for name in made:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "volume", "rm", "-f", name, check=False)


def start(image, name, volume, port=0):
    sh("docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", "-v", f"{volume}:/data",
       image, "python", "main.py", "/data/jams.json", "--host", "0.0.0.0")
    port = published_port(name)
    wait_until_up(port)
    return port


def published_port(name):
    return int(sh("docker", "port", name, "8000/tcp").stdout.split(":")[-1])


def test_image_serves_the_api_and_keeps_data_in_a_volume(image, names):
    volume, first, second = (f"jam-test-{uuid.uuid4().hex[:6]}-{n}" for n in ("data", "one", "two"))
    names.extend([first, second, volume])
    port = start(image, first, volume)
    assert call(port, "GET", "/jam") == (200, {"data": ["strawberry", "blueberry", "raspberry", "grape"]})
    assert call(port, "POST", "/jam", {"name": "peach"}) == (201, {"data": "peach"})
    sh("docker", "restart", first)
    port = published_port(first)
    wait_until_up(port)
    assert "peach" in call(port, "GET", "/jam")[1]["data"]
    sh("docker", "rm", "-f", first)
    port = start(image, second, volume)
    assert call(port, "GET", "/jam")[1]["data"][-1] == "peach"
    logs = sh("docker", "logs", second).stdout
    assert '"GET /jam" 200' in logs


def test_kill_during_writes_leaves_a_valid_file(image, names):
    volume, name = f"jam-test-{uuid.uuid4().hex[:6]}", f"jam-test-{uuid.uuid4().hex[:6]}"
    names.extend([name, volume])
    port = start(image, name, volume)
    for i in range(30):
        call(port, "POST", "/jam", {"name": f"jam-{i}"})
    sh("docker", "kill", name)
    content = sh("docker", "run", "--rm", "-v", f"{volume}:/data", "python:alpine",
                 "cat", "/data/jams.json").stdout
    saved = json.loads(content)
    assert saved[:4] == ["strawberry", "blueberry", "raspberry", "grape"]
    assert saved[4:] == [f"jam-{i}" for i in range(30)]


def test_the_mirror_holds_the_workshop_image_under_its_page_name(client):
    name = images.workshop_image_name()
    sh("docker", "pull", name)
    try:
        config = client.images.get(name).attrs["Config"]
        # The image, and only the image, listens on every interface, keeps its
        # database in /data, runs unprivileged and says how to check it.
        assert config["Cmd"] == ["python", "main.py", "/data/jams.json", "--host", "0.0.0.0"]
        assert config["User"] == "10001:10001"
        assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
        assert list(config["ExposedPorts"]) == ["8000/tcp"]
    finally:
        sh("docker", "rmi", name, check=False)


def test_docker_stop_ends_the_server_on_sigterm(image, names):
    volume, name = f"jam-test-{uuid.uuid4().hex[:6]}", f"jam-test-{uuid.uuid4().hex[:6]}"
    names.extend([name, volume])
    start(image, name, volume)
    sh("docker", "stop", name)  # how long it takes: benchmarks/rest_server.py
    # 0, not 137: the server ended on SIGTERM, not killed when `docker stop` gave up waiting.
    assert sh("docker", "inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0", \
        "the server ignored SIGTERM and waited to be killed"
