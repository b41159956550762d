"""`make mirror LISTEN=...` hands LISTEN to bringup as one argument, whatever
it holds: the recipe is run by a shell, which must neither split it nor run
any of it, and make must not expand it either."""
import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")

HOSTILE = [
    "1.2.3.4; touch {marker}",
    "1.2.3.4 && touch {marker}",
    "$(touch {marker})",
    "`touch {marker}`",
    "it's $(shell touch {marker}) $$HOME",
    "192.168.1.20 fe80::1",
    "fe80::1%eth0",
]


def recipe_line(tmp_path, listen):
    """The mirror recipe as `make -n` would run it, with PY standing for a
    Python that prints the arguments it was given."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LISTEN": "6.6.6.6"}
    result = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), "mirror",
                             f"PY={sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'",
                             f"LISTEN={listen}"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "bringup mirror" in line]
    return line


@pytest.mark.parametrize("template", HOSTILE)
def test_listen_reaches_bringup_as_one_argument_and_nothing_runs(tmp_path, template):
    marker = tmp_path / "ran"
    listen = template.format(marker=marker)
    line = recipe_line(tmp_path, listen)
    assert not marker.exists(), "make ran part of LISTEN"
    ran = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == ["-m", "bringup", "mirror", "--listen", listen]
    assert not marker.exists(), "the shell ran part of LISTEN"


def test_listen_comes_from_the_command_line_not_the_environment(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LISTEN": "6.6.6.6"}
    result = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), "mirror"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--listen '127.0.0.1'" in result.stdout and "6.6.6.6" not in result.stdout


def printed_args(tmp_path, target, *assignments, environ=()):
    """The arguments the target's recipe hands its program, run as make would (PY and the venv stand-in print them)."""
    printer = f"{sys.executable} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **dict(environ)}
    result = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"PY={printer}",
                             f"VENV={tmp_path}/venv", *assignments], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines()
              if "bringup mirror" in line or "serve --dev-addr" in line or "bringup.roomserver" in line]
    (tmp_path / "venv" / "bin").mkdir(parents=True, exist_ok=True)
    (tmp_path / "venv" / "bin" / "mkdocs").write_text(f"#!/bin/sh\nexec {printer} \"$@\"\n")
    (tmp_path / "venv" / "bin" / "mkdocs").chmod(0o755)
    ran = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


@pytest.mark.parametrize("template", HOSTILE)
def test_only_reaches_bringup_word_by_word_and_nothing_runs(tmp_path, template):
    marker = tmp_path / "ran"
    only = template.format(marker=marker)
    args = printed_args(tmp_path, "mirror", "LISTEN=1.2.3.4", f"ONLY={only}")
    assert not marker.exists(), "part of ONLY ran"
    assert args[args.index("--only") + 1:] == only.split()


def test_only_and_serve_addr_come_from_the_command_line_not_the_environment(tmp_path):
    args = printed_args(tmp_path, "mirror", environ={"ONLY": "hello-world"})
    assert "--only" not in args
    assert printed_args(tmp_path, "serve", environ={"SERVE_ADDR": "0.0.0.0:80"}) == \
        ["serve", "--dev-addr", "127.0.0.1:8765"]


def test_serve_addr_reaches_mkdocs_as_one_argument(tmp_path):
    marker = tmp_path / "ran"
    address = f"127.0.0.1:1; touch {marker}"
    assert printed_args(tmp_path, "serve", f"SERVE_ADDR={address}")[-1] == address
    assert not marker.exists()


@pytest.mark.parametrize("template", HOSTILE)
def test_the_rooms_board_gets_listen_and_its_port_as_one_argument_each(tmp_path, template):
    marker = tmp_path / "ran"
    hostile = template.format(marker=marker)
    args = printed_args(tmp_path, "room", f"LISTEN={hostile}", f"ROOM_PORT={hostile}", f"SEATS={hostile}",
                        f"SEAT_MEMORY={hostile}")
    assert not marker.exists(), "part of LISTEN, ROOM_PORT, SEATS or SEAT_MEMORY ran"
    assert args == ["-m", "bringup.roomserver", "--listen", hostile, "--port", hostile, "--seats", hostile,
                    "--seat-memory", hostile]


def test_the_rooms_board_takes_nothing_from_the_environment(tmp_path):
    assert printed_args(tmp_path, "room", environ={"LISTEN": "0.0.0.0", "ROOM_PORT": "80", "SEATS": "50",
                                                   "SEAT_MEMORY": "64g"}) == \
        ["-m", "bringup.roomserver", "--listen", "127.0.0.1", "--port", "8700", "--seats", "0", "--seat-memory", "2g"]


@pytest.mark.parametrize("target, template", [("room-stop", template) for template in HOSTILE] +
                         [("room", HOSTILE[-3])])  # both read SWARM_ARGS
def test_swarm_reaches_the_room_word_by_word_and_nothing_runs(tmp_path, target, template):
    marker = tmp_path / "ran"
    swarm = template.format(marker=marker)
    args = printed_args(tmp_path, target, f"SWARM={swarm}")
    assert not marker.exists(), f"part of SWARM ran in {target}"
    assert args[args.index("--swarm") + 1:] == swarm.split()


def test_swarm_comes_from_the_command_line_not_the_environment(tmp_path):
    assert "--swarm" not in printed_args(tmp_path, "room-stop", environ={"SWARM": "ssh://me@10.0.0.5"})
