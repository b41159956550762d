"""The built site, served on loopback, in headless Chromium (Debian's) driven by Playwright."""
import functools
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import ROOT, missing

# Debian's Chromium by default; CHROMIUM names another build (CI runners ship Google Chrome).
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = ROOT / "build" / "screenshots"


def site_server():
    """site-image/serve.py, the server of the site's image: the pages are
    tested under the headers (the Content-Security-Policy) it sends."""
    spec = importlib.util.spec_from_file_location("site_serve", ROOT / "site-image" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def base_url(tmp_path_factory):
    """The site, built for and served at a free loopback port: instant navigation
    only works where the site is served at its site_url."""
    site_dir = tmp_path_factory.mktemp("site")
    # The port first (the site is built for its URL), the handler once the
    # pages exist (the policy names their inline scripts).
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    result = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--quiet",
                             "--site-dir", str(site_dir)], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, SITE_URL=url + "/"))
    assert result.returncode == 0, result.stderr
    with_headers = site_server().handler_for(site_dir).func
    quiet = type("QuietSiteHandler", (with_headers,), {"log_message": lambda self, *args: None})
    server.RequestHandlerClass = functools.partial(quiet, directory=str(site_dir))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(pytestconfig):
    if not Path(CHROMIUM).exists():  # skipped with the reason; `make browser` (--require browser) stops
        missing(pytestconfig, "browser", f"browser tests need Chromium ({CHROMIUM} is missing): `apt-get install "
                                         "chromium chromium-driver` (make browser does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Visit:
    """A browser page that records console errors and every request leaving loopback."""

    def __init__(self, context):
        self.page = context.new_page()
        self.errors, self.outside = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._route)

    def _route(self, route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", None):
            route.continue_()
        else:  # never let it out: record it, and fail it
            self.outside.append(route.request.url)
            route.abort()


@pytest.fixture
def visit(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    yield Visit(context)
    context.close()


RULE_SETS = ["wcag2a", "wcag2aa", "best-practice"]


def axe_version_of(script):
    return script.split("axe v", 1)[1].split()[0]


def pytest_terminal_summary(terminalreporter, config):
    """Which axe-core checked the pages, and how many: part of the run's record."""
    runs = getattr(config, "axe_runs", [])
    if runs:
        from axe_playwright_python.base import AXE_SCRIPT
        terminalreporter.write_line(f"axe-core {axe_version_of(AXE_SCRIPT)} ({', '.join(RULE_SETS)}) "
                                    f"checked {len(runs)} page views")
