"""Seats on Kubernetes (bringup.kubeseats), without a cluster: every object
fits the Kubernetes API schema, a seat's Pod is the local seat's sandbox
(doctester.docker.sandbox), its NetworkPolicy closes what bringup.seats
closes, and bad input is one line and exit status 2."""
import argparse
import copy
import ipaddress
import json

import kubernetes_validate
import pytest
import yaml

from bringup import kubeseats
from bringup.seats import CLOSED_V4, CLOSED_V6
from doctester.docker.sandbox import (CAPABILITIES, GIB, READER_UID, Limits, daemon_config, hardening_flags,
                                      parse_size)

ROOM = ("192.168.1.20", 8700)
LIMITS = Limits.for_machine(1, memory=3 * GIB)
ROOM_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"  # read, never parsed


def manifests(seats=2, room=ROOM):
    return kubeseats.room_manifests(seats, room, ROOM_CA, "workshop-seats", "registry.example/sandbox:1", LIMITS)


@pytest.fixture
def room_ca(tmp_path):
    path = tmp_path / "ca.crt"
    path.write_text(ROOM_CA)
    return str(path)


def seat_pod(seat=1):
    return manifests()[f"10-seat-{seat:03d}.yaml"]


def flag_values(name):
    flags = hardening_flags(LIMITS)
    return [flags[i + 1] for i in range(len(flags) - 1) if flags[i] == name]


def bytes_of(quantity):
    return parse_size(quantity.replace("Gi", "g").replace("Mi", "m").replace("Ki", "k"))


@pytest.mark.parametrize("seats", [1, kubeseats.MAX_SEATS])
def test_every_object_fits_the_api_schema_strictly(seats):
    made = manifests(seats)
    assert len(made) == seats + 4
    pods = [name for name in made if name.startswith("10-seat-")]
    # Seats differ only by their number: the shared objects, the first and the last seat stand for all.
    for name in [*(name for name in made if name not in pods), pods[0], pods[-1]]:
        assert kubeseats.schema_problems(made[name]) == []
    assert len({made[name]["metadata"]["name"] for name in pods}) == seats


@pytest.mark.parametrize("version", kubeseats.KUBERNETES_VERSIONS)
def test_a_wrong_type_and_an_unknown_field_are_refused(version):
    """The validator bites: the same Pod with one field of the wrong type,
    or one field the API does not have, fails."""
    wrong_type = copy.deepcopy(seat_pod())
    wrong_type["spec"]["containers"][0]["securityContext"]["runAsUser"] = str(READER_UID)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, version, strict=True)
    problems = kubeseats.schema_problems(wrong_type, [version])
    assert len(problems) == 1 and "runAsUser" in problems[0]
    unknown = copy.deepcopy(seat_pod())
    unknown["spec"]["hostUser"] = False  # hostUsers, misspelt
    assert kubeseats.schema_problems(unknown, [version])


def test_the_pod_is_the_local_seats_sandbox():
    """Each field against what sandbox.py gives a local seat, so a change
    there fails here until the Pod follows."""
    pod = seat_pod(2)
    spec = pod["spec"]
    container, = spec["containers"]
    security = container["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"]) == (READER_UID, READER_UID)
    assert security["capabilities"] == {"drop": ["ALL"], "add": list(CAPABILITIES)}
    assert "seccomp=unconfined" in flag_values("--security-opt")
    assert security["seccompProfile"] == {"type": "Unconfined"}
    assert "apparmor=unconfined" in flag_values("--security-opt")
    assert security["appArmorProfile"] == {"type": "Unconfined"}
    assert "systempaths=unconfined" in flag_values("--security-opt")
    assert security["procMount"] == "Unmasked" and spec["hostUsers"] is False
    assert "--read-only" in hardening_flags(LIMITS) and security["readOnlyRootFilesystem"] is True
    assert spec["automountServiceAccountToken"] is False
    assert container["image"] == "registry.example/sandbox:1"
    assert pod["metadata"]["name"] == "seat-2" and pod["metadata"]["labels"][kubeseats.SEAT_LABEL] == "2"


def test_every_tmpfs_is_a_bounded_memory_volume_at_its_path():
    pod = seat_pod()
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    mounted = {mount["mountPath"]: volumes[mount["name"]] for mount in pod["spec"]["containers"][0]["volumeMounts"]}
    tmpfs = {}
    for spec in flag_values("--tmpfs"):
        path, _, options = spec.partition(":")
        size = [option[len("size="):] for option in options.split(",") if option.startswith("size=")][0]
        tmpfs[path] = parse_size(size)
    for path, size in tmpfs.items():
        assert mounted[path]["emptyDir"]["medium"] == "Memory"
        assert bytes_of(mounted[path]["emptyDir"]["sizeLimit"]) == size
    device, = flag_values("--device")
    assert mounted[device]["hostPath"] == {"path": device, "type": "CharDevice"}
    assert len(mounted) == len(tmpfs) + 3  # the tun device, the engine's configuration, the room CA: nothing else
    paths = [mount["mountPath"] for mount in pod["spec"]["containers"][0]["volumeMounts"]]
    assert paths.index("/run") < paths.index(f"/run/user/{READER_UID}")  # the parent first


def test_limits_environment_and_engine_configuration():
    made = manifests()
    container = made["10-seat-001.yaml"]["spec"]["containers"][0]
    resources = container["resources"]
    assert bytes_of(resources["limits"]["memory"]) == bytes_of(resources["requests"]["memory"]) == LIMITS.memory
    assert resources["requests"]["cpu"] == f"{LIMITS.cpu_shares * 1000 // 1024}m"  # 1024 shares a CPU
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    assert {f"{name}={value}" for name, value in env.items()} >= set(flag_values("-e"))
    assert env["WORKSHOP_SEAT"] == "seat-1" and env["WORKSHOP_ROOM"] == "https://192.168.1.20:8700"
    assert made["03-room-ca.yaml"]["data"] == {"room-ca.crt": ROOM_CA}
    ca_mount, = [m for m in container["volumeMounts"] if m["name"] == "room-ca"]
    assert ca_mount["readOnly"] and env["WORKSHOP_ROOM_CA"] == ca_mount["mountPath"] + "/room-ca.crt"
    config = made["02-engine-config.yaml"]
    assert json.loads(config["data"]["daemon.json"]) == daemon_config([], mirror=False)
    mount, = [m for m in container["volumeMounts"] if m["name"] == "engine-config"]
    assert mount == {"name": "engine-config", "mountPath": "/etc/doctest", "readOnly": True}


def test_the_namespace_admits_the_seats():
    labels = manifests()["00-namespace.yaml"]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"


@pytest.mark.parametrize("room, cidr", [(ROOM, "192.168.1.20/32"), (("fd00::20", 8700), "fd00::20/128")])
def test_the_policy_closes_what_a_local_seat_closes_and_opens_the_room(room, cidr):
    policy = manifests(room=room)["01-network-policy.yaml"]["spec"]
    assert policy["podSelector"] == {} and "Ingress" in policy["policyTypes"] and not policy.get("ingress")
    rules = policy["egress"]
    assert {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": 8700}]} in rules
    dns, = [rule for rule in rules if rule.get("ports", [{}])[0].get("port") == 53]
    assert {(port["protocol"], port["port"]) for port in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    internet, = [rule for rule in rules if "ports" not in rule]
    blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in internet["to"]}
    assert set(blocks) == {"0.0.0.0/0", "::/0"}
    family = "0.0.0.0/0" if ":" not in cidr else "::/0"
    assert cidr in blocks[family]  # the room's other ports: only the rule above opens its one port
    assert blocks["0.0.0.0/0"][:len(CLOSED_V4)] == list(CLOSED_V4)
    left_out = set(CLOSED_V6) - set(blocks["::/0"])
    assert left_out == {"::ffff:0:0/96"}  # IPv4-mapped: the IPv4 block refuses those addresses
    for cidr, excepted in blocks.items():  # what the API server demands: each strictly inside its cidr
        block = ipaddress.ip_network(cidr)
        for text in excepted:
            network = ipaddress.ip_network(text)
            assert network.version == block.version and network.prefixlen > block.prefixlen


def test_the_terminal_is_a_login_shell_as_the_reader():
    argv = kubeseats.terminal_argv("workshop-seats", 7)
    assert argv[:argv.index("--")] == ["kubectl", "exec", "-i", "-t", "-n", "workshop-seats", "seat-7"]
    assert "TERM=xterm-256color" in argv and argv[-3:-1] == ["bash", "-c"]
    assert "stty -ixon; exec bash -l" in argv[-1] and f"cd {kubeseats.WORKDIR}" in argv[-1]


def test_the_cli_writes_files_that_read_back_and_drops_a_bigger_rooms_seats(tmp_path, room_ca, capsys):
    out = tmp_path / "room"
    for seats in ("3", "1"):
        argv = ["--seats", seats, "--room", "192.168.1.20:8700", "--room-ca", room_ca, "--out", str(out)]
        assert kubeseats.main(argv) == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == ["00-namespace.yaml", "01-network-policy.yaml", "02-engine-config.yaml", "03-room-ca.yaml",
                     "10-seat-001.yaml"]
    for name in names:
        assert kubeseats.schema_problems(yaml.safe_load((out / name).read_text())) == []
    assert "kubectl apply -f" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--seats", "0", "--room", "192.168.1.20:8700"], "--seats"),
    (["--seats", "401", "--room", "192.168.1.20:8700"], "--seats"),
    (["--seats", "many", "--room", "192.168.1.20:8700"], "--seats"),
    (["--seats", "3", "--room", "room.example:8700"], "--room"),
    (["--seats", "3", "--room", "192.168.1.20"], "--room"),
    (["--seats", "3", "--room", "192.168.1.20:99999"], "--room"),
    (["--seats", "3", "--room", "fd00::20:8700"], "--room"),
    (["--seats", "3", "--room", "192.168.1.20:8700", "--namespace", "Seats_Room"], "--namespace"),
    (["--seats", "3", "--room", "192.168.1.20:8700", "--namespace", "x" * 64], "--namespace"),
    (["--room", "192.168.1.20:8700"], "--seats"),
])
def test_bad_input_is_one_line_and_status_2(argv, says, tmp_path, room_ca, capsys):
    out = tmp_path / "room"
    with pytest.raises(SystemExit) as stopped:
        kubeseats.main([*argv, "--room-ca", room_ca, "--out", str(out)])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and says in error
    assert not out.exists()


@pytest.mark.parametrize("content", [None, "not a certificate\n"])
def test_a_room_ca_that_is_missing_or_not_a_certificate_is_one_line_and_status_2(content, tmp_path, capsys):
    path, out = tmp_path / "ca.crt", tmp_path / "room"
    if content is not None:
        path.write_text(content)
    argv = ["--seats", "1", "--room", "192.168.1.20:8700", "--room-ca", str(path), "--out", str(out)]
    assert kubeseats.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--room-ca" in error
    assert not out.exists()


def test_the_rooms_own_address_and_the_networks_given_are_closed_but_the_rooms_port(tmp_path):
    policy = kubeseats.network_policy_manifest("seats", ("203.0.113.9", 8700), ["198.51.100.0/24", "2001:db8:5::/48"])
    rules = policy["spec"]["egress"]
    blocks = {peer["ipBlock"]["cidr"]: peer["ipBlock"]["except"] for peer in rules[-1]["to"]}
    assert {"203.0.113.9/32", "198.51.100.0/24"} <= set(blocks["0.0.0.0/0"])
    assert "2001:db8:5::/48" in blocks["::/0"]
    assert rules[1] == {"to": [{"ipBlock": {"cidr": "203.0.113.9/32"}}], "ports": [{"protocol": "TCP", "port": 8700}]}
    assert not kubeseats.schema_problems(policy)


def test_closed_networks_are_read_from_one_word_list():
    assert kubeseats.closed_ranges("198.51.100.7/24, 2001:db8::/32") == ["198.51.100.0/24", "2001:db8::/32"]
    with pytest.raises(argparse.ArgumentTypeError):
        kubeseats.closed_ranges("198.51.100.0/24 nonsense")
