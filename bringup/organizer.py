"""Organizer mode: serve the workshop's images, read-only and over HTTPS, to a
room of attendees on a LAN address."""
import ipaddress
import json
import signal
import socket
import subprocess
import types
from collections.abc import Iterable, Sequence
from typing import NoReturn

from . import images, registry, roomca, roomstore, services
from .progress import BringupError, say

ROOM = "registry-lan"  # the read-only instance's service name (pid file, log)
REMINDER = ("After the event, take the mirror entry and the room's certificate out again (Docker Desktop > "
            "Settings > Docker Engine, or /etc/docker/daemon.json; the certificate where you put it), then "
            "restart Docker: on another network, another host may own that address. "
            "`docker info --format '{{.RegistryConfig.Mirrors}}'` shows what an engine still uses; the "
            "organizers' page has the steps for each system.")


def snippet(address: str) -> str:
    return json.dumps({"registry-mirrors": [f"https://{registry.host_port(address, registry.PORT)}"]}, indent=2)


def allowlist(only: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(repository, tag) of every image the pages use, each tag and alias;
    `only`: names among them (e.g. hello-world, python:alpine) to serve alone."""
    pairs = [(image.repository, tag) for image in (*images.PUBLIC_IMAGES, images.workshop_image())
             for tag in image.tags]
    if not only:
        return pairs
    known = {f"{repository.removeprefix('library/')}:{tag}": (repository, tag) for repository, tag in pairs}
    wanted = [name if ":" in name else f"{name}:latest" for name in only]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise BringupError(f"{', '.join(unknown)}: not an image the workshop uses; the room serves only "
                           f"these: {', '.join(known)}")
    return [known[name] for name in wanted]


def check_local_address(address: str) -> None:
    """The address must be one of this machine's: refuse anything else before starting."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise BringupError(f"LISTEN={address!r} is not an IP address (e.g. LISTEN=192.168.1.20; "
                           "see `ip -brief address`)")
    if parsed.is_unspecified or parsed.is_multicast:
        raise BringupError(f"LISTEN={address} is not one address: give the address this machine has on the "
                           "venue network (see `ip -brief address`), which attendees' engines can check the "
                           "certificate against")
    family = socket.AF_INET6 if parsed.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, 0))
        except OSError:
            raise BringupError(f"LISTEN={address} is not an address of this machine "
                               "(see `ip -brief address` for the ones it has)")


def check_fit_for_a_room(address: str, served: Iterable[roomstore.Served]) -> None:
    """Refuse to serve images that trust a private CA of this machine to a
    LAN: every attendee's container would trust whoever holds that CA's key.
    Every tag the room serves is read (an alias may name another image). A
    loopback address (a test here) reaches only this machine, which trusts
    it already."""
    carrying = [image.reference for image in served if image.labels.get(images.PRIVATE_CA_LABEL)]
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


def _stop(signum: int, frame: types.FrameType | None) -> NoReturn:
    raise Stop()


def serve(address: str, only: Sequence[str] = ()) -> None:
    check_local_address(address)
    if address == registry.LOOPBACK:
        registry.ensure_running()
        say(f"The mirror serves {registry.MIRROR_URL} on this machine only; give LISTEN=<LAN address> "
            "to serve the room.")
        return
    allowed = allowlist(only)
    served = roomstore.fill(allowed, images.pushed())
    check_fit_for_a_room(address, served)
    certificate = roomca.server_certificate(address)
    # From here on, SIGTERM and SIGHUP stop the room's mirror as Ctrl-C does:
    # it never outlives this command.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        registry.ensure_running(name=ROOM, host=address, room=True, storage_folder=roomstore.ROOM_DATA,
                                tls=certificate, cafile=str(roomca.CA_CERT))
        announce(address, served)
        subprocess.run(["tail", "-n", "0", "-f", str(services.log_file(ROOM))])
    except (KeyboardInterrupt, Stop):
        pass
    finally:
        registry.stop(ROOM)
        say("stopped the LAN mirror")


def announce(address: str, served: Sequence[roomstore.Served]) -> None:
    where = registry.host_port(address, registry.PORT)
    say(f"\nThe mirror serves {len(served)} tags, read-only, on https://{where}: "
        f"{', '.join(image.reference for image in served)} (access log: {services.log_file(ROOM)}). "
        f"Nothing else the loopback mirror {registry.MIRROR_URL} holds is served.")
    say(f"\nAttendees trust the room's certificate first: give them {roomca.CA_CERT} (a USB stick, the "
        "chat), and have them compare its SHA-256 before they install it:\n")
    say(f"    {roomca.fingerprint()}\n")
    say("    (Linux: sha256sum ca.crt; macOS: shasum -a 256 ca.crt; Windows PowerShell: (Get-FileHash ca.crt).Hash;"
        " upper or lower case, the same)")
    say(f"\nThen, on Linux: sudo mkdir -p /etc/docker/certs.d/{where} && "
        f"sudo cp ca.crt /etc/docker/certs.d/{where}/ca.crt; on macOS: mkdir -p ~/.docker/certs.d/{where} && "
        f"cp ca.crt ~/.docker/certs.d/{where}/ca.crt, then restart Docker Desktop; on Windows, add ca.crt to "
        "the machine's trusted root certificates, then restart Docker Desktop (the organizers' page has each "
        "step).")
    say("\nAnd they paste this into Docker Desktop > Settings > Docker Engine "
        "(or /etc/docker/daemon.json on Linux), then Apply & restart:\n")
    say(snippet(address))
    say(f"\n{REMINDER}")
    say("\nPress Ctrl-C to stop serving on the LAN address.")


def stop() -> bool:
    return registry.stop(ROOM)
