"""examples/check.py's decisions, with stand-ins for the docker CLI's
listings (tests/integration/test_check_real.py runs it on a real engine)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("workshop_check", ROOT / "examples" / "check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)  # a script of the workshop's files, not a package


def made(command, chapter):
    return {"command": command, "chapter": chapter}


RECORD = {
    "format": 1,
    "chapters": [
        {"name": "background", "title": "Containers in the background", "page": "docs/background.md",
         "containers": [], "images": [{"tag": "jh6:latest", "made_by": made(
             "docker tag introtodocker/jam-server jh6", "background"), "optional": False}],
         "volumes": [], "networks": [], "files": []},
        {"name": "dockerfile", "title": "Writing a Dockerfile", "page": "docs/dockerfile.md",
         "containers": [
             {"name": "myapp-server", "image": "myapp", "state": "running",
              "ports": ["127.0.0.1:8000->8000/tcp"], "optional": False,
              "made_by": made("docker run -d --name myapp-server -p 127.0.0.1:8000:8000 myapp", "dockerfile")},
             {"name": "picked", "image": "myapp", "state": "running", "ports": ["0.0.0.0:*->8000/tcp"],
              "optional": False, "made_by": None},
             {"name": None, "image": "python", "state": "exited", "ports": [], "optional": False,
              "made_by": made("docker run -it python bash", "background")}],
         "images": [
             {"tag": "myapp:latest", "made_by": made("docker build . --tag myapp", "dockerfile"), "optional": False},
             {"tag": "python:alpine", "made_by": made("docker run --rm python:alpine true", "running"),
              "optional": False},
             {"tag": "myapp-try:latest", "made_by": made("docker build -q -f Dockerfile.try --tag myapp-try .",
                                                         "dockerfile"), "optional": True}],
         "volumes": [{"name": "jam-data", "made_by": made(
             "docker run -d --name myapp-db -v jam-data:/data myapp-entry", "dockerfile"), "optional": False}],
         "networks": [],
         "files": [{"path": "my-image/Dockerfile", "optional": False},
                   {"path": "my-image/Dockerfile.try", "optional": True}]},
    ],
    "named": {"containers": {"jam": "background", "myapp-server": "dockerfile", "picked": "dockerfile"},
              "images": {"jh6:latest": "background", "myapp:latest": "dockerfile"},
              "volumes": {"jam-data": "dockerfile", "jam-copy": "volumes"},
              "networks": {"jam-net": "networks"}},
    "ports": {"8000": ["background", "dockerfile"], "8001": ["background"]},
}


def container(name, image, state="running", ports="", **noise):
    return {"ID": noise.get("ID", "4f3e2d1c0b9a"), "Names": name, "Image": image, "State": state, "Ports": ports,
            "CreatedAt": noise.get("CreatedAt", "2026-01-01 10:00:00 +0000 UTC"),
            "RunningFor": noise.get("RunningFor", "2 minutes ago"), "Size": noise.get("Size", "0B"),
            "Status": noise.get("Status", "Up 2 minutes")}


def image(reference, **noise):
    repository, tag = reference.rsplit(":", 1)
    return {"Repository": repository, "Tag": tag, "ID": noise.get("ID", "19520387de90"),
            "CreatedAt": noise.get("CreatedAt", "2 days ago"), "Size": noise.get("Size", "47.1MB")}


def good_state():
    return {
        "containers": [
            container("myapp-server", "myapp", ports="127.0.0.1:8000->8000/tcp"),
            container("picked", "myapp", ports="0.0.0.0:49153->8000/tcp, :::49153->8000/tcp"),
        ],
        "images": [image("myapp:latest"), image("python:alpine"), image("jh6:latest")],
        "volumes": [{"Name": "jam-data", "Driver": "local"}],
        "networks": [{"Name": n} for n in ("bridge", "host", "none")],
    }


def fake_docker(state):
    """A stand-in for subprocess.run that answers the four listings."""
    kinds = {"ps": "containers", "image": "images", "volume": "volumes", "network": "networks"}

    def run(argv, **kwargs):
        assert argv[0] == "docker" and argv[-2:] == ["--format", "{{json .}}"]
        lines = [json.dumps(o) for o in state[kinds[argv[1]]]]
        return subprocess.CompletedProcess(argv, 0, "\n".join(lines) + "\n", "")
    return run


@pytest.fixture
def workshop(tmp_path):
    """A workshop folder with the record and the chapter's file."""
    (tmp_path / "examples").mkdir()
    record = tmp_path / "examples" / "check-record.json"
    record.write_text(json.dumps(RECORD))
    (tmp_path / "my-image").mkdir()
    (tmp_path / "my-image" / "Dockerfile").write_text("FROM python:alpine\n")
    return tmp_path


def check_with(workshop, state, chapter="dockerfile", record=None, try_it=False):
    lines = []
    code = check.main([chapter, *(["--try-it"] if try_it else [])], run=fake_docker(state), record_path=record or workshop / "examples" /
                      "check-record.json", folder=workshop, out=lines.append)
    return code, lines


def off_lines(lines):
    return [line.strip()[5:] for line in lines if line.strip().startswith("OFF")]


def test_a_matching_engine_passes_and_lists_what_matches(workshop):
    code, lines = check_with(workshop, good_state())
    assert code == 0, lines
    assert lines[0] == "Your Docker against 'Writing a Dockerfile':"
    assert "  ok   container myapp-server (myapp, running, 127.0.0.1:8000->8000/tcp)" in lines
    assert "  ok   image myapp:latest" in lines and "  ok   file my-image/Dockerfile" in lines
    assert lines[-1] == "All as the chapter leaves it: on to the next one."


def test_what_output_matching_accepts_is_never_a_difference(workshop):
    """IDs, dates, sizes, uptimes, names Docker picked and ports it picked vary
    between computers: none of them makes the check fail."""
    state = good_state()
    state["containers"] = [
        container("myapp-server", "myapp", ports="127.0.0.1:8000->8000/tcp", ID="a" * 64,
                  CreatedAt="2031-07-04 01:02:03 +0200 CEST", RunningFor="3 weeks ago", Size="12kB",
                  Status="Up 3 weeks (healthy)"),
        container("picked", "myapp", ports="0.0.0.0:32768->8000/tcp, [::]:32768->8000/tcp"),
        container("cool_napier", "python", state="exited"),      # the record's unnamed one, another name
        container("eager_turing", "hello-world", state="exited"),  # a name Docker picked, no port
    ]
    state["images"] = [image(r, ID="0123456789ab", Size="1.2GB", CreatedAt="3 years ago")
                       for r in ("myapp:latest", "python:alpine")]
    code, lines = check_with(workshop, state)
    assert code == 0, lines


def test_objects_the_workshop_does_not_name_are_ignored(workshop):
    state = good_state()
    state["containers"].append(container("my-own-db", "postgres", ports="127.0.0.1:5432->5432/tcp"))
    state["images"].append(image("postgres:16"))
    state["volumes"].append({"Name": "pgdata"})
    state["networks"].append({"Name": "my-project_default"})
    code, lines = check_with(workshop, state)
    assert code == 0, lines
    assert not any("postgres" in line or "pgdata" in line for line in lines)


def test_an_old_container_holding_a_port_is_named_with_its_chapter_and_the_fix(workshop):
    state = good_state()
    state["containers"].append(container("jam", "jh6", ports="127.0.0.1:8001->8000/tcp"))
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == ["port 8001 is held by `jam`, a container from 'Containers in the background': "
                                "`docker rm -f jam`"]
    assert lines[-1].startswith("1 thing to put right")


def test_a_container_docker_named_holding_a_port_is_traced_by_its_image(workshop):
    state = good_state()
    state["containers"].append(container("cool_napier", "jh6", ports="0.0.0.0:8001->8000/tcp"))
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == ["port 8001 is held by `cool_napier`, a container of `jh6` from 'Containers in "
                                "the background': `docker rm -f cool_napier`"]


def test_a_stopped_container_holds_no_port_but_its_name_is_still_taken(workshop):
    state = good_state()
    state["containers"].append(container("jam", "jh6", state="exited", ports=""))
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == ["container `jam` (a container from 'Containers in the background') is still "
                                "there, and a step names a container so: `docker rm -f jam`"]


def test_a_skipped_step_names_the_command_that_makes_it(workshop):
    state = good_state()
    state["containers"] = [c for c in state["containers"] if c["Names"] != "myapp-server"]
    state["images"] = [i for i in state["images"] if i["Repository"] != "python"]
    state["volumes"] = []
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == [
        "container `myapp-server` is missing: `docker run -d --name myapp-server -p 127.0.0.1:8000:8000 myapp` "
        "(a step of 'Writing a Dockerfile')",
        "image `python:alpine` is missing: `docker pull python:alpine`",
        "volume `jam-data` is missing: `docker run -d --name myapp-db -v jam-data:/data myapp-entry` "
        "(a step of 'Writing a Dockerfile')",
    ]


def test_a_mistyped_tag_is_recognised(workshop):
    state = good_state()
    state["images"] = [image("myap:latest"), image("python:alpine")]
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == ["image `myapp:latest` is missing, and `myap:latest` looks like a mistyped tag "
                                "of it: `docker tag myap myapp`"]


def test_a_stopped_server_says_to_start_it(workshop):
    state = good_state()
    state["containers"][0] = container("myapp-server", "myapp", state="exited", ports="")
    code, lines = check_with(workshop, state)
    assert code == 1
    # A stopped container publishes nothing: it is the same container, to start again.
    assert off_lines(lines) == ["container `myapp-server` is exited, the chapter leaves it running: "
                                "`docker start myapp-server`"]


def test_a_container_on_another_port_or_image_is_replaced(workshop):
    state = good_state()
    state["containers"][0] = container("myapp-server", "myapp", ports="127.0.0.1:8080->8000/tcp")
    code, lines = check_with(workshop, state)
    assert off_lines(lines) == ["container `myapp-server` publishes 127.0.0.1:8080->8000/tcp, the chapter's "
                                "publishes 127.0.0.1:8000->8000/tcp: `docker rm -f myapp-server`, then `docker run "
                                "-d --name myapp-server -p 127.0.0.1:8000:8000 myapp` (a step of 'Writing a "
                                "Dockerfile')"]
    state["containers"][0] = container("myapp-server", "python", ports="127.0.0.1:8000->8000/tcp")
    code, lines = check_with(workshop, state)
    assert code == 1 and off_lines(lines)[0].startswith("container `myapp-server` runs image `python`, the "
                                                        "chapter's runs `myapp`: `docker rm -f myapp-server`")


def test_a_file_made_in_the_wrong_folder_is_found_there(workshop):
    (workshop / "examples" / "my-image").mkdir()
    (workshop / "my-image" / "Dockerfile").rename(workshop / "examples" / "my-image" / "Dockerfile")
    code, lines = check_with(workshop, good_state())
    assert code == 1
    assert off_lines(lines) == [f"file `my-image/Dockerfile` is in `examples/` instead of the workshop folder: "
                                f"the step ran in another folder; move `examples/my-image` up into "
                                f"{check.WORKSHOP.name}"]


def test_a_missing_file_points_at_its_chapter(workshop):
    (workshop / "my-image" / "Dockerfile").unlink()
    code, lines = check_with(workshop, good_state())
    assert off_lines(lines) == ["file `my-image/Dockerfile` is missing from your workshop folder: write it as "
                                "'Writing a Dockerfile' shows"]


def test_what_only_a_try_it_makes_may_be_missing(workshop):
    code, lines = check_with(workshop, good_state())
    assert "  ok   image myapp-try:latest: " + check.SKIPPED_TRY_IT in lines
    assert "  ok   file my-image/Dockerfile.try: " + check.SKIPPED_TRY_IT in lines


def test_a_volume_the_workshop_makes_afresh_must_be_gone(workshop):
    state = good_state()
    state["volumes"].append({"Name": "jam-copy"})
    state["networks"].append({"Name": "jam-net"})
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == [
        "volume `jam-copy` from 'volumes' is still there, and a step makes it afresh: `docker volume rm jam-copy`",
        "network `jam-net` from 'networks' is still there, and a step makes it afresh: `docker network rm jam-net`",
    ]


def test_an_earlier_chapter_is_checked_against_its_own_record(workshop):
    code, lines = check_with(workshop, good_state(), chapter="background")
    assert code == 1  # what 'Writing a Dockerfile' makes is in the way of the chapters before it
    assert off_lines(lines) == [
        "port 8000 is held by `myapp-server`, a container from 'Writing a Dockerfile': `docker rm -f myapp-server`",
        "container `picked` (a container from 'Writing a Dockerfile') is still there, and a step names a container "
        "so: `docker rm -f picked`",
        "volume `jam-data` from 'Writing a Dockerfile' is still there, and a step makes it afresh: "
        "`docker volume rm jam-data`",
    ]


# Bad input: one line that says what to do, exit 2.

def test_an_unknown_chapter_lists_the_valid_ones(workshop):
    code, lines = check_with(workshop, good_state(), chapter="dockerfiles")
    assert code == 2
    assert lines == ["check.py: there is no chapter 'dockerfiles'; the chapters are: background, dockerfile"]


def test_no_chapter_named_says_how_to_call_it(workshop):
    lines = []
    assert check.main([], run=fake_docker(good_state()), record_path=workshop / "examples" / "check-record.json",
                      folder=workshop, out=lines.append) == 2
    assert len(lines) == 1 and "background, dockerfile" in lines[0]


def test_a_record_from_a_newer_site_is_refused(workshop):
    newer = workshop / "newer.json"
    newer.write_text(json.dumps({**RECORD, "format": check.FORMAT + 1}))
    code, lines = check_with(workshop, good_state(), record=newer)
    assert code == 2 and len(lines) == 1
    assert f"format {check.FORMAT + 1}" in lines[0] and "download the workshop's files again" in lines[0]


def test_a_damaged_record_is_one_line(workshop):
    damaged = workshop / "damaged.json"
    damaged.write_text("{not json")
    code, lines = check_with(workshop, good_state(), record=damaged)
    assert code == 2 and len(lines) == 1 and "download the workshop's files again" in lines[0]


@pytest.mark.parametrize("failure, expected", [
    (FileNotFoundError("docker"), "there is no `docker` command here"),
    (subprocess.TimeoutExpired("docker", 30), "Docker did not answer within 30 s"),
    (subprocess.CompletedProcess([], 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
                                 "Is the docker daemon running?\n"), "Docker's engine does not answer"),
])
def test_no_docker_or_no_engine_is_one_line(workshop, failure, expected):
    def run(argv, **kwargs):
        if isinstance(failure, Exception):
            raise failure
        return failure
    lines = []
    code = check.main(["dockerfile"], run=run, record_path=workshop / "examples" / "check-record.json",
                      folder=workshop, out=lines.append)
    assert code == 2
    assert len(lines) == 1 and expected in lines[0]


def test_without_docker_the_program_prints_one_line_and_no_traceback(tmp_path):
    """As an attendee runs it: the real script and record, no docker on PATH."""
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "check.py"), "dockerfile"],
                            capture_output=True, text=True, env={**os.environ, "PATH": str(tmp_path)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1 and "there is no `docker` command here" in result.stdout


def test_the_ports_of_docker_ps_are_folded_as_the_record_folds_them():
    from doctester.docker.checkpoints import published_ports
    samples = ["127.0.0.1:8000->8000/tcp", "0.0.0.0:8000->8000/tcp, :::8000->8000/tcp",
               "0.0.0.0:49153->8000/tcp, [::]:49153->8000/tcp", "8000/tcp", "", None,
               "127.0.0.1:5001->5000/tcp, 8080/tcp"]
    for text in samples:
        assert check.ports_of(text) == published_ports(text), text
    assert check.ports_of("0.0.0.0:49153->8000/tcp, [::]:49153->8000/tcp") == ["0.0.0.0:*->8000/tcp"]
    assert check.ports_of("127.0.0.1:5001->5000/tcp, 8080/tcp") == ["127.0.0.1:5001->5000/tcp"]


def test_a_tag_of_the_attendee_stands_for_one_mistyped_tag_at_most(workshop):
    record = json.loads(json.dumps(RECORD))
    record["chapters"][1]["images"] += [{"tag": "myapp-entry:latest", "made_by": made(
        "docker build -q -f Dockerfile.entrypoint --tag myapp-entry .", "dockerfile"), "optional": False},
        {"tag": "py:latest", "made_by": made("docker tag python:alpine py", "cleaning-up"), "optional": False}]
    path = workshop / "more.json"
    path.write_text(json.dumps(record))
    state = good_state()
    state["images"] = [image("myap:latest"), image("python:alpine")]
    code, lines = check_with(workshop, state, record=path)
    assert off_lines(lines) == [
        "image `myapp:latest` is missing, and `myap:latest` looks like a mistyped tag of it: `docker tag myap myapp`",
        "image `myapp-entry` is missing: `docker build -q -f Dockerfile.entrypoint --tag myapp-entry .` "
        "in the folder 'Writing a Dockerfile' builds in",
        "image `py` is missing: `docker tag python:alpine py` (a step of 'cleaning-up')",
    ]


def test_a_missing_file_names_the_chapter_that_writes_it(workshop):
    record = json.loads(json.dumps(RECORD))
    record["chapters"][1]["files"].append({"path": "hello.py", "chapter": "background", "optional": False})
    path = workshop / "files.json"
    path.write_text(json.dumps(record))
    code, lines = check_with(workshop, good_state(), record=path)
    assert off_lines(lines) == ["file `hello.py` is missing from your workshop folder: write it as "
                                "'Containers in the background' shows"]


def test_a_container_of_the_readers_own_holding_a_port_is_stopped_not_removed(workshop):
    state = good_state()
    state["containers"].append(container("my-blog", "nginx", ports="127.0.0.1:8000->80/tcp"))
    code, lines = check_with(workshop, state)
    assert code == 1
    assert off_lines(lines) == ["port 8000 is held by `my-blog`, a container of `nginx`: `docker stop my-blog` "
                                "(not the workshop's: it is kept, stopped)"]


# After a chapter's Try it: its own record, where what the answer makes is required.

def with_try_it(workshop):
    """The record with an entry for the dockerfile chapter's Try it."""
    dockerfile = next(c for c in RECORD["chapters"] if c["name"] == "dockerfile")
    answered = {**dockerfile, "step": "try-it",
                "images": [{**i, "optional": False} for i in dockerfile["images"]],
                "files": [{**f, "optional": False} for f in dockerfile["files"]]}
    path = workshop / "examples" / "check-record.json"
    path.write_text(json.dumps({**RECORD, "format": 2, "chapters": [RECORD["chapters"][0], answered, dockerfile]}))


def test_a_skipped_try_it_is_off_after_the_try_it_and_fine_after_the_chapter(workshop):
    with_try_it(workshop)
    code, lines = check_with(workshop, good_state(), try_it=True)
    assert code == 1 and lines[0] == "Your Docker against 'Writing a Dockerfile', after its Try it:"
    assert off_lines(lines) == [
        "image `myapp-try` is missing: `docker build -q -f Dockerfile.try --tag myapp-try .` in the folder "
        "'Writing a Dockerfile' builds in",
        "file `my-image/Dockerfile.try` is missing from your workshop folder: write it as 'Writing a Dockerfile' "
        "shows"]
    code, lines = check_with(workshop, good_state())
    assert code == 0 and lines[-1] == "All as the chapter leaves it: on to the next one."


def test_a_done_try_it_passes(workshop):
    with_try_it(workshop)
    (workshop / "my-image" / "Dockerfile.try").write_text("FROM python:alpine\n")
    state = good_state()
    state["images"].append(image("myapp-try:latest"))
    code, lines = check_with(workshop, state, try_it=True)
    assert code == 0 and lines[-1] == "All as the Try it leaves it: on with the chapter."


def test_a_chapter_whose_try_it_leaves_nothing_says_to_check_the_chapter(workshop):
    with_try_it(workshop)
    code, lines = check_with(workshop, good_state(), chapter="background", try_it=True)
    assert code == 2 and len(lines) == 1
    assert "the Try it of 'background' leaves nothing the check can see" in lines[0]
    assert lines[0].endswith("Chapters with a Try it check: dockerfile")
    code, lines = check_with(workshop, good_state(), chapter="dockerfiles", try_it=True)
    assert lines == ["check.py: there is no chapter 'dockerfiles'; the chapters are: background, dockerfile"]
