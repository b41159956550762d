"""The seats' terminals over WebSockets: one browser attached to a seat at a
time, its output queued in order, every message from it bounded and checked.
Served by bringup.roomserver at /seat/ws."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web

from .room import Card, Room
from .seats import Seat, Terminal

MAX_FRAME = 64 * 1024         # bytes of one WebSocket message from a browser
MAX_INPUT = 16 * 1024         # characters of input in one message
MAX_QUEUED = 1 << 20          # bytes of output waiting for a slow browser before it is dropped
CONNECTS_PER_10S = 10         # openings of one seat's terminal
LINES_PER_SECOND = 20         # refusals logged, in all


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Log:
    """One line per refusal: at most one a second for the same reason and
    client, and LINES_PER_SECOND in all (what was left out is counted)."""

    def __init__(self, sink: Callable[[str], None] = to_stderr) -> None:
        self.last: dict[tuple[str, str], float] = {}
        self.sink = sink
        self.second, self.lines, self.left_out = 0, 0, 0

    def refused(self, request: web.Request, reason: str, detail: str = "") -> None:
        """`reason`: a few fixed words (the key); `detail`: what the client sent, in the line only."""
        client = request.remote or "?"
        self.emit((client, reason), f"refused {client} {request.method} {request.path[:60]!r}: {reason}"
                                    + (f" ({detail[:80]})" if detail else ""))

    def emit(self, key: tuple[str, str], line: str) -> None:
        now = time.monotonic()
        if now - self.last.get(key, -10) < 1:
            return
        if int(now) != self.second:
            if self.left_out:
                self.sink(f"{time.strftime('%H:%M:%S')} ({self.left_out} more refusals not logged)")
            self.second, self.lines, self.left_out = int(now), 0, 0
        if self.lines >= LINES_PER_SECOND:
            self.left_out += 1
            return
        self.lines += 1
        self.last[key] = now
        if len(self.last) > 10000:  # forget the old keys, not the recent ones
            self.last = {k: t for k, t in self.last.items() if now - t < 1}
        self.sink(f"{time.strftime('%H:%M:%S')} {line}")

    def board_line(self, line: str) -> None:
        """The board of checks' own refusal lines, through the same limits."""
        words = line.split()
        self.emit((words[2] if len(words) > 2 else "?", line.rsplit(": ", 1)[-1][:40]), " ".join(words[1:]))


class Connection:
    """A browser attached to a seat's terminal: output queued in order, a
    browser too slow to take it is dropped (it reconnects to the scrollback)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws, self.queue = ws, asyncio.Queue[bytes]()
        self.queued = 0

    def send(self, data: bytes) -> None:
        self.queued += len(data)
        if self.queued > MAX_QUEUED:
            asyncio.ensure_future(self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow"))
            return
        self.queue.put_nowait(data)

    async def pump(self) -> None:
        while True:
            data = await self.queue.get()
            self.queued -= len(data)
            await self.ws.send_bytes(data)


class SeatTerminals:
    """The /seat/ws handler: which browser holds which seat's terminal."""

    def __init__(self, room: Room | None, log: Log) -> None:
        self.room, self.log = room, log
        self.attached: dict[str, Connection] = {}
        self.connects: dict[str, list[float]] = {}

    async def handle(self, request: web.Request, card: Card | None) -> web.StreamResponse:
        if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
            self.log.refused(request, "403: a WebSocket from another origin")
            raise web.HTTPForbidden(text="another origin\n")
        if card is not None and self.too_many_connects(card):
            self.log.refused(request, f"429: {card.name} reconnects more than {CONNECTS_PER_10S} times in 10 s")
            raise web.HTTPTooManyRequests(text="too many reconnects; wait a few seconds\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=20)
        await ws.prepare(request)
        if card is None or self.room is None:
            self.log.refused(request, "4401: a terminal without a seat's card")
            await ws.close(code=4401, message=b"signed out")
            return ws
        seat = await self.room.seat_for(card)
        assert seat.terminal is not None
        await self.attach(card, seat, seat.terminal, ws, request)
        return ws

    def too_many_connects(self, card: Card) -> bool:
        now = time.monotonic()
        recent = [t for t in self.connects.get(card.name, []) if now - t < 10]
        self.connects[card.name] = recent + [now]
        return len(recent) >= CONNECTS_PER_10S

    async def attach(self, card: Card, seat: Seat, terminal: Terminal, ws: web.WebSocketResponse,
                     request: web.Request) -> None:
        previous = self.attached.get(card.name)
        if previous is not None:
            await previous.ws.close(code=4409, message=b"opened in another tab")
        connection = self.attached[card.name] = Connection(ws)
        await ws.send_str(json.dumps({"type": "hello", "seat": card.name}))
        await ws.send_bytes(bytes(terminal.scrollback))
        terminal.listener = connection.send
        pump = asyncio.ensure_future(connection.pump())
        try:
            async for message in ws:
                seat.last_used = time.monotonic()
                if message.type == WSMsgType.TEXT:
                    self.command(request, terminal, message.data)
                elif message.type == WSMsgType.BINARY:
                    terminal.write(message.data[:MAX_INPUT])
                elif message.type == WSMsgType.ERROR:
                    self.log.refused(request, "a terminal closed on an error", str(ws.exception()))
        finally:
            pump.cancel()
            if self.attached.get(card.name) is connection:
                del self.attached[card.name]
                terminal.listener = None

    def command(self, request: web.Request, terminal: Terminal, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message["type"]
            if kind == "input" and isinstance(message["data"], str) and len(message["data"]) <= MAX_INPUT:
                terminal.write(message["data"].encode("utf-8", "replace"))
            elif kind == "resize" and all(isinstance(message[k], int) for k in ("cols", "rows")) \
                    and 2 <= message["cols"] <= 500 and 1 <= message["rows"] <= 200:
                terminal.resize(message["rows"], message["cols"])
            else:
                raise ValueError(f"a {str(kind)[:20]!r} message out of bounds")
        except (ValueError, KeyError, TypeError) as error:
            self.log.refused(request, "ignored a terminal message", str(error))
