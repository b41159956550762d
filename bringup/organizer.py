"""Organizer mode: serve the mirror to a room of attendees on a LAN address."""
import ipaddress
import json
import subprocess

from . import images, paths, registry, services
from .progress import BringupError, say


def snippet(address):
    return json.dumps({"registry-mirrors": [f"http://{address}:{registry.PORT}"],
                       "insecure-registries": [f"{address}:{registry.PORT}"]}, indent=2)


def serve(address):
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise BringupError(f"LISTEN={address!r} is not an IP address of this machine "
                           "(e.g. LISTEN=192.168.1.20; see `ip -brief address`)")
    name = "registry" if address == registry.LOOPBACK else "registry-lan"
    registry.ensure_running(name=name, host=address)
    say(f"\nThe mirror serves {len(list(paths.REGISTRY_DATA.rglob('_manifests')))} repositories on "
        f"http://{address}:{registry.PORT} (data: {paths.REGISTRY_DATA}).")
    say("\nAttendees paste this into Docker Desktop > Settings > Docker Engine "
        "(or /etc/docker/daemon.json on Linux), then Apply & restart:\n")
    say(snippet(address))
    say("\nTo pre-load the mirror with the workshop images, run `make images` on this machine "
        f"first; it pushes {', '.join(i.hub_ref for i in images.PUBLIC_IMAGES)} and "
        f"{images.workshop_image_name()}.")
    if name != "registry":
        say("\nPress Ctrl-C to stop serving on the LAN address.")
        try:
            subprocess.run(["tail", "-f", str(services.log_file(name))])
        except KeyboardInterrupt:
            pass
        finally:
            registry.stop(name)
            say("stopped the LAN mirror")
