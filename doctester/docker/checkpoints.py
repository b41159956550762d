"""The journey's record of where each chapter leaves a reader's Docker.

With `--doc-journey --doc-journey-record FILE`, after each page of the
journey the engine's reader-visible state is written down: containers (name,
image, state, published ports), image tags, volumes, networks, and the files
the pages made in the reader's working folder. What output matching lets
vary is left out or folded the same way: IDs, dates and sizes are not kept, a
name Docker picked is kept as no name, a host port Docker picked as `*`.
Each object carries the command that made it (from the journey's
provenance), so a checker can say which step makes it again. The record also
names every container, volume, network and image the pages' commands name,
and the host ports they publish: the objects a checker may speak about.

`python -m doctester.docker.checkpoints compare NEW COMMITTED` says whether
a committed copy is still what a journey recorded.
"""
from __future__ import annotations

import fnmatch
import json
import re
import sys
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..core.annotations import AnnotationKey
from ..core.blocks import FileBlock, Page, ShellBlock
from ..core.contract import PageWorkspace
from ..core.report import write_atomically
from .dockerstate import DockerCLI
from .provenance import Made
from .rules import NORMALIZERS

FORMAT = 2  # 2: entries for a step within a chapter (`step`), such as its Try it
# Output matching's own patterns: a name Docker picks, a host port it picks.
RANDOM_NAME = next(n for n in NORMALIZERS if n.name == "name").real
PICKED_PORT = re.compile(next(n for n in NORMALIZERS if n.name == "host-port").shown)
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
ABOUT = ("Where each chapter leaves the reader's Docker, as the journey (`make journey`) saw it; "
         "read by examples/check.py. Generated: do not edit.")

LISTINGS = {
    "containers": ("ps", "-a", "--no-trunc", "--format", "{{json .}}"),
    "images": ("image", "ls", "--format", "{{json .}}"),
    "volumes": ("volume", "ls", "--format", "{{json .}}"),
    "networks": ("network", "ls", "--format", "{{json .}}"),
}


def published_ports(text: str | None) -> list[str]:
    """`docker ps` PORTS -> sorted `ADDRESS:PORT->PORT/PROTO`: only published
    ports, IPv6's any-address as 0.0.0.0, a port Docker picked as `*`."""
    found: set[str] = set()
    for entry in (text or "").split(","):
        entry = entry.strip()
        if "->" not in entry:
            continue
        host, _, inside = entry.partition("->")
        address, _, port = host.rpartition(":")
        if address in ("::", "[::]", ""):
            address = "0.0.0.0"
        if PICKED_PORT.search(f":{port}->"):
            port = "*"
        found.add(f"{address}:{port}->{inside}")
    return sorted(found)


def is_random_name(name: str) -> bool:
    return re.fullmatch(RANDOM_NAME, name) is not None


def with_latest(reference: str) -> str:
    return reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest"


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def engine_state(docker: DockerCLI,
                 ignore_keys: Collection[tuple[str, str]] = ()) -> dict[str, list[dict[str, Any]]]:
    """The reader-visible state, as lists of dicts with a `key` for provenance
    (removed before writing). `ignore_keys`: objects there before the journey."""
    listed = {kind: _json_lines(docker.run(*argv).stdout) for kind, argv in LISTINGS.items()}
    containers: list[dict[str, Any]] = []
    for c in listed["containers"]:
        name = (c.get("Names") or "").split(",")[0]
        key = ("container", c.get("ID", ""))
        if key in ignore_keys:
            continue
        if is_random_name(name):
            continue  # a name Docker picked: no page refers to it, and a checker cannot either
        image = c.get("Image", "")
        containers.append({"key": key, "name": name,
                           "image": "" if IMAGE_ID.match(image) else image,
                           "state": (c.get("State") or "").lower(), "ports": published_ports(c.get("Ports"))})
    images = [{"key": ("image", tag), "tag": tag} for tag in sorted(
        {f"{i.get('Repository')}:{i.get('Tag')}" for i in listed["images"]
         if "<none>" not in (i.get("Repository"), i.get("Tag"))}) if ("image", tag) not in ignore_keys]
    volumes = [{"key": ("volume", v["Name"]), "name": v["Name"]} for v in listed["volumes"]
               if not IMAGE_ID.match(v["Name"]) and ("volume", v["Name"]) not in ignore_keys]
    networks = [{"key": ("network", n["Name"]), "name": n["Name"]} for n in listed["networks"]
                if n["Name"] not in ("bridge", "host", "none") and ("network", n["Name"]) not in ignore_keys]
    return {"containers": containers, "images": images, "volumes": sorted(volumes, key=lambda v: v["name"]),
            "networks": sorted(networks, key=lambda n: n["name"])}


def files_in(workspace: PageWorkspace) -> set[str]:
    """Relative paths (with `/`) of every file under the page's working folder."""
    sandbox = getattr(workspace, "sandbox", None)
    if sandbox is not None:
        listing = sandbox.run_script('cd -- "$1" && find . \\( -type f -o -type l \\) -print', str(workspace.workdir),
                             timeout=60).stdout
        return {line[2:] for line in listing.splitlines() if line.startswith("./")}
    root = Path(workspace.workdir)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def project_files(copy: str | Path | None, ignore: Iterable[str]) -> set[str]:
    """The files the working folder starts with (the doc_copy folder's)."""
    if copy is None:
        return set()
    copy = Path(copy)
    return {f"{copy.name}/{p.relative_to(copy).as_posix()}" for p in copy.rglob("*") if p.is_file()}


# Folders of tools, not of the reader's steps (a virtual environment holds
# thousands of files); examples/check.py leaves the same ones out.
SKIPPED_FOLDERS = (".git", "__pycache__", ".pytest_cache", "node_modules", ".venv", "venv")


def ignored(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.split("/")
               for pattern in (*patterns, *SKIPPED_FOLDERS))


# A command's words that name objects: `--name X`, `network create X`, ...
NAMING = [
    ("containers", re.compile(r"--name[= ](\S+)")),
    ("networks", re.compile(r"\bdocker network create (?:-\S+ )*(\S+)")),
    ("volumes", re.compile(r"\bdocker volume create (?:-\S+ )*(\S+)")),
    ("volumes", re.compile(r"(?:-v|--volume)[= ]([A-Za-z0-9][\w.-]*):/")),
    ("volumes", re.compile(r"type=volume,(?:\S*,)?source=([\w.-]+)")),
    ("images", re.compile(r"\bdocker (?:image |buildx )?build\b.*?(?:--tag|-t)[= ](\S+)")),
    ("images", re.compile(r"\bdocker (?:image )?tag \S+ (\S+)")),
]
# The commands that can make each kind of object: a make is attributed to the
# shell command after which it was seen, which may be a mere listing when a
# python fence (the SDK) made it.
MAKERS = {
    "containers": re.compile(r"^docker (?:container )?(?:run|create)\b|^docker compose\b"),
    "images": re.compile(r"^docker (?:image |buildx )?(?:build|pull|tag|load|import)\b|^docker (?:run|create|"
                         r"commit|compose)\b"),
    "volumes": re.compile(r"^docker (?:volume create|run|create|compose)\b"),
    "networks": re.compile(r"^docker (?:network create|compose)\b"),
}
STEP_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")


def _step_name(value: str) -> str:
    if not STEP_NAME.fullmatch(value):
        raise ValueError(f"checkpoint takes a short lowercase name such as try-it, not {value!r}")
    return value


# On the block that runs a check of a step within its page: the journey
# records the reader's Docker just before it, under the page's name and this one.
CHECKPOINT = AnnotationKey("checkpoint", _step_name, help="with --doc-journey-record: record the state just "
                           "before this block as the page's step of this name (check.py CHAPTER --try-it)")

# Steps inside these admonitions are a Try it's answer, which a reader may skip:
# what they make is optional for a checker.
OPTIONAL_CONTAINERS = ("Solution",)
PUBLISH = re.compile(r"(?:-p|--publish)[= ](?:[\d.]+:)?(\d+):\d+")


def names_in(command: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(kind, name) the command names, and the host ports it publishes."""
    named: list[tuple[str, str]] = []
    for kind, pattern in NAMING:
        for found in pattern.findall(command):
            found = found.strip("'\"")
            if "<" not in found and "$" not in found:
                named.append((kind, with_latest(found) if kind == "images" else found))
    return named, PUBLISH.findall(command)


def chapter_name(page_path: str | Path) -> str:
    return Path(page_path).stem


class PageCommands:
    """What the journey's pages have a reader type, read page by page: each
    command (by `page:line`) and whether it is a Try it's answer, the objects
    and host ports the commands name, and the files file blocks write."""

    def __init__(self) -> None:
        self.commands: dict[str, tuple[str, bool]] = {}  # page:line -> (command text a reader types, optional)
        self.optional_files: set[str] = set()
        self.page_optional_files: dict[str, set[str]] = {}  # page path -> names of files its Try it writes
        self.required_files: set[str] = set()   # file names file blocks write
        self.chapter_of_page: dict[str, str] = {}   # page path -> chapter name
        self.named: dict[str, dict[str, str]] = {k: {} for k in ("containers", "images", "volumes", "networks")}
        self.ports: dict[str, list[str]] = {}

    def read(self, page: Page, name: str) -> None:
        """The page's commands, the objects they name and the ports they publish."""
        self.chapter_of_page[str(page.path)] = name
        for block in page.blocks:
            optional = any(word in title for title in block.containers for word in OPTIONAL_CONTAINERS)
            if isinstance(block, FileBlock):
                (self.optional_files if optional else self.required_files).add(Path(block.title).name)
                if optional:
                    self.page_optional_files.setdefault(str(page.path), set()).add(Path(block.title).name)
            if not isinstance(block, ShellBlock) or block.options.skip:
                continue
            for command in block.commands:
                text = command.text.strip()
                self.commands[f"{block.path}:{command.line}"] = (text, optional)
                names, ports = names_in(text)
                for kind, found in names:
                    self.name(kind, found, name)
                for port in ports:
                    chapters = self.ports.setdefault(port, [])
                    if name not in chapters:
                        chapters.append(name)

    def name(self, kind: str, name: str, chapter: str) -> None:
        """Note that `chapter` names an object, unless an earlier one did."""
        self.named[kind].setdefault(name, chapter)

    def optional_file_names(self, page_path: str, step: str | None) -> set[str]:
        """Names of the files only a Try it's answer writes; at a step within
        the page, its own answer's files are required."""
        optional = self.optional_files - self.required_files
        if step:
            optional -= self.page_optional_files.get(page_path, set())
        return optional

    def made_by(self, kind: str, label: str | None, answered: str | None) -> tuple[dict[str, str] | None, bool]:
        """The command that made an object (as a reader types it, and its
        chapter), and whether the object is optional: made by a Try it's
        answer, other than that of the page `answered`."""
        command, optional = self.commands.get(label, (None, False)) if label else (None, False)
        if label is None or command is None or not MAKERS[kind].match(command):
            return None, False
        page_path = label.rsplit(":", 1)[0]
        chapter = self.chapter_of_page.get(page_path, chapter_name(page_path))
        return {"command": command, "chapter": chapter}, optional and page_path != answered


class JourneyRecord:
    """Built page by page during a journey, written after each page."""

    def __init__(self, path: str | Path, root: str | Path, copy: str | Path | None = None,
                 ignore: Sequence[str] = ()) -> None:
        self.path, self.root = Path(path), Path(root)
        self.baseline = project_files(copy, ignore)
        self.ignore = list(ignore)
        self.pages = PageCommands()
        self.file_chapters: dict[str, str] = {}     # path -> the chapter after which it was first there
        self.chapters: list[dict[str, Any]] = []

    def page_title(self, page_path: str | Path) -> str:
        for line in (self.root / page_path).read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
        return chapter_name(page_path)

    def add(self, page: Page, environment: Any, workspace: PageWorkspace, step: str | None = None) -> None:
        """Write down where the page's steps so far left the reader: at the page's
        end (`step` None), or at a named step within it, such as its Try it,
        whose answer is then no longer optional. `environment`: an engine of
        engines.py (its `docker` is listed)."""
        name = chapter_name(page.path)
        self.pages.read(page, name)
        state = self._objects(environment, name, str(page.path) if step else None)
        optional_files = self.pages.optional_file_names(str(page.path), step)
        files: list[dict[str, Any]] = []
        for path in sorted(files_in(workspace) - self.baseline):
            if not ignored(path, self.ignore):
                files.append({"path": path, "chapter": self.file_chapters.setdefault(path, name),
                              "optional": path.rsplit("/", 1)[-1] in optional_files})
        chapter = {"name": name, **({"step": step} if step else {}), "title": self.page_title(page.path),
                   "page": str(page.path), **state, "files": files}
        self.chapters = [c for c in self.chapters if (c["name"], c.get("step")) != (name, step)] + [chapter]
        self.write()

    def _objects(self, environment: Any, name: str, answered: str | None) -> dict[str, list[dict[str, Any]]]:
        """The engine's objects, each with the command that made it; the
        chapter `name` is noted as naming those no earlier one did."""
        provenance = getattr(environment, "provenance", None)
        before = set(getattr(provenance, "before", ()))
        made: dict[tuple[str, str], Made] = getattr(provenance, "made", {})
        state = engine_state(environment.docker, before)
        for kind, objects in state.items():
            for obj in objects:
                key = obj.pop("key")
                if kind == "images":
                    self.pages.name(kind, obj["tag"], name)
                elif obj.get("name"):
                    self.pages.name(kind, obj["name"], name)
                obj["made_by"], obj["optional"] = self.pages.made_by(kind, made[key].label if key in made else None,
                                                                     answered)
        return state

    def as_json(self) -> str:
        record = {"format": FORMAT, "about": ABOUT, "chapters": self.chapters,
                  "named": {kind: dict(sorted(names.items())) for kind, names in self.pages.named.items()},
                  "ports": dict(sorted(self.pages.ports.items()))}
        return json.dumps(record, indent=1, sort_keys=False) + "\n"

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, self.as_json())


def compare_files(new: str | Path, committed: str | Path, refresh: str = "make check-record") -> str | None:
    """None if the committed record is what the journey recorded, else the message."""
    new, committed = Path(new), Path(committed)
    if not new.exists():
        return f"{new} is missing: run `make journey` first"
    if committed.exists() and committed.read_text(encoding="utf-8") == new.read_text(encoding="utf-8"):
        return None
    return (f"{committed} is stale: it differs from what this journey recorded in {new}. "
            f"Refresh it with `{refresh}` (it copies {new} there), look at the diff, and commit it")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "compare":
        print("usage: python -m doctester.docker.checkpoints compare NEW COMMITTED", file=sys.stderr)
        return 2
    problem = compare_files(argv[1], argv[2])
    if problem:
        print(problem, file=sys.stderr)
        return 1
    print(f"{argv[2]} is what the journey recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
