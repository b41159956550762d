"""The room's seats: login cards, a pool of started seats kept warm, and the
seats taken by cards, given back after a time unused.

A card is a name (seat-1, ...) and a secret; the secret is the only key to
its seat. A card gets a seat the first time it is opened (from the warm
pool: about a second), keeps it while its browser comes and goes, and loses
it after `idle` seconds with no browser attached and no key typed; opened
again, it gets a fresh seat.
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from doctester.docker.ownership import Run
from doctester.docker.sandbox import Limits

from .checkboard import same_secret, served_hosts
from .progress import BringupError, say
from .seats import Seat, start_seat

SECRET_BYTES = 9  # 12 characters of URL-safe base64: 72 bits, typed from a card if need be


@dataclass
class Card:
    name: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(SECRET_BYTES))
    seat: Seat | None = None


@dataclass(frozen=True)
class SeatSettings:
    image: str
    limits: Limits
    mirror_storage: Path | None
    hostname: str
    warm: int            # started seats kept ready for cards opened for the first time
    idle: float          # seconds
    room: tuple[str, int] | None = None  # the room server's LAN address and port, which seats may reach
    room_ca: str | None = None  # the room CA's certificate (PEM) when the room serves HTTPS

    @property
    def room_url(self) -> str | None:
        if self.room is None:
            return None
        return f"{'https' if self.room_ca else 'http'}://{served_hosts(*self.room)[0]}"


class Room:
    def __init__(self, run: Run, count: int, settings: SeatSettings,
                 starter: Callable[..., Seat] = start_seat) -> None:
        self.run, self.settings, self.starter = run, settings, starter
        self.cards = [Card(f"seat-{n}") for n in range(1, count + 1)]
        self.warm: list[Seat] = []
        self.starting = 0
        self.numbers = iter(range(1, 1 << 30))
        self.locks: dict[str, asyncio.Lock] = {}
        self.closed = False

    def card(self, secret: str) -> Card | None:
        """The card whose secret this is: every card compared, in constant time."""
        found = None
        for card in self.cards:
            if same_secret(secret, card.secret):
                found = card
        return found

    async def _start(self) -> Seat:
        s = self.settings
        self.starting += 1
        try:
            seat = await asyncio.to_thread(self.starter, self.run, next(self.numbers), s.image, s.limits,
                                           s.mirror_storage, s.hostname, s.room, s.room_ca)
        finally:
            self.starting -= 1
        return seat

    async def seat_for(self, card: Card) -> Seat:
        """The card's seat: its own, one from the warm pool, or a new one.
        Openings of one card wait for each other: a card never starts two."""
        async with self.locks.setdefault(card.name, asyncio.Lock()):
            if card.seat is None:
                seat = self.warm.pop(0) if self.warm else await self._start()
                card.seat = seat
                seat.open_terminal(card.name, asyncio.get_running_loop(), self.settings.room_url)
            card.seat.last_used = time.monotonic()
            return card.seat

    async def keep_warm(self) -> None:
        """Keep `warm` seats started, never more seats than cards."""
        while not self.closed:
            taken = sum(1 for c in self.cards if c.seat is not None)
            wanted = min(self.settings.warm, len(self.cards) - taken)
            if len(self.warm) > wanted:  # cards took seats of their own meanwhile: never more seats than cards
                await asyncio.to_thread(self.end, self.warm.pop())
            elif len(self.warm) + self.starting < wanted:
                try:
                    self.warm.append(await self._start())
                except Exception as error:  # noqa: BLE001  one line, then try again later
                    say(f"room: starting a seat failed: {error}")
                    await asyncio.sleep(10)
            else:
                await asyncio.sleep(1)

    async def give_back_idle(self, attached: Callable[[Card], bool]) -> None:
        """Every few seconds, end the seats unused for `idle` seconds."""
        while not self.closed:
            now = time.monotonic()
            for card in self.cards:
                seat = card.seat
                if seat is not None and not attached(card) and now - seat.last_used > self.settings.idle:
                    card.seat = None
                    say(f"room: {card.name} unused for {self.settings.idle:.0f} s: its seat is removed")
                    await asyncio.to_thread(self.end, seat)
            await asyncio.sleep(min(5.0, self.settings.idle / 2))

    def end(self, seat: Seat) -> None:
        seat.close()
        problems = self.run.release_some(*seat.names)
        if problems:
            say("room: " + "; ".join(problems))

    def close(self) -> list[str]:
        """End every seat and the run (what this room started, and nothing else)."""
        self.closed = True
        for seat in [*self.warm, *(c.seat for c in self.cards if c.seat is not None)]:
            seat.close()
        return self.run.release()


def check_count(count: int, memory_per_seat: int, total_memory: int) -> None:
    """Refuse more seats than this machine's memory holds (80 % of it)."""
    if count < 0 or count > 200:
        raise BringupError(f"SEATS={count}: give a number from 0 to 200")
    if count * memory_per_seat > total_memory * 0.8:
        fits = int(total_memory * 0.8 // memory_per_seat)
        raise BringupError(f"SEATS={count} seats of {memory_per_seat >> 20} MiB do not fit in this machine's "
                           f"memory: {fits} do (or give SEAT_MEMORY=...)")
