"""The room's board of checks (bringup/checkboard.py) served by waitress on
127.0.0.1, fed by examples/check.py --share as attendees run it, and what it
does with posts from strangers."""
import contextlib
import importlib.util
import json
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from bringup import checkboard, roomca, roomserver
from bringup.roomlisten import room_certificate
from bringup.roomserver import RoomServer
from tests.conftest import ROOT
from tests.conftest import free_port, room_server

spec = importlib.util.spec_from_file_location("workshop_check", ROOT / "examples" / "check.py")
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

RECORD = json.loads((ROOT / "examples" / "check-record.json").read_text())
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
SITE = ROOT / "tests" / "fixtures" / "room-site"


@contextlib.contextmanager
def board(certificate=None):
    """(base URL, organizers' URL, log lines) of the board, served by the
    room's server (without seats) on 127.0.0.1, a port of its own (over
    HTTPS with `certificate`)."""
    log = []
    port = free_port()
    hosts = set(checkboard.served_hosts("127.0.0.1", port))
    app = checkboard.App(checkboard.Board(RECORD), "s3cret-token", log.append)
    with room_server(RoomServer(None, app, "s3cret-token", hosts, SITE, SITE, log.append), port, certificate):
        base = f"{'https' if certificate else 'http'}://127.0.0.1:{port}"
        yield base, f"{base}/board/s3cret-token", log


def docker_with(containers=(), images=()):
    """A stand-in for the docker CLI's four listings."""
    listed = {"ps": [{"Names": n, "Image": i, "State": "running", "Ports": p} for n, i, p in containers],
              "image": [{"Repository": r.rsplit(":", 1)[0], "Tag": r.rsplit(":", 1)[1]} for r in images],
              "volume": [], "network": []}

    def run(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 0, "".join(json.dumps(o) + "\n" for o in listed[argv[1]]), "")
    return run


def docker_as_recorded(chapter, step=None, more=()):
    """The docker CLI of an attendee whose Docker is as the record says, and `more` containers."""
    entry = next(c for c in RECORD["chapters"] if c["name"] == chapter and c.get("step") == step)
    return docker_with([(c["name"], c["image"], ", ".join(p.replace("*", "49153") for p in c["ports"]))
                        for c in entry["containers"] if c["name"] and c["state"] == "running"] + list(more),
                       [i["tag"] for i in entry["images"]])


def attendee(base, name, chapter, docker, tmp_path, *more):
    lines = []
    code = check.main([chapter, *more, "--share", base, "--as", name], run=docker, folder=tmp_path,
                      out=lines.append, environ={})
    return code, lines


def state(organizers):
    with DIRECT.open(organizers + "/state.json", timeout=5) as response:
        return json.load(response)


def status_of(url, data=None, headers=None, method=None):
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with DIRECT.open(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_organizers_see_seats_grouped_by_chapter_and_by_what_is_off(tmp_path):
    jam = [("jam", "introtodocker/jam-server", "127.0.0.1:8000->8000/tcp")]
    with board() as (base, organizers, _):
        for seat in ("seat-1", "seat-2"):
            code, lines = attendee(base, seat, "first-container", docker_as_recorded("first-container", more=jam),
                                   tmp_path)
            assert code == 1 and lines[-1] == f"Shared with the room's board as {seat}."
        attendee(base, "plum", "cleaning-up", docker_as_recorded("cleaning-up", more=jam), tmp_path)
        seen = state(organizers)
        assert seen["seats"] == 3
        top = seen["problems"][0]
        assert (top["item"], top["chapter"], top["seats"]) == ("port 8000 busy", "Your first container",
                                                               ["seat-1", "seat-2"])
        titles = {c["name"]: c["title"] for c in RECORD["chapters"] if not c.get("step")}
        assert [c["title"] for c in seen["chapters"]] == [titles["first-container"], titles["cleaning-up"]]
        # A seat counts with its latest check: seat-1 moved on and put things right.
        code, _ = attendee(base, "seat-1", "first-container", docker_as_recorded("first-container"), tmp_path)
        assert code == 0
        first = next(c for c in state(organizers)["chapters"] if c["title"] == "Your first container")
        assert (first["passed"], first["off"]) == (["seat-1"], ["seat-2"])
        status, page = status_of(organizers)
        assert status == 200 and "1 seat</strong>: port 8000 busy, Your first container" in page


def test_a_try_it_check_is_its_own_row(tmp_path):
    with board() as (base, organizers, _):
        attendee(base, "fig", "first-container", docker_with(), tmp_path, "--try-it")
        assert [c["title"] for c in state(organizers)["chapters"]] == ["Your first container, after its Try it"]


def test_a_board_that_is_down_does_not_change_or_hold_up_the_answer(tmp_path):
    with socket.socket() as silent:  # accepts, never answers: a hung board
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        room = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        code, lines = attendee(room, "fig", "first-container", docker_with(), tmp_path)
        waited = time.monotonic() - started
    assert code in (0, 1) and lines[0] == "Your Docker against 'Your first container':"
    assert lines[-1] == f"Not shared: the room's board at {room} did not answer (the answer above stands)."
    assert waited < check.SHARE_TIMEOUT + 5  # bounded by the share timeout, not by the board


@pytest.mark.parametrize("room, expected", [
    ("http://8.8.8.8:8700", "8.8.8.8 is not an address in the room"),
    ("http://board.example:8700", "(an IP address), not"),
    ("ftp://192.168.1.20:8700", "takes an http:// or https:// address"),
    ("http://0.0.0.0:8700", "0.0.0.0 is not an address in the room"),
    ("http://192.0.2.1:8700", "192.0.2.1 is not an address in the room"),
    ("http://[2001:0:4136:e378::1]:8700", "2001:0:4136:e378::1 is not an address in the room"),  # Teredo
    ("http://user:pw@192.168.1.20:8700", "takes an http:// or https:// address"),
])
def test_a_share_address_outside_the_room_is_refused_before_anything_is_read(tmp_path, room, expected):
    def no_docker(argv, **kwargs):
        raise AssertionError("read Docker before refusing the address")
    lines = []
    assert check.main(["first-container", "--share", room, "--as", "fig"], run=no_docker, folder=tmp_path,
                      out=lines.append, environ={}) == 2
    assert len(lines) == 1 and expected in lines[0]


@pytest.mark.parametrize("name", [None, "", "two words", "x" * 25, "<b>"])
def test_a_shared_check_needs_a_plain_seat_name(tmp_path, name):
    lines = []
    argv = ["first-container", "--share", "http://192.168.1.20:8700", *(["--as", name] if name is not None else [])]
    assert check.main(argv, run=docker_with(), folder=tmp_path, out=lines.append, environ={}) == 2
    assert lines == ["check.py: with --share, give a seat number or a name you pick, letters, digits, - and _ "
                     "(up to 24): --as seat-7"]


def test_a_seat_shares_through_its_environment(tmp_path):
    with board() as (base, organizers, _):
        lines = []
        check.main(["first-container"], run=docker_with(), folder=tmp_path, out=lines.append,
                   environ={"WORKSHOP_ROOM": base, "WORKSHOP_SEAT": "seat-12"})
        assert lines[-1] == "Shared with the room's board as seat-12."
        assert state(organizers)["seats"] == 1


@pytest.fixture
def https_room(ca_folder):
    """A room CA of the test's own, and the room's certificate for 127.0.0.1."""
    return room_certificate("127.0.0.1", 8700)


def test_a_check_shares_over_https_trusting_the_room_ca_it_is_given(tmp_path, https_room):
    with board(https_room) as (base, organizers, _):
        code, lines = attendee(base, "ana", "first-container", docker_as_recorded("first-container"), tmp_path,
                               "--ca", str(roomca.CA_CERT))
        assert lines[-1] == "Shared with the room's board as ana."
        seat = {}
        check.main(["first-container"], run=docker_with(), folder=tmp_path, out=lambda line: seat.update(last=line),
                   environ={"WORKSHOP_ROOM": base, "WORKSHOP_SEAT": "seat-3", "WORKSHOP_ROOM_CA": str(roomca.CA_CERT)})
        assert seat["last"] == "Shared with the room's board as seat-3."
        assert state_over_https(organizers)["seats"] == 2


def state_over_https(organizers):
    trusting = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
        context=ssl.create_default_context(cafile=str(roomca.CA_CERT))))
    with trusting.open(organizers + "/state.json", timeout=5) as answer:
        return json.load(answer)


def test_a_room_certificate_the_laptop_does_not_trust_is_named_and_nothing_is_sent(tmp_path, https_room):
    with board(https_room) as (base, organizers, _):
        code, lines = attendee(base, "ana", "first-container", docker_as_recorded("first-container"), tmp_path)
        assert code == 0 and "a certificate this laptop does not trust; add --ca" in lines[-1]
        assert state_over_https(organizers)["seats"] == 0


def test_a_ca_file_that_is_not_a_certificate_is_one_line(tmp_path):
    (tmp_path / "ca.crt").write_text("not a certificate")
    lines = []
    code = check.main(["first-container", "--share", "https://192.168.1.20:8700", "--as", "ana", "--ca",
                       str(tmp_path / "ca.crt")], run=docker_with(), folder=tmp_path, out=lines.append, environ={})
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"check.py: --ca {tmp_path / 'ca.crt'}: not a")


def post(base, body, content_type="application/json", **headers):
    return status_of(base + "/api/checks", data=body, method="POST",
                     headers={"Content-Type": content_type, **headers})


GOOD = {"name": "fig", "chapter": "first-container", "step": None, "ok": 3, "off": ["port 8000 busy"]}


@pytest.mark.parametrize("body, content_type, headers, expected", [
    (b"\xff\x00garbage", "application/json", {}, 400),
    (json.dumps([1, 2]).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "chapter": "no-such"}).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "name": "<script>"}).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "ok": True}).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "off": ["x" * 81]}).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "off": ["bell\x07"]}).encode(), "application/json", {}, 400),
    (json.dumps({**GOOD, "off": ["a"] * 51}).encode(), "application/json", {}, 400),
    (json.dumps(GOOD).encode(), "text/plain", {}, 415),
    (json.dumps(GOOD).encode(), "application/json", {"Origin": "http://evil.example"}, 403),
    (json.dumps(GOOD).encode(), "application/json", {"Host": "rebound.example"}, 421),
])
def test_a_bad_post_is_refused_logged_in_one_line_and_changes_nothing(body, content_type, headers, expected):
    with board() as (base, organizers, log):
        status, _ = post(base, body, content_type, **headers)
        assert status == expected
        assert len(log) == 1 and f"refused 127.0.0.1 POST '/api/checks': {expected}" in log[0]
        assert state(organizers)["seats"] == 0


def test_an_oversized_post_is_refused_before_it_is_read():
    with board() as (base, organizers, log):
        status, _ = post(base, b"{" + b" " * (checkboard.MAX_BODY + 10) + b"}")
        assert status == 413
        assert state(organizers)["seats"] == 0


def test_a_wrong_board_address_is_refused_and_logged():
    with board() as (base, organizers, log):
        for wrong in (base + "/board/s3cret-tokeX", base + "/board/", base + "/board/s3cret-token/x"):
            assert status_of(wrong)[0] in (403, 404)
        assert len(log) == 3 and "403 Forbidden a wrong board address" in log[0]
        assert status_of(organizers, data=b"", method="POST")[0] == 405


def test_the_organizers_page_escapes_and_runs_no_script(tmp_path):
    with board() as (base, organizers, _):
        assert post(base, json.dumps({**GOOD, "off": ["<img src=x onerror=alert(1)>"]}).encode())[0] == 204
        with DIRECT.open(organizers, timeout=5) as response:
            page, policy = response.read().decode(), response.headers["Content-Security-Policy"]
            assert response.headers["X-Frame-Options"] == "DENY"
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy


def test_one_address_posting_too_fast_is_slowed_down():
    with board() as (base, organizers, log):
        answers = [post(base, json.dumps(GOOD).encode())[0] for i in range(checkboard.POSTS_PER_MINUTE + 3)]
        assert answers.count(204) == checkboard.POSTS_PER_MINUTE and answers[-1] == 429
        assert state(organizers)["seats"] == 1
        assert len(log) == 3


def test_one_address_cannot_post_as_every_seat():
    with board() as (base, organizers, log):
        answers = [post(base, json.dumps({**GOOD, "name": f"seat-{i}"}).encode())[0] for i in range(6)]
        assert answers == [204] * checkboard.NAMES_PER_CLIENT + [429] * (6 - checkboard.NAMES_PER_CLIENT)
        assert post(base, json.dumps({**GOOD, "name": "seat-0"}).encode())[0] == 204  # its own names still post


def test_a_full_board_refuses_new_seats_but_not_known_ones():
    board_ = checkboard.Board(RECORD)
    body = json.dumps(GOOD).encode()
    for i in range(checkboard.MAX_SEATS):
        board_.post(f"10.0.{i // 250}.{i % 250}", json.dumps({**GOOD, "name": f"s{i}"}).encode())
    with pytest.raises(checkboard.Refused, match="holds 400 seats"):
        board_.post("10.9.9.9", body)
    board_.post("10.9.9.9", json.dumps({**GOOD, "name": "s7"}).encode())


def test_the_room_serves_only_an_address_of_this_machine(capsys):
    assert roomserver.main(["--listen", "192.0.2.1", "--site", str(SITE)]) == 2
    assert "not an address of this machine" in capsys.readouterr().err


def test_a_busy_port_is_one_message(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert roomserver.main(["--port", str(taken.getsockname()[1]), "--site", str(SITE)]) == 2
    err = capsys.readouterr().err
    assert "another program holds the port" in err and len(err.strip().splitlines()) == 1


def test_a_board_that_redirects_is_not_followed(tmp_path):
    """A redirect could send the check's result, by name, anywhere: it is not followed."""
    import http.server
    import threading

    followed = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            followed.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    class Redirecting(Elsewhere):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_address[1]}/leak")
            self.end_headers()

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    board = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (elsewhere, board):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, lines = attendee(f"http://127.0.0.1:{board.server_address[1]}", "fig", "first-container",
                               docker_with(), tmp_path)
    finally:
        for server in (elsewhere, board):
            server.shutdown()
            server.server_close()
    assert lines[-1].startswith("Not shared: the room's board answered 302")
    assert followed == []


def test_a_ca_with_a_plain_http_room_is_refused_not_ignored(tmp_path):
    lines = []
    code = check.main(["first-container", "--share", "http://192.168.1.20:8700", "--as", "ana", "--ca", "ca.crt"],
                      run=docker_with(), folder=tmp_path, out=lines.append, environ={})
    assert code == 2 and lines == ["check.py: --ca is for a room served over https://; http://192.168.1.20:8700 "
                                   "would be sent unencrypted: use the https:// address the organizers give"]


def test_the_room_ca_signs_for_the_addresses_a_check_shares_with():
    """Two lists of one room: check.py's (standard library alone, downloaded
    by attendees, so it imports nothing of bring-up) and the room CA's."""
    assert set(check.ROOM_NETWORKS) == set(roomca.ROOM_RANGES)
