"""Bring-up's docker CLI (bringup.docker_cli): its failures as BringupError,
and the engine and client configuration each command is given, against a
fake `docker` on PATH that records what it was asked."""
import stat

import pytest

from bringup.docker_cli import DOCKER, BringupDocker
from bringup.progress import BringupError
from doctester.docker.dockerstate import DockerCLI, EngineError

# Records its arguments and the variables that choose an engine, then does
# what FAKE_* says: a load copies its input to FAKE_LOADED, a save writes
# "saved <image>", every command exits FAKE_STATUS (a save FAKE_SAVE_STATUS).
FAKE_DOCKER = """#!/bin/sh
printf '%s|%s|%s|%s\\n' "$*" "${DOCKER_HOST-}" "${DOCKER_CONFIG-}" "${DOCKER_BUILDKIT-}" >> "$FAKE_LOG"
case "$1" in
  save) echo "saved $2"; exit "${FAKE_SAVE_STATUS:-0}" ;;
  load) cat > "$FAKE_LOADED" ;;
  image) echo "${FAKE_INSPECTED-}" ;;
esac
[ -n "${FAKE_STDERR-}" ] && echo "$FAKE_STDERR" >&2
exit "${FAKE_STATUS:-0}"
"""


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """What the fake docker was asked: one (arguments, DOCKER_HOST, DOCKER_CONFIG, DOCKER_BUILDKIT) per call."""
    program = tmp_path / "bin/docker"
    program.parent.mkdir()
    program.write_text(FAKE_DOCKER)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{program.parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_LOADED", str(tmp_path / "loaded"))
    for name in ("DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_BUILDKIT"):
        monkeypatch.delenv(name, raising=False)

    def read() -> list[tuple[str, ...]]:
        log = tmp_path / "calls"
        return [tuple(line.split("|")) for line in log.read_text().splitlines()] if log.exists() else []
    return read


def test_a_failed_command_is_one_line_naming_the_step_and_the_command(calls, monkeypatch):
    monkeypatch.setenv("FAKE_STATUS", "3")
    with pytest.raises(BringupError) as failed:
        DOCKER.run("build", "-t", "x", ".", what="building x")
    assert str(failed.value) == "building x failed: `docker build -t x .` exited 3"
    assert calls() == [("build -t x .", "", "", "")]


def test_the_engine_is_the_one_docker_host_names_when_the_command_runs(calls, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///set/after/import.sock")  # as bringup.engine does once up
    DOCKER.run("tag", "a", "b", what="tagging")
    BringupDocker.on("unix:///emulating.sock").with_env(DOCKER_BUILDKIT="0").run("build", ".", what="building")
    DOCKER.with_env(DOCKER_CONFIG="/writer").run("push", "b", what="pushing")
    assert calls() == [("tag a b", "unix:///set/after/import.sock", "", ""),
                       ("build .", "unix:///emulating.sock", "", "0"),
                       ("push b", "unix:///set/after/import.sock", "/writer", "")]


def test_a_refused_removal_and_an_absent_image_are_no_fault(calls, monkeypatch):
    monkeypatch.setenv("FAKE_STATUS", "1")
    monkeypatch.setenv("FAKE_STDERR", "image is being used by running container")
    DOCKER.remove_image("in-use")
    assert DOCKER.label("absent", "org.example.recipe") is None
    assert calls()[0][0] == "rmi in-use"


def test_a_label_and_an_id_are_read_from_image_inspect(calls, monkeypatch):
    monkeypatch.setenv("FAKE_INSPECTED", "d1g")
    assert DOCKER.label("img", "org.example.recipe") == "d1g"
    assert DOCKER.image_id("img") == "d1g"
    assert calls() == [('image inspect --format {{index .Config.Labels "org.example.recipe"}} img', "", "", ""),
                       ("image inspect --format {{.Id}} img", "", "", "")]


def test_an_image_is_handed_from_one_engine_to_the_other(calls, tmp_path):
    BringupDocker.on("unix:///emulating.sock").hand_over("local:1", DOCKER, "loading local")
    assert (tmp_path / "loaded").read_text() == "saved local:1\n"
    # The save and the load run at once, as a pipe: either may note itself first.
    assert sorted(calls()) == [("load --quiet", "", "", ""), ("save local:1", "unix:///emulating.sock", "", "")]


def test_a_failed_save_fails_the_hand_over_naming_the_save(calls, monkeypatch):
    monkeypatch.setenv("FAKE_SAVE_STATUS", "2")
    monkeypatch.setenv("FAKE_STATUS", "1")  # the load, which read nothing, fails too: the save is named
    with pytest.raises(BringupError) as failed:
        BringupDocker.on("unix:///emulating.sock").hand_over("local:1", DOCKER, "loading local")
    assert str(failed.value) == "loading local failed: `docker save local:1` exited 2"


def test_the_profiles_captured_errors_still_carry_what_docker_said(calls, monkeypatch):
    monkeypatch.setenv("FAKE_STATUS", "1")
    monkeypatch.setenv("FAKE_STDERR", "No such container: c1")
    with pytest.raises(EngineError) as failed:
        DockerCLI().run("rm", "c1")
    assert str(failed.value) == "`docker rm c1` exited 1: No such container: c1"
    assert DockerCLI().environment() is None  # no variables of its own: the process's environment as it is
