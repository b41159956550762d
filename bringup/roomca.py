"""The room's certificate authority: `make mirror` serves the room over HTTPS
with a certificate this CA signs, and attendees trust the CA's certificate
(never an insecure registry). The CA is made once per organizer machine; its
key stays in a folder only the organizer can read, and the mirror's own key
is made anew, for the address it serves, each time it starts."""
import datetime
import hashlib
import ipaddress
import os
import socket
import stat
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import paths
from .progress import BringupError

FOLDER = paths.CACHE / "room-ca"
CA_CERT = FOLDER / "ca.crt"   # what attendees install: public
CA_KEY = FOLDER / "ca.key"    # never leaves this machine
CA_DAYS = 365                 # a season of workshops; then a new CA
SERVER_DAYS = 7               # the mirror's certificate: one event
# The addresses a room is served on: private, shared, link-local, loopback
# (examples/check.py keeps the same list, ROOM_NETWORKS: a unit test holds them equal).
# The CA signs for these alone, so a key that leaked could not pass for a
# site on the internet reached by its address either.
ROOM_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
    "fc00::/7", "fe80::/10", "::1/128"))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intro to Docker room"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _check_private(path: Path) -> None:
    """A key must be a regular file of this user that nobody else can read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise BringupError(f"the room CA's key {path} is missing, but its certificate {CA_CERT} is there: "
                           f"restore the key, or remove {FOLDER} to make a new CA (attendees then trust "
                           "the new certificate instead)") from None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        raise BringupError(f"{path} is not a regular file of this user: remove {FOLDER} to make a new CA")
    if info.st_mode & 0o077:
        raise BringupError(f"the room CA's key {path} can be read by other users (mode "
                           f"{stat.S_IMODE(info.st_mode):o}): anyone who read it can impersonate the mirror. "
                           f"Remove {FOLDER} to make a new CA, and have attendees trust the new one")


def ensure_ca(now: datetime.datetime | None = None) -> None:
    """The room CA, made if there is none; refused if its key is missing or readable by others."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    paths.private_folder(FOLDER)
    if CA_CERT.exists() or CA_KEY.exists():
        _check_private(CA_KEY)
        if not CA_CERT.exists():
            raise BringupError(f"the room CA's certificate {CA_CERT} is missing: remove {FOLDER} to make a new CA")
        certificate = x509.load_pem_x509_certificate(_read(CA_CERT))
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        permitted = {subtree.value for subtree in (constraints and constraints.permitted_subtrees) or []}
        if permitted != set(ROOM_RANGES):
            raise BringupError(f"the room CA {CA_CERT} was made by an older bring-up and may sign for any web "
                               f"site: remove {FOLDER} to make one that signs for the room's private addresses "
                               "only (attendees then trust the new certificate, and remove the old one)")
        if certificate.not_valid_after_utc < now + datetime.timedelta(days=SERVER_DAYS):
            raise BringupError(f"the room CA {CA_CERT} expires on {certificate.not_valid_after_utc:%Y-%m-%d}: "
                               f"remove {FOLDER} to make a new one (attendees then trust the new certificate)")
        return
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"Intro to Docker room CA on {socket.gethostname()}")
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   # It signs for IP addresses only, never a name: whoever got
                   # its key could not pass for a web site an attendee visits.
                   .add_extension(x509.NameConstraints(
                       permitted_subtrees=[x509.IPAddress(network) for network in ROOM_RANGES],
                       excluded_subtrees=[x509.DNSName("")]), critical=True)
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .sign(key, hashes.SHA256()))
    paths.write_private(CA_KEY, _key_pem(key))
    paths.write_private(CA_CERT, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)


def server_certificate(address: str, now: datetime.datetime | None = None,
                       role: str = "mirror") -> tuple[Path, Path]:
    """(certificate, key) files for a server of the room (the mirror, the
    room's own) on `address`, signed by the room CA; each role has its files,
    so the mirror and the room can start in any order."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not any(ipaddress.ip_address(address) in network for network in ROOM_RANGES):
        raise BringupError(f"{address} is not a private, shared, link-local or loopback address: the room CA "
                           "signs only for those. Serve the room on the venue network's private address")
    ensure_ca(now)
    # Any kind of private key to the loader; the room CA's (ensure_ca makes it) is one that signs certificates.
    ca_key = cast(CertificateIssuerPrivateKeyTypes, serialization.load_pem_private_key(_read(CA_KEY), password=None))
    ca = x509.load_pem_x509_certificate(_read(CA_CERT))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (x509.CertificateBuilder().subject_name(_name(f"room {role} {address}")).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = FOLDER / f"{role}.crt", FOLDER / f"{role}.key"
    paths.write_private(key_path, _key_pem(key))
    paths.write_private(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path


def fingerprint(path: str | os.PathLike[str] | None = None) -> str:
    """SHA-256 of the CA file as attendees receive it: what `sha256sum`,
    `shasum -a 256` and PowerShell's `Get-FileHash` print for it."""
    return hashlib.sha256(_read(Path(path or CA_CERT))).hexdigest().upper()


def certificate_fingerprint(path: Path) -> str:
    """SHA-256 of a certificate as browsers show it in its details (AB:CD:...)."""
    digest = x509.load_pem_x509_certificate(_read(path)).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


def _read(path: Path) -> bytes:
    with paths.open_private(path) as stream:
        return stream.read()
