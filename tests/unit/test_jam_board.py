"""The jam board (examples/jam_board) against the real jam API on 127.0.0.1,
and against an API that is down, slow or wrong."""
import contextlib
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import ROOT
from tests.unit.conftest import waitress_server

BOARD = ROOT / "examples" / "jam_board" / "board.py"
sys.path.insert(0, str(BOARD.parent))
import board  # noqa: E402  (the example is a script, not a package)


def serve_in_thread(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def jam_api(tmp_path):
    server = serve_in_thread(make_server("127.0.0.1", 0, create_app(str(tmp_path / "jams.json")), threaded=True))
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def silent_api():
    """Accepts connections and never answers: a hung API."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def board_port(api, timeout=1.0, **settings):
    """The port of a board for `api`, served by waitress as board.py serves it."""
    with waitress_server(board.make_app(api, "Jams & friends", timeout),
                         **{**board.SERVER_SETTINGS, **settings}) as server:
        yield server.effective_port


def get(port, path="/", host=None, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if host is not None:
        request.add_header("Host", host)
    try:
        with board.DIRECT.open(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


def run_once(*args):
    return subprocess.run([sys.executable, str(BOARD), "--once", *args], capture_output=True, text=True, timeout=30)


def test_the_page_lists_the_api_jams_in_order_and_escaped(jam_api):
    board.DIRECT.open(urllib.request.Request(
        jam_api + "/jam", data=b'{"name": "<fig>"}', headers={"Content-Type": "application/json"}), timeout=10)
    with board_port(jam_api) as port:
        status, page, _ = get(port)
    assert status == 200
    assert "<title>Jams &amp; friends</title>" in page
    assert page.index("<li>strawberry</li>") < page.index("<li>grape</li>") < page.index("<li>&lt;fig&gt;</li>")


def test_a_down_api_gives_503_with_the_reason(closed_port):
    with board_port(f"http://127.0.0.1:{closed_port}") as port:
        status, text, _ = get(port)
        health, _, _ = get(port, "/health")
        missing, _, _ = get(port, "/nothing")
    assert status == 503
    assert f"the jam API at http://127.0.0.1:{closed_port} is not reachable" in text
    assert (health, missing) == (200, 404)


def test_a_hung_api_gives_503_after_the_timeout(silent_api):
    with board_port(silent_api, timeout=0.5) as port:
        status, text, _ = get(port)
    assert status == 503
    assert "did not answer within 0.5 s" in text


def test_once_prints_the_jams(jam_api):
    result = run_once("--api", jam_api)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["strawberry", "blueberry", "raspberry", "grape"]


@pytest.mark.parametrize("case", ["down", "hung", "not the API"])
def test_once_fails_with_one_line_and_no_traceback(case, closed_port, silent_api, jam_api):
    api = {"down": f"http://127.0.0.1:{closed_port}", "hung": silent_api, "not the API": jam_api + "/health"}[case]
    result = run_once("--api", api, "--timeout", "0.5")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"board.py: the jam API at {api} ")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_busy_port_is_named():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(BOARD), "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(f"board.py: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr


class WrongShape(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"data": "not a list"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_answer_without_a_list_is_refused():
    api = serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), WrongShape))
    try:
        with pytest.raises(board.ApiUnavailable, match="sent no list of jams"):
            board.fetch_jams(f"http://127.0.0.1:{api.server_port}", 2)
    finally:
        api.shutdown()


# Safe while a reader browses other sites: headers, Host allowlist, timeouts.
def test_every_answer_carries_the_security_headers(jam_api, closed_port):
    with board_port(jam_api) as port:
        answers = [get(port), get(port, "/health"), get(port, "/nothing"), get(port, host="evil.example:8080")]
    with board_port(f"http://127.0.0.1:{closed_port}") as port:
        answers.append(get(port))
    assert [status for status, _, _ in answers] == [200, 200, 404, 421, 503]
    for _, _, headers in answers:
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in policy and "*" not in policy, "no outside origin is allowed"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("host, status", [
    ("localhost:8080", 200), ("127.0.0.1:8080", 200), ("[::1]:8080", 200), ("LOCALHOST", 200),
    ("localhost.:8080", 200),
    ("evil.example:8080", 421), ("localhost.evil.example", 421), ("127.0.0.1.nip.io:8080", 421),
    ("localhost:8080:1", 421), ("[::1", 421), ("api:8080", 421),
])
def test_only_requests_addressed_to_this_machine_are_answered(jam_api, host, status):
    """DNS rebinding: a page on evil.example points its name at 127.0.0.1 and
    asks the board; the browser sends Host: evil.example, which is refused."""
    with board_port(jam_api) as port:
        got, text, _ = get(port, host=host)
    assert got == status, text
    if status == 421:
        assert text.startswith("this board answers requests addressed to localhost, 127.0.0.1, [::1], not to ")


def test_more_names_can_be_allowed(jam_api):
    app = board.make_app(jam_api, "t", 1.0, board.LOOPBACK_HOSTS + ("Board.Local", "::2"))
    assert board.allowed_host_names(board.LOOPBACK_HOSTS + ("Board.Local.", "::2")) == (
        "localhost", "127.0.0.1", "[::1]", "board.local", "[::2]")
    for host, status in [("board.local:8080", "200 OK"), ("[::2]:8080", "200 OK"), ("other", "421 Misdirected Request")]:
        seen = []
        app({"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "HTTP_HOST": host, "REMOTE_ADDR": "127.0.0.1"},
            lambda status, headers: seen.append(status))
        assert seen == [status], host


def test_the_board_is_read_only(jam_api):
    with board_port(jam_api) as port:
        status, text, headers = get(port, method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_a_silent_connection_is_closed(jam_api):
    """A visitor who opens a connection and sends nothing holds no worker."""
    with board_port(jam_api, channel_timeout=1, cleanup_interval=1) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            silent.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # and never the blank line
            assert silent.recv(1024) == b"", "the server should have closed the connection"


def test_the_server_runs_with_timeouts_and_limits():
    assert 0 < board.SERVER_SETTINGS["channel_timeout"] <= 60
    assert board.SERVER_SETTINGS["connection_limit"] and board.SERVER_SETTINGS["max_request_header_size"]
