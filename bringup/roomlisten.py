"""How the room's server listens: over HTTPS with a certificate the room CA
signs (bringup.roomca) when it serves a LAN, and with caps on the
connections open at once, per client address and in all.

On open Wi-Fi anyone in range can read plain HTTP: a card's secret in the
login address, the session cookie that opens a seat. Over HTTPS they read
nothing, even from an attendee who clicked through the browser's warning
instead of trusting the room CA. The cap keeps one laptop (or a script on
it) from holding every descriptor the server has, slowly, while the others
wait. Every accepted connection is counted from its first moment: a TLS
handshake that never ends counts too, and is given up after a few seconds.
"""
from __future__ import annotations

import asyncio
import ipaddress
import resource
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import roomca

# A browser opens about six connections to a site, and one for the terminal;
# a few tabs, a sign-in on a phone: 64 leaves room for all of that.
CONNECTIONS_PER_ADDRESS = 64
TLS_HANDSHAKE_SECONDS = 10  # on a LAN a handshake takes milliseconds; a stalled one holds memory
EARLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Certificate:
    """The room server's certificate, loaded as it was written (another room
    starting later cannot change what this one serves), and what an
    attendee compares."""
    context: ssl.SSLContext = field(repr=False)
    fingerprint: str  # SHA-256 of the DER certificate, as browsers show it (AB:CD:...)


def room_certificate(address: str, port: int) -> Certificate:
    """A week-long certificate for `address`, signed by the room CA (made on
    first use), in files of this port's room."""
    cert, key = roomca.server_certificate(address, role=f"room-{port}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return Certificate(context, roomca.certificate_fingerprint(cert))


def total_connections() -> int:
    """All the connections the room takes at once: half the descriptors this
    process may hold (the seats' terminals and files need the rest)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(256, soft // 2)


def client_key(host: str) -> str:
    """What the cap counts under: an IPv4 address, or an IPv6 address's /64
    (one laptop may take any number of addresses of its network's /64)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class AddressCap:
    """Connections open at once, per client (client_key) and in all; those
    over a cap are closed as they arrive, with one line in the log."""

    def __init__(self, limit: int, refused: Callable[[str], None], total: int | None = None) -> None:
        self.limit, self.refused = limit, refused
        self.total = total or total_connections()
        self.open: Counter[str] = Counter()
        self.count = 0

    def admit(self, client: str) -> bool:
        if self.open[client] >= self.limit or self.count >= self.total:
            self.refused(client)
            return False
        self.open[client] += 1
        self.count += 1
        return True

    def leave(self, client: str) -> None:
        self.count -= 1
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


class CappedServer(web.Server):
    """aiohttp's connection manager, told when a connection a Gate handed
    over ends (RequestHandler calls connection_lost), to count it out."""

    def __init__(self, *args: Any, cap: AddressCap, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.counted: dict[web.RequestHandler, str] = {}

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        client = self.counted.pop(handler, None)
        if client is not None:
            self.cap.leave(client)
        super().connection_lost(handler, exc)


class CappedRunner(web.AppRunner):
    """An AppRunner whose connection manager is a CappedServer."""

    def __init__(self, app: web.Application, cap: AddressCap, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.cap = cap

    async def _make_server(self) -> web.Server:
        # The application started and frozen as aiohttp does it, then its manager's settings carried over.
        made = await super()._make_server()
        return CappedServer(made.request_handler, request_factory=made.request_factory,
                            handler_cancellation=made.handler_cancellation, cap=self.cap, **made._kwargs)


class Gate(asyncio.Protocol):
    """The first protocol of every accepted connection: admits its client
    under the caps, makes the TLS handshake (within TLS_HANDSHAKE_SECONDS),
    then hands the connection to one of aiohttp's handlers. A refused
    connection never meets a handler."""

    def __init__(self, manager: CappedServer, context: ssl.SSLContext | None, pending: set[asyncio.Task[None]]) -> None:
        self.manager, self.context, self.pending = manager, context, pending
        self.client: str | None = None  # counted in, not yet counted out
        # What the client sent between its handshake's end and the hand-over
        # (a request sent at once): the handler reads it first.
        self.early = bytearray()
        self.raw: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # a TCP connection
        peer = transport.get_extra_info("peername")
        client = client_key(str(peer[0]) if peer else "?")
        if not self.manager.cap.admit(client):
            transport.abort()
            return
        self.client, self.raw = client, transport
        if self.context is None:
            self.hand_over(transport)
            return
        transport.pause_reading()  # the client's first bytes wait for the handshake, which reads them
        task = asyncio.ensure_future(self.handshake(transport, self.context))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def handshake(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        try:
            secure = await asyncio.get_running_loop().start_tls(
                transport, self, context, server_side=True, ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS)
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError, RuntimeError):
            transport.abort()  # a stalled, failed or closed handshake: the place is given back
            self.count_out()
            return
        except asyncio.CancelledError:  # the room stops
            transport.abort()
            self.count_out()
            raise
        if secure is None or secure.is_closing():
            self.count_out()
            return
        self.hand_over(secure)

    def hand_over(self, transport: asyncio.Transport) -> None:
        handler = self.manager()
        assert self.client is not None
        self.manager.counted[handler] = self.client  # counted out by the manager when the handler's connection ends
        self.client = None
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self.early:
            handler.data_received(bytes(self.early))
            self.early.clear()

    def data_received(self, data: bytes) -> None:
        if len(self.early) + len(data) > EARLY_BYTES and self.raw is not None:
            self.raw.abort()  # no request of this site is that large
            return
        self.early += data

    def count_out(self) -> None:
        if self.client is not None:
            self.manager.cap.leave(self.client)
            self.client = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self.count_out()  # closed before it was handed over


class GatedSite(web.BaseSite):
    """aiohttp's TCP site with a Gate in front of its handlers."""

    def __init__(self, runner: CappedRunner, host: str, port: int, context: ssl.SSLContext | None) -> None:
        super().__init__(runner)
        self.host, self.port, self.context = host, port, context
        self.pending: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return f"{'https' if self.context else 'http'}://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        manager = self._runner.server
        assert isinstance(manager, CappedServer)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Gate(manager, self.context, self.pending), self.host, self.port, backlog=self._backlog)

    async def stop(self) -> None:
        for task in list(self.pending):
            task.cancel()
        await super().stop()


async def listen(app: web.Application, address: str, port: int, cap: AddressCap,
                 certificate: Certificate | None = None) -> web.AppRunner:
    """The app served on address:port (HTTPS with `certificate`); the caller cleans the runner up."""
    runner = CappedRunner(app, cap, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await GatedSite(runner, address, port, certificate.context if certificate else None).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
