"""The local registry mirror: Debian's distribution registry, data under the cache."""
import json
import shutil
import socket
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


def config_text(address, room=False):
    """The loopback instance is where bring-up writes; the room's instance
    (make mirror) serves the same storage read-only: distribution's
    maintenance mode refuses pushes, deletes are off, and its access log
    records every request with the address it came from."""
    storage = {"filesystem": {"rootdirectory": str(paths.REGISTRY_DATA)},
               "delete": {"enabled": not room}}
    if room:
        storage["maintenance"] = {"readonly": {"enabled": True}, "uploadpurging": {"enabled": False}}
    # JSON is valid YAML, and it spares us a YAML writer.
    return json.dumps({
        "version": 0.1,
        "log": {"level": "info" if room else "warn", "accesslog": {"disabled": not room}},
        "storage": storage,
        "http": {"addr": address},
    }, indent=2)


def port_in_use(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def answers(base_url=MIRROR_URL, timeout=2):
    try:
        with urllib.request.urlopen(f"{base_url}/v2/", timeout=timeout) as response:
            return "Docker-Distribution-Api-Version" in response.headers
    except (urllib.error.URLError, OSError):
        return False


def ensure_running(name="registry", host=LOOPBACK, room=False):
    """Start our registry on host:5000 unless it already runs; refuse a port
    that something else holds."""
    program = shutil.which("docker-registry") or PROGRAM
    if services.running_pid(name):
        return False
    if port_in_use(host, PORT):
        raise BringupError(f"port {host}:{PORT} is busy, and not with a registry bring-up started; "
                           f"stop what listens there (see `ss -ltnp 'sport = :{PORT}'`) and retry")
    config = paths.RUN / f"{name}.yml"
    config.write_text(config_text(f"{host}:{PORT}", room=room))
    services.start(name, [program, "serve", str(config)],
                   ready=lambda: answers(f"http://{host}:{PORT}"), timeout=20)
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
