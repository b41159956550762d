"""The site's verified marks, from a report we write ourselves."""
import json
from types import SimpleNamespace

import pytest

from mkdocs_hooks import verified

PAGE = "# Title\n\nText.\n\n```bash\ndocker ps\n```\n\n```dockerfile title=\"Dockerfile\"\nFROM x\n```\n"


@pytest.fixture
def page(tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "p.md").write_text("---\ndoctest:\n  absent: [x]\n---\n" + PAGE)
    monkeypatch.chdir(tmp_path)
    return SimpleNamespace(file=SimpleNamespace(src_uri="p.md")), {"docs_dir": str(docs)}


def write_report(tmp_path, blocks):
    (tmp_path / "build").mkdir(exist_ok=True)
    (tmp_path / "build" / "doctest-report.json").write_text(json.dumps({"pages": {"docs/p.md": {
        "date": "2026-11-28T07:00:00+00:00", "docker": {"engine": "27.3.1"}, "blocks": blocks}}}))


def test_without_a_report_the_page_says_not_yet_verified(page):
    html = verified.on_page_markdown(PAGE, page[0], page[1], None)
    assert "Not yet verified" in html and "doctest-passed" not in html


def test_passed_blocks_get_ticks_and_a_summary(page, tmp_path):
    write_report(tmp_path, [{"line": 9, "status": "passed"}, {"line": 13, "status": "passed"}])
    html = verified.on_page_markdown(PAGE, page[0], page[1], None)
    assert "2 of 2 command blocks verified against Docker Engine 27.3.1 on 2026-11-28" in html
    assert "``` {.bash .doctest-passed}" in html
    assert '``` {.dockerfile .doctest-passed title="Dockerfile"}' in html
    assert html.index("# Title") < html.index("doctest-summary")


def test_a_failed_block_says_so_plainly(page, tmp_path):
    write_report(tmp_path, [{"line": 9, "status": "failed"}, {"line": 13, "status": "skipped"}])
    html = verified.on_page_markdown(PAGE, page[0], page[1], None)
    assert "1 of 1 command blocks on this page failed" in html and "doctest-failed" in html


def test_prose_pages_get_no_mark(tmp_path, monkeypatch):
    (tmp_path / "p.md").write_text("# Prose\n\nNo commands.\n")
    monkeypatch.chdir(tmp_path)
    page = SimpleNamespace(file=SimpleNamespace(src_uri="p.md"))
    assert verified.on_page_markdown("# Prose\n\nNo commands.\n", page, {"docs_dir": str(tmp_path)}, None) \
        == "# Prose\n\nNo commands.\n"
