"""The room's board of checks: where each attendee who asks shares the result
of `examples/check.py CHAPTER --share http://ADDRESS:PORT --as NAME`. The
room's server (bringup.roomserver, `make room`) serves it.

Attendees post to /api/checks; the organizers read one page, at a secret
address printed at the start, that groups the seats by chapter and by what
is off ("7 seats: port 8000 busy"), reloaded every few seconds. Nothing is
kept on disk: the board forgets everything when it stops (Ctrl-C).

What an attendee sends is input from a stranger on the LAN: its size, its
fields, the chapters it names and the rate of posts are bounded, every
refusal is one logged line, and the page shows it escaped, under a CSP that
runs no script.
"""
from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import html
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from .progress import BringupError

RECORD = Path(__file__).resolve().parent.parent / "examples" / "check-record.json"
PORT = 8700
MAX_BODY = 8 * 1024          # bytes of one post
MAX_SEATS = 400              # names the board keeps; a new one beyond is refused
MAX_ITEMS = 50               # things off in one post
MAX_ITEM = 80                # characters of one of them
POSTS_PER_MINUTE = 30        # from one address
NAMES_PER_CLIENT = 3         # names one address may post as (a laptop, a seat: one each)
REFRESH = 3                  # seconds between reloads of the organizers' page
STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
         "li{margin:.2rem 0}.off{color:#a40000}.ok{color:#1b5e20}small{color:#555}")
HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; style-src 'sha256-"
     + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
     + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Refused(Exception):
    """A request the board turns down: its status and the reason, logged."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Check:
    chapter: str
    step: str | None
    ok: int
    off: tuple[str, ...]
    at: float


class Board:
    """The latest check of each seat, and the chapters a check may name."""

    def __init__(self, record: dict[str, Any], clock: Callable[[], float] = time.monotonic) -> None:
        self.titles = {(c["name"], c.get("step")): c["title"] + (", after its Try it" if c.get("step") else "")
                       for c in record["chapters"]}
        self.order = list(self.titles)
        self.seats: dict[str, Check] = {}
        self.posts: dict[str, collections.deque[float]] = {}
        self.names: dict[str, set[str]] = {}  # the names each address posted as
        self.clock = clock
        self.lock = threading.Lock()

    def read(self, body: bytes) -> tuple[str, Check]:
        try:
            posted = json.loads(body)
        except ValueError:
            raise Refused("400 Bad Request", "the body is not JSON") from None
        if not isinstance(posted, dict):
            raise Refused("400 Bad Request", "the body is not a JSON object")
        name, chapter, step, ok, off = (posted.get(key) for key in ("name", "chapter", "step", "ok", "off"))
        if not isinstance(name, str) or not name or len(name) > 24 or \
                not all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
            raise Refused("400 Bad Request", "name: letters, digits, - and _ (up to 24)")
        if (chapter, step) not in self.titles:
            raise Refused("400 Bad Request", f"no chapter {str(chapter)[:40]!r} (step {str(step)[:10]!r})")
        if not isinstance(ok, int) or isinstance(ok, bool) or not 0 <= ok <= 1000:
            raise Refused("400 Bad Request", "ok: a count")
        if not isinstance(off, list) or len(off) > MAX_ITEMS or \
                not all(isinstance(i, str) and 0 < len(i) <= MAX_ITEM and i.isprintable() for i in off):
            raise Refused("400 Bad Request", f"off: up to {MAX_ITEMS} short texts")
        return name, Check(str(chapter), None if step is None else str(step), ok, tuple(off), self.clock())

    def post(self, client: str, body: bytes) -> None:
        name, check = self.read(body)
        with self.lock:
            recent = self.posts.setdefault(client, collections.deque())
            while recent and recent[0] < check.at - 60:
                recent.popleft()
            if len(recent) >= POSTS_PER_MINUTE:
                raise Refused("429 Too Many Requests", f"more than {POSTS_PER_MINUTE} posts a minute")
            if name not in self.seats and len(self.seats) >= MAX_SEATS:
                raise Refused("429 Too Many Requests", f"the board holds {MAX_SEATS} seats already")
            names = self.names.setdefault(client, set())
            if name not in names and len(names) >= NAMES_PER_CLIENT:
                raise Refused("429 Too Many Requests", f"one address posts as {NAMES_PER_CLIENT} names at most")
            if len(self.posts) > 10 * MAX_SEATS:  # many addresses: forget the quietest windows rather than grow
                for quiet in sorted(self.posts, key=lambda c: self.posts[c][-1] if self.posts[c] else 0)[:MAX_SEATS]:
                    del self.posts[quiet]
                self.posts[client] = recent
            names.add(name)
            recent.append(check.at)
            self.seats[name] = check

    def state(self) -> dict[str, Any]:
        """Seats by chapter and, across them, what is off and where."""
        with self.lock:
            seats = dict(self.seats)
        chapters = []
        for key in self.order:
            here = {name: c for name, c in seats.items() if (c.chapter, c.step) == key}
            if here:
                chapters.append({"title": self.titles[key],
                                 "passed": sorted(n for n, c in here.items() if not c.off),
                                 "off": sorted(n for n, c in here.items() if c.off)})
        grouped: dict[tuple[str, str], list[str]] = {}
        for name, check in seats.items():
            for item in set(check.off):
                grouped.setdefault((item, self.titles[check.chapter, check.step]), []).append(name)
        problems = [{"item": item, "chapter": title, "seats": sorted(names)}
                    for (item, title), names in sorted(grouped.items(), key=lambda g: (-len(g[1]), g[0]))]
        return {"seats": len(seats), "chapters": chapters, "problems": problems}


def page(state: dict[str, Any]) -> str:
    def seats(names: list[str], kind: str, what: str) -> str:
        listed = f" <small>({html.escape(', '.join(names))})</small>" if names else ""
        return f'<span class="{kind}">{len(names)} {what}</span>{listed}'
    problems = "".join(
        f'<li class="off"><strong>{len(p["seats"])} seat{"s" if len(p["seats"]) > 1 else ""}</strong>: '
        f'{html.escape(p["item"])}, {html.escape(p["chapter"])} '
        f'<small>({html.escape(", ".join(p["seats"]))})</small></li>'
        for p in state["problems"]) or "<li>Nothing off.</li>"
    chapters = "".join(
        f'<li>{html.escape(c["title"])}: {seats(c["passed"], "ok", "all as the check expects")}, '
        f'{seats(c["off"], "off", "with something off")}</li>'
        for c in state["chapters"]) or "<li>No seat has shared a check yet.</li>"
    count = state["seats"]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="{REFRESH}"><title>The room\'s checks</title>'
            f"<style>{STYLE}</style></head><body><h1>The room's checks</h1>"
            f"<p>{count} seat{'s' if count != 1 else ''} shared a check; each seat counts with its latest. "
            f"This page reloads every {REFRESH} s.</p>"
            f"<h2>What is off</h2><ul>{problems}</ul><h2>By chapter</h2><ul>{chapters}</ul></body></html>")


class App:
    """The WSGI application: /api/checks for attendees, /board/TOKEN for organizers."""

    def __init__(self, board: Board, token: str,
                 log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> None:
        self.board, self.token, self.log = board, token, log

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        client = str(environ.get("REMOTE_ADDR", "?"))
        method, path = str(environ.get("REQUEST_METHOD", "")), str(environ.get("PATH_INFO", ""))
        try:
            status, kind, body = self.answer(environ, client, method, path)
        except Refused as refused:
            self.log(f"{time.strftime('%H:%M:%S')} refused {client} {method} {path[:60]!r}: {refused.status} "
                     f"{refused}")
            status, kind, body = refused.status, "text/plain; charset=utf-8", f"{refused}\n".encode()
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    def answer(self, environ: dict[str, Any], client: str, method: str, path: str) -> tuple[str, str, bytes]:
        if path == "/api/checks":
            if method != "POST":
                raise Refused("405 Method Not Allowed", "post a check here")
            if environ.get("HTTP_ORIGIN") is not None:
                raise Refused("403 Forbidden", "a web page may not post checks")  # check.py sends no Origin
            if str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip() != "application/json":
                raise Refused("415 Unsupported Media Type", "a check is JSON")
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise Refused("400 Bad Request", "a bad Content-Length") from None
            if not 0 < length <= MAX_BODY:
                raise Refused("413 Content Too Large", f"a check is at most {MAX_BODY} bytes")
            self.board.post(client, environ["wsgi.input"].read(length))
            return "204 No Content", "text/plain", b""
        prefix, _, rest = path.partition("/board/")
        token, _, view = rest.partition("/")
        if prefix or not token:
            raise Refused("404 Not Found", "no such page")
        if not same_secret(token, self.token):
            raise Refused("403 Forbidden", "a wrong board address")
        if method not in ("GET", "HEAD"):
            raise Refused("405 Method Not Allowed", "the board is read-only")
        if view == "state.json":
            return "200 OK", "application/json", json.dumps(self.board.state()).encode()
        if view:
            raise Refused("404 Not Found", "no such page")
        return "200 OK", "text/html; charset=utf-8", page(self.board.state()).encode()


def load_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and isinstance(record.get("chapters"), list):
            return record
    except (OSError, ValueError):
        pass
    raise BringupError(f"{path} is not the workshop's check record: run `make journey` and `make check-record`")


def new_token() -> str:
    """The secret part of the organizers' addresses."""
    return secrets.token_urlsafe(18)


def same_secret(given: str, secret: str) -> bool:
    """Compared in constant time, so the time taken tells nothing of the secret."""
    return hmac.compare_digest(given.encode(), secret.encode())


def served_hosts(address: str, port: int) -> list[str]:
    shown = f"[{address}]" if ":" in address else address
    hosts = [f"{shown}:{port}"]
    if address in ("127.0.0.1", "::1"):
        hosts += [f"localhost:{port}"]
    return hosts
