"""The local registry mirror: Debian's distribution registry, data under the cache.

On loopback it is two instances on one storage. The mirror engines read,
127.0.0.1:5000, is read-only. The writer, 127.0.0.1:5001, runs only while
`make images` pushes, and only a client holding the password it was started
with (made for that run, kept in a folder of ours) may push: another
program on this machine cannot slip an image of its own under a workshop
name."""
import base64
import http.client
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import bcrypt
from doctester.docker.registry_config import registry_config

from . import host, paths, services
from .progress import BringupError, say

PROGRAM = "/usr/bin/docker-registry"
LOOPBACK = "127.0.0.1"
PORT = 5000
MIRROR_URL = f"http://{LOOPBACK}:{PORT}"
WRITER = "registry-writer"  # the writer's service name (pid file, log)
WRITER_PORT = 5001
WRITER_URL = f"http://{LOOPBACK}:{WRITER_PORT}"
WRITER_USER = "bringup"
IMAGE_MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.oci.image.manifest.v1+json")
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json")
OCI_INDEX = INDEX_TYPES[1]
MANIFEST_TYPES = ", ".join(IMAGE_MANIFEST_TYPES + INDEX_TYPES)


def host_port(host: str, port: int) -> str:
    """host:port as a URL or a registry reference writes it: an IPv6 address in brackets."""
    try:
        return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"
    except ValueError:
        return f"{host}:{port}"


def config_text(address: str, room: bool = False, storage_folder: str | os.PathLike[str] | None = None,
                tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
                htpasswd: str | os.PathLike[str] | None = None) -> str:
    """Every instance but the writer (`htpasswd`: its password file) is
    read-only. The room's instance (make mirror) serves its own storage
    (roomstore) over HTTPS (`tls`: certificate and key files), and its
    access log records every request with the address it came from."""
    config = registry_config(address, storage_folder or paths.REGISTRY_DATA, read_only=not htpasswd,
                             access_log=room)
    if tls:
        config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "intro-to-docker bring-up", "path": str(htpasswd)}}
    # JSON is valid YAML, and it spares us a YAML writer.
    return json.dumps(config, indent=2)


def answers(base_url: str = MIRROR_URL, timeout: float = 2, cafile: str | None = None) -> bool:
    """Whether a registry answers at base_url (https: trusting only `cafile`);
    one that asks for a password answers too."""
    try:
        with _open(f"{base_url}/v2/", timeout=timeout, cafile=cafile) as response:
            return "Docker-Distribution-Api-Version" in response.headers
    except urllib.error.HTTPError as error:
        return error.code == 401 and "Docker-Distribution-Api-Version" in error.headers
    except (urllib.error.URLError, OSError):
        return False


def _open(request: str | urllib.request.Request, timeout: float, cafile: str | None = None) -> http.client.HTTPResponse:
    """urlopen without any proxy the environment names: our registries are
    on this machine (a proxy would reach its own loopback, and see the
    writer's password)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    # typeshed types what an opener returns as Any; for our http(s) URLs it is an HTTPResponse.
    return cast(http.client.HTTPResponse, urllib.request.build_opener(*handlers).open(request, timeout=timeout))


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds the listening TCP socket on `port`
    (not some other program that took the port first)."""
    try:
        held = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port \
                    and f"socket:[{fields[9]}]" in held:
                return True
    return False


def port_in_use(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def ensure_running(name: str = "registry", host: str = LOOPBACK, room: bool = False,
                   storage_folder: str | os.PathLike[str] | None = None,
                   tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
                   cafile: str | None = None, port: int | None = None,
                   htpasswd: str | os.PathLike[str] | None = None) -> bool:
    """Start our registry on host:5000 (or `port`) unless it already runs;
    refuse a port that something else holds."""
    program = shutil.which("docker-registry") or PROGRAM
    port = port or PORT
    text = config_text(host_port(host, port), room=room, storage_folder=storage_folder, tls=tls, htpasswd=htpasswd)
    config = paths.RUN / f"{name}.yml"
    running = services.running_pid(name)
    if running:
        try:
            current = paths.read_private(config)
        except (OSError, BringupError):
            current = None
        if current == text and listens(running, port):
            return False
        # Started by an older bring-up (a mirror that took pushes, say), or
        # its port is not its own: never kept.
        say(f"    {name} (pid {running}) runs with another configuration than this bring-up's: restarting it")
        services.stop(name)
    if port_in_use(host, port):
        raise BringupError(f"port {host_port(host, port)} is busy, and not with a registry bring-up started; "
                           f"stop what listens there (see `ss -ltnp 'sport = :{port}'`) and retry")
    paths.write_private(config, text)
    url = f"{'https' if tls else 'http'}://{host_port(host, port)}"
    pid = services.start(name, [program, "serve", str(config)], ready=lambda: answers(url, cafile=cafile),
                         timeout=20)
    if not listens(pid, port):
        services.stop(name)
        raise BringupError(f"another program took {host_port(host, port)} while the registry started (it "
                           f"answered as a registry, but the port is not our registry's): find it with "
                           f"`ss -ltnp 'sport = :{port}'`, stop it, and retry")
    return True


def stop(name: str = "registry") -> bool:
    return services.stop(name)


class Writer:
    """The loopback writer, for one `make images`: started with a password
    made for it, which `docker login` hands to a client configuration of its
    own (never the user's ~/.docker); both are gone when it stops."""

    def __init__(self) -> None:
        self.password: str | None = None

    def __enter__(self) -> "Writer":
        self.password = secrets.token_urlsafe(24)
        paths.ensure()
        # A writer a killed run left knows another password: never reused.
        stop(WRITER)
        for left in paths.RUN.glob("writer-client.*"):
            shutil.rmtree(left, ignore_errors=True)
        htpasswd = paths.RUN / f"{WRITER}.htpasswd"
        paths.write_private(htpasswd, f"{WRITER_USER}:{bcrypt.hashpw(self.password.encode(), bcrypt.gensalt()).decode()}\n")
        self.client_config = Path(tempfile.mkdtemp(prefix="writer-client.", dir=paths.RUN))
        try:
            ensure_running(WRITER, port=WRITER_PORT, htpasswd=htpasswd)
            # The client configuration holds the credential itself: `docker
            # login` could hand it to a credential helper (the user's keyring).
            token = base64.b64encode(f"{WRITER_USER}:{self.password}".encode()).decode()
            paths.write_private(self.client_config / "config.json",
                                json.dumps({"auths": {host_port(LOOPBACK, WRITER_PORT): {"auth": token}}}))
        except BaseException:
            self.__exit__()
            raise
        return self

    def authorization(self) -> dict[str, str]:
        """The header a client other than docker sends (tests)."""
        token = base64.b64encode(f"{WRITER_USER}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def __exit__(self, *exc: object) -> None:
        stop(WRITER)
        shutil.rmtree(self.client_config, ignore_errors=True)
        (paths.RUN / f"{WRITER}.htpasswd").unlink(missing_ok=True)


def _get_json(url: str, accept: str | None = None, timeout: float = 5) -> Any:
    return _get_json_and_digest(url, accept, timeout)[0]


def _get_json_and_digest(url: str, accept: str | None = None, timeout: float = 5) -> tuple[Any, str | None]:
    """The JSON at url, and the digest the registry names it by (a manifest's)."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with _open(request, timeout=timeout) as response:
        return json.load(response), response.headers.get("Docker-Content-Digest")


def _registry_error(error: Exception, base_url: str, reference: str) -> BringupError:
    if isinstance(error, urllib.error.HTTPError):
        return BringupError(f"the mirror at {base_url} answered {error.code} for {reference}")
    return BringupError(f"cannot read {reference} from the mirror at {base_url}: {error}")


def platform_manifest(repository: str, tag: str, arch: str, base_url: str = MIRROR_URL
                      ) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(digest, manifest, config) of repository:tag for linux/`arch`: the
    tag's own manifest, or its index's entry for that platform; None when the
    mirror has neither (no tag, or an index without that platform, or an
    image for another one)."""
    try:
        manifest, digest = _get_json_and_digest(f"{base_url}/v2/{repository}/manifests/{tag}",
                                                accept=MANIFEST_TYPES)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            digest = next((entry["digest"] for entry in manifest["manifests"]
                           if (entry.get("platform") or {}).get("architecture") == arch), None)
            if digest is None:
                return None
            manifest = _get_json(f"{base_url}/v2/{repository}/manifests/{digest}", accept=MANIFEST_TYPES)
        config = _get_json(f"{base_url}/v2/{repository}/blobs/{manifest['config']['digest']}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise _registry_error(error, base_url, f"{repository}:{tag}") from None
    except (urllib.error.URLError, OSError, KeyError, ValueError, TypeError) as error:
        raise _registry_error(error, base_url, f"{repository}:{tag}") from None
    if config.get("architecture", arch) != arch:
        return None
    if digest is None:  # the distribution registry always names it; another server may not
        raise BringupError(f"the mirror at {base_url} named no digest (Docker-Content-Digest) for "
                           f"{repository}:{tag}")
    return digest, manifest, config


def image_labels(repository: str, tag: str, base_url: str = MIRROR_URL, arch: str | None = None
                 ) -> dict[str, str] | None:
    """Labels of repository:tag (for linux/`arch` when it is an index; by
    default this machine's) as stored in the mirror, or None if it is not there."""
    found = platform_manifest(repository, tag, arch or host.debian_arch(), base_url)
    if found is None:
        return None
    return (found[2].get("config") or {}).get("Labels") or {}


def put_index(repository: str, tag: str, entries: Iterable[tuple[str | None, str]],
              authorization: Mapping[str, str]) -> str:
    """Make repository:tag an OCI index of manifests already in the
    repository: `entries` are (digest, arch) pairs. Through the writer; return
    the index's digest."""
    manifests = []
    for digest, arch in entries:
        request = urllib.request.Request(f"{WRITER_URL}/v2/{repository}/manifests/{digest}", method="HEAD",
                                         headers={"Accept": MANIFEST_TYPES, **authorization})
        with _open(request, timeout=5) as response:
            manifests.append({"mediaType": response.headers["Content-Type"], "digest": digest,
                              "size": int(response.headers["Content-Length"]),
                              "platform": {"architecture": arch, "os": "linux"}})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    request = urllib.request.Request(f"{WRITER_URL}/v2/{repository}/manifests/{tag}", data=body, method="PUT",
                                     headers={"Content-Type": OCI_INDEX, **authorization})
    try:
        with _open(request, timeout=10) as response:
            return response.headers["Docker-Content-Digest"]
    except urllib.error.HTTPError as error:
        raise BringupError(f"the mirror's writer refused the index for {repository}:{tag} "
                           f"({error.code}: {error.read()[:300]!r})") from None


def manifest_digest(repository: str, tag: str, base_url: str = MIRROR_URL) -> str | None:
    """The digest the mirror serves for repository:tag, or None if it has none."""
    request = urllib.request.Request(f"{base_url}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with _open(request, timeout=5) as response:
            return response.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise _registry_error(error, base_url, f"{repository}:{tag}") from None
    except (urllib.error.URLError, OSError) as error:
        raise _registry_error(error, base_url, f"{repository}:{tag}") from None
