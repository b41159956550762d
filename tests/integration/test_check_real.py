"""examples/check.py on a real engine: a private one in a sandbox, like the
doc tests', set to where a chapter leaves a reader (from the shipped record),
then put off the way attendees get off: a step skipped, an old container
holding a port, a file made in the wrong folder, a mistyped tag. The check
must pass on the first and name the fix for each of the others; real IDs,
dates and sizes, and a container Docker named, never make it fail."""
import json
import shlex

import pytest

from bringup import paths
from doctester.docker import ownership
from doctester.docker.ownership import DEFAULT_STATE
from doctester.docker.sandbox import Limits, Sandbox
from doctester.docker.workspace import SandboxWorkspace
from tests.conftest import ROOT

RECORD = json.loads((ROOT / "examples" / "check-record.json").read_text())
CHAPTERS = {c["name"]: c for c in RECORD["chapters"] if not c.get("step")}
TRY_ITS = {c["name"]: c for c in RECORD["chapters"] if c.get("step") == "try-it"}
BASE = "python:alpine"  # every recorded tag is made from it: small, and it has `sleep`
EMPTY = r"""
ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null
docker volume prune -af >/dev/null
docker network prune -f >/dev/null
for ref in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>'); do
  [ "$ref" = "$1" ] || docker rmi "$ref" >/dev/null
done
"""


@pytest.fixture(scope="module")
def engine(client, identity):
    run = ownership.Run(DEFAULT_STATE, label=identity.run_label)
    try:
        sandbox = Sandbox(run, "check", identity.sandbox_image, Limits.for_machine(1), paths.REGISTRY_DATA,
                          hostname=identity.hostname)
        sandbox.start()
        sandbox.docker.run("pull", "-q", BASE)
        yield sandbox
    finally:
        assert run.release() == []


class Reader:
    """An attendee's engine and workshop folder, in the sandbox."""

    def __init__(self, sandbox):
        self.sandbox, self.docker = sandbox, sandbox.docker
        self.workspace = SandboxWorkspace(sandbox, ROOT / "examples", ("__pycache__", "jams.json"),
                                          "intro-to-docker")
        self.folder = str(self.workspace.workdir)
        sandbox.run_script(EMPTY, BASE)

    def sh(self, script):
        return self.sandbox.run_script(f'cd {shlex.quote(self.folder)} && {script}', check=True, timeout=300)

    def as_after(self, chapter):
        """Make, without the chapter's steps, what the record says it leaves."""
        for image in chapter["images"]:
            if image["tag"] != f"{BASE}":
                self.docker.run("tag", BASE, image["tag"])
        for volume in chapter["volumes"]:
            self.docker.run("volume", "create", volume["name"])
        for network in chapter["networks"]:
            self.docker.run("network", "create", network["name"])
        for container in chapter["containers"]:
            if not container["name"]:
                continue
            self.start(container["name"], container["image"] or BASE, container["ports"], container["state"])
        for file in chapter["files"]:
            self.sh(f'mkdir -p "$(dirname {shlex.quote(file["path"])})" && touch {shlex.quote(file["path"])}')

    def start(self, name, image, ports=(), state="running"):
        publish = []
        for port in ports:
            host, inside = port.split("->")
            address, _, number = host.rpartition(":")
            publish += ["-p", f"{address}:{'' if number == '*' else number}:{inside.split('/')[0]}"]
        if image not in self.tags():
            self.docker.run("tag", BASE, image)  # a container's image the chapter no longer tags
        if state == "running":
            self.docker.run("run", "-d", "--name", name, *publish, image, "sleep", "3600")
        else:
            self.docker.run("run", "--name", name, *publish, image, "true")

    def tags(self):
        return {t.removesuffix(":latest") for t in self.docker.tags()} | set(self.docker.tags())

    def check(self, chapter, *more):
        result = self.sandbox.run_script(f'cd {shlex.quote(self.folder)} && python3 examples/check.py "$@"', chapter,
                                         *more, check=False, timeout=120)
        assert result.stderr == "", result.stderr  # never a traceback
        return result.returncode, result.stdout

    def remove(self):
        self.workspace.remove()


@pytest.fixture
def reader(engine):
    reader = Reader(engine)
    yield reader
    reader.remove()


def off(output):
    return [line.strip()[5:] for line in output.splitlines() if line.strip().startswith("OFF")]


def with_containers(name):
    return [c for c in CHAPTERS[name]["containers"] if c["name"]]


# Chapters that leave something to check: named containers, volumes, files.
RICH = [name for name in ("dockerfile", "volumes", "better-images", "running", "background") if name in CHAPTERS]
# The ways to be off are the same code for every chapter: two chapters of
# different kinds (a build, a volume) prove them on a real engine; the unit
# tests cover the rest with fake engines.
OFF = RICH[:2]


@pytest.mark.parametrize("name", RICH)
def test_a_reader_where_the_chapter_leaves_them_passes(reader, name):
    reader.as_after(CHAPTERS[name])
    code, output = reader.check(name)
    assert code == 0, output
    assert output.rstrip().endswith("All as the chapter leaves it: on to the next one.")


def test_ids_dates_and_picked_names_never_count(reader):
    """The same state made twice has other IDs and creation times; a container
    Docker named (with no port) is the attendee's business."""
    name = RICH[0]
    reader.as_after(CHAPTERS[name])
    first = reader.check(name)
    reader.sandbox.run_script(EMPTY, BASE)
    reader.as_after(CHAPTERS[name])
    reader.docker.run("run", BASE, "true")  # Docker picks its name
    reader.docker.run("tag", BASE, "scratch-of-mine:1")   # an image of the attendee's own
    second = reader.check(name)
    assert first[0] == second[0] == 0, first[1] + second[1]
    assert first[1] == second[1]


@pytest.mark.parametrize("name", OFF)
def test_a_skipped_step_fails_with_the_command_that_makes_it(reader, name):
    chapter = CHAPTERS[name]
    reader.as_after(chapter)
    built = [i for i in chapter["images"] if i["made_by"] and not i["optional"] and i["tag"] != BASE]
    image = built[-1]
    reader.docker.run("rmi", "-f", image["tag"])
    code, output = reader.check(name)
    assert code == 1
    tag = image["tag"].removesuffix(":latest")
    [line] = [line for line in off(output) if line.startswith(f"image `{image['tag']}`") or
              line.startswith(f"image `{tag}`")]
    assert "is missing" in line
    command = image["made_by"]["command"]
    expected = f"`docker pull {tag}`" if command.startswith(("docker run", "docker pull")) else f"`{command}`"
    assert expected in line


@pytest.mark.parametrize("name", OFF)
def test_an_old_container_holding_a_port_is_named_with_its_fix(reader, name):
    chapter = CHAPTERS[name]
    reader.as_after(chapter)
    used = {p.split("->")[0].rsplit(":", 1)[1] for c in chapter["containers"] for p in c["ports"]}
    port = next(p for p in sorted(RECORD["ports"]) if p not in used)
    reader.start("jam", BASE, [f"127.0.0.1:{port}->8000/tcp"])
    code, output = reader.check(name)
    assert code == 1
    assert off(output) == [f"port {port} is held by `jam`, a container from "
                           f"'{CHAPTERS[RECORD['named']['containers']['jam']]['title']}': `docker rm -f jam`"]


@pytest.mark.parametrize("name", [n for n in RICH if any(not f["optional"] and "/" in f["path"]
                                                         for f in CHAPTERS[n]["files"])])
def test_files_made_in_the_wrong_folder_are_found(reader, name):
    chapter = CHAPTERS[name]
    reader.as_after(chapter)
    top = next(f["path"] for f in chapter["files"] if not f["optional"] and "/" in f["path"]).split("/")[0]
    reader.sh(f"mv {shlex.quote(top)} examples/")
    code, output = reader.check(name)
    assert code == 1
    moved = [line for line in off(output) if line.startswith("file ")]
    assert moved and all("is in `examples/` instead of the workshop folder" in line and
                         f"move `examples/{top}` up" in line for line in moved)


@pytest.mark.parametrize("name", [n for n in RICH if any(
    not i["optional"] and len(i["tag"].split(":")[0]) > 4 and i["tag"].split(":")[0] not in ("python", "hello-world")
    for i in CHAPTERS[n]["images"])])
def test_a_mistyped_tag_is_recognised(reader, name):
    chapter = CHAPTERS[name]
    reader.as_after(chapter)
    image = next(i["tag"] for i in chapter["images"] if not i["optional"] and len(i["tag"].split(":")[0]) > 4
                 and i["tag"].split(":")[0] not in ("python", "hello-world"))
    repository, tag = image.rsplit(":", 1)
    typo = f"{repository[:-1]}:{tag}"  # the last letter of the name forgotten
    reader.docker.run("tag", image, typo)
    reader.docker.run("rmi", image)
    code, output = reader.check(name)
    assert code == 1
    short = typo.removesuffix(":latest")
    assert any(f"looks like a mistyped tag of it: `docker tag {short} {image.removesuffix(':latest')}`" in line
               for line in off(output)), output


def test_after_a_try_it_its_answer_is_required(reader):
    """A reader who did the Try it passes its check; one who skipped it is told
    what the answer makes, though the chapter's own check lets it be missing."""
    name = "dockerfile"
    answer = [i for i in TRY_ITS[name]["images"] if not i["optional"] and i["optional"] !=
              next((c["optional"] for c in CHAPTERS[name]["images"] if c["tag"] == i["tag"]), False)]
    assert answer, "the record's Try it of 'Writing a Dockerfile' makes no image the chapter lets be missing"
    reader.as_after(TRY_ITS[name])
    code, output = reader.check(name, "--try-it")
    assert code == 0, output
    assert output.rstrip().endswith("All as the Try it leaves it: on with the chapter.")
    reader.docker.run("rmi", "-f", answer[0]["tag"])
    code, output = reader.check(name, "--try-it")
    assert code == 1
    assert any(line.startswith(f"image `{answer[0]['tag'].removesuffix(':latest')}` is missing")
               for line in off(output)), output
    assert reader.check(name)[0] == 0  # the chapter's own check: a skipped Try it is fine
