"""Which page left what a journey's failure trips over: the decision logic,
with a stand-in for the engine's listings."""
import pytest

from doctester.docker.dockerstate import EngineError
from doctester.docker.provenance import Provenance
from doctester.docker.sandbox import SandboxDocker


class Listings:
    """`docker ps/images/volume ls/network ls` answers, changed by the test."""

    def __init__(self):
        self.rows = {"ps": [], "images": [], "volume": [], "network": ["bridge", "host", "none"]}

    def outputs(self, commands):
        return {key: "\n".join(self.rows[argv[0]]) + "\n" for key, argv in commands.items()}


def test_objects_are_credited_to_the_command_that_made_them_and_named_when_in_the_way():
    engine = Listings()
    engine.rows["images"] = ["python:alpine|sha256:" + "1" * 64]
    provenance = Provenance(engine)  # python:alpine was there before: nobody's
    engine.rows["ps"] = ["a" * 64 + "|jh6-server|0.0.0.0:8000->8000/tcp, :::8000->8000/tcp|introtodocker/jam-server"]
    engine.rows["volume"] = ["jam-data"]
    provenance.note("docs/background.md:154")
    engine.rows["images"].append("jh6:latest|sha256:" + "2" * 64)
    provenance.note("docs/background.md:160")

    failure = "docker: Error response from daemon: ... Bind for 0.0.0.0:8000 failed: port is already allocated."
    assert provenance.explain(failure, "docs/dockerfile.md") == [
        "  left by docs/background.md:154: container jh6-server (the error names 8000)"]
    assert provenance.explain(failure, "docs/background.md") == []  # the page's own objects are its business
    assert provenance.explain("Error: remove jam-data: volume is in use", "docs/next.md") == [
        "  left by docs/background.md:154: volume jam-data (the error names jam-data)"]
    # An image is named only when no container is: the container is the likelier culprit.
    assert provenance.explain("Status: Image is up to date for jh6:latest", "docs/x.md") == [
        "  left by docs/background.md:160: image jh6:latest (the error names jh6:latest, jh6)"]
    assert "python:alpine" not in "".join(provenance.explain("python:alpine is here", "docs/x.md"))


def test_removed_objects_are_forgotten():
    engine = Listings()
    provenance = Provenance(engine)
    engine.rows["ps"] = ["b" * 64 + "|sleeper||python:alpine"]
    provenance.note("docs/cleaning-up.md:85")
    engine.rows["ps"] = []
    provenance.note("docs/cleaning-up.md:117")
    assert provenance.explain("sleeper is running", "docs/running.md") == []


def fake_sandbox(tmp_path, docker_script):
    """SandboxDocker on this machine's shell, with a `docker` of the test's."""
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    fake = bin_folder / "docker"
    fake.write_text(docker_script)
    fake.chmod(0o755)
    return SandboxDocker(["env", f"PATH={bin_folder}:/usr/bin:/bin"], lambda *flags: [])


def test_a_sandbox_lists_several_things_in_one_exec(tmp_path):
    """SandboxDocker.outputs: one shell in the sandbox (here: this machine's,
    with a `docker` that echoes its arguments) runs every listing; each
    output comes back under its key, exactly, a failed one as what it printed."""
    docker = fake_sandbox(tmp_path, '#!/bin/sh\n[ "$1" = fail ] && { echo lost >&2; exit 1; }\n'
                                    '[ "$1" = bare ] && { printf "no newline"; exit 0; }\n'
                                    'printf "%s\\n" "$@"; printf "__OUTPUT_ but not the salt\\n"\n')
    found = docker.outputs({"ps": ("ps", "--format", "{{.ID}}|{{.Names}}"), "gone": ("fail",),
                            "bare": ("bare",), "quoted": ("volume", "ls", "it's $HOME")})
    assert found == {"ps": "ps\n--format\n{{.ID}}|{{.Names}}\n__OUTPUT_ but not the salt\n", "gone": "",
                     "bare": "no newline", "quoted": "volume\nls\nit's $HOME\n__OUTPUT_ but not the salt\n"}


def test_a_listing_shell_that_is_stopped_is_an_error_not_an_empty_engine(tmp_path):
    """Listings that never came back would read as objects removed."""
    docker = fake_sandbox(tmp_path, '#!/bin/sh\nkill -9 $PPID\n')
    with pytest.raises(EngineError, match=r"gave [01] of 2 listings"):
        docker.outputs({"ps": ("ps",), "images": ("images",)})
