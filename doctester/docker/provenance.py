"""In a journey (the pages in order, on one engine), which command made each
object still on the engine. When a command fails and its error names an
object an earlier page left (a container name or ID, a published port, an
image, a volume, a network), the failure says which page:line made it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .dockerstate import DockerCLI


@dataclass(frozen=True)
class Made:
    kind: str        # container, image, volume, network
    name: str        # how the reader knows it
    clues: tuple[str, ...]     # words of an error message that point at it
    label: str       # page:line of the command that made it


LISTINGS = {
    "container": ("ps", "-a", "--no-trunc", "--format", "{{.ID}}|{{.Names}}|{{.Ports}}|{{.Image}}"),
    "image": ("images", "--format", "{{.Repository}}:{{.Tag}}|{{.ID}}"),
    "volume": ("volume", "ls", "--format", "{{.Name}}"),
    "network": ("network", "ls", "--format", "{{.Name}}"),
}
HOST_PORT = re.compile(r":(\d+)->")


def clues_of(kind: str, line: str) -> tuple[tuple[str, str], str, tuple[str, ...]]:
    """(key, name, clues) of one line of a listing."""
    fields = line.split("|")
    if kind == "container":
        ident, names, ports, image = (fields + ["", "", ""])[:4]
        # Its image too: a listing that shows no names still shows that.
        return (kind, ident), names, (ident[:12], *names.split(","), *sorted(set(HOST_PORT.findall(ports))),
                                      image)
    if kind == "image":
        tag, ident = (fields + [""])[:2]
        repository = tag.split(":")[0]
        return (kind, tag), tag, (tag, repository, ident.removeprefix("sha256:")[:12])
    return (kind, fields[0]), fields[0], (fields[0],)


class Provenance:
    def __init__(self, docker: DockerCLI) -> None:
        self.docker = docker
        self.made: dict[tuple[str, str], Made] = {}                              # key -> Made
        self.before = set(self._inventory())        # there when the journey started: nobody's

    def _inventory(self) -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
        found: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        for kind, listed in self.docker.outputs(LISTINGS).items():
            for line in listed.splitlines():
                if line.strip() and "<none>" not in line and line.split("|")[0] not in ("bridge", "host", "none"):
                    key, name, clues = clues_of(kind, line.strip())
                    found[key] = (name, clues)
        return found

    def note(self, label: str) -> None:
        """After a command: new objects were made by it."""
        current = self._inventory()
        for key, (name, clues) in current.items():
            if key not in self.before and key not in self.made:
                self.made[key] = Made(key[0], name, clues, label)
        for key in set(self.made) - set(current):
            del self.made[key]  # removed since: it can no longer be in the way

    def explain(self, text: str, page: str) -> list[str]:
        """Lines naming objects made on other pages that `text` (a failed
        command's real output, or the failure) mentions. Images count only
        when no container is named: a container is the likelier culprit, and
        its image's name is a word that listings and commands repeat."""
        found: list[tuple[Made, list[str]]] = []
        for made in self.made.values():
            if made.label.rsplit(":", 1)[0] == page:
                continue
            named = [c for c in made.clues if c and re.search(rf"(?<![\w.-]){re.escape(c)}(?![\w-])", text)]
            if named:
                found.append((made, named))
        if any(made.kind == "container" for made, _ in found):
            found = [(made, named) for made, named in found if made.kind != "image"]
        return [f"  left by {made.label}: {made.kind} {made.name} (the error names {', '.join(named)})"
                for made, named in found]
