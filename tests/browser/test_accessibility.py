"""Readable by everyone: axe-core finds nothing on any page, in either
palette, for WCAG 2 A and AA and axe's best practices; the hands-on pages
work with the keyboard alone; motion stops when the reader asks."""
import pytest
from axe_playwright_python.sync_playwright import Axe

from scripts.journey_pages import nav_pages
from tests.browser.conftest import RULE_SETS, axe_version_of

AXE = Axe()



def url_of(page):
    return "/" if page == "index.md" else "/" + page.removesuffix(".md") + "/"


def axe_version():
    return axe_version_of(AXE.axe_script)


def describe(violations):
    lines = []
    for violation in violations:
        for node in violation["nodes"]:
            lines.append(f"  {violation['id']} ({violation['impact']}): {', '.join(map(str, node['target']))}\n"
                         f"      {node['html'][:160]}\n      {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@pytest.fixture(params=["light", "dark"])
def palette_visit(request, browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=request.param)
    yield request.param, context.new_page()
    context.close()


@pytest.mark.parametrize("page", nav_pages())
def test_axe_finds_no_violation(palette_visit, base_url, page, request):
    palette, browser_page = palette_visit
    browser_page.goto(base_url + url_of(page), wait_until="networkidle")
    scheme = browser_page.locator("body").get_attribute("data-md-color-scheme")
    assert scheme == {"light": "default", "dark": "slate"}[palette]
    results = AXE.run(browser_page, options={"runOnly": {"type": "tag", "values": RULE_SETS},
                                             "resultTypes": ["violations"]})
    request.config.axe_runs = getattr(request.config, "axe_runs", []) + [f"{page} ({palette})"]
    violations = results.response["violations"]
    assert not violations, f"axe-core {axe_version()} on {page} ({palette}):\n{describe(violations)}"


def tab_until(page, selector, limit=200):
    """Press Tab until the focused element matches `selector` (bounded)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} is not reachable with Tab in {limit} presses")


def focus_is_visible(page):
    return page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 || s.boxShadow !== 'none'; }""")


def test_a_hands_on_page_works_with_the_keyboard_alone(visit, base_url):
    page = visit.page
    page.goto(base_url + "/background/", wait_until="networkidle")
    # The first Tab reaches the skip link, which shows itself and jumps to the content.
    page.keyboard.press("Tab")
    skip = page.locator("a.md-skip")
    assert page.evaluate("() => document.activeElement.classList.contains('md-skip')")
    assert skip.is_visible() and focus_is_visible(page)
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.hash.length > 1")
    # Content tabs: a radio group, as the ARIA tabs pattern has it (arrow keys switch).
    tab_until(page, ".tabbed-set input[type=radio]")
    label = page.evaluate("() => document.querySelector(`label[for='${document.activeElement.id}']`).innerText")
    assert focus_is_visible(page) or page.evaluate(
        "() => getComputedStyle(document.querySelector(`label[for='${document.activeElement.id}']`)).outlineStyle"
        " !== 'none'"), f"no visible focus on the tab {label!r}"
    page.keyboard.press("ArrowRight")
    switched = page.evaluate("() => document.querySelector(`label[for='${document.activeElement.id}']`).innerText")
    assert switched != label and page.evaluate("() => document.activeElement.checked")
    # A collapsed solution opens with Enter, and closes again with Space.
    tab_until(page, "details > summary")
    assert focus_is_visible(page)
    details = "() => document.activeElement.parentElement.open"
    assert not page.evaluate(details)
    page.keyboard.press("Enter")
    assert page.evaluate(details)
    page.keyboard.press("Space")
    assert not page.evaluate(details)


def test_motion_stops_when_the_reader_asks(browser, base_url):
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    page.goto(base_url + "/running/", wait_until="networkidle")
    durations = page.evaluate("""() => Array.from(document.querySelectorAll('*')).map(e => {
        const s = getComputedStyle(e);
        return Math.max(...s.transitionDuration.split(',').map(parseFloat),
                        ...s.animationDuration.split(',').map(parseFloat)); })""")
    context.close()
    assert max(durations) <= 0.001, f"a transition or animation of {max(durations)} s runs"

