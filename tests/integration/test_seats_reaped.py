"""The room server killed with SIGKILL: its seat outlives it until
`make room-stop` (python -m bringup.roomserver stop --port) reaps it. Apart
from tests/integration/test_seats.py because a dead run's seat counts on the
outer engine until it is reaped: this module runs with the tests that
compare the whole engine, one after the other."""
import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, free_port

SITE = ROOT / "tests" / "fixtures" / "room-site"


def test_a_room_server_killed_with_sigkill_is_reaped_by_room_stop(client, identity, tmp_path):
    """The real program, on a port of its own: its seat outlives a SIGKILL
    until `python -m bringup.roomserver stop` (make room-stop) reaps it."""
    web = tmp_path / "seat-web"
    web.mkdir()
    (web / "seat.js").write_text("")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bringup.roomserver", "--seats", "1", "--warm", "1",
                               "--port", str(port), "--site", str(SITE), "--seat-web", str(web)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        seats = set()
        while not seats and time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            seats = seats_of(server.pid)
        assert seats, f"no seat started: {server.stdout.read() if server.poll() is not None else ''}"
        ready = wait_running(seats, deadline)
        assert ready, "the seat did not start"
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
    assert seats_of(server.pid), "the seat went with the server"
    stopped = subprocess.run([sys.executable, "-m", "bringup.roomserver", "stop", "--port", str(port)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    # A doc run of another test that starts meanwhile reaps dead runs too
    # (one state folder): room-stop then leaves this one to that reaper, which
    # holds its lock, and the seat goes a moment later.
    deadline = time.monotonic() + 60
    while (left := seats_of(server.pid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, stopped.stdout + stopped.stderr


def seats_of(pid):
    """The containers of the room server with this process id (its run's sandboxes)."""
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                            check=True)
    return {name for name in listed.stdout.split() if name.startswith(f"doctest-{pid}-")}


def wait_running(names, deadline):
    while time.monotonic() < deadline:
        states = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", *names], capture_output=True,
                                text=True)
        if states.returncode == 0 and set(states.stdout.split()) == {"true"}:
            return True
        time.sleep(1)
    return False
