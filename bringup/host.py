"""Facts about the host that bring-up decisions depend on."""
import functools
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from .progress import BringupError

APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DISTRIBUTION_CERTIFICATES = Path("/usr/share/ca-certificates")  # what the ca-certificates package ships
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")

# Where the `compose` and `buildx` CLI plugins come from: the next Debian
# release ships them as standalone binaries that run on the current one.
NEXT_RELEASE = {"bullseye": "bookworm", "bookworm": "trixie"}


def is_root() -> bool:
    return os.geteuid() == 0


def has_apt() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg-query") is not None


def os_release() -> dict[str, str]:
    try:
        return platform.freedesktop_os_release()
    except OSError:
        return {}


def is_debian_like(release: Mapping[str, str] | None = None) -> bool:
    release = os_release() if release is None else release
    family = {release.get("ID", "")} | set(release.get("ID_LIKE", "").split())
    return bool(family & {"debian", "ubuntu"})


def codename(release: Mapping[str, str] | None = None) -> str:
    release = os_release() if release is None else release
    return release.get("VERSION_CODENAME", "")


@functools.cache
def debian_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def parse_apt_sources(one_line_text: str, deb822_texts: Iterable[str]) -> list[tuple[str, str]]:
    """Return (uri, suite) pairs of the binary package sources, in apt's order.

    `one_line_text` is a sources.list file; `deb822_texts` are *.sources files.
    """
    found: list[tuple[str, str]] = []
    for line in one_line_text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options such as [arch=amd64 signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 2:
            found.append((words[0], words[1]))
    for text in deb822_texts:
        for stanza in text.split("\n\n"):
            fields: dict[str, list[str]] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                for uri in fields.get("uris", []):
                    for suite in fields.get("suites", []):
                        found.append((uri, suite))
    return found


def debian_mirror(release_codename: str) -> str:
    """The Debian mirror this machine's apt already uses for its release."""
    one_line = APT_SOURCES.read_text() if APT_SOURCES.exists() else ""
    parts = sorted(APT_SOURCE_PARTS.glob("*.sources")) if APT_SOURCE_PARTS.is_dir() else []
    one_line += "".join(p.read_text() for p in sorted(APT_SOURCE_PARTS.glob("*.list")))
    for uri, suite in parse_apt_sources(one_line, [p.read_text() for p in parts]):
        if suite == release_codename:
            return uri.rstrip("/")
    raise BringupError(f"no apt source for the '{release_codename}' suite in {APT_SOURCES} "
                       f"or {APT_SOURCE_PARTS}/: cannot tell which Debian mirror to use")
