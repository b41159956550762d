"""The room's server: the workshop's site, the seats' terminals and the
board of checks, on one address of the organizer's machine.

    python -m bringup.roomserver --listen 192.168.1.20 --seats 8

- `/` and below: the built site (`make build`), as the site image serves it
  (the same CSP); for a browser signed in to a seat, each page also loads
  the terminal panel (seat-web/).
- `/c/SECRET`: a login card's address; signs the browser in to that seat.
- `/seat/ws`: the seat's terminal, over a WebSocket of the same origin.
- `/api/checks`, `/board/TOKEN`: the board of checks (bringup.checkboard).
- `/cards/TOKEN`: the login cards, one per seat, to print.

On a LAN address it serves HTTPS, with a certificate the room CA signs
(bringup.roomlisten). Everything a browser sends is input from a stranger: a
wrong secret is 403 and one logged line, frames are bounded, a burst of
reconnects is refused, one address holds a bounded number of connections.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import ipaddress
import io
import os
import resource
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from doctester.docker.identity import Identity, ini_settings
from doctester.docker.ownership import DEFAULT_STATE, Run, reap
from doctester.docker.dockerstate import EngineError
from doctester.docker.sandbox import GIB, Limits, parse_size

from . import checkboard, paths, roomca, swarmseats
from .organizer import check_local_address
from .progress import BringupError, say
from .room import Card, Room, SeatSettings, check_count
from .roomlisten import CONNECTIONS_PER_ADDRESS, AddressCap, Certificate, listen, room_certificate
from .seatsocket import Log, SeatTerminals, to_stderr
from .swarmseats import Swarm

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
SEAT_WEB = ROOT / "build" / "seat-web"
PROJECT = Identity.from_ini(ROOT / "pytest.ini")  # this project's image, labels and hostname for its sandboxes
CARDS_FILE = ROOT / "build" / "room-cards.html"
PID_FILES = "room-*.pid"  # one per port a room serves on
PORT = 8700
# Over HTTPS the session cookie has the __Host- prefix: browsers then take it
# only from this very origin over HTTPS, never set by a plain-HTTP answer
# for the same address (cookies are not kept apart by port or scheme).
COOKIE, SECURE_COOKIE = "seat", "__Host-seat"
SESSIONS_PER_CARD = 4
SEAT_TAGS = ('<link rel="stylesheet" href="/seat/static/xterm.css">'
             '<link rel="stylesheet" href="/seat/static/seat.css">'
             '<script src="/seat/static/xterm.js" defer></script>'
             '<script src="/seat/static/addon-fit.js" defer></script>'
             '<script src="/seat/static/seat.js" defer></script>')
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def site_headers(site: Path) -> list[tuple[str, str]]:
    """The site image's own headers (site-image/serve.py: a CSP allowing the
    theme's inline scripts by hash), so a page behaves as it does there."""
    spec = importlib.util.spec_from_file_location("site_serve", ROOT / "site-image" / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    headers: list[tuple[str, str]] = module.security_headers(site)
    return headers


class RoomServer:
    def __init__(self, room: Room | None, board: checkboard.App, token: str, hosts: set[str], site: Path,
                 seat_web: Path, log: Callable[[str], None] = to_stderr) -> None:
        self.room, self.board, self.token, self.hosts = room, board, token, hosts
        self.site, self.seat_web = site.resolve(), seat_web
        self.headers = site_headers(site)
        self.log = Log(log)
        self.terminals = SeatTerminals(room, self.log)
        self.sessions: dict[str, Card] = {}
        self.fingerprint: str | None = None  # the HTTPS certificate's, shown on the cards

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.guard], client_max_size=checkboard.MAX_BODY)
        app.router.add_get("/c/{secret}", self.login_page)
        app.router.add_post("/c/{secret}", self.login)
        app.router.add_get("/seat/ws", self.terminal)
        app.router.add_get("/cards/{token}", self.cards)
        app.router.add_route("*", "/api/checks", self.checks)
        app.router.add_route("*", "/board/{rest:.*}", self.checks)
        if self.seat_web.is_dir():
            app.router.add_static("/seat/static/", self.seat_web, follow_symlinks=False)
        app.router.add_get("/{path:.*}", self.page)
        return app

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.host not in self.hosts:
            self.log.refused(request, "421 Misdirected Request: a Host this room is not served as")
            return web.Response(status=421, text="a Host this room is not served as\n")
        try:
            response = await handler(request)
        except web.HTTPException as error:
            self.add_headers(error)
            raise
        if not isinstance(response, web.WebSocketResponse):
            self.add_headers(response)
        return response

    def add_headers(self, response: web.StreamResponse) -> None:
        for name, value in self.headers:
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")

    def card_of(self, request: web.Request) -> Card | None:
        """The card a browser signed in with: its cookie is a session of its own, never the card's secret."""
        return self.sessions.get(request.cookies.get(cookie_name(request), ""))

    def card_at(self, request: web.Request) -> Card:
        card = self.room.card(request.match_info["secret"]) if self.room is not None else None
        if card is None:
            self.log.refused(request, "403: no card has this secret")
            raise web.HTTPForbidden(text="This card is not one of this room's. Check its address, or ask "
                                         "the organizers for a card.\n")
        return card

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """A card's address asks before signing in: a link from elsewhere cannot sign a browser into a seat."""
        card = self.card_at(request)
        return web.Response(text=login_page(card.name), content_type="text/html")

    async def login(self, request: web.Request) -> web.StreamResponse:
        card = self.card_at(request)
        if sent_from_another_site(request):
            self.log.refused(request, "403: a sign-in sent from another site")
            raise web.HTTPForbidden(text="Open your card's address yourself, and sign in there.\n")
        session = secrets.token_urlsafe(24)
        mine = [s for s, c in self.sessions.items() if c is card]
        for old in mine[:-SESSIONS_PER_CARD + 1]:  # a few browsers per card, the oldest forgotten
            del self.sessions[old]
        self.sessions[session] = card
        response = web.HTTPSeeOther("/")
        response.set_cookie(cookie_name(request), session, httponly=True, samesite="Strict", path="/",
                            secure=request.secure)
        say(f"room: {card.name} signed in from {request.remote}")
        raise response

    async def page(self, request: web.Request) -> web.StreamResponse:
        target = site_file(self.site, request.match_info["path"])
        if target is None:
            raise web.HTTPNotFound(text="no such page\n")
        if target.suffix == ".html" and self.card_of(request) is not None:
            text = target.read_text(encoding="utf-8").replace("</head>", SEAT_TAGS + "</head>", 1)
            return web.Response(text=text, content_type="text/html")
        return web.FileResponse(target)

    async def cards(self, request: web.Request) -> web.StreamResponse:
        if not checkboard.same_secret(request.match_info["token"], self.token) or self.room is None:
            self.log.refused(request, "403: a wrong cards address")
            raise web.HTTPForbidden(text="a wrong address\n")
        return web.Response(text=cards_page(self.room.cards, f"{request.scheme}://{request.host}",
                                                self.fingerprint),
                            content_type="text/html")

    async def checks(self, request: web.Request) -> web.StreamResponse:
        return await wsgi_answer(self.board, request)

    async def terminal(self, request: web.Request) -> web.StreamResponse:
        return await self.terminals.handle(request, self.card_of(request))


def cookie_name(request: web.Request) -> str:
    return SECURE_COOKIE if request.secure else COOKIE


def site_file(site: Path, relative: str) -> Path | None:
    """The file of the built site a path names (a folder's index.html), if it is in the site."""
    try:  # a NUL or an overlong name is no page either
        target = (site / relative).resolve()
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_relative_to(site) and target.is_file() else None
    except (ValueError, OSError):
        return None


async def wsgi_answer(app: checkboard.App, request: web.Request) -> web.Response:
    """A WSGI app's answer (the board of checks') to an aiohttp request."""
    body = await request.read() if request.can_read_body else b""
    environ = {"REQUEST_METHOD": request.method, "PATH_INFO": request.path, "HTTP_HOST": request.host,
               "REMOTE_ADDR": request.remote or "?", "CONTENT_TYPE": request.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    if "Origin" in request.headers:
        environ["HTTP_ORIGIN"] = request.headers["Origin"]
    answer: dict[str, Any] = {}
    chunks = app(environ, lambda status, headers: answer.update(status=status, headers=headers))
    status = int(answer["status"].split()[0])
    headers = {k: v for k, v in answer["headers"] if k.lower() != "content-length"}
    return web.Response(status=status, body=b"".join(chunks) if status != 204 else None, headers=headers)


def sent_from_another_site(request: web.Request) -> bool:
    """Browsers say where a request comes from (Sec-Fetch-Site); with this
    site's no-referrer policy, the Origin of its own form is "null"."""
    fetched_from, origin = request.headers.get("Sec-Fetch-Site"), request.headers.get("Origin")
    return fetched_from in ("cross-site", "same-site") or (
        fetched_from is None and origin not in (None, f"{request.scheme}://{request.host}"))


def login_page(name: str) -> str:
    """The page a card's address opens: one button that signs this browser in."""
    import html
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
            f'<title>Sign in to {html.escape(name)}</title></head><body><main><h1>Your seat: {html.escape(name)}</h1><form method="post">'
            f'<button type="submit">Sign in to {html.escape(name)}</button></form><p>The workshop opens with a '
            f"terminal of your own beside it.</p></main></body></html>")


def cards_page(cards: list[Card], base: str, fingerprint: str | None = None) -> str:
    """One card per seat: its name, address and a QR code of the address, to
    print and cut; over HTTPS, the certificate's fingerprint too, for an
    attendee whose browser does not trust the room CA to compare."""
    import html

    import segno

    items = []
    for card in cards:
        url = f"{base}/c/{card.secret}"
        svg = segno.make(url, error="m").svg_inline(scale=4, title=f"{card.name}: {url}")
        items.append(f'<article class="card"><h2>{html.escape(card.name)}</h2>{svg}'
                     f"<p><code>{html.escape(url)}</code></p><p>Open this address in your browser: the workshop, "
                     "with a terminal of your own beside it. Keep the card to yourself: it is your seat's "
                     f"only key.</p>{certificate_note(fingerprint)}</article>")
    style = ("body{font-family:system-ui,sans-serif}.card{display:inline-block;width:17rem;margin:.5rem;"
             "padding:1rem;border:1px dashed #555;vertical-align:top;break-inside:avoid}code{font-size:.85rem;"
             "word-break:break-all}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Login cards</title>'
            f"<style>{style}</style></head><body><h1>Login cards</h1>{''.join(items)}</body></html>")


def certificate_note(fingerprint: str | None) -> str:
    if fingerprint is None:
        return ""
    return ("<p>If your browser warns about the certificate, open its details: its SHA-256 fingerprint must "
            f"begin with <code>{fingerprint[:23]}</code>. If it does not, stop and tell the organizers.</p>")


def pid_file(port: int) -> Path:
    return paths.RUN / PID_FILES.replace("*", str(port))


def state_dir() -> Path:
    return Path(ini_settings(ROOT / "pytest.ini").get("state_dir") or DEFAULT_STATE).expanduser()


def options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bringup.roomserver", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["serve", "stop"], default="serve")
    parser.add_argument("--listen", default="127.0.0.1", help="an address of this machine (default: loopback)")
    parser.add_argument("--port", type=int, help=f"default {PORT}; with stop: only the room on this port")
    parser.add_argument("--seats", type=int, default=0, help="login cards, each a seat (default 0: no seats)")
    parser.add_argument("--warm", type=int, default=2, help="seats started ahead of their card (default 2)")
    parser.add_argument("--swarm", nargs="*", default=[], metavar="ENGINE",
                        help="seats placed by Docker Swarm: the manager's engine address, then each seat node's "
                             "(ssh://user@host, unix://...)")
    parser.add_argument("--tls", choices=["auto", "on", "off"], default="auto",
                        help="HTTPS with the room CA's certificate (auto, the default: on a LAN address only)")
    parser.add_argument("--seat-memory", default="2g", help="memory of one seat, its files included (default 2g)")
    parser.add_argument("--idle", type=float, default=1800, help="seconds unused before a seat is given back")
    parser.add_argument("--site", type=Path, default=SITE)
    parser.add_argument("--seat-web", type=Path, default=SEAT_WEB)
    return parser.parse_args(argv)


def room_tls(args: argparse.Namespace) -> Certificate | None:
    """The certificate to serve with, if any: on by default wherever others
    could listen (a LAN address), never needed on loopback."""
    wanted = args.tls == "on" or (args.tls == "auto" and not ipaddress.ip_address(args.listen).is_loopback)
    return room_certificate(args.listen, args.port) if wanted else None


def swarm_of(hosts: list[str]) -> Swarm | None:
    """The Swarm whose engines `hosts` are (the manager's first), if any."""
    try:
        return Swarm.of(hosts) if hosts else None
    except EngineError as error:
        raise BringupError(f"SWARM: {error}") from None


def make_room(args: argparse.Namespace, certificate: Certificate | None) -> Room | None:
    """The seats' room (None without seats), after reaping what a killed room left."""
    if not args.seats:
        return None
    try:
        memory = parse_size(args.seat_memory) or 2 * GIB
    except EngineError as error:
        raise BringupError(str(error).replace("doc_sandbox_memory", "SEAT_MEMORY")) from None
    swarm = swarm_of(args.swarm)
    if swarm is None:  # a Swarm's nodes refuse seats their memory cannot hold (the seats reserve it)
        check_count(args.seats, memory, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    if not (args.seat_web / "seat.js").is_file():
        raise BringupError(f"{args.seat_web} holds no terminal for the seats: run `make seat-web` (or `make room`)")
    problems = reap_killed_rooms(swarm)
    if problems:
        raise BringupError("what a killed room left could not be removed: " + "; ".join(problems))
    run = (Run(swarmseats.state_dir(swarm), docker=swarm.docker(swarm.manager), label=PROJECT.run_label) if swarm
           else Run(state_dir(), label=PROJECT.run_label))
    # A seat reaches the room's server (the board of checks) only on a LAN address: loopback is the machine's own.
    lan = not ipaddress.ip_address(args.listen).is_loopback
    room_ca = roomca.CA_CERT.read_text() if certificate is not None else None
    settings = SeatSettings(PROJECT.sandbox_image, Limits(memory, 1024, 512), paths.REGISTRY_DATA,
                            PROJECT.hostname, max(0, min(args.warm, args.seats)), args.idle,
                            (args.listen, args.port) if lan else None, room_ca)
    if swarm is None:
        return Room(run, args.seats, settings)
    try:
        return Room(run, args.seats, settings, swarmseats.starter(swarm, PROJECT.sandbox_image))
    except EngineError as error:
        raise BringupError(f"SWARM: {error}") from None


async def serve(args: argparse.Namespace) -> int:
    args.port = PORT if args.port is None else args.port
    # Every browser, terminal and seat holds descriptors: take all the system allows (the soft limit is often 1024).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    check_local_address(args.listen)
    if not (args.site / "index.html").is_file():
        raise BringupError(f"{args.site} holds no built site: run `make build` (or `make room`)")
    token, cards_token = checkboard.new_token(), checkboard.new_token()  # the board's page, the cards' page
    hosts = set(checkboard.served_hosts(args.listen, args.port))
    board = checkboard.App(checkboard.Board(checkboard.load_record(checkboard.RECORD)), token)
    certificate = room_tls(args)
    room = make_room(args, certificate)
    runner: web.AppRunner | None = None
    try:
        server = RoomServer(room, board, cards_token, hosts, args.site, args.seat_web)
        server.fingerprint = certificate.fingerprint if certificate else None
        board.log = server.log.board_line
        try:
            runner = await listen(server.app(), args.listen, args.port, address_cap(server.log), certificate)
        except OSError as error:
            raise BringupError(f"cannot serve on {args.listen}:{args.port} ({error.strerror}): another program "
                               "holds the port; give another with ROOM_PORT=...") from None
        paths.write_private(pid_file(args.port), f"{os.getpid()}\n")  # the port is ours: no other room holds it
        tasks = []
        if room is not None:
            tasks += [asyncio.ensure_future(room.keep_warm()),
                      asyncio.ensure_future(room.give_back_idle(lambda card: card.name in server.terminals.attached))]
        announce(args, token, cards_token, room, certificate)
        stopped = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            asyncio.get_running_loop().add_signal_handler(signum, stopped.set)
        await stopped.wait()
        for task in tasks:
            task.cancel()
    finally:
        if runner is not None:
            await runner.cleanup()
        if room is not None:
            problems = await asyncio.to_thread(room.close)
            say("room: every seat removed" if not problems else "room: " + "; ".join(problems))
        if room_pid(pid_file(args.port)) == os.getpid():
            pid_file(args.port).unlink(missing_ok=True)
    return 0


def address_cap(log: Log) -> AddressCap:
    return AddressCap(CONNECTIONS_PER_ADDRESS, lambda address: log.emit(
        (address, "connections"), f"refused {address}: more than {CONNECTIONS_PER_ADDRESS} connections at once"))


def announce(args: argparse.Namespace, token: str, cards_token: str, room: Room | None,
             certificate: Certificate | None) -> None:
    scheme = "https" if certificate else "http"
    base = f"{scheme}://{checkboard.served_hosts(args.listen, args.port)[0]}"
    lines = [f"The room is served on {base}: the workshop's site for everyone on this network."]
    share = f"--share {base} --as A-NAME-OF-THEIR-OWN"
    if certificate is not None:
        lines += [f"Its certificate is signed by the room CA ({roomca.CA_CERT}, SHA-256 {roomca.fingerprint()}); "
                  f"a browser that does not trust it shows this certificate's fingerprint: {certificate.fingerprint}"]
        share += " --ca ca.crt"
    lines += [f"The board of checks (organizers only): {base}/board/{token}",
              f"Attendees add to their check: {share}"]
    if room is not None:
        paths.write_private(CARDS_FILE, cards_page(room.cards, base, certificate.fingerprint if certificate else None))
        lines += [f"{len(room.cards)} login cards, to print and cut: {CARDS_FILE} "
                  f"(also {base}/cards/{cards_token}: it opens every seat, keep it to yourselves)"]
        lines += [f"  {card.name}: {base}/c/{card.secret}" for card in room.cards]
    lines += ["Ctrl-C (or `make room-stop`) stops the room and removes every seat."]
    print("\n".join(lines), flush=True)


def room_pid(path: Path) -> int:
    """The pid a room's pid file names, if that process is a live room server; else 0."""
    try:
        pid = int(paths.read_private(path).strip())
        running = b"bringup.roomserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, BringupError):
        return 0
    return pid if running else 0


def stop(port: int | None = None, swarm: Swarm | None = None) -> int:
    """Stop the rooms running here, or the one on `port` (each removes its
    seats), then reap what a killed one left (on `swarm` too)."""
    for path in [pid_file(port)] if port else sorted(paths.RUN.glob(PID_FILES)):
        pid = room_pid(path)
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 120
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            say(f"room: stopped the room server (pid {pid})")
        path.unlink(missing_ok=True)
    problems = reap_killed_rooms(swarm)
    for problem in problems:
        say(f"room: {problem}")
    return 1 if problems else 0


def reap_killed_rooms(swarm: Swarm | None = None) -> list[str]:
    """Remove what killed runs of this project left (a room's seats among
    them, on `swarm`'s manager too); returns problems."""
    reaped, problems = reap(state_dir(), label=PROJECT.run_label)
    if swarm is not None:
        on_swarm = reap(swarmseats.state_dir(swarm), docker=swarm.docker(swarm.manager), label=PROJECT.run_label)
        reaped, problems = reaped + on_swarm[0], problems + on_swarm[1]
    if reaped:
        say(f"room: removed what a killed run left ({', '.join(reaped)})")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    try:
        if args.command == "stop":
            return stop(args.port, swarm_of(args.swarm))
        return asyncio.run(serve(args))
    except BringupError as error:
        print(f"room: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
