"""The room's own registry storage: only the images the workshop names, every
tag and alias of each, taken from the loopback mirror's storage. Blobs are
hard links (no second copy on disk); the room's registry serves this folder
read-only, so nothing else the loopback mirror holds (another repository, an
image some local process pushed under another tag) ever reaches the room.

The layout is distribution's filesystem driver's: blobs under
`blobs/sha256/<2>/<digest>/data`, and per repository `_manifests/tags`,
`_manifests/revisions` and `_layers` links naming them.
"""
import json
import os
import shutil
from dataclasses import dataclass

from . import paths
from .progress import BringupError

V2 = ("docker", "registry", "v2")
ROOM_DATA = paths.CACHE / "room-registry"
INDEX_TYPES = {"application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json"}


@dataclass(frozen=True)
class Served:
    reference: str   # repository:tag, as attendees pull it
    labels: dict     # of the image's config (the private-CA label among them)


def _blob(root, digest):
    algorithm, hexdigest = digest.split(":", 1)
    if algorithm != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
        raise BringupError(f"the mirror's storage names a blob {digest!r} that is not a sha256 digest")
    return root.joinpath(*V2, "blobs", "sha256", hexdigest[:2], hexdigest, "data")


def _link(root, repository, *parts):
    return root.joinpath(*V2, "repositories", repository, *parts, "link")


def _digest_path(digest):
    return digest.split(":", 1)


class Copier:
    """Copies tags of repositories from one storage into another."""

    def __init__(self, source, target):
        self.source, self.target = source, target

    def _put_blob(self, digest):
        source, target = _blob(self.source, digest), _blob(self.target, digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system: a copy then
            shutil.copyfile(source, target)

    def _put_link(self, repository, digest, *parts):
        link = _link(self.target, repository, *parts)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.write_text(digest)

    def _manifest(self, repository, digest):
        """Copy one manifest (an index with its manifests); return its config's labels."""
        path = _blob(self.source, digest)
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError) as error:
            raise BringupError(f"{repository}: manifest {digest} is missing or unreadable in "
                               f"{self.source} ({error}): run `make images` again") from None
        self._put_blob(digest)
        self._put_link(repository, digest, "_manifests", "revisions", *_digest_path(digest))
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            labels = {}
            for entry in manifest.get("manifests", []):
                labels.update(self._manifest(repository, entry["digest"]))
            return labels
        blobs = [manifest["config"], *manifest.get("layers", [])]
        for blob in blobs:
            self._put_blob(blob["digest"])
            self._put_link(repository, blob["digest"], "_layers", *_digest_path(blob["digest"]))
        config = json.loads(_blob(self.source, manifest["config"]["digest"]).read_bytes())
        return (config.get("config") or {}).get("Labels") or {}

    def tag(self, repository, tag):
        """Copy repository:tag; return what it serves, or raise naming it if absent."""
        current = _link(self.source, repository, "_manifests", "tags", tag, "current")
        try:
            digest = current.read_text().strip()
        except OSError:
            raise BringupError(f"{repository.removeprefix('library/')}:{tag} is not in the mirror "
                               f"({self.source}): run `make images` first") from None
        labels = self._manifest(repository, digest)
        self._put_link(repository, digest, "_manifests", "tags", tag, "current")
        self._put_link(repository, digest, "_manifests", "tags", tag, "index", *_digest_path(digest))
        return Served(f"{repository.removeprefix('library/')}:{tag}", labels)


def fill(allowed, source=None, target=None):
    """Make the room's storage anew from (repository, tag) pairs; return what it serves."""
    source, target = source or paths.REGISTRY_DATA, target or ROOM_DATA
    if target.exists():
        shutil.rmtree(target)
    paths.private_folder(target)
    copier = Copier(source, target)
    return [copier.tag(repository, tag) for repository, tag in allowed]
