"""The journey's record of where each chapter leaves the reader
(doctester/docker/checkpoints.py), the `in-order` annotation of the blocks
that read it, and the record the workshop ships with examples/check.py."""
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from doctester.core.blocks import Command, FileBlock, Options, Page, ShellBlock
from doctester.docker import checkpoints
from scripts.journey_pages import journey_pages
from tests.conftest import ROOT

COMMITTED = ROOT / "examples" / "check-record.json"


@pytest.mark.parametrize("command, named, ports", [
    ("docker run -d --name jam -p 127.0.0.1:8000:8000 jh6", [("containers", "jam")], ["8000"]),
    ("docker run -d -p 8001:8000 --name=jam2 jh6", [("containers", "jam2")], ["8001"]),
    ("docker stop -t 2 sleeper", [], []),  # -t of stop is seconds, not a tag
    ("docker run -it myapp sh", [], []),
    ("docker build . --tag myapp", [("images", "myapp:latest")], []),
    ("docker build -q -t jams:first .", [("images", "jams:first")], []),
    ("docker tag introtodocker/jam-server jh6", [("images", "jh6:latest")], []),
    ("docker network create jam-net", [("networks", "jam-net")], []),
    ("docker volume create keep-me", [("volumes", "keep-me")], []),
    ("docker run -d -v jam-data:/data jh6", [("volumes", "jam-data")], []),
    ("docker run --rm -v .:/backup -v ./examples:/e python:alpine true", [], []),
    ('docker run --mount "type=volume,source=cache,target=/c" python:alpine true', [("volumes", "cache")], []),
    ("docker commit <CONTAINER ID> py:app", [], []),
])
def test_the_names_a_command_gives(command, named, ports):
    assert checkpoints.names_in(command) == (named, ports)


class FakeDocker:
    def __init__(self, listings):
        self.listings = listings

    def run(self, *argv, **kwargs):
        kind = {"ps": "containers", "image": "images", "volume": "volumes", "network": "networks"}[argv[0]]
        return SimpleNamespace(stdout="".join(json.dumps(o) + "\n" for o in self.listings[kind]))


LISTINGS = {
    "containers": [
        {"ID": "a" * 64, "Names": "jam", "Image": "jh6", "State": "running",
         "Ports": "127.0.0.1:8000->8000/tcp", "CreatedAt": "2026-01-01", "Size": "1kB"},
        {"ID": "b" * 64, "Names": "cool_napier", "Image": "python", "State": "exited", "Ports": ""},
        {"ID": "c" * 64, "Names": "old", "Image": "4f3e2d1c0b9a", "State": "exited", "Ports": ""},
    ],
    "images": [{"Repository": "jh6", "Tag": "latest", "ID": "1" * 12},
               {"Repository": "<none>", "Tag": "<none>", "ID": "2" * 12}],
    "volumes": [{"Name": "jam-data"}, {"Name": "e" * 64}],
    "networks": [{"Name": "bridge"}, {"Name": "host"}, {"Name": "none"}, {"Name": "jam-net"}],
}


def test_the_state_keeps_what_a_reader_sees_and_folds_what_varies():
    state = checkpoints.engine_state(FakeDocker(LISTINGS))
    for objects in state.values():
        for obj in objects:
            obj.pop("key")
    assert state == {
        "containers": [
            {"name": "jam", "image": "jh6", "state": "running", "ports": ["127.0.0.1:8000->8000/tcp"]},
            {"name": "old", "image": "", "state": "exited", "ports": []},        # its image only by ID
        ],
        "images": [{"tag": "jh6:latest"}],
        "volumes": [{"name": "jam-data"}],                                      # not the anonymous one
        "networks": [{"name": "jam-net"}],
    }


def test_objects_there_before_the_journey_are_left_out():
    state = checkpoints.engine_state(FakeDocker(LISTINGS), {("container", "a" * 64), ("image", "jh6:latest"),
                                                            ("network", "jam-net")})
    assert [c["name"] for c in state["containers"]] == ["old"]
    assert state["images"] == [] and state["networks"] == []


def test_a_journey_record_names_the_making_command_and_marks_a_try_it_optional(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ch.md").write_text("# A chapter\n\ntext\n")
    copy = tmp_path / "examples"
    copy.mkdir()
    (copy / "check.py").write_text("")
    workdir = tmp_path / "work"
    (workdir / "examples").mkdir(parents=True)
    (workdir / "examples" / "check.py").write_text("")
    (workdir / "my-image").mkdir()
    for name in ("Dockerfile", "Dockerfile.try"):
        (workdir / "my-image" / name).write_text("FROM x\n")
    (workdir / "my-image" / "__pycache__").mkdir()
    (workdir / "my-image" / "__pycache__" / "a.pyc").write_text("")
    page = Page("docs/ch.md", {}, [
        ShellBlock("docs/ch.md", 3, commands=[Command("docker run -d --name jam -p 127.0.0.1:8000:8000 jh6", 4)]),
        FileBlock("docs/ch.md", 6, title="Dockerfile"),
        FileBlock("docs/ch.md", 8, containers=("Solution",), title="Dockerfile.try"),
        ShellBlock("docs/ch.md", 10, containers=("Solution",),
                   commands=[Command("docker network create jam-net", 11)]),
        ShellBlock("docs/ch.md", 12, options=Options(skip="not here"),
                   commands=[Command("docker run --name never x", 13)]),
    ])
    provenance = SimpleNamespace(before=set(), made={
        ("container", "a" * 64): SimpleNamespace(label="docs/ch.md:4"),
        ("image", "jh6:latest"): SimpleNamespace(label="docs/ch.md:11"),  # seen after a command that cannot make it
        ("network", "jam-net"): SimpleNamespace(label="docs/ch.md:11")})
    listings = {**LISTINGS, "containers": LISTINGS["containers"][:1], "volumes": []}
    environment = SimpleNamespace(docker=FakeDocker(listings), provenance=provenance)
    record = checkpoints.JourneyRecord(tmp_path / "build" / "record.json", tmp_path, copy, ["__pycache__"])
    record.add(page, environment, SimpleNamespace(workdir=workdir))
    written = json.loads((tmp_path / "build" / "record.json").read_text())
    assert written["format"] == checkpoints.FORMAT
    [chapter] = written["chapters"]
    assert (chapter["name"], chapter["title"]) == ("ch", "A chapter")
    assert chapter["containers"] == [{"name": "jam", "image": "jh6", "state": "running", "ports": [
        "127.0.0.1:8000->8000/tcp"], "made_by": {"command": "docker run -d --name jam -p 127.0.0.1:8000:8000 jh6",
                                                 "chapter": "ch"}, "optional": False}]
    assert chapter["networks"] == [{"name": "jam-net", "made_by": {"command": "docker network create jam-net",
                                                                  "chapter": "ch"}, "optional": True}]
    assert chapter["images"] == [{"tag": "jh6:latest", "made_by": None, "optional": False}]
    assert chapter["files"] == [{"path": "my-image/Dockerfile", "chapter": "ch", "optional": False},
                                {"path": "my-image/Dockerfile.try", "chapter": "ch", "optional": True}]
    assert written["named"]["containers"] == {"jam": "ch"}  # the skipped block's name is not the workshop's
    assert written["ports"] == {"8000": ["ch"]}


def test_a_step_within_a_page_is_recorded_apart_and_its_answer_is_required(tmp_path):
    (tmp_path / "docs").mkdir()
    for name in ("one", "two"):
        (tmp_path / "docs" / f"{name}.md").write_text(f"# Chapter {name}\n")
    answer = [ShellBlock(f"docs/{name}.md", 3, containers=("Solution",),
                         commands=[Command(f"docker network create net-{name}", 4)]) for name in ("one", "two")]
    made = {("network", f"net-{name}"): SimpleNamespace(label=f"docs/{name}.md:4") for name in ("one", "two")}
    listings = {**LISTINGS, "containers": [], "images": [],
                "networks": [{"Name": "net-one"}, {"Name": "net-two"}]}
    environment = SimpleNamespace(docker=FakeDocker(listings), provenance=SimpleNamespace(before=set(), made=made))
    workdir = tmp_path / "work"
    workdir.mkdir()
    record = checkpoints.JourneyRecord(tmp_path / "record.json", tmp_path)
    record.add(Page("docs/one.md", {}, answer[:1]), environment, SimpleNamespace(workdir=workdir))
    two = Page("docs/two.md", {}, answer[1:])
    record.add(two, environment, SimpleNamespace(workdir=workdir), step="try-it")
    record.add(two, environment, SimpleNamespace(workdir=workdir))
    chapters = json.loads((tmp_path / "record.json").read_text())["chapters"]
    assert [(c["name"], c.get("step")) for c in chapters] == [("one", None), ("two", "try-it"), ("two", None)]
    optional = {c.get("step"): {n["name"]: n["optional"] for n in c["networks"]} for c in chapters[1:]}
    # After its own Try it, the page's answer is required; an earlier page's Try it stays optional.
    assert optional == {"try-it": {"net-one": True, "net-two": False}, None: {"net-one": True, "net-two": True}}


@pytest.mark.parametrize("value", ["Try it", "", "try_it", "x" * 40])
def test_a_checkpoint_takes_a_short_lowercase_name(value):
    with pytest.raises(ValueError, match="checkpoint takes a short lowercase name"):
        checkpoints.CHECKPOINT.read(value)


def test_a_stale_committed_record_says_which_command_refreshes_it(tmp_path):
    new, committed = tmp_path / "new.json", tmp_path / "committed.json"
    new.write_text('{"format": 1}\n')
    committed.write_text('{"format": 1, "chapters": []}\n')
    message = checkpoints.compare_files(new, committed)
    assert "is stale" in message and "`make check-record`" in message
    committed.write_text(new.read_text())
    assert checkpoints.compare_files(new, committed) is None
    result = subprocess.run([sys.executable, "-m", "doctester.docker.checkpoints", "compare", str(new),
                             str(tmp_path / "absent.json")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "make check-record" in result.stderr


# The `in-order` annotation: blocks for a reader who did the pages before.

PAGE = """# A page

```bash
echo always
```

```text
always
```

<!-- doctest: in-order="needs what the page before made" -->
```bash
echo in order
```

```text
in order
```
"""


def run_page(tmp_path, *extra):
    (tmp_path / "pytest.ini").write_text("[pytest]\ndoc_pages = *.md\n")
    (tmp_path / "page.md").write_text(PAGE)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker",
                           "-v", "-rs", "page.md", "--doc-report", str(tmp_path / "report.json"), *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_an_in_order_block_is_skipped_with_its_reason_when_the_page_runs_alone(tmp_path):
    result = run_page(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "page.md::line-3 PASSED" in result.stdout and "page.md::line-12 SKIPPED" in result.stdout
    assert "only in the journey, after the pages before this one: needs what the page before made" in result.stdout


def test_an_in_order_block_runs_in_the_journey(tmp_path):
    result = run_page(tmp_path, "--doc-journey")
    assert result.returncode == 0, result.stdout
    assert "page.md::line-12 PASSED" in result.stdout


# The record the workshop ships.

def check_blocks():
    """(page, chapter name, step) of every `examples/check.py NAME [--try-it]`
    command on the pages; a `--try-it` one must sit under `checkpoint=try-it`,
    which has the journey record the state it is checked against."""
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            command = re.fullmatch(r"\s*(?:python3|py) (?:(?:\.\./)*examples/)?check\.py (\S+)( --try-it)?\s*", line)
            if command is None:
                continue
            step = "try-it" if command.group(2) else None
            if step:
                above = "\n".join(lines[max(0, number - 6):number])
                assert re.search(r'checkpoint="?try-it', above), f"{page.name}:{number + 1}: no checkpoint=try-it"
            found.append((page.stem, command.group(1), step))
    return found


def test_the_shipped_record_has_every_chapter_a_page_checks():
    record = json.loads(COMMITTED.read_text())
    assert record["format"] == checkpoints.FORMAT
    entries = {(c["name"], c.get("step")) for c in record["chapters"]}
    blocks = check_blocks()
    assert len(blocks) >= 22 + 2 * 6  # two tabs on each chapter page, and on the Try its that make something
    assert {(name, step) for _, name, step in blocks} <= entries
    journey = {Path(p).stem for p in journey_pages()}
    # Each chapter page checks itself (the troubleshooting page shows another's check).
    assert all(page == name for page, name, _ in blocks if page in journey)
    assert {name for name, _ in entries} <= journey
