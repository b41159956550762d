"""site-image/serve.py: the site image's server sends a Content-Security-Policy
that allows only the site's own files and inline scripts, and forbids framing."""
import base64
import hashlib
import importlib.util
import threading
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("site_serve", ROOT / "site-image" / "serve.py")
serve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serve)

THEME_SCRIPT = '__md_scope=new URL(".",location)'
PAGE = (f'<!doctype html><script>{THEME_SCRIPT}</script><script src="assets/bundle.js"></script>'
        '<script id="__config" type="application/json">{"base": "."}</script><p>hi</p>')


def csp_hash(text):
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.fixture
def site(tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "index.html").write_text(PAGE.replace('"."', '".."'))
    (tmp_path / "style.css").write_text("p { color: red }")
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve.handler_for(tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_every_answer_has_the_headers(site):
    for path in ("/", "/sub/", "/style.css"):
        with urllib.request.urlopen(site + path, timeout=10) as response:
            headers = response.headers
        policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        scripts = policy["script-src"].split()
        assert scripts[0] == "'self'" and csp_hash(THEME_SCRIPT) in scripts
        assert csp_hash(THEME_SCRIPT.replace('"."', '".."')) in scripts
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        sources = {word for value in policy.values() for word in value.split()}
        outside = {word for word in sources
                   if word not in {"'self'", "'none'", "'unsafe-inline'", "data:"} and not word.startswith("'sha256-")}
        assert not outside, f"sources beyond the site itself: {outside}"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


# The real site under this policy: tests/browser serves the built pages with this
# server, and every page must load without a console error (a blocked script is one).


def test_a_folder_without_a_site_is_a_clear_error(tmp_path, capsys):
    assert serve.main(["0", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"serve.py: {tmp_path} holds no built site (no index.html)\n"
