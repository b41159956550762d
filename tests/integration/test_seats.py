"""Seats on the real engine: the room's server with two login cards, each a
sandbox of its own, driven as a browser drives it (a WebSocket of the same
origin, signed in by the card's page). A seat runs Docker; it cannot see
another seat's containers nor reach this machine through its network; a
wrong card is refused (test_seats_reaped.py kills a room server). Each
scenario has a time limit: a hang is a failure, not a stalled run."""
import asyncio
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import yarl
import pytest

from bringup import checkboard, paths
from bringup.room import Room, SeatSettings
from bringup.roomserver import RoomServer
from doctester.docker.ownership import DEFAULT_STATE, Run
from doctester.docker.sandbox import GIB, Limits
from tests.conftest import ROOT, free_port, room_server

SITE = ROOT / "tests" / "fixtures" / "room-site"
PROMPT_TIMEOUT = 120


@pytest.fixture(scope="module")
def room(client, identity, tmp_path_factory):
    """(base URL, the Room, refusal log) of a room with two cards, one seat warm."""
    # The doc tests' state folder: a test run killed midway leaves records the next run reaps.
    run = Run(DEFAULT_STATE, label=identity.run_label)
    settings = SeatSettings(identity.sandbox_image, Limits(2 * GIB, 1024, 512), paths.REGISTRY_DATA,
                            identity.hostname, warm=1, idle=3600)
    the_room = Room(run, 2, settings)
    port = free_port()
    hosts = set(checkboard.served_hosts("127.0.0.1", port))
    log = []
    board = checkboard.App(checkboard.Board(checkboard.load_record(checkboard.RECORD)), "t0ken", log.append)
    try:
        with room_server(RoomServer(the_room, board, "t0ken", hosts, SITE, SITE, log.append), port) as loop:
            warm = asyncio.run_coroutine_threadsafe(the_room.keep_warm(), loop)
            yield f"http://127.0.0.1:{port}", the_room, log, loop
            the_room.closed = True
            warm.cancel()
    finally:
        assert the_room.close() == []


def run_scenario(scenario, limit=300):
    """Run a test's coroutine, failing (not hanging) past `limit` seconds."""
    return asyncio.run(asyncio.wait_for(scenario(), limit))


async def signed_in(base, secret):
    """A browser session signed in with a card, as its page's button does."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # the room is an IP address
    async with session.post(f"{base}/c/{secret}", headers={"Origin": base}, allow_redirects=False) as answer:
        assert answer.status == 303, await answer.text()
    return session


class Terminal:
    """A browser's side of a seat's terminal."""

    def __init__(self, base, secret):
        self.base, self.secret, self.output = base, secret, b""

    async def __aenter__(self):
        self.session = await signed_in(self.base, self.secret)
        self.ws = await self.session.ws_connect(self.base + "/seat/ws", origin=self.base, max_msg_size=1 << 22,
                                                timeout=aiohttp.ClientWSTimeout(ws_close=10))
        hello = await self.ws.receive(timeout=PROMPT_TIMEOUT)
        self.hello = json.loads(hello.data)
        # Wide enough that no command typed here wraps: its echo is one line.
        await self.ws.send_str(json.dumps({"type": "resize", "cols": 400, "rows": 50}))
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.session.close()

    async def run(self, command, until, timeout=PROMPT_TIMEOUT):
        """Type `command`, read until `until` shows up in the output after it;
        the command's own echo must not hold `until` (write `echo do''ne`)."""
        assert until not in command
        mark = len(self.output)
        if command:
            await self.ws.send_str(json.dumps({"type": "input", "data": command + "\r"}))
        deadline = time.monotonic() + timeout
        while until not in self.output[mark:].decode(errors="replace"):
            left = deadline - time.monotonic()
            assert left > 0, f"no {until!r} after {command!r}:\n{self.output[mark:].decode(errors='replace')}"
            message = await self.ws.receive(timeout=left)
            assert message.type == aiohttp.WSMsgType.BINARY, message
            self.output += message.data
        return self.output[mark:].decode(errors="replace")


def test_a_card_opens_a_seat_that_runs_docker(room):
    base, the_room, _, _ = room
    card = the_room.cards[0]

    async def scenario():
        async with Terminal(base, card.secret) as terminal:
            assert terminal.hello == {"type": "hello", "seat": card.name}
            shown = await terminal.run("docker run --rm hello-world", "Hello from Docker!")
            assert "Hello from Docker!" in shown
            where = await terminal.run("pwd; ls examples/check.py; echo se''at=$WORKSHOP_SEAT", f"seat={card.name}")
            assert "/intro-to-docker" in where and "examples/check.py" in where
    run_scenario(scenario)


def test_a_browser_that_comes_back_gets_the_same_shell_and_its_scrollback(room):
    base, the_room, _, _ = room
    card = the_room.cards[0]

    async def scenario():
        async with Terminal(base, card.secret) as first:
            await first.run("export KEPT=kept-$((6 * 7)); echo expo''rted", "exported")
        async with Terminal(base, card.secret) as again:
            replay = await again.ws.receive(timeout=30)
            assert b"export KEPT=kept-" in replay.data  # the scrollback, replayed
            assert "kept-42" in await again.run("echo $KEPT", "kept-42")
    run_scenario(scenario)


def test_one_seat_cannot_see_another_seats_containers_nor_reach_this_machine(room):
    base, the_room, _, _ = room
    first, second = the_room.cards
    # A listener on the gateway of the first seat's own network (a network the
    # room made): without the seat's rules, the seat would reach it.
    async def scenario():
        async with Terminal(base, first.secret) as a, Terminal(base, second.secret) as b:
            await a.run("docker run -d --name only-in-first python:alpine sleep 300 && echo sta''rted", "started")
            listed = await b.run("docker ps -a --format '{{.Names}}'; echo listed''-all", "listed-all")
            assert "only-in-first" not in listed
            gateway = first_gateway(the_room)
            with socket.socket() as listener:
                listener.bind((gateway, 0))
                listener.listen(4)
                listener.settimeout(0.5)
                port = listener.getsockname()[1]
                probe = (f"python3 -c \"import socket; socket.create_connection(('{gateway}', {port}), 5)\" "
                         "2>&1 | tail -1; echo pro''bed")
                answer = await a.run(probe, "probed")
                assert "Connection refused" in answer or "timed out" in answer, answer
                with pytest.raises(socket.timeout):
                    listener.accept()  # nothing from the seat arrived
                # The control: a container on the same network, without the seat's rules, gets through.
                # Named and labelled as the room's own: the whole-engine checks running beside leave it out.
                control = subprocess.run(
                    ["docker", "run", "--rm", "--name", f"doctest-{the_room.run.id}-control",
                     "--network", the_room.cards[0].seat.sandbox.name,
                     "--label", f"{the_room.run.label}={the_room.run.id}", "python:alpine",
                     "python", "-c", f"import socket; socket.create_connection(('{gateway}', {port}), 5)"],
                    capture_output=True, text=True, timeout=120)
                assert control.returncode == 0, control.stderr
                listener.accept()[0].close()
            await a.run("docker rm -f only-in-first >/dev/null; echo remo''ved", "removed")
    run_scenario(scenario)


def first_gateway(the_room):
    seat = the_room.cards[0].seat
    network = subprocess.run(["docker", "inspect", seat.sandbox.name, "--format",
                              f"{{{{(index .NetworkSettings.Networks \"{seat.sandbox.name}\").Gateway}}}}"],
                             capture_output=True, text=True, check=True)
    assert network.stdout.strip(), "the seat's network has no gateway"
    return network.stdout.strip()


def test_a_wrong_card_and_a_foreign_origin_are_refused_and_logged(room):
    base, _, log, _ = room
    before = len(log)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(base + "/c/not-a-card-secret", timeout=10)
    assert refused.value.code == 403

    async def foreign():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as error:
                await session.ws_connect(base + "/seat/ws", origin="http://evil.example")
            return error.value.status
    assert run_scenario(foreign) == 403
    assert any("no card has this secret" in line for line in log[before:])
    assert any("another origin" in line for line in log[before:])


def test_bad_frames_and_a_storm_of_reconnects_leave_the_seat_working(room):
    """An oversized frame, resizes out of bounds, JSON that is not a message,
    binary garbage, 50 reconnects in a second: each refused or ignored with
    a logged line (at most one a second for the same reason), and the seat
    answers afterwards."""
    base, the_room, log, _ = room
    card = the_room.cards[1]
    before = len(log)

    async def scenario():
        async with Terminal(base, card.secret) as terminal:
            for bad in ({"type": "resize", "cols": 0, "rows": 0}, {"type": "resize", "cols": 10000, "rows": 10000},
                        {"type": "launch", "data": "x"}, {"type": "input", "data": 7}):
                await terminal.ws.send_str(json.dumps(bad))
            await terminal.ws.send_str("{not json")
            # Garbage typed: its Ctrl-D ends the shell, and the seat starts another.
            await terminal.ws.send_bytes(bytes(range(256)) * 4 + b"\x03\r")
            assert "a new one starts" in await terminal.run("", "a new one starts", timeout=30)
            await asyncio.sleep(2)
            assert "still-here" in await terminal.run("echo still''-here", "still-here")
            await terminal.ws.send_str(json.dumps({"type": "input", "data": "x" * (70 * 1024)}))
            closed = await terminal.ws.receive(timeout=30)
            for _ in range(100):  # what the shell printed before may still be on its way: the close follows it
                if closed.type != aiohttp.WSMsgType.BINARY:
                    break
                closed = await terminal.ws.receive(timeout=30)
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            assert terminal.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
        statuses = []
        async with await signed_in(base, card.secret) as session:
            for _ in range(50):
                try:
                    ws = await session.ws_connect(base + "/seat/ws", origin=base)
                    statuses.append(101)
                    await ws.close()
                except aiohttp.WSServerHandshakeError as error:
                    statuses.append(error.status)
        assert statuses.count(429) >= 40, statuses
        await asyncio.sleep(10)  # the window of reconnects passes
        async with Terminal(base, card.secret) as again:
            assert "answers" in await again.run("echo ans''wers", "answers")
    run_scenario(scenario)
    lines = log[before:]
    assert sum("reconnects more than" in line for line in lines) <= 3, lines  # one a second, not fifty
    assert any("ignored a terminal message" in line for line in lines), lines


def test_a_card_signs_in_only_from_its_own_page(room):
    """A link or form from another site cannot sign a browser into a seat
    (login CSRF), and the cookie is a session, not the card's secret."""
    base, the_room, log, _ = room
    card = the_room.cards[0]

    async def scenario():
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(f"{base}/c/{card.secret}") as page:
                assert page.status == 200 and f"Sign in to {card.name}" in await page.text()
            assert not session.cookie_jar.filter_cookies(yarl.URL(base))  # opening the address signs nobody in
            for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
                async with session.post(f"{base}/c/{card.secret}", headers=headers, allow_redirects=False) as r:
                    assert r.status == 403
            async with session.post(f"{base}/c/{card.secret}", headers={"Origin": base},
                                    allow_redirects=False) as r:
                assert r.status == 303
            cookie = session.cookie_jar.filter_cookies(yarl.URL(base))["seat"].value
            assert cookie and card.secret not in cookie
    run_scenario(scenario)
    assert any("a sign-in sent from another site" in line for line in log)
