"""The JSON report: one record a run, merged with what earlier runs said of other pages."""
import json

from doctester import report as report_module
from doctester.report import Report


def test_pages_not_run_keep_their_record_and_cached_pages_their_date(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report_module, "docker_versions", lambda: {"client": "28.2.2", "engine": "28.2.2"})
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_text("# page\n")
    path = tmp_path / "build" / "report.json"
    first = Report(path)
    first.add("a.md", 3, "shell", "passed", 0.5, command="docker ps")
    first.add("b.md", 3, "shell", "skipped", 0.0, reason="why not")
    first.write()
    earlier = json.loads(path.read_text())["pages"]["a.md"]["date"]

    second = Report(path)
    second.add("a.md", 3, "shell", "cached", 0.0)
    record = second.write()
    assert record["pages"]["a.md"]["date"] == earlier
    assert record["pages"]["a.md"]["blocks"][0]["status"] == "passed"
    assert record["pages"]["b.md"]["blocks"][0] == {"line": 3, "kind": "shell", "status": "skipped",
                                                    "duration": 0.0, "reason": "why not"}
    assert record["totals"] == {"cached": 1}
    assert record["docker"]["engine"] == "28.2.2"


def test_pages_that_no_longer_exist_are_dropped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report_module, "docker_versions", lambda: {"client": None, "engine": None})
    (tmp_path / "kept.md").write_text("# page\n")
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"pages": {"gone.md": {"date": "x", "blocks": []},
                                          "kept.md": {"date": "y", "blocks": []}}}))
    record = Report(path).write()
    assert list(record["pages"]) == ["kept.md"]
