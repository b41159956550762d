"""The jam REST server, through Flask's test client and as a real process."""
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from app import MAX_BODY_BYTES, create_app
from store import DEFAULT_JAMS
from tests.conftest import ROOT, free_port

SERVER = ROOT / "examples" / "rest_server" / "main.py"
CURL = ROOT / "examples" / "curl.py"


@pytest.fixture
def database(tmp_path):
    return tmp_path / "jams.json"


@pytest.fixture
def client(database):
    return create_app(str(database)).test_client()


def saved(database):
    return json.loads(database.read_text(encoding="utf-8"))


def test_fresh_database_lists_the_default_jams_in_order(client, database):
    response = client.get("/jam")
    assert response.status_code == 200
    assert response.get_json() == {"data": ["strawberry", "blueberry", "raspberry", "grape"]}
    assert saved(database) == DEFAULT_JAMS


def test_create_fetch_rename_delete(client, database):
    created = client.post("/jam", json={"name": "peach"})
    assert (created.status_code, created.get_json()) == (201, {"data": "peach"})
    assert client.get("/jam/peach").get_json() == {"data": "peach"}
    renamed = client.put("/jam/peach", json={"name": "apricot"})
    assert (renamed.status_code, renamed.get_json()) == (200, {"data": "apricot"})
    assert saved(database) == DEFAULT_JAMS + ["apricot"]
    assert client.delete("/jam/apricot").status_code == 200
    assert saved(database) == DEFAULT_JAMS


def test_rename_keeps_the_position(client):
    client.put("/jam/blueberry", json={"name": "bilberry"})
    assert client.get("/jam").get_json()["data"] == ["strawberry", "bilberry", "raspberry", "grape"]


def test_health(client):
    assert client.get("/health").get_json() == {"status": "ok"}


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/jam/kiwi", None, 404, "no jam called 'kiwi'"),
    ("put", "/jam/kiwi", {"name": "x"}, 404, "no jam called 'kiwi'"),
    ("delete", "/jam/kiwi", None, 404, "no jam called 'kiwi'"),
    ("post", "/jam", {"name": "grape"}, 409, "already a jam called 'grape'"),
    ("put", "/jam/grape", {"name": "strawberry"}, 409, "already a jam called 'strawberry'"),
    ("post", "/jam", {}, 400, '"name" is missing'),
    ("post", "/jam", {"name": 3}, 400, '"name" must be a string, not int'),
    ("post", "/jam", {"name": None}, 400, "not NoneType"),
    ("post", "/jam", {"name": "   "}, 400, "must not be empty"),
    ("post", "/jam", {"name": "x" * 201}, 400, "201 characters long; at most 200"),
    ("post", "/jam", {"name": "a/b"}, 400, 'must not contain "/"'),
    ("post", "/jam", {"name": "a\nb"}, 400, "control characters"),
    ("post", "/jam", {"name": "fig", "sugar": 1}, 400, "unknown field(s): sugar"),
    ("post", "/jam", ["fig"], 400, "must be a JSON object"),
    ("patch", "/jam", None, 405, "PATCH is not allowed on /jam"),
    ("delete", "/jam", None, 405, "DELETE is not allowed on /jam"),
    ("get", "/jams", None, 404, "no such endpoint: /jams"),
])
def test_bad_requests_get_json_errors_and_change_nothing(client, database, method, path, body, status, message):
    before = database.read_bytes()
    response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code == status
    assert response.is_json and message in response.get_json()["error"]
    assert database.read_bytes() == before


def test_non_json_and_huge_bodies(client, database):
    before = database.read_bytes()
    response = client.post("/jam", data="name=peach", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "must be JSON" in response.get_json()["error"]
    response = client.post("/jam", data="{not json", content_type="application/json")
    assert response.status_code == 400
    response = client.post("/jam", data="x" * (MAX_BODY_BYTES + 1), content_type="application/json")
    assert response.status_code == 413 and response.is_json
    assert database.read_bytes() == before


def test_longest_and_unicode_names_are_kept_exactly(client, database):
    for name in ("x" * 200, "confiture d'abricot", "ягода", "🍓 jam", "e\u0301"):
        assert client.post("/jam", json={"name": name}).status_code == 201
        assert client.get(f"/jam/{name}").get_json() == {"data": name}
    assert saved(database)[-5:] == ["x" * 200, "confiture d'abricot", "ягода", "🍓 jam", "e\u0301"]


def test_data_survives_a_restart(database):
    create_app(str(database)).test_client().post("/jam", json={"name": "quince"})
    assert "quince" in create_app(str(database)).test_client().get("/jam").get_json()["data"]


def test_concurrent_writers_lose_nothing(database):
    app = create_app(str(database))
    names = [f"jam-{i}" for i in range(64)]
    errors = []

    def add(batch):
        with app.test_client() as client:
            for name in batch:
                if client.post("/jam", json={"name": name}).status_code != 201:
                    errors.append(name)

    threads = [threading.Thread(target=add, args=(names[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(saved(database)) == sorted(DEFAULT_JAMS + names)
    assert not [p for p in database.parent.iterdir() if p.name.startswith(".jams-")]


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"data": []}', "must hold a JSON list of jam names"),
    ("[1, 2]", "must hold a JSON list of jam names"),
])
def test_corrupt_database_is_a_clear_error_not_a_traceback(database, content, message):
    database.write_text(content)
    result = subprocess.run([sys.executable, str(SERVER), str(database), "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert database.read_text() == content  # the user's file is left alone


def test_unreadable_database_folder_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, str(SERVER), str(tmp_path / "missing" / "jams.json")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "cannot write the database" in result.stderr


@pytest.fixture
def live_server(database):
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), str(database), "--host", "127.0.0.1",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield f"127.0.0.1:{port}", process
    process.terminate()
    process.wait(timeout=10)


def curl(*args):
    return subprocess.run([sys.executable, str(CURL), *args], capture_output=True, text=True, timeout=30)


def test_curl_py_against_a_live_server_and_request_logs(live_server):
    address, process = live_server
    listed = curl("GET", f"{address}/jam")
    assert listed.returncode == 0
    assert json.loads(listed.stdout) == {"data": DEFAULT_JAMS}
    created = curl("-i", "POST", f"{address}/jam", '{"name": "peach"}')
    assert created.returncode == 0 and created.stdout.startswith("HTTP 201 ")
    # key=value words: the form the pages use, which every shell passes unchanged
    renamed = curl("PUT", f"{address}/jam/peach", "name=white peach")
    assert renamed.returncode == 0 and json.loads(renamed.stdout) == {"data": "white peach"}
    missing = curl("GET", f"{address}/jam/kiwi")
    assert missing.returncode == 22 and "no jam called" in missing.stdout
    process.terminate()
    log = process.communicate(timeout=10)[0]
    assert '"GET /jam" 200' in log and '"POST /jam" 201' in log and '"GET /jam/kiwi" 404' in log


def test_curl_py_says_an_unknown_host_as_curl_does(monkeypatch, capsys):
    import importlib.util
    import socket
    import urllib.error
    spec = importlib.util.spec_from_file_location("curl_py", CURL)
    curl_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curl_py)

    def unresolvable(request, timeout):  # what urlopen raises when the resolver knows no such name
        raise urllib.error.URLError(socket.gaierror(-2, "Name does not resolve"))
    monkeypatch.setattr(curl_py.urllib.request, "urlopen", unresolvable)
    assert curl_py.main(["GET", "http://lonely:8000/jam"]) == 6
    assert capsys.readouterr().err == "curl.py: could not resolve host: lonely\n"


def test_curl_py_clear_errors():
    refused = curl("GET", f"127.0.0.1:{free_port()}/jam")
    assert refused.returncode == 7 and "cannot connect" in refused.stderr and "Traceback" not in refused.stderr
    bad_url = curl("GET", "ftp://example/jam")
    assert bad_url.returncode == 3 and "not an http(s) URL" in bad_url.stderr
    bad_body = curl("POST", "127.0.0.1:1/jam", "{oops")
    assert bad_body.returncode == 3 and "not valid JSON" in bad_body.stderr
    not_a_field = curl("POST", "127.0.0.1:1/jam", "peach")
    assert not_a_field.returncode == 3 and "must be key=value" in not_a_field.stderr


def test_curl_py_body_words_make_one_json_object():
    import importlib.util
    spec = importlib.util.spec_from_file_location("curl_py", CURL)
    curl_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(curl_py)
    assert curl_py.json_body([]) is None
    request = curl_py.build_request("GET", "localhost:8000/jam", [])
    assert request.full_url == "http://127.0.0.1:8000/jam" and request.get_header("Host") == "localhost:8000"
    assert json.loads(curl_py.json_body(["name=peach", "note=a=b"])) == {"name": "peach", "note": "a=b"}
    assert curl_py.json_body(['{"name": "fig"}']) == '{"name": "fig"}'
    assert json.loads(curl_py.json_body(["name=crème"])) == {"name": "crème"}


# Safe at a real event: loopback by default, honest logs, honest names, bounded.
def test_without_host_the_server_listens_on_loopback_only(database):
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), str(database), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"Serving the jam API on http://127.0.0.1:{port} "), first
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_request_cannot_forge_a_log_line(client, capsys):
    client.get("/jam/a%0A127.0.0.1 \"DELETE /jam/grape\" 200%1B[2J")
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1, lines
    assert "\\n127.0.0.1" in lines[0] and "\\x1b[2J" in lines[0] and "\x1b" not in lines[0]


@pytest.mark.parametrize("name, code", [("straw\u202eyrreb", "U+202E"), ("ki\u200bwi", "U+200B")])
def test_names_with_invisible_format_characters_are_refused(client, database, name, code):
    response = client.post("/jam", json={"name": name})
    assert response.status_code == 400
    assert code in response.get_json()["error"] and "invisible" in response.get_json()["error"]
    assert saved(database) == DEFAULT_JAMS


def test_the_number_of_jams_is_capped(database):
    client = create_app(str(database), max_jams=5).test_client()
    assert client.post("/jam", json={"name": "peach"}).status_code == 201
    full = client.post("/jam", json={"name": "plum"})
    assert full.status_code == 507 and "maximum of 5 jams" in full.get_json()["error"]
    assert saved(database) == DEFAULT_JAMS + ["peach"]


def test_the_database_keeps_its_mode(client, database):
    client.get("/jam")  # creates it
    import os
    umask = os.umask(0)
    os.umask(umask)
    assert database.stat().st_mode & 0o777 == 0o666 & ~umask
    database.chmod(0o640)
    assert client.post("/jam", json={"name": "peach"}).status_code == 201
    assert database.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("host, status", [
    ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200), ("LocalHost", 200),
    ("api:8000", 200), ("jams:8000", 200), ("jams-a:8000", 200), ("jams-b:8000", 200),
    ("evil.example:8000", 421), ("localhost.evil.example", 421), ("127.0.0.1.nip.io", 421),
    ("localhost:8000:1", 421), ("", 421),
])
def test_only_requests_addressed_to_known_names_are_answered(client, database, host, status):
    """DNS rebinding: a page on evil.example points its name at 127.0.0.1;
    the browser's requests then say Host: evil.example, and are refused
    before they read or change anything."""
    for method, path, body in [("GET", "/jam", None), ("POST", "/jam", {"name": "stolen"}),
                               ("DELETE", "/jam/grape", None), ("GET", "/nowhere", None)]:
        response = client.open(path, method=method, json=body, headers={"Host": host})
        if status == 421:
            assert response.status_code == 421, (method, path)
            assert "answers requests addressed to localhost, 127.0.0.1, [::1], api, jams" in response.get_json()["error"]
    assert ("stolen" in saved(database)) == (status == 200)


def test_more_names_can_be_allowed(database):
    client = create_app(str(database), allowed_hosts=("localhost", "My-Jams.", "::2")).test_client()
    assert client.get("/health", headers={"Host": "my-jams:8000"}).status_code == 200
    assert client.get("/health", headers={"Host": "[::2]:8000"}).status_code == 200
    assert client.get("/health", headers={"Host": "jams:8000"}).status_code == 421


def test_main_serves_with_waitress_its_limits_and_extra_names(database):
    """python main.py runs the production server: same first line as ever,
    no development-server banner, extra names from --allow-host and
    JAM_ALLOWED_HOSTS, and a silent connection is closed."""
    import main
    assert 0 < main.SERVER_SETTINGS["channel_timeout"] <= 60 and main.SERVER_SETTINGS["connection_limit"]
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), str(database), "--port", str(port),
                                "--allow-host", "kitchen"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={"PATH": "/usr/bin:/bin", "JAM_ALLOWED_HOSTS": "pantry, cellar"})
    try:
        assert process.stdout.readline().startswith(f"Serving the jam API on http://127.0.0.1:{port} ")
        for host, code in [("kitchen", 0), ("pantry:8000", 0), ("cellar", 0), ("attic", 22)]:
            request = f"import urllib.request as u; r = u.Request('http://127.0.0.1:{port}/health', headers={{'Host': '{host}'}})"
            result = subprocess.run([sys.executable, "-c", request + "\ntry: print(u.urlopen(r).headers['Server'])\n"
                                     "except u.HTTPError as e: raise SystemExit(22)"],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == code, (host, result.stderr)
            if code == 0:
                assert result.stdout.strip() == "waitress"
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0]
    assert process.returncode == 0
    assert "Serving Flask app" not in output and "development server" not in output
    assert '"GET /health" 421' in output


def test_a_busy_port_is_one_line_not_a_traceback(database):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(SERVER), str(database), "--port", str(port)],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ") and "Traceback" not in result.stderr
