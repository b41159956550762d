"""Organizer mode: serve the mirror, read-only, to a room of attendees on a LAN address."""
import ipaddress
import json
import signal
import socket
import subprocess

from . import images, paths, registry, services
from .progress import BringupError, say

ROOM = "registry-lan"  # the read-only instance's service name (pid file, log)
REMINDER = ("After the event, take both entries out again (Docker Desktop > Settings > Docker Engine, "
            "or /etc/docker/daemon.json), then restart Docker: on another network, another host may "
            "own that address. `docker info --format '{{.RegistryConfig.Mirrors}}'` shows what an "
            "engine still uses; the organizers' page has the steps for each system.")


def snippet(address):
    return json.dumps({"registry-mirrors": [f"http://{address}:{registry.PORT}"],
                       "insecure-registries": [f"{address}:{registry.PORT}"]}, indent=2)


def check_local_address(address):
    """The address must be one of this machine's: refuse anything else before starting."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise BringupError(f"LISTEN={address!r} is not an IP address (e.g. LISTEN=192.168.1.20; "
                           "see `ip -brief address`)")
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            raise BringupError(f"LISTEN={address} is not an address of this machine "
                               "(see `ip -brief address` for the ones it has)")


def check_fit_for_a_room(address):
    """Refuse to serve images that trust a private CA of this machine to a
    LAN: every attendee's container would trust whoever holds that CA's key.
    A loopback address (a test here) reaches only this machine, which trusts
    it already."""
    carrying = [image.hub_ref for image in (*images.PUBLIC_IMAGES, images.workshop_image())
                if (registry.image_labels(image.repository, image.tag) or {}).get(images.PRIVATE_CA_LABEL)]
    if carrying and ipaddress.ip_address(address).is_loopback:
        say(f"    note: {', '.join(carrying)} trust a private CA of this machine: fine on {address}, "
            "which only this machine reaches; a LAN address is refused")
    elif carrying:
        raise BringupError(
            f"{', '.join(carrying)} in the mirror trust a private CA of this machine (this network's "
            "TLS-intercepting proxy, most likely), which `make images` added so that pip works here. "
            "Serving them would make every attendee's containers trust it. Build the images on a "
            "machine whose CA bundle is the distribution's (or where Docker Hub is reachable), then "
            "run `make mirror` there")


class Stop(Exception):
    """SIGTERM or SIGHUP: stop serving, as Ctrl-C does."""


def _stop(signum, frame):
    raise Stop()


def serve(address):
    check_local_address(address)
    if address == registry.LOOPBACK:
        registry.ensure_running()
        say(f"The mirror serves {registry.MIRROR_URL} on this machine only; give LISTEN=<LAN address> "
            "to serve the room.")
        return
    check_fit_for_a_room(address)
    # From here on, SIGTERM and SIGHUP stop the room's mirror as Ctrl-C does:
    # it never outlives this command.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        registry.ensure_running(name=ROOM, host=address, room=True)
        announce(address)
        subprocess.run(["tail", "-n", "0", "-f", str(services.log_file(ROOM))])
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        registry.stop(ROOM)
        say("stopped the LAN mirror")


def announce(address):
    say(f"\nThe mirror serves {len(list(paths.REGISTRY_DATA.rglob('_manifests')))} repositories, "
        f"read-only, on http://{address}:{registry.PORT} (data: {paths.REGISTRY_DATA}; "
        f"access log: {services.log_file(ROOM)}). Writes go only through {registry.MIRROR_URL}.")
    say("\nAttendees paste this into Docker Desktop > Settings > Docker Engine "
        "(or /etc/docker/daemon.json on Linux), then Apply & restart:\n")
    say(snippet(address))
    say(f"\n{REMINDER}")
    say("\nTo pre-load the mirror with the workshop images, run `make images` on this machine "
        f"first; it pushes {', '.join(i.hub_ref for i in images.PUBLIC_IMAGES)} and "
        f"{images.workshop_image_name()}.")
    say("\nPress Ctrl-C to stop serving on the LAN address.")


def stop():
    return registry.stop(ROOM)
