"""The room's decisions, without an engine: which card a secret opens, how
many seats fit, what a seat's network refuses, when a seat is given back
(tests/integration/test_seats.py runs real seats)."""
import asyncio
import ipaddress
import time
from types import SimpleNamespace

import pytest

from bringup import room as rooms
from bringup.progress import BringupError
from bringup.seats import CLOSED_V4, CLOSED_V6, egress_rules
from doctester.docker.sandbox import GIB, Limits


class FakeRun:
    def __init__(self):
        self.released = []

    def release_some(self, *names):
        self.released.extend(names)
        return []

    def release(self):
        return []


class FakeSeat:
    def __init__(self, number):
        self.sandbox = SimpleNamespace(name=f"seat{number}")
        self.names = (self.sandbox.name,)
        self.last_used = time.monotonic()
        self.terminal, self.closed = None, False

    def open_terminal(self, card, loop, room_url=None):
        self.terminal = SimpleNamespace(card=card, room_url=room_url)
        return self.terminal

    def close(self):
        self.closed = True


def a_room(count=3, warm=1, idle=3600):
    settings = rooms.SeatSettings("image", Limits(2 * GIB, 1024, 512), None, "laptop", warm, idle)
    return rooms.Room(FakeRun(), count, settings, starter=lambda run, number, *rest: FakeSeat(number))


def test_a_secret_opens_its_own_card_and_nothing_else():
    room = a_room()
    first, second, _ = room.cards
    assert room.card(second.secret) is second
    assert room.card(first.secret[:-1]) is None and room.card("") is None and room.card("é" * 12) is None
    assert len({c.secret for c in room.cards}) == 3 and all(len(c.secret) == 12 for c in room.cards)


def test_a_card_keeps_its_seat_and_a_new_card_takes_one_from_the_warm_pool():
    room = a_room()

    async def scenario():
        room.warm.append(FakeSeat(99))
        seat = await room.seat_for(room.cards[0])
        assert seat.sandbox.name == "seat99" and room.warm == []
        assert await room.seat_for(room.cards[0]) is seat  # again: the same seat
        other = await room.seat_for(room.cards[1])  # the pool is empty: one is started
        assert other is not seat and other.terminal.card == "seat-2"
    asyncio.run(scenario())


def test_an_unused_seat_is_given_back_and_an_attached_one_is_kept():
    room = a_room(idle=0.01)

    async def scenario():
        kept = await room.seat_for(room.cards[0])
        gone = await room.seat_for(room.cards[1])
        kept.last_used = gone.last_used = time.monotonic() - 1
        task = asyncio.ensure_future(room.give_back_idle(lambda card: card is room.cards[0]))
        await asyncio.sleep(0.2)
        room.closed = True
        await task
        return kept, gone
    kept, gone = asyncio.run(scenario())
    assert room.cards[0].seat is kept and room.cards[1].seat is None
    assert gone.closed and room.run.released == [gone.sandbox.name]


def test_more_seats_than_the_memory_holds_are_refused():
    rooms.check_count(8, 2 * GIB, 24 * GIB)
    with pytest.raises(BringupError, match="SEATS=10 seats of 2048 MiB do not fit .*: 9 do"):
        rooms.check_count(10, 2 * GIB, 24 * GIB)
    with pytest.raises(BringupError, match="from 0 to 200"):
        rooms.check_count(-1, GIB, 24 * GIB)


def test_a_seats_network_refuses_every_address_but_the_internets():
    rules = egress_rules(["10.0.0.2", "fd00::53"])
    v4 = [r for r in rules["iptables"] if r[-1] == "REJECT"]
    assert [r[3] for r in v4] == list(CLOSED_V4)
    # The resolvers are let through before the refusals, for DNS alone.
    accepted = [r for r in rules["iptables"] if r[-1] == "ACCEPT" and "-d" in r]
    assert [(r[3], r[5], r[7]) for r in accepted] == [("10.0.0.2", "udp", "53"), ("10.0.0.2", "tcp", "53")]
    assert rules["iptables"].index(accepted[0]) < rules["iptables"].index(v4[0])
    assert any(r[3] == "fd00::53" for r in rules["ip6tables"] if r[-1] == "ACCEPT")
    for private in ("192.168.1.20", "172.17.0.1", "10.213.4.1", "169.254.1.1", "100.64.0.1", "127.0.0.1"):
        assert any(ipaddress.ip_address(private) in ipaddress.ip_network(n) for n in CLOSED_V4), private
    for public in ("151.101.0.223", "8.8.8.8"):
        assert not any(ipaddress.ip_address(public) in ipaddress.ip_network(n) for n in CLOSED_V4), public
    assert any(ipaddress.ip_address("fe80::1") in ipaddress.ip_network(n) for n in CLOSED_V6)


def test_a_seat_reaches_the_rooms_server_on_its_lan_address_and_nothing_else_there():
    rules = egress_rules([], ("192.168.1.20", 8700))["iptables"]
    allowed = [r for r in rules if r[-1] == "ACCEPT" and "-d" in r]
    assert allowed == [["-A", "OUTPUT", "-d", "192.168.1.20", "-p", "tcp", "--dport", "8700", "-j", "ACCEPT"]]
    assert rules.index(allowed[0]) < min(i for i, r in enumerate(rules) if r[-1] == "REJECT")
    settings = rooms.SeatSettings("image", Limits(GIB, 64, 2), None, "laptop", 0, 60, ("192.168.1.20", 8700))
    assert settings.room_url == "http://192.168.1.20:8700"
    assert rooms.SeatSettings("image", Limits(GIB, 64, 2), None, "laptop", 0, 60).room_url is None


def test_openings_of_one_card_at_once_start_one_seat():
    room = a_room(warm=0)
    started = []
    room.starter = lambda run, number, *rest: started.append(number) or FakeSeat(number)

    async def scenario():
        return await asyncio.gather(*(room.seat_for(room.cards[0]) for _ in range(10)))
    seats = asyncio.run(scenario())
    assert len(started) == 1 and len({id(s) for s in seats}) == 1 and room.warm == []


def test_a_shell_that_ends_at_once_waits_longer_each_time():
    from bringup.seats import RESTART_MAX, Terminal

    class Loop:
        def __init__(self):
            self.later = []

        def call_later(self, delay, callback):
            self.later.append(delay)

        def remove_reader(self, fd):
            pass

        def remove_writer(self, fd):
            pass

    class Ended:
        fd = 3

        def read(self, size):
            raise EOFError

        def close(self):
            pass

    terminal = Terminal(["bash"], Loop())
    for _ in range(8):
        terminal.process, terminal.started = Ended(), time.monotonic()  # it lived no time at all
        terminal._read()
    assert terminal.loop.later == [1.0, 2.0, 4.0, 8.0, 16.0, RESTART_MAX, RESTART_MAX, RESTART_MAX]
    terminal.process, terminal.started = Ended(), time.monotonic() - 60  # one that lived: at once again
    terminal._read()
    assert terminal.loop.later[-1] == 0.0
    assert b"a new one starts in 30 s" in terminal.scrollback


def test_this_machines_own_networks_are_refused_even_when_public():
    listing = """[{"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
                  {"ifname": "eth0", "addr_info": [{"local": "130.92.4.7", "prefixlen": 16},
                                                  {"local": "2001:620:0:4::7", "prefixlen": 64},
                                                  {"local": "192.168.1.20", "prefixlen": 24}]}]"""
    from bringup.seats import host_networks
    mine = host_networks(listing)
    assert "130.92.0.0/16" in mine and "2001:620:0:4::/64" in mine and "127.0.0.0/8" not in mine
    rules = egress_rules([], None, mine)
    refused = {r[3] for command in rules.values() for r in command if r[-1] == "REJECT"}
    assert {"130.92.0.0/16", "130.92.4.7/32", "2001:620:0:4::/64"} <= refused
    assert "192.168.1.0/24" not in refused  # inside 192.168.0.0/16, refused already
