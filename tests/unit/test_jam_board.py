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
def board_port(api, timeout=1.0):
    """The port of a board for `api`, serving in a thread while the block runs."""
    server = serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), board.handler_for(api, "Jams & friends", timeout)))
    try:
        yield server.server_port
    finally:
        server.shutdown()


def get(port, path="/"):
    try:
        with board.DIRECT.open(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def run_once(*args):
    return subprocess.run([sys.executable, str(BOARD), "--once", *args], capture_output=True, text=True, timeout=30)


def test_the_page_lists_the_api_jams_in_order_and_escaped(jam_api):
    board.DIRECT.open(urllib.request.Request(
        jam_api + "/jam", data=b'{"name": "<fig>"}', headers={"Content-Type": "application/json"}), timeout=10)
    with board_port(jam_api) as port:
        status, page = get(port)
    assert status == 200
    assert "<title>Jams &amp; friends</title>" in page
    assert page.index("<li>strawberry</li>") < page.index("<li>grape</li>") < page.index("<li>&lt;fig&gt;</li>")


def test_a_down_api_gives_503_with_the_reason(closed_port):
    with board_port(f"http://127.0.0.1:{closed_port}") as port:
        status, text = get(port)
        health, _ = get(port, "/health")
        missing, _ = get(port, "/nothing")
    assert status == 503
    assert f"the jam API at http://127.0.0.1:{closed_port} is not reachable" in text
    assert (health, missing) == (200, 404)


def test_a_hung_api_gives_503_after_the_timeout(silent_api):
    with board_port(silent_api, timeout=0.5) as port:
        status, text = get(port)
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
