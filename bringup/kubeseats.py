"""Seats on Kubernetes: the room's seats placed by a cluster, not by this machine.

For a room bigger than one machine, a seat is a Pod: the doc tests' hardened
sandbox (doctester.docker.sandbox), written as Kubernetes objects from the
very constants and flags a local seat is started with, so a change there
shows here. What this writes, for N seats:

- a Namespace whose Pod Security level admits what a seat needs;
- a ConfigMap with the seat engine's daemon.json, and one with the room CA's
  certificate, which a seat's check trusts to share with the room's board
  over HTTPS (as on a LAN address the room speaks);
- a NetworkPolicy closing the seats' way out as bringup.seats closes a local
  seat's: no way in, DNS to the cluster's resolvers, TCP to the room's
  server, and the internet without the private, shared, link-local and
  documentation ranges;
- one Pod per seat.

Every object is checked against the Kubernetes API schema (kubernetes-validate,
strict: an unknown field is an error) before it is written. Nothing here talks
to a cluster: `kubectl apply -f DIR` is the organizers' step.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import kubernetes_validate
import yaml

from doctester.docker.dockerstate import EngineError
from doctester.docker.identity import Identity
from doctester.docker.sandbox import (CAPABILITIES, GIB, READER_HOME, READER_UID, Limits, daemon_config,
                                      hardening_flags, parse_size)

from . import roomca
from .checkboard import served_hosts
from .progress import BringupError
from .seats import CLOSED_V4, CLOSED_V6, ROOM_CA_FILE

Manifest = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Identity.from_ini(ROOT / "pytest.ini")  # the sandbox image and hostname local seats use
# The oldest Kubernetes that runs a seat with its default feature gates
# (user namespaces and procMount, both on by default since 1.33), and the
# newest whose schema kubernetes-validate knows: every object must fit both.
KUBERNETES_VERSIONS = ("1.33", "1.37")
MAX_SEATS = 400
DEFAULT_NAMESPACE = "intro-to-docker-seats"
DEFAULT_OUT = ROOT / "build" / "room-kubernetes"
PART_OF = "intro-to-docker"
SEAT_LABEL = "intro-to-docker/seat"
ENGINE_CONFIG_DIR = "/etc/doctest"  # where the sandbox image's sandbox-init reads daemon.json
ENGINE_CONFIG_NAME = "seat-engine"
ROOM_CA_DIR = "/etc/room-ca"
ROOM_CA_NAME = "room-ca"
TUN = "/dev/net/tun"
WORKDIR = f"{READER_HOME}/intro-to-docker"  # the terminal's folder, as a local seat's workshop folder
# The cluster's resolvers, as most distributions label CoreDNS (kubeadm,
# k3s, the managed clouds): a seat asks them, as a local seat asks the
# machine's own.
CLUSTER_DNS: Manifest = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
NAMESPACE_FILE = "00-namespace.yaml"  # kubectl applies a folder's files in name order: the namespace first
SEAT_FILES = "10-seat-*.yaml"


def pod_name(seat: int) -> str:
    """The seat's Pod, named as the room names its login cards."""
    return f"seat-{seat}"


def room_url(room: tuple[str, int]) -> str:
    """Where a seat's check shares: the room on a LAN address speaks HTTPS."""
    return f"https://{served_hosts(*room)[0]}"


def _flag_values(flags: Sequence[str], name: str) -> list[str]:
    return [flags[i + 1] for i in range(len(flags) - 1) if flags[i] == name]


def tmpfs_sizes(limits: Limits) -> list[tuple[str, int]]:
    """(path, bytes) of every tmpfs a local seat gets (hardening_flags), read
    from the flags themselves so both kinds of seat write to the same places."""
    found = []
    for spec in _flag_values(hardening_flags(limits), "--tmpfs"):
        path, _, options = spec.partition(":")
        sizes = [option.removeprefix("size=") for option in options.split(",") if option.startswith("size=")]
        # One without a size would be bounded by the seat's memory limit alone: so is this volume.
        found.append((path, parse_size(sizes[0] if sizes else None) or limits.memory))
    # Parents first: /run before /run/user/..., or the later mount would hide the earlier.
    return sorted(found, key=lambda mount: mount[0].count("/"))


def seat_environment(limits: Limits) -> dict[str, str]:
    """The variables hardening_flags sets (HOME, XDG_RUNTIME_DIR, DOCKER_HOST)."""
    pairs = [pair.partition("=") for pair in _flag_values(hardening_flags(limits), "-e")]
    return {name: value for name, _, value in pairs}


def quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity, in the largest binary unit that is exact."""
    for unit, factor in (("Gi", GIB), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def volume_name(path: str) -> str:
    return "tmpfs" + re.sub(r"[^a-z0-9]+", "-", path.lower()).rstrip("-")


def labels(seat: int | None = None) -> dict[str, str]:
    found = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": "seat"}
    if seat is not None:
        found[SEAT_LABEL] = str(seat)
    return found


def namespace_manifest(namespace: str) -> Manifest:
    """The seats' namespace. Pod Security must be `privileged` here: a seat
    holds what even the baseline level refuses (SYS_ADMIN in its bounding
    set, unconfined seccomp and AppArmor, an unmasked /proc, a hostPath for
    /dev/net/tun), which the rootless engine inside needs. Auditing at
    baseline keeps a record in the cluster's audit log of what each seat
    takes beyond it."""
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {
                "app.kubernetes.io/part-of": PART_OF,
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/audit": "baseline"}}}


def engine_config_manifest(namespace: str) -> Manifest:
    """daemon.json of every seat's engine. No mirror (a cluster has no room
    mirror storage to mount) and no DNS of its own: the engine then uses the
    Pod's resolv.conf, the cluster's resolvers."""
    config = daemon_config([], mirror=False)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ENGINE_CONFIG_NAME, "namespace": namespace, "labels": labels()},
            "data": {"daemon.json": json.dumps(config, indent=1) + "\n"}}


def room_ca_manifest(namespace: str, certificate: str) -> Manifest:
    """The room CA's certificate (public: attendees install it too)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOM_CA_NAME, "namespace": namespace, "labels": labels()},
            "data": {ROOM_CA_FILE: certificate}}


def acceptable_excepts(cidr: str, closed: Sequence[str]) -> list[str]:
    """The closed ranges the API server accepts as `except` entries of an
    ipBlock on `cidr`: those strictly inside it. An IPv4-mapped range
    (::ffff:0:0/96) is not: the API server's parser reads it as IPv4, outside
    ::/0. Nothing is lost: such addresses never travel as IPv6, and their
    IPv4 form is refused by the IPv4 block."""
    block = ipaddress.ip_network(cidr)
    kept = []
    for text in closed:
        network = ipaddress.ip_network(text)
        mapped = isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None
        if (network.version == block.version and not mapped and network.prefixlen > block.prefixlen
                and network.subnet_of(block)):  # type: ignore[arg-type]  # same version, checked first
            kept.append(text)
    return kept


def network_policy_manifest(namespace: str, room: tuple[str, int], closed: Sequence[str] = ()) -> Manifest:
    """What every Pod of the namespace may send: DNS to the cluster's
    resolvers, TCP to the room's server's port, and the internet without
    bringup.seats' closed ranges, the room's own address (its other ports)
    and `closed` (the organizers' public networks: nodes, pods, services, the
    venue). Nothing may come in: `kubectl exec` reaches a seat through the
    kubelet, not the Pod's network."""
    address, port = room
    room_prefix = 32 if ipaddress.ip_address(address).version == 4 else 128
    also = [f"{address}/{room_prefix}", *closed]
    internet = [{"ipBlock": {"cidr": cidr, "except": acceptable_excepts(cidr, [*ranges, *also])}}
                for cidr, ranges in (("0.0.0.0/0", CLOSED_V4), ("::/0", CLOSED_V6))]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "seats-egress", "namespace": namespace, "labels": labels()},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "egress": [
                {"to": [CLUSTER_DNS], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": [{"ipBlock": {"cidr": f"{address}/{room_prefix}"}}],
                 "ports": [{"protocol": "TCP", "port": port}]},
                {"to": internet}]}}


def seat_container(seat: int, room: tuple[str, int], image: str, limits: Limits) -> Manifest:
    """The seat's one container: the reader, the bounding set newuidmap
    needs, a read-only root, every write on a memory-backed volume."""
    env = {**seat_environment(limits), "WORKSHOP_SEAT": pod_name(seat), "WORKSHOP_ROOM": room_url(room),
           "WORKSHOP_ROOM_CA": f"{ROOM_CA_DIR}/{ROOM_CA_FILE}"}
    mounts: list[Manifest] = [{"name": volume_name(path), "mountPath": path} for path, _ in tmpfs_sizes(limits)]
    mounts += [{"name": "tun", "mountPath": TUN},
               {"name": "engine-config", "mountPath": ENGINE_CONFIG_DIR, "readOnly": True},
               {"name": "room-ca", "mountPath": ROOM_CA_DIR, "readOnly": True}]
    # Kubernetes turns a CPU request into cgroup shares at 1024 per CPU: the
    # same share a local seat gets. No CPU limit: a share is not a ceiling.
    cpu = f"{limits.cpu_shares * 1000 // 1024}m"
    memory = quantity(limits.memory)
    return {
        "name": "seat", "image": image, "imagePullPolicy": "IfNotPresent",
        "env": [{"name": name, "value": value} for name, value in env.items()],
        "securityContext": {
            "runAsUser": READER_UID, "runAsGroup": READER_UID, "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
            # newuidmap and newgidmap are setuid: no_new_privs would stop them
            # (and the API refuses it beside SYS_ADMIN anyway).
            "allowPrivilegeEscalation": True,
            "readOnlyRootFilesystem": True,
            # The engine mounts /proc for its containers, which a masked
            # /proc forbids (systempaths=unconfined locally). Unmasked needs
            # the ProcMountType feature gate (beta, on by default since
            # Kubernetes 1.33) and a user namespace (hostUsers: false).
            "procMount": "Unmasked",
            "seccompProfile": {"type": "Unconfined"},
            "appArmorProfile": {"type": "Unconfined"}},
        "resources": {"requests": {"memory": memory, "cpu": cpu}, "limits": {"memory": memory}},
        "volumeMounts": mounts}


def pod_manifest(namespace: str, seat: int, room: tuple[str, int], image: str, limits: Limits,
                 hostname: str = PROJECT.hostname) -> Manifest:
    volumes: list[Manifest] = [
        {"name": volume_name(path), "emptyDir": {"medium": "Memory", "sizeLimit": quantity(size)}}
        for path, size in tmpfs_sizes(limits)]
    volumes += [{"name": "tun", "hostPath": {"path": TUN, "type": "CharDevice"}},
                {"name": "engine-config", "configMap": {"name": ENGINE_CONFIG_NAME, "defaultMode": 0o444}},
                {"name": "room-ca", "configMap": {"name": ROOM_CA_NAME, "defaultMode": 0o444}}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name(seat), "namespace": namespace, "labels": labels(seat)},
            "spec": {
                # The Pod's own user namespace (UserNamespacesSupport, beta
                # and on by default since Kubernetes 1.33): its uids are not
                # the node's, and procMount: Unmasked is allowed only so.
                "hostUsers": False,
                "hostname": hostname,
                # The pause process is then PID 1 and reaps orphans, as
                # `docker run --init` does for a local seat.
                "shareProcessNamespace": True,
                # A seat has no business with the cluster's API.
                "automountServiceAccountToken": False, "enableServiceLinks": False,
                "containers": [seat_container(seat, room, image, limits)],
                "volumes": volumes}}


def room_manifests(seats: int, room: tuple[str, int], room_ca: str, namespace: str = DEFAULT_NAMESPACE,
                   image: str = PROJECT.sandbox_image, limits: Limits | None = None,
                   closed: Sequence[str] = ()) -> dict[str, Manifest]:
    """File name -> object, for `seats` seats (names sort in the order kubectl
    must apply them); `room_ca`, the room CA's certificate (PEM); `closed`,
    more ranges seats may not reach."""
    limits = limits or Limits.for_machine(1, memory=2 * GIB)
    manifests = {NAMESPACE_FILE: namespace_manifest(namespace),
                 "01-network-policy.yaml": network_policy_manifest(namespace, room, closed),
                 "02-engine-config.yaml": engine_config_manifest(namespace),
                 "03-room-ca.yaml": room_ca_manifest(namespace, room_ca)}
    for seat in range(1, seats + 1):
        manifests[SEAT_FILES.replace("*", f"{seat:03d}")] = pod_manifest(namespace, seat, room, image, limits)
    return manifests


def schema_problems(manifest: Manifest, versions: Sequence[str] = KUBERNETES_VERSIONS) -> list[str]:
    """What the Kubernetes API schema (strict: unknown fields too) finds
    wrong with `manifest`, for each version; empty: none."""
    found = []
    name = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
    for version in versions:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path) or "(top)"
            found.append(f"{name} against Kubernetes {version}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            found.append(f"{name}: {error.message}")
    return found


def terminal_argv(namespace: str, seat: int) -> list[str]:
    """A login shell in the seat as its reader, in the workshop's folder, as
    a local seat's terminal runs (bringup.seats.Seat.open_terminal); the
    Pod's environment already names the seat and the room."""
    folder = shlex.quote(WORKDIR)
    # No XON/XOFF: Ctrl-S would freeze the terminal with no sign of why.
    script = f"mkdir -p {folder} && cd {folder} && stty -ixon; exec bash -l"
    return ["kubectl", "exec", "-i", "-t", "-n", namespace, pod_name(seat), "--",
            "env", "TERM=xterm-256color", "bash", "-c", script]


class ManifestDumper(yaml.SafeDumper):
    """YAML that shows a multi-line string (daemon.json) as the block of lines it is."""


def _text_block(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


ManifestDumper.add_representer(str, _text_block)


def write_manifests(manifests: dict[str, Manifest], out: Path) -> None:
    """One YAML file per object; seat files of an earlier, bigger room are
    removed, or `kubectl apply -f` would start their Pods again."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(SEAT_FILES):
        if stale.name not in manifests:
            stale.unlink()
    for name, manifest in manifests.items():
        (out / name).write_text(yaml.dump(manifest, Dumper=ManifestDumper, sort_keys=False))


class OneLineParser(argparse.ArgumentParser):
    """Bad input: one line on stderr and exit status 2 (argparse's own adds the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def seat_count(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_SEATS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seats from 1 to {MAX_SEATS}")
    return int(text)


def room_address(text: str) -> tuple[str, int]:
    """`192.168.1.20:8700` or `[fd00::20]:8700` -> (address, port)."""
    host, _, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    try:
        address = ipaddress.ip_address(host[1:-1] if bracketed else host)
    except ValueError:
        address = None
    if (address is None or address.is_unspecified or bracketed != (address.version == 6)
            or not port.isdigit() or not 1 <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not the room server's IP:PORT, such as 192.168.1.20:8700")
    return str(address), int(port)


def namespace_name(text: str) -> str:
    if not DNS_LABEL.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a namespace name: lower-case letters, digits and "
                                         "'-', at most 63, starting and ending with a letter or digit")
    return text


def seat_limits(text: str) -> Limits:
    try:
        memory = parse_size(text)
    except EngineError:
        memory = None
    if not memory or memory < GIB:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seat's memory such as 2g (at least 1g)")
    return Limits.for_machine(1, memory=memory)


def room_ca_certificate(path: Path | None) -> str:
    """The certificate at `path`; none given: this machine's room CA, the one
    `make room` serves with (made now if there is none yet)."""
    if path is None:
        roomca.ensure_ca()
        path = roomca.CA_CERT
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise BringupError(f"--room-ca {path}: cannot read it ({error})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise BringupError(f"--room-ca {path}: not a PEM certificate such as the room CA's ca.crt")
    return text


def options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m bringup.kubeseats", description=__doc__.split("\n")[0])
    parser.add_argument("--seats", type=seat_count, required=True, help=f"how many seats (1 to {MAX_SEATS})")
    parser.add_argument("--room", type=room_address, required=True,
                        help="the room server's address and port, which seats may reach (IP:PORT)")
    parser.add_argument("--namespace", type=namespace_name, default=DEFAULT_NAMESPACE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the YAML files")
    parser.add_argument("--image", default=PROJECT.sandbox_image,
                        help="the sandbox image, as the cluster's nodes pull it (default: %(default)s)")
    parser.add_argument("--room-ca", type=Path,
                        help=f"the room CA's certificate (default: this machine's, {roomca.CA_CERT}, made if none)")
    parser.add_argument("--seat-memory", type=seat_limits, default="2g", dest="limits",
                        help="memory of one seat, its files included (default 2g)")
    parser.add_argument("--closed", type=closed_ranges, default=[],
                        help="more networks seats may not reach, separated by spaces: the cluster's nodes, pods "
                             "and services, the venue's, where they are public addresses (e.g. 203.0.113.0/24)")
    return parser.parse_args(argv)


def closed_ranges(text: str) -> list[str]:
    try:
        return [str(ipaddress.ip_network(word, strict=False)) for word in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of networks such as 203.0.113.0/24") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = options(argv)
    try:
        certificate = room_ca_certificate(args.room_ca)
    except BringupError as error:
        print(error, file=sys.stderr)
        return 2
    manifests = room_manifests(args.seats, args.room, certificate, args.namespace, args.image, args.limits,
                               args.closed)
    problems = [problem for manifest in manifests.values() for problem in schema_problems(manifest)]
    if problems:
        print(f"{len(problems)} schema errors; nothing written. The first: {problems[0]}", file=sys.stderr)
        return 1
    write_manifests(manifests, args.out)
    # What the files say is what was checked: YAML gave no value another type.
    changed = [name for name, manifest in manifests.items() if yaml.safe_load((args.out / name).read_text()) != manifest]
    if changed:
        print(f"{args.out / changed[0]} does not read back as the object checked", file=sys.stderr)
        return 1
    print(f"{len(manifests)} objects ({args.seats} seats) in {args.out}, each valid against the Kubernetes "
          f"{' and '.join(KUBERNETES_VERSIONS)} API schema (strict)")
    print(f"start them:      kubectl apply -f {shlex.quote(str(args.out))}")
    print(f"seat 1's shell:  {shlex.join(terminal_argv(args.namespace, 1))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
