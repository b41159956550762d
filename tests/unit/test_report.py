"""The JSON report: versioned, one record a run, merged with what earlier runs
said of other pages, and read back through one function."""
import json

import pytest

from doctester.core.report import FORMAT, Report, ReportError, environment_label, read_report

ENGINE = {"name": "Docker Engine", "version": "26.1.5", "client": "26.1.5", "variant": "overlay2 image store"}
CONTAINERD = {**ENGINE, "variant": "containerd image store"}
KEY = "Docker Engine 26.1.5 (overlay2 image store)"


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
    earlier = json.loads(path.read_text())["pages"]["a.md"]["engines"][KEY]["date"]

    second = Report(path)
    second.add("a.md", 3, "shell", "cached", 0.0)
    second.environment = ENGINE
    record = second.write()
    assert record["format"] == FORMAT
    entry = record["pages"]["a.md"]["engines"][KEY]
    assert entry["date"] == earlier and entry["environment"] == ENGINE  # cached: when and on what it last passed
    assert entry["blocks"][0]["status"] == "passed"
    assert record["pages"]["b.md"]["engines"][KEY]["blocks"][0] == {
        "line": 3, "kind": "shell", "status": "skipped", "duration": 0.0, "reason": "why not"}
    assert record["totals"] == {"cached": 1}
    assert read_report(path) == record


def test_each_engine_keeps_its_own_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.md").write_text("# page\n")
    path = tmp_path / "report.json"
    for environment, status in ((ENGINE, "passed"), (CONTAINERD, "failed")):
        report = Report(path)
        report.environment = environment
        report.add("a.md", 3, "shell", status, 0.1)
        record = report.write()
    engines = record["pages"]["a.md"]["engines"]
    assert sorted(engines) == ["Docker Engine 26.1.5 (containerd image store)", KEY]
    assert engines[KEY]["blocks"][0]["status"] == "passed"
    assert engines["Docker Engine 26.1.5 (containerd image store)"]["blocks"][0]["status"] == "failed"


def test_pages_that_no_longer_exist_are_dropped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kept.md").write_text("# page\n")
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"pages": {"gone.md": {"date": "x", "blocks": []},
                                          "kept.md": {"date": "y", "blocks": []}}}))  # format 1
    record = Report(path).write()
    assert list(record["pages"]) == ["kept.md"]


def test_reading_an_unversioned_report_a_newer_one_and_none(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"date": "d", "docker": {"client": "28.2.2", "engine": "20.10.24"},
                               "pages": {"a.md": {"date": "d", "docker": {"client": "28.2.2", "engine": "20.10.24"},
                                                  "blocks": []}}}))
    record = read_report(old)
    assert record["format"] == FORMAT
    assert list(record["pages"]["a.md"]["engines"]) == ["Docker Engine 20.10.24"]
    assert record["environment"] == {"name": "Docker Engine", "version": "20.10.24", "client": "28.2.2"}
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
