"""The room's own registry storage: only the images the workshop names, every
tag and alias of each, taken from the loopback mirror's storage. Blobs are
hard links (no second copy on disk); the room's registry serves this folder
read-only, so nothing else the loopback mirror holds (another repository, an
image some local process pushed under another tag) ever reaches the room.

The layout is distribution's filesystem driver's: blobs under
`blobs/sha256/<2>/<digest>/data`, and per repository `_manifests/tags`,
`_manifests/revisions` and `_layers` links naming them.
"""
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import paths
from .progress import BringupError

V2 = ("docker", "registry", "v2")
ROOM_DATA = paths.CACHE / "room-registry"
INDEX_TYPES = {"application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json"}


@dataclass(frozen=True)
class Served:
    reference: str   # repository:tag, as attendees pull it
    labels: dict[str, str]  # of the image's config (the private-CA label among them)


def _blob(root: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
        raise BringupError(f"the mirror's storage names a blob {digest!r} that is not a sha256 digest")
    return root.joinpath(*V2, "blobs", "sha256", hexdigest[:2], hexdigest, "data")


def _link(root: Path, repository: str, *parts: str) -> Path:
    return root.joinpath(*V2, "repositories", repository, *parts, "link")


def _digest_path(digest: str) -> list[str]:
    return digest.split(":", 1)


def _read_verified(path: Path, digest: str | None = None) -> bytes:
    """The bytes of a file bring-up's registry wrote: a regular file of ours,
    never read through a link; with `digest`, refused unless its content has
    that sha256 (a blob someone swapped is not served)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as error:
        raise BringupError(f"cannot read {path} in the mirror's storage ({error.strerror}): "
                           "run `make images` again") from None
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise BringupError(f"{path} in the mirror's storage is not a regular file of this user: "
                               "bring-up's registry did not write it")
        data = stream.read()
    if digest and hashlib.sha256(data).hexdigest() != digest.split(":", 1)[1]:
        raise BringupError(f"{path} does not hold what its digest {digest} says: the mirror's storage was "
                           "changed outside the registry; remove it and run `make images` again")
    return data


class Copier:
    """Copies tags of repositories from one storage into another, each blob
    checked against its digest on the way."""

    MAX_DEPTH = 2  # an index, then its manifests: nothing deeper is an image

    def __init__(self, source: Path, target: Path, trusted: Mapping[str, str]) -> None:
        self.source, self.target, self.trusted = source, target, trusted

    def _put_blob(self, digest: str) -> None:
        source, target = _blob(self.source, digest), _blob(self.target, digest)
        if target.exists():
            return
        _read_verified(source, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target, follow_symlinks=False)
        except OSError:  # another file system: a copy then
            target.write_bytes(_read_verified(source, digest))

    def _put_link(self, repository: str, digest: str, *parts: str) -> None:
        link = _link(self.target, repository, *parts)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.write_text(digest)

    def _manifest(self, repository: str, digest: str, depth: int = 0) -> dict[str, str]:
        """Copy one manifest (an index with its manifests); return its config's
        labels (of an index: a label any of its images carries)."""
        if depth >= self.MAX_DEPTH:
            raise BringupError(f"{repository}: manifest {digest} nests indexes deeper than an image has")
        try:
            manifest = json.loads(_read_verified(_blob(self.source, digest), digest))
            self._put_blob(digest)
            self._put_link(repository, digest, "_manifests", "revisions", *_digest_path(digest))
            if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
                labels: dict[str, str] = {}
                for entry in manifest.get("manifests", []):
                    for key, value in self._manifest(repository, entry["digest"], depth + 1).items():
                        labels[key] = labels.get(key) or value  # a label one image carries is never hidden
                return labels
            for blob in [manifest["config"], *manifest.get("layers", [])]:
                self._put_blob(blob["digest"])
                self._put_link(repository, blob["digest"], "_layers", *_digest_path(blob["digest"]))
            config = json.loads(_read_verified(_blob(self.source, manifest["config"]["digest"])))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BringupError(f"{repository}: manifest {digest} in {self.source} is not one the registry "
                               f"wrote ({error!r}): run `make images` again") from None
        return (config.get("config") or {}).get("Labels") or {}

    def tag(self, repository: str, tag: str) -> Served:
        """Copy repository:tag; return what it serves, or raise naming it if absent."""
        current = _link(self.source, repository, "_manifests", "tags", tag, "current")
        if not current.exists():
            raise BringupError(f"{repository.removeprefix('library/')}:{tag} is not in the mirror "
                               f"({self.source}): run `make images` first")
        digest = _read_verified(current).decode(errors="replace").strip()
        if self.trusted.get(f"{repository}:{tag}") != digest:
            raise BringupError(f"{repository.removeprefix('library/')}:{tag} in the mirror is not the image "
                               "bring-up pushed (another program pushed it, or an older bring-up whose "
                               "mirror took pushes from anyone): run `make images` to push it again")
        labels = self._manifest(repository, digest)
        self._put_link(repository, digest, "_manifests", "tags", tag, "current")
        self._put_link(repository, digest, "_manifests", "tags", tag, "index", *_digest_path(digest))
        return Served(f"{repository.removeprefix('library/')}:{tag}", labels)


def fill(allowed: Iterable[tuple[str, str]], trusted: Mapping[str, str], source: Path | None = None,
         target: Path | None = None) -> list[Served]:
    """Make the room's storage anew from (repository, tag) pairs, each only
    as the manifest `trusted` ({"repository:tag": digest}: what bring-up
    pushed) names; return what it serves."""
    source, target = source or paths.REGISTRY_DATA, target or ROOM_DATA
    if target.exists():
        shutil.rmtree(target)
    paths.private_folder(target)
    copier = Copier(source, target, trusted)
    return [copier.tag(repository, tag) for repository, tag in allowed]
