"""The site's verified marks (the `doctest-verified` MkDocs plugin), from a
report we write ourselves."""
import json
from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from doctester.mkdocs_plugin import VerifiedPlugin

PAGE = "# Title\n\nText.\n\n```bash\ndocker ps\n```\n\n```dockerfile title=\"Dockerfile\"\nFROM x\n```\n"
ENGINE = {"name": "Docker Engine", "version": "26.1.5", "variant": "overlay2 image store"}
CONTAINERD = {**ENGINE, "variant": "containerd image store"}


@pytest.fixture
def site(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "p.md").write_text("---\ndoctest:\n  absent: [x]\n---\n" + PAGE)
    (docs / "prose.md").write_text("# Prose\n\nNo commands.\n")
    return tmp_path


def render(site, markdown=PAGE, name="p.md", report="build/doctest-report.json"):
    plugin = VerifiedPlugin()
    errors, warnings = plugin.load_config({"report": report})
    assert errors == [] and warnings == []
    plugin.on_pre_build({"config_file_path": str(site / "mkdocs.yml"), "docs_dir": str(site / "docs")})
    return plugin.on_page_markdown(markdown, SimpleNamespace(file=SimpleNamespace(src_uri=name)), {}, None)


def write_report(site, blocks, other_engine=None, **fields):
    engines = {"one": {"date": "2026-11-28T07:00:00+00:00", "environment": ENGINE, "blocks": blocks}}
    if other_engine is not None:
        engines["two"] = {"date": "2026-11-29T07:00:00+00:00", "environment": CONTAINERD, "blocks": other_engine}
    (site / "build").mkdir(exist_ok=True)
    (site / "build" / "doctest-report.json").write_text(json.dumps(
        {"format": 2, **fields, "pages": {"docs/p.md": {"engines": engines}}}))


def test_without_a_report_the_page_says_not_yet_verified(site):
    html = render(site)
    assert "Not yet verified" in html and "doctest-passed" not in html


def test_passed_blocks_get_ticks_and_a_summary(site):
    write_report(site, [{"line": 9, "status": "passed"}, {"line": 13, "status": "passed"}])
    html = render(site)
    assert "2 of 2 command blocks verified against Docker Engine 26.1.5 (overlay2 image store) on 2026-11-28" \
        in html
    assert "``` {.bash .doctest-passed}" in html
    assert '``` {.dockerfile .doctest-passed title="Dockerfile"}' in html
    assert html.index("# Title") < html.index("doctest-summary")


def test_a_failed_block_says_so_plainly(site):
    write_report(site, [{"line": 9, "status": "failed"}, {"line": 13, "status": "skipped"}])
    html = render(site)
    assert "1 of 1 command blocks on this page failed" in html and "doctest-failed" in html


def test_prose_pages_get_no_mark(site):
    assert render(site, "# Prose\n\nNo commands.\n", "prose.md") == "# Prose\n\nNo commands.\n"


def test_the_report_path_is_a_setting_and_a_newer_format_stops_the_build(site):
    write_report(site, [{"line": 9, "status": "passed"}])
    (site / "build" / "doctest-report.json").rename(site / "elsewhere.json")
    assert "1 of 1 command blocks verified" in render(site, report="elsewhere.json")
    write_report(site, [], format=99)
    with pytest.raises(PluginError, match="report format 99 is newer than this harness reads"):
        render(site)


def test_the_mark_names_every_engine_and_a_failure_on_any_of_them(site):
    write_report(site, [{"line": 9, "status": "passed"}], [{"line": 9, "status": "cached"}])
    html = render(site)
    assert ("1 of 1 command blocks verified against Docker Engine 26.1.5 (overlay2 image store) on 2026-11-28 "
            "and Docker Engine 26.1.5 (containerd image store) on 2026-11-29") in html
    write_report(site, [{"line": 9, "status": "passed"}], [{"line": 9, "status": "failed"}])
    html = render(site)
    assert "1 of 1 command blocks on this page failed" in html and "``` {.bash .doctest-failed}" in html


def test_a_report_older_than_the_page_never_turns_a_closing_fence_into_an_opening(site):
    write_report(site, [{"line": 11, "status": "passed"}])  # line 11 of p.md now closes the bash fence
    html = render(site)
    assert html.count("```") == PAGE.count("```") and "``` {." not in html.split("docker ps")[1].split("\n")[1]


def test_report_fields_are_escaped_in_the_banner(site):
    hostile = "<script>alert(1)</script>"
    (site / "build").mkdir(exist_ok=True)
    (site / "build" / "doctest-report.json").write_text(json.dumps({"format": 2, "pages": {"docs/p.md": {"engines": {
        "one": {"date": f"{hostile}", "environment": {"name": hostile, "version": '"><img src=x onerror=alert(1)>',
                                                      "variant": "a & b"},
                "blocks": [{"line": 9, "status": "passed"}, {"line": "<b>", "status": "passed"}]}}}}}))
    html = render(site)
    banner = next(line for line in html.splitlines() if "doctest-summary" in line)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in banner
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in banner and "a &amp; b" in banner
    assert banner.startswith('<p class="doctest-summary doctest-summary-passed">') and banner.endswith("</p>")
    assert "``` {.bash .doctest-passed}" in html
