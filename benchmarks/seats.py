"""How many seats one organizer machine serves. Prints the figures quoted in
README.md.

    .venv/bin/python benchmarks/seats.py [--seats 2 4 6] [--keys 200]

For each count N: a room (the room's server and N seats, in this process,
on 127.0.0.1) starts its seats two at a time, as its warm pool does, then
every seat runs the first hands-on chapter's commands at once (hello-world
three times, the listings) while one more seat, kept for the purpose, has
single keys typed into its terminal one at a time: the time from a key sent
to its echo back is the keystroke latency an attendee feels. Printed per N:
seats ready per minute, memory per idle seat (the seats' cgroups, as the
outer engine reports it), echo latency p50 and p99 while the N work, and
how long the chapter took. Everything the room starts is removed at the end
(the run's record, as for the doc tests).
"""
import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bringup import checkboard, paths  # noqa: E402
from bringup.room import Room, SeatSettings  # noqa: E402
from bringup.roomserver import RoomServer  # noqa: E402
from doctester.docker.identity import Identity  # noqa: E402
from doctester.docker.ownership import DEFAULT_STATE, Run  # noqa: E402
from doctester.docker.sandbox import GIB, Limits  # noqa: E402
from tests.conftest import free_port, room_server  # noqa: E402

PROJECT = Identity.from_ini(ROOT / "pytest.ini")
SITE = ROOT / "tests" / "fixtures" / "room-site"
CHAPTER = ("docker run hello-world; docker run hello-world; docker run --rm hello-world; docker ps -a; "
           "docker images; echo chap''ter-done")


async def open_terminal(base, card, two_at_a_time):
    async with two_at_a_time:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.post(f"{base}/c/{card.secret}", headers={"Origin": base}, allow_redirects=False):
            pass  # signed in, as the card's page does
        ws = await session.ws_connect(base + "/seat/ws", origin=base, max_msg_size=1 << 22)
    ws.session = session
    await ws.receive(timeout=120)  # hello
    await ws.send_str(json.dumps({"type": "resize", "cols": 300, "rows": 50}))
    return ws


async def read_until(ws, text, timeout=300):
    seen, deadline = b"", time.monotonic() + timeout
    while text.encode() not in seen:
        message = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.type != aiohttp.WSMsgType.BINARY:
            raise RuntimeError(f"the terminal closed: {message}")
        seen += message.data
    return seen


async def echo_latencies(ws, keys):
    """Seconds from one key typed to its echo, `keys` times (x, then a backspace)."""
    found = []
    await read_until(ws, "$", 60)
    for _ in range(keys):
        started = time.perf_counter()
        await ws.send_str(json.dumps({"type": "input", "data": "x"}))
        await read_until(ws, "x", 30)
        found.append(time.perf_counter() - started)
        await ws.send_str(json.dumps({"type": "input", "data": "\x7f"}))
        await asyncio.sleep(0.02)
    return found


def seat_memory(room):
    names = [c.seat.sandbox.name for c in room.cards if c.seat is not None]
    stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", *names],
                           capture_output=True, text=True, check=True).stdout.split("\n")
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / (1 << 20)}
    used = []
    for line in filter(None, stats):
        amount = line.split("/")[0].strip()
        unit = next(u for u in ("KiB", "MiB", "GiB", "B") if amount.endswith(u))
        used.append(float(amount[:-len(unit)]) * units[unit])
    return statistics.mean(used)


async def measure(room, base, count, keys):
    started = time.monotonic()
    two_at_a_time = asyncio.Semaphore(2)  # the first opening of a card starts its seat
    terminals = await asyncio.gather(*(open_terminal(base, card, two_at_a_time) for card in room.cards))
    ready = time.monotonic() - started
    await asyncio.sleep(5)
    idle = await asyncio.to_thread(seat_memory, room)
    watcher, workers = terminals[0], terminals[1:]
    began = time.monotonic()
    for ws in workers:
        await ws.send_str(json.dumps({"type": "input", "data": CHAPTER + "\r"}))
    latencies, *_ = await asyncio.gather(echo_latencies(watcher, keys),
                                         *(read_until(ws, "chapter-done") for ws in workers))
    chapter = time.monotonic() - began
    for ws in terminals:
        await ws.close()
        await ws.session.close()
    latencies.sort()
    return {"seats": count, "ready_per_minute": round((count + 1) / ready * 60, 1),
            "idle_memory_mib": round(idle), "echo_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "echo_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            "chapter_s": round(chapter, 1)}


def one_room(count, keys):
    run = Run(DEFAULT_STATE, label=PROJECT.run_label)
    settings = SeatSettings(PROJECT.sandbox_image, Limits(2 * GIB, 1024, 512), paths.REGISTRY_DATA,
                            PROJECT.hostname, warm=0, idle=3600)
    room = Room(run, count + 1, settings)
    port = free_port()
    hosts = set(checkboard.served_hosts("127.0.0.1", port))
    board = checkboard.App(checkboard.Board(checkboard.load_record(checkboard.RECORD)), "t", lambda _: None)
    try:
        with room_server(RoomServer(room, board, "t", hosts, SITE, SITE, lambda _: None), port) as loop:
            return asyncio.run_coroutine_threadsafe(measure(room, f"http://127.0.0.1:{port}", count, keys),
                                                    loop).result(timeout=1800)
    finally:
        problems = room.close()
        if problems:
            print("left behind: " + "; ".join(problems), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seats", type=int, nargs="+", default=[2, 4, 6])
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    print("seats busy | seats ready/min | idle seat MiB | echo p50 ms | echo p99 ms | chapter s")
    for count in args.seats:
        r = one_room(count, args.keys)
        print(f"{r['seats']:10} | {r['ready_per_minute']:15} | {r['idle_memory_mib']:13} | {r['echo_p50_ms']:11} | "
              f"{r['echo_p99_ms']:11} | {r['chapter_s']:9}", flush=True)


if __name__ == "__main__":
    main()
