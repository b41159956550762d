"""examples/jam_status.py's decisions, with a stand-in for the SDK's client
(the page docs/python-sdk.md runs it against a real engine)."""
import sys

import pytest
from docker.errors import DockerException, NotFound

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "examples"))
import jam_status  # noqa: E402  (the example is a script, not a package)


class FakeContainer:
    def __init__(self, status="running", health="healthy", answer=(0, b'{"data": ["fig", "plum"]}')):
        self.status, self.health, self.answer = status, health, answer
        self.commands = []

    def exec_run(self, command):
        self.commands.append(command)
        return self.answer


class FakeClient:
    def __init__(self, containers):
        self.containers = self
        self.known = containers

    def get(self, name):
        if name not in self.known:
            raise NotFound(f"No such container: {name}")
        return self.known[name]


def test_a_running_server_is_reported_with_its_jam_count():
    container = FakeContainer()
    assert jam_status.status(FakeClient({"jams": container}), "jams", 5) == ("running", "healthy", 2)
    assert "timeout=5" in container.commands[0][-1], "the API call inside the container must be bounded"


@pytest.mark.parametrize("containers, message", [
    ({}, "no container is called jams"),
    ({"jams": FakeContainer(status="exited")}, "the container jams is exited, not running (docker start jams)"),
    ({"jams": FakeContainer(answer=(1, b"Traceback ...\nTimeoutError: timed out\n"))},
     "the jam API in jams did not answer within 5 s: TimeoutError: timed out"),
    ({"jams": FakeContainer(answer=(0, b"<html>"))}, "the jam API in jams sent no list of jams"),
])
def test_what_is_wrong_is_said_in_one_line(containers, message):
    with pytest.raises(jam_status.Unavailable, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        jam_status.status(FakeClient(containers), "jams", 5)


def test_without_docker_it_exits_1_with_one_line(monkeypatch, capsys):
    def unreachable(**kwargs):
        raise DockerException("Error while fetching server API version")
    monkeypatch.setattr(jam_status.docker, "from_env", unreachable)
    assert jam_status.main(["jams"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("jam_status.py: cannot reach Docker (") and err.count("\n") == 1
