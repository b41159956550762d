"""How the room's server listens (bringup.roomlisten): HTTPS with a
certificate of the room CA, the session cookie kept to HTTPS, and the cap on
one address's connections. A real server on 127.0.0.1, a CA in a folder of
the test's own."""
import argparse
import hashlib
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


from bringup import checkboard, roomca, roomserver
from bringup.room import Room, SeatSettings
from bringup import roomlisten
from bringup.roomlisten import AddressCap, client_key, room_certificate
from bringup.roomserver import RoomServer
from doctester.docker.sandbox import GIB, Limits
from tests.conftest import free_port, room_server

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "tests" / "fixtures" / "room-site"


def a_server(log, port, seats=0):
    """The room's server, its cards not backed by seats (signing in starts none)."""
    settings = SeatSettings("unused", Limits(2 * GIB, 1024, 512), None, "laptop", 0, 3600)
    room = Room(None, seats, settings) if seats else None
    board = checkboard.App(checkboard.Board({"format": 2, "chapters": {}}), "board-token", log.append)
    return RoomServer(room, board, "cards-token", {f"127.0.0.1:{port}"}, SITE, SITE, log.append)


@pytest.fixture
def port():
    return free_port()


def trusting(cafile):
    context = ssl.create_default_context(cafile=str(cafile))
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context),
                                       NoRedirect())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_on_https_the_room_is_served_with_a_certificate_of_the_room_ca(ca_folder, port):
    certificate = room_certificate("127.0.0.1", port)
    log = []
    with room_server(a_server(log, port), port, certificate):
        with trusting(roomca.CA_CERT).open(f"https://127.0.0.1:{port}/", timeout=10) as answer:
            assert answer.status == 200 and b"<html" in answer.read().lower()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"https://127.0.0.1:{port}/", timeout=10)
        served = ssl.get_server_certificate(("127.0.0.1", port), timeout=10)
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(served)).hexdigest().upper()
    assert certificate.fingerprint.replace(":", "") == digest  # what the cards print is what a browser shows
    assert (ca_folder / f"room-{port}.crt").is_file() and not (ca_folder / "mirror.crt").exists()


def test_a_sign_in_over_https_gets_a_cookie_kept_to_https(ca_folder, port):
    log = []
    server = a_server(log, port, seats=1)
    with room_server(server, port, room_certificate("127.0.0.1", port)):
        card = server.room.cards[0]
        request = urllib.request.Request(f"https://127.0.0.1:{port}/c/{card.secret}", data=b"", method="POST",
                                         headers={"Sec-Fetch-Site": "same-origin"})
        with pytest.raises(urllib.error.HTTPError) as answer:  # 303 to the site, not followed
            trusting(roomca.CA_CERT).open(request, timeout=10)
    cookie = answer.value.headers["Set-Cookie"]
    assert answer.value.code == 303 and cookie.startswith("__Host-seat=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie


def test_the_cards_say_which_certificate_to_expect(ca_folder):
    certificate = room_certificate("127.0.0.1", 8700)
    settings = SeatSettings("unused", Limits(2 * GIB, 1024, 512), None, "laptop", 0, 3600)
    page = roomserver.cards_page(Room(None, 2, settings).cards, "https://127.0.0.1:8700", certificate.fingerprint)
    assert page.count(certificate.fingerprint[:23]) == 2
    assert "fingerprint" not in roomserver.cards_page(Room(None, 1, settings).cards, "http://127.0.0.1:8700")


@pytest.mark.parametrize("listen, tls, served", [("127.0.0.1", "auto", False), ("127.0.0.1", "on", True),
                                                 ("192.168.1.20", "off", False)])
def test_https_is_the_default_wherever_others_could_listen(ca_folder, listen, tls, served):
    certificate = roomserver.room_tls(argparse.Namespace(listen=listen, tls=tls, port=8700))
    assert (certificate is not None) is served


def test_a_lan_address_gets_https_and_seats_trust_the_room_ca(ca_folder, monkeypatch):
    made = {}
    monkeypatch.setattr(roomserver, "room_certificate", lambda address, port: made.setdefault("for", (address, port)))
    roomserver.room_tls(argparse.Namespace(listen="192.168.1.20", tls="auto", port=8700))
    assert made["for"] == ("192.168.1.20", 8700)
    settings = SeatSettings("unused", Limits(2 * GIB, 1024, 512), None, "laptop", 0, 3600, ("192.168.1.20", 8700),
                            "PEM")
    assert settings.room_url == "https://192.168.1.20:8700"


def held_open(port, count):
    sockets = []
    for _ in range(count):
        sockets.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    return sockets


def closed_by_server(sock):
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_one_address_cannot_hold_more_connections_than_the_cap(port):
    log, refusals = [], []
    cap = AddressCap(3, refusals.append)
    with room_server(a_server(log, port), port, cap=cap):
        first = held_open(port, 3)  # three idle connections: the server waits for their requests
        over = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert closed_by_server(over) and refusals == ["127.0.0.1"]
        first.pop().close()
        deadline = time.monotonic() + 10
        while cap.open["127.0.0.1"] > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/", timeout=10) as answer:  # a place freed is a place taken
            assert answer.status == 200
        for sock in [*first, over]:
            sock.close()
    assert cap.open == {}  # every connection counted out


def test_the_caps_refusals_reach_the_log_once_a_second(port):
    log = []
    server = a_server(log, port)
    cap = roomserver.address_cap(server.log)
    cap.limit = 1
    with room_server(server, port, cap=cap):
        held = held_open(port, 1)
        extra = held_open(port, 5)
        assert all(closed_by_server(sock) for sock in extra)
        for sock in [*held, *extra]:
            sock.close()
    refused = [line for line in log if "connections at once" in line]
    assert len(refused) == 1 and "127.0.0.1" in refused[0]


def test_a_tls_handshake_that_never_ends_counts_and_is_given_up(ca_folder, port, monkeypatch):
    monkeypatch.setattr(roomlisten, "TLS_HANDSHAKE_SECONDS", 1)
    log, refusals = [], []
    cap = AddressCap(2, refusals.append)
    with room_server(a_server(log, port), port, room_certificate("127.0.0.1", port), cap=cap):
        stalled = held_open(port, 2)
        for sock in stalled:
            sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
        over = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert closed_by_server(over) and refusals == ["127.0.0.1"]  # the stalled two hold the places
        assert all(closed_by_server(sock) for sock in stalled)  # given up after the handshake's time
        deadline = time.monotonic() + 10
        while cap.count and time.monotonic() < deadline:
            time.sleep(0.05)
        with trusting(roomca.CA_CERT).open(f"https://127.0.0.1:{port}/", timeout=10) as answer:
            assert answer.status == 200
        for sock in [*stalled, over]:
            sock.close()
    assert cap.open == {} and cap.count == 0


def test_a_refused_connection_never_meets_a_handler(port, caplog):
    log = []
    cap = AddressCap(1, lambda client: None)
    with room_server(a_server(log, port), port, cap=cap):
        held = held_open(port, 1)
        refused = held_open(port, 20)
        assert all(closed_by_server(sock) for sock in refused)
        for sock in [*held, *refused]:
            sock.close()
    assert not [r for r in caplog.records if r.exc_info or "exception" in r.getMessage().lower()]


def test_all_connections_together_are_capped_too():
    cap = AddressCap(64, lambda client: None, total=3)
    assert [cap.admit(f"192.168.1.{n}") for n in range(1, 5)] == [True, True, True, False]
    cap.leave("192.168.1.2")
    assert cap.admit("192.168.1.9") and cap.count == 3


@pytest.mark.parametrize("host, key", [("192.168.1.20", "192.168.1.20"), ("::ffff:192.168.1.20", "192.168.1.20"),
                                       ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
                                       ("2001:db8:1:2:bbbb::7", "2001:db8:1:2::/64")])
def test_one_laptops_many_ipv6_addresses_count_as_one(host, key):
    assert client_key(host) == key
