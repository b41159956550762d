"""The JSON report: versioned, one record a run, merged with what earlier runs
said of other pages, and read back through one function."""
import json

import pytest

from doctester.core.report import FORMAT, Report, ReportError, environment_label, read_report

ENGINE = {"name": "Docker Engine", "version": "26.1.5", "client": "26.1.5", "store": "overlay2"}


def test_pages_not_run_keep_their_record_and_cached_pages_their_date(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("# page\n")
    path = tmp_path / "build" / "report.json"
    first = Report(path)
    first.environment = ENGINE
    first.add("a.md", 3, "shell", "passed", 0.5, command="docker ps")
    first.add("b.md", 3, "shell", "skipped", 0.0, reason="why not")
    first.write()
    earlier = json.loads(path.read_text())["pages"]["a.md"]["date"]

    second = Report(path)
    second.add("a.md", 3, "shell", "cached", 0.0)
    record = second.write()
    assert record["format"] == FORMAT
    assert record["pages"]["a.md"]["date"] == earlier
    assert record["pages"]["a.md"]["environment"] == ENGINE  # cached: what it last passed on
    assert record["pages"]["a.md"]["blocks"][0]["status"] == "passed"
    assert record["pages"]["b.md"]["blocks"][0] == {"line": 3, "kind": "shell", "status": "skipped",
                                                    "duration": 0.0, "reason": "why not"}
    assert record["totals"] == {"cached": 1}
    assert read_report(path) == record


def test_pages_that_no_longer_exist_are_dropped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.md").write_text("# page\n")
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"pages": {"gone.md": {"date": "x", "blocks": []},
                                          "kept.md": {"date": "y", "blocks": []}}}))
    record = Report(path).write()
    assert list(record["pages"]) == ["kept.md"]


def test_reading_an_unversioned_report_a_newer_one_and_none(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"date": "d", "docker": {"client": "28.2.2", "engine": "20.10.24"},
                               "pages": {"a.md": {"date": "d", "docker": {"client": "28.2.2", "engine": "20.10.24"},
                                                  "blocks": []}}}))
    record = read_report(old)
    assert record["format"] == FORMAT
    assert environment_label(record["pages"]["a.md"]["environment"]) == "Docker Engine 20.10.24"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": FORMAT + 1, "pages": {}}))
    with pytest.raises(ReportError, match=f"report format {FORMAT + 1} is newer than this harness reads"):
        read_report(newer)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ReportError, match="broken.json: not a doc-test report"):
        read_report(broken)
    assert read_report(tmp_path / "absent.json") is None
    assert environment_label(None) == "an unknown environment"
