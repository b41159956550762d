"""Seats placed by Docker Swarm, on two engines of this machine as its nodes
(bringup.swarmnodes: each in a network namespace of its own). A room of two
cards gets its seats from Swarm: on two different nodes, each a seat as on
the organizer's machine (the reader without capabilities, its own engine
running containers under the unmasked /proc), unable to reach the other
seat; closing the room leaves nothing on the manager or the nodes, and a
killed room's services are reaped. Root only: nodes are namespaces and
engines of the machine's."""
import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import time

import pytest

from bringup import paths
from bringup.room import Room, SeatSettings
from bringup.swarmnodes import MARK, start_nodes, stop_nodes
from bringup.swarmseats import NODE_LABEL, Swarm, starter, state_dir
from doctester.docker.ownership import Run, reap
from doctester.docker.sandbox import GIB, READER_UID, Limits
from tests.conftest import ROOT

LIMIT = 600  # seconds for the room's two seats, images pulled inside them included


@pytest.fixture(scope="module")
def swarm(client, identity, pytestconfig):
    """(nodes, Swarm) of two node engines, both taking seats, the seats' image loaded into each."""
    if os.geteuid() != 0:
        pytest.skip("Swarm nodes on one machine are namespaces and engines of root's: run as root, as CI does")
    nodes = start_nodes(2)
    try:
        manager = nodes[0].cli()
        for node_id in manager.lines("node", "ls", "--quiet"):
            manager.run("node", "update", "--label-add", f"{NODE_LABEL}=yes", node_id)

        def load(node):  # the outer engine's image, as an organizer copies it to the nodes
            saved = subprocess.Popen(["docker", "save", identity.sandbox_image], stdout=subprocess.PIPE)
            loaded = subprocess.run([*node.docker, "load", "-q"], stdin=saved.stdout, capture_output=True, text=True)
            saved.stdout.close()
            assert saved.wait() == 0 and loaded.returncode == 0, loaded.stderr
        with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(load, nodes))
        yield nodes, Swarm.of([node.host for node in nodes])
    finally:
        stop_nodes()
    assert not [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
                .splitlines() if line.startswith(f"idt-swarm-{MARK}")]


def swarm_room(place, identity, count=2):
    run = Run(state_dir(place), docker=place.docker(place.manager), label=identity.run_label)
    settings = SeatSettings(identity.sandbox_image, Limits(2 * GIB, 1024, 512), paths.REGISTRY_DATA,
                            identity.hostname, warm=0, idle=3600)
    return Room(run, count, settings, starter=starter(place, identity.sandbox_image))


def shell(seat, script):
    """What `script` prints in the seat, run as its attendee's terminal runs (the reader)."""
    result = subprocess.run(seat.sandbox.exec_argv("bash", "-c", script), capture_output=True, text=True, timeout=300)
    return result.stdout + result.stderr


def test_swarm_places_seats_that_work_apart_and_leave_nothing(swarm, identity):
    nodes, place = swarm
    room = swarm_room(place, identity)
    try:
        async def both():
            return await asyncio.gather(*(room.seat_for(card) for card in room.cards))
        seats = asyncio.run(asyncio.wait_for(both(), LIMIT))
        assert {seat.sandbox.node for seat in seats} == set(place.nodes)  # Swarm spread them, one a node
        for seat in seats:
            said = shell(seat, "id -u; grep CapEff /proc/self/status; docker run --rm hello-world")
            assert f"{READER_UID}\nCapEff:\t0000000000000000" in said and "Hello from Docker!" in said, said
        # The other seat's address, on the network of its own node: closed to this seat.
        other = seats[1].sandbox
        address = other.outer.run("inspect", "--format",
                                  "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", other.name).stdout.split()[0]
        listening = "python3 -m http.server 8000 --bind 0.0.0.0 >/dev/null 2>&1 & sleep 2; "
        assert "reached" in shell(seats[1], listening + f"timeout 5 python3 -c \"import urllib.request; "
                                  f"urllib.request.urlopen('http://{address}:8000', timeout=4)\" && echo reach''ed")
        said = shell(seats[0], f"timeout 8 python3 -c \"import urllib.request; "
                               f"urllib.request.urlopen('http://{address}:8000', timeout=6)\" && echo reach''ed")
        assert "reached" not in said, said
    finally:
        for seat in [card.seat for card in room.cards if card.seat is not None]:
            seat.close()
        assert room.close() == []
    assert_gone(nodes, f"label={identity.run_label}={room.run.id}")


def assert_gone(nodes, label):
    """Nothing with `label` on the manager nor on the nodes, once Swarm has
    finished removing it (a removed network goes when its tasks have left)."""
    def left():
        manager = nodes[0].cli()
        return [*(f"{kind} {name}" for kind in ("service", "config", "network")
                  for name in manager.lines(kind, "ls", "--quiet", "--filter", label)),
                *(f"container {name}" for node in nodes for name in node.cli().lines("ps", "-aq", "--filter", label))]
    deadline = time.monotonic() + 60
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left() == []


KILLED = """
import sys, time
from bringup.paths import REGISTRY_DATA
from bringup.swarmseats import Swarm, start_swarm_seat, state_dir
from doctester.docker.ownership import Run
from doctester.docker.sandbox import GIB, Limits
place = Swarm.of(sys.argv[1:-3])
run = Run(state_dir(place), docker=place.docker(place.manager), label=sys.argv[-3])
start_swarm_seat(place.with_image(sys.argv[-2]), run, 1, sys.argv[-2], Limits(2 * GIB, 1024, 512), REGISTRY_DATA, sys.argv[-1])
print(run.id, flush=True)
time.sleep(600)
"""


def test_a_killed_rooms_swarm_seats_are_reaped_on_the_manager(swarm, identity):
    nodes, place = swarm
    room = subprocess.Popen([sys.executable, "-c", KILLED, *(node.host for node in nodes), identity.run_label,
                             identity.sandbox_image, identity.hostname], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        run_id = room.stdout.readline().strip()
        assert run_id, "the room's seat did not start"
    finally:
        room.send_signal(signal.SIGKILL)
        room.wait()
    manager = nodes[0].cli()
    label = f"label={identity.run_label}={run_id}"
    assert manager.lines("service", "ls", "--quiet", "--filter", label)  # left by the killed room
    reaped, problems = reap(state_dir(place), docker=place.docker(place.manager), label=identity.run_label)
    assert problems == [] and [entry for entry in reaped if entry.startswith(run_id)]
    assert_gone(nodes, label)
