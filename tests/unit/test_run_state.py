"""One state object per run, in config.stash: it collects the report and
writes it once; the run leaves the process's SIGTERM handler as it found it."""
import json
import subprocess
import sys

SCRIPT = """
import signal, sys
import pytest

def mine(signum, frame):
    pass

signal.signal(signal.SIGTERM, mine)
code = pytest.main(sys.argv[1:])
print("restored" if signal.getsignal(signal.SIGTERM) is mine else "changed", code)
"""


def test_a_run_reports_once_and_puts_the_sigterm_handler_back(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\ndoc_pages = *.md\ndoc_report = report.json\n")
    (tmp_path / "page.md").write_text("# A page\n\n```console\n$ echo hi\nhi\n```\n")
    result = subprocess.run([sys.executable, "-c", SCRIPT, "-p", "no:cacheprovider", "-p", "no:doctester-docker"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().endswith("restored 0"), result.stdout + result.stderr
    assert result.stdout.count("doc tests: 1 passed in 1 pages; report:") == 1
    record = json.loads((tmp_path / "report.json").read_text())
    run, = record["pages"]["page.md"]["engines"].values()
    assert [block["status"] for block in run["blocks"]] == ["passed"]
