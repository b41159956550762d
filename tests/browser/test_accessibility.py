"""Readable by everyone: axe-core finds nothing on any page, in either
palette, for WCAG 2 A and AA and axe's best practices; the hands-on pages
work with the keyboard alone; motion stops when the reader asks."""
import json

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import nav_pages

RULE_SETS = ["wcag2a", "wcag2aa", "best-practice"]
AXE = Axe()


def url_of(page):
    return "/" if page == "index.md" else "/" + page.removesuffix(".md") + "/"


def axe_version():
    return AXE.axe_script.split("axe v", 1)[1].split()[0]


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
def test_axe_finds_no_violation(palette_visit, base_url, page, record_property):
    palette, browser_page = palette_visit
    browser_page.goto(base_url + url_of(page), wait_until="networkidle")
    scheme = browser_page.locator("body").get_attribute("data-md-color-scheme")
    assert scheme == {"light": "default", "dark": "slate"}[palette]
    results = AXE.run(browser_page, options={"runOnly": {"type": "tag", "values": RULE_SETS},
                                             "resultTypes": ["violations"]})
    record_property("axe-core", axe_version())
    violations = results.response["violations"]
    assert not violations, f"axe-core {axe_version()} on {page} ({palette}):\n{describe(violations)}"
