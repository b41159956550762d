"""The local registry mirror: Debian's distribution registry, data under the cache."""
import ipaddress
import json
import shutil
import socket
import ssl
import urllib.error
import urllib.request

from . import paths, services
from .progress import BringupError

PROGRAM = "/usr/bin/docker-registry"
LOOPBACK = "127.0.0.1"
PORT = 5000
MIRROR_URL = f"http://{LOOPBACK}:{PORT}"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def host_port(host, port):
    """host:port as a URL or a registry reference writes it: an IPv6 address in brackets."""
    try:
        return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"
    except ValueError:
        return f"{host}:{port}"


def config_text(address, room=False, storage_folder=None, tls=None):
    """The loopback instance is where bring-up writes; the room's instance
    (make mirror) serves its own storage (roomstore) read-only, over HTTPS
    (`tls`: certificate and key files): distribution's maintenance mode
    refuses pushes, deletes are off, and its access log records every
    request with the address it came from."""
    storage = {"filesystem": {"rootdirectory": str(storage_folder or paths.REGISTRY_DATA)},
               "delete": {"enabled": not room}}
    if room:
        storage["maintenance"] = {"readonly": {"enabled": True}, "uploadpurging": {"enabled": False}}
    http = {"addr": address}
    if tls:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    # JSON is valid YAML, and it spares us a YAML writer.
    return json.dumps({
        "version": 0.1,
        "log": {"level": "info" if room else "warn", "accesslog": {"disabled": not room}},
        "storage": storage,
        "http": http,
    }, indent=2)


def answers(base_url=MIRROR_URL, timeout=2, cafile=None):
    """Whether a registry answers at base_url (https: trusting only `cafile`)."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(f"{base_url}/v2/", timeout=timeout, context=context) as response:
            return "Docker-Distribution-Api-Version" in response.headers
    except (urllib.error.URLError, OSError):
        return False


def port_in_use(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def ensure_running(name="registry", host=LOOPBACK, room=False, storage_folder=None, tls=None, cafile=None):
    """Start our registry on host:5000 unless it already runs; refuse a port
    that something else holds."""
    program = shutil.which("docker-registry") or PROGRAM
    if services.running_pid(name):
        return False
    if port_in_use(host, PORT):
        raise BringupError(f"port {host_port(host, PORT)} is busy, and not with a registry bring-up started; "
                           f"stop what listens there (see `ss -ltnp 'sport = :{PORT}'`) and retry")
    config = paths.RUN / f"{name}.yml"
    config.write_text(config_text(host_port(host, PORT), room=room, storage_folder=storage_folder, tls=tls))
    url = f"{'https' if tls else 'http'}://{host_port(host, PORT)}"
    services.start(name, [program, "serve", str(config)], ready=lambda: answers(url, cafile=cafile), timeout=20)
    return True


def stop(name="registry"):
    return services.stop(name)


def _get_json(url, accept=None, timeout=5):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def image_labels(repository, tag, base_url=MIRROR_URL):
    """Labels of repository:tag as stored in the mirror, or None if it is not there."""
    try:
        manifest = _get_json(f"{base_url}/v2/{repository}/manifests/{tag}", accept=MANIFEST_TYPES)
        config = _get_json(f"{base_url}/v2/{repository}/blobs/{manifest['config']['digest']}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise BringupError(f"the mirror at {base_url} answered {error.code} for {repository}:{tag}")
    except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
        raise BringupError(f"cannot read {repository}:{tag} from the mirror at {base_url}: {error}")
    return (config.get("config") or {}).get("Labels") or {}
