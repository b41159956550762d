"""How the room's server listens: over HTTPS with a certificate the room CA
signs (bringup.roomca) when it serves a LAN, and with a cap on the
connections one address may hold open at once.

On open Wi-Fi anyone in range can read plain HTTP: a card's secret in the
login address, the session cookie that opens a seat. Over HTTPS they read
nothing, even from an attendee who clicked through the browser's warning
instead of trusting the room CA. The cap keeps one laptop (or a script on
it) from holding every descriptor the server has, slowly, while the others
wait.
"""
from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import roomca

# A browser opens about six connections to a site, and one for the terminal;
# a few tabs, a sign-in on a phone: 64 leaves room for all of that.
CONNECTIONS_PER_ADDRESS = 64


@dataclass(frozen=True)
class Certificate:
    """The room server's certificate: files, and what an attendee compares."""
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the DER certificate, as browsers show it (AB:CD:...)

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context


def room_certificate(address: str) -> Certificate:
    """A week-long certificate for `address`, signed by the room CA (made on first use)."""
    cert, key = roomca.server_certificate(address, role="room")
    return Certificate(cert, key, roomca.certificate_fingerprint(cert))


class AddressCap:
    """Connections open at once per client address; those over the cap are
    closed as they arrive, with one line in the log."""

    def __init__(self, limit: int, refused: Callable[[str], None]) -> None:
        self.limit, self.refused = limit, refused
        self.open: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        if self.open[address] >= self.limit:
            self.refused(address)
            return False
        self.open[address] += 1
        return True

    def leave(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class CappedServer(web.Server):
    """aiohttp's connection manager, told of every connection as it opens and
    closes (RequestHandler calls these two), so it can refuse one over the cap."""

    def __init__(self, *args: Any, cap: AddressCap, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cap = cap
        self.counted: dict[web.RequestHandler, str] = {}

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "?"
        if not self.cap.admit(address):
            transport.close()  # the handler's connection_lost follows; it was never counted
            return
        self.counted[handler] = address
        super().connection_made(handler, transport)

    def connection_lost(self, handler: web.RequestHandler, exc: BaseException | None = None) -> None:
        address = self.counted.pop(handler, None)
        if address is not None:
            self.cap.leave(address)
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


async def listen(app: web.Application, address: str, port: int, cap: AddressCap,
                 certificate: Certificate | None = None) -> web.AppRunner:
    """The app served on address:port (HTTPS with `certificate`); the caller cleans the runner up."""
    runner = CappedRunner(app, cap, access_log=None, handle_signals=False)
    await runner.setup()
    context = certificate.context() if certificate else None
    try:
        await web.TCPSite(runner, address, port, ssl_context=context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
