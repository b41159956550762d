"""A seat as an attendee meets it: Chromium opens a login card, the site
shows the Terminal, `docker run hello-world` typed there greets, a page's
"Run in my terminal" runs its block there, and the page with the panel open
is still readable by everyone (axe). A real seat on the real engine, served
by the room's server on loopback over HTTPS, as a room serves a LAN: a
certificate of a room CA made for the test (which the browser contexts here
are told to accept: the unit tests check the chain itself), the session
cookie kept to HTTPS, and the terminal over wss:."""
import asyncio
import os
import subprocess
import sys

import pytest
from axe_playwright_python.sync_playwright import Axe

from bringup import checkboard, paths
from bringup.room import Room, SeatSettings
from bringup.roomlisten import room_certificate
from bringup.roomserver import SEAT_WEB, RoomServer
from doctester.docker.identity import Identity
from doctester.docker.ownership import DEFAULT_STATE, Run
from doctester.docker.sandbox import GIB, Limits
from tests.browser.conftest import RULE_SETS
from tests.conftest import ROOT, free_port, missing, room_server, use_room_ca_folder

GREETING = "Hello from Docker!"


def engine_answers():
    return subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """The room's certificate for 127.0.0.1, from a room CA of the test's own."""
    with pytest.MonkeyPatch.context() as patch:
        use_room_ca_folder(patch, tmp_path_factory.mktemp("room") / "room-ca")
        yield room_certificate("127.0.0.1", 8700)


@pytest.fixture(scope="module")
def room_url(pytestconfig, tmp_path_factory, certificate):
    """(the room's address, its one card) : the site built for that address,
    the seats' terminal (`make seat-web`), one seat started ahead."""
    if not engine_answers():
        missing(pytestconfig, "docker", "a seat needs a Docker engine and the sandbox image: `make images`")
    if not (SEAT_WEB / "seat.js").is_file():
        missing(pytestconfig, "browser", f"{SEAT_WEB} is missing: `make seat-web`")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    site = tmp_path_factory.mktemp("room-site")
    built = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mkdocs"), "build", "--strict", "--quiet",
                            "--site-dir", str(site)], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, SITE_URL=url + "/"))
    assert built.returncode == 0, built.stderr
    project = Identity.from_ini(ROOT / "pytest.ini")
    # The doc tests' state folder: a test run killed midway leaves records the next run reaps.
    run = Run(DEFAULT_STATE, label=project.run_label)
    room = Room(run, 1, SeatSettings(project.sandbox_image, Limits(2 * GIB, 1024, 512), paths.REGISTRY_DATA,
                                     project.hostname, warm=1, idle=3600))
    hosts = set(checkboard.served_hosts("127.0.0.1", port))
    board = checkboard.App(checkboard.Board(checkboard.load_record(checkboard.RECORD)), "t", lambda _: None)
    try:
        server = RoomServer(room, board, "t", hosts, site, SEAT_WEB, lambda _: None)
        with room_server(server, port, certificate) as loop:
            warm = asyncio.run_coroutine_threadsafe(room.keep_warm(), loop)
            yield url, room.cards[0]
            room.closed = True
            warm.cancel()
    finally:
        assert room.close() == []


def sign_in(page, url, card):
    """Open the card's address and press its one button, as an attendee does."""
    page.goto(f"{url}/c/{card.secret}", wait_until="networkidle")
    page.get_by_role("button", name=f"Sign in to {card.name}").click()
    page.wait_for_url(url + "/", wait_until="networkidle")


@pytest.fixture
def seat_page(browser, room_url):
    url, card = room_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, url, card)
    yield page, url
    context.close()
    assert not [e for e in errors if "sourceMappingURL" not in e and ".map" not in e], errors


def open_panel(page):
    toggle = page.get_by_role("button", name="Terminal", exact=True)
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    page.wait_for_function("() => document.querySelector('.xterm-rows') && "
                           "/\\$ *$/m.test(document.querySelector('.xterm-rows').innerText)", timeout=60000)


def test_a_card_opens_the_site_with_a_terminal_that_runs_docker(seat_page):
    page, url = seat_page
    assert page.url == url + "/"
    assert [(c["name"], c["secure"], c["httpOnly"]) for c in page.context.cookies()] == [("__Host-seat", True, True)]
    open_panel(page)
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type("docker run --rm hello-world\n")
    page.wait_for_function(f"() => document.querySelector('.xterm-rows').innerText.includes({GREETING!r})",
                           timeout=120000)


def test_run_in_my_terminal_types_a_pages_block(seat_page):
    page, url = seat_page
    page.goto(url + "/first-container/", wait_until="networkidle")
    open_panel(page)
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type("clear\n")  # the screen shows only what follows (the rows are the visible ones)
    page.wait_for_function(f"() => !document.querySelector('.xterm-rows').innerText.includes({GREETING!r})",
                           timeout=30000)
    page.get_by_role("button", name="Run in my terminal: docker run hello-world", exact=True).first.click()
    page.wait_for_function(f"() => document.querySelector('.xterm-rows').innerText.includes({GREETING!r})",
                           timeout=120000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_panel_open_leaves_the_page_readable_by_everyone(browser, room_url, scheme):
    url, card = room_url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme,
                                  ignore_https_errors=True)
    page = context.new_page()
    try:
        sign_in(page, url, card)
        page.goto(url + "/first-container/", wait_until="networkidle")
        open_panel(page)
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": RULE_SETS},
                                           "resultTypes": ["violations"]})
        violations = results.response["violations"]
        assert not violations, [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]
    finally:
        context.close()


def test_without_a_card_the_site_is_the_static_site(browser, room_url):
    url, _ = room_url
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    try:
        page.goto(url + "/first-container/", wait_until="networkidle")
        assert page.locator("script[src*='/seat/static/']").count() == 0
        assert page.get_by_role("button", name="Run in my terminal").count() == 0
        refused = page.goto(url + "/c/not-a-card")
        assert refused.status == 403
    finally:
        context.close()
