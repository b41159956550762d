"""The workshop site in a real browser."""
import re

import pytest
from playwright.sync_api import expect

from scripts.journey_pages import nav_pages
from tests.browser.conftest import SHOTS



def url_of(page):
    return "/" if page == "index.md" else "/" + page.removesuffix(".md") + "/"


@pytest.mark.parametrize("page", nav_pages())
def test_page_loads_offline_without_errors(visit, base_url, page):
    response = visit.page.goto(base_url + url_of(page), wait_until="networkidle")
    assert response.status == 200
    assert visit.page.locator("article h1").count() == 1
    assert visit.errors == []
    assert visit.outside == [], "requests left the machine"


def test_every_diagram_loads_with_a_size_and_alt_text(visit, base_url):
    seen = 0
    for page in nav_pages():
        visit.page.goto(base_url + url_of(page), wait_until="load")  # `load` waits for the images
        for image in visit.page.locator("article img").all():
            image.scroll_into_view_if_needed()
            natural = image.evaluate("i => i.complete ? i.naturalWidth : 0")
            box = image.bounding_box()
            assert natural > 0 and box and box["width"] > 0 and box["height"] > 0, image.get_attribute("src")
            assert (image.get_attribute("alt") or "").strip(), image.get_attribute("src")
            seen += 1
    assert seen >= 7


def test_instant_navigation_keeps_the_page_alive(visit, base_url):
    visit.page.goto(base_url + "/", wait_until="networkidle")
    visit.page.evaluate("window.__same_document = true")
    visit.page.locator("nav.md-nav a[href$='first-container/']").first.click()
    visit.page.wait_for_url(re.compile(r".*/first-container/$"))
    visit.page.wait_for_selector("article h1:has-text('Your first container')")
    assert visit.page.evaluate("window.__same_document === true"), "navigation reloaded the whole page"


@pytest.mark.parametrize("query, page, anchor", [
    ("bind mount", "running", "share-files-with-your-computer-bind-mounts"),
    ("ENTRYPOINT", "dockerfile", "cmd-and-entrypoint-what-a-container-runs"),
])
def test_search_finds_and_lands_on_the_section(visit, base_url, query, page, anchor):
    visit.page.goto(base_url + "/", wait_until="networkidle")
    visit.page.locator("label.md-search__icon, .md-search__input").first.click()
    visit.page.locator("input.md-search__input").type(query, delay=20)
    result = visit.page.locator(f".md-search-result__link[href*='/{page}/'][href$='#{anchor}']").first
    result.wait_for(timeout=10_000)
    result.click()
    visit.page.wait_for_url(re.compile(rf".*/{page}/.*#{anchor}$"))
    expect(visit.page.locator(f"h2#{anchor}")).to_be_in_viewport()


def test_copy_button_copies_only_the_command(visit, base_url):
    visit.page.goto(base_url + "/first-container/", wait_until="networkidle")
    block = visit.page.locator("div.language-bash:has(code:has-text('docker run hello-world'))").first
    block.hover()
    block.locator("button[data-md-type='copy'], button.md-clipboard").first.click()
    copied = visit.page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == "docker run hello-world"
    assert "$" not in copied and "Unable to find image" not in copied
    output = visit.page.locator("div.language-text:has(code:has-text('Unable to find image'))").first
    output.hover()
    assert not output.locator("button[data-md-type='copy'], button.md-clipboard").first.is_visible(), \
        "output blocks must have no copy button"


def test_palette_toggle_switches_and_diagrams_stay_readable(visit, base_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.goto(base_url + "/virtualization/", wait_until="networkidle")
    body = visit.page.locator("body")
    first = body.get_attribute("data-md-color-scheme")
    visit.page.screenshot(path=str(SHOTS / f"virtualization-{first}.png"), full_page=True)
    visit.page.locator("form.md-header__option label:visible").first.click()
    visit.page.wait_for_function(f"document.body.getAttribute('data-md-color-scheme') !== '{first}'")
    second = body.get_attribute("data-md-color-scheme")
    assert {first, second} == {"default", "slate"}
    visit.page.screenshot(path=str(SHOTS / f"virtualization-{second}.png"), full_page=True)
    # The diagrams bring their own light panel: readable on either background.
    panel = visit.page.locator("article img").first.evaluate(
        "i => { const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight;"
        " const x = c.getContext('2d'); x.drawImage(i, 0, 0); return Array.from(x.getImageData(20, 20, 1, 1).data); }")
    assert min(panel[:3]) > 200, f"diagram background is not light: {panel}"


def test_content_tabs_switch_together(visit, base_url):
    visit.page.goto(base_url + "/volumes/", wait_until="networkidle")
    # Tab sets on the page itself; one inside a collapsed solution is not
    # rendered, and the theme links tabs by their rendered text.
    tab_sets = visit.page.locator(".tabbed-set:not(details .tabbed-set)")
    assert tab_sets.count() >= 2
    tab_sets.nth(0).locator("label:has-text('Windows PowerShell')").click()
    for index in range(tab_sets.count()):
        checked = tab_sets.nth(index).evaluate(
            "s => { const i = s.querySelector('input:checked'); return s.querySelector(`label[for='${i.id}']`).innerText; }")
        assert checked.strip() == "Windows PowerShell", f"tab set {index} stayed on {checked!r}"
