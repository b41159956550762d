"""Attacker pages (tests/fixtures/pages/escapes): each tries, in a harmless
form, an escape from its sandbox to the machine (kernel settings, the
clock, control groups, files through planted links, python fences, the
run's records, processes that outlive the page) and passes only when every
attempt is stopped; the limits end what exceeds them, and the run goes on."""
import json
import os

import pytest

from tests.integration.doc_runs import PAGES, run_pages

# Every page here runs on a private engine.
pytestmark = pytest.mark.usefixtures("client")

ESCAPES = PAGES / "escapes"
CANARY = "/tmp/doctester-escape-canary"


# One file on this machine: integration's scheduler keeps this module's tests on one worker.
@pytest.fixture
def canary():
    """A file on this machine at the path the pages write to inside their sandbox."""
    if os.path.lexists(CANARY):
        pytest.fail(f"{CANARY} exists already: remove it (a run of this test left it, or it is not ours)")
    with open(CANARY, "w") as handle:
        handle.write("untouched")
    yield CANARY
    os.unlink(CANARY)


def outcomes(report):
    record = json.loads(report.read_text())
    return {page: [block["status"] for engine in entry["engines"].values() for block in engine["blocks"]]
            for page, entry in record["pages"].items()}


def test_every_escape_is_stopped(canary, tmp_path):
    pages = [ESCAPES / name for name in ("kernel.md", "cgroups.md", "files.md", "fences-only.md", "processes.md",
                                         "after-processes.md")]
    report = tmp_path / "report.json"
    result = run_pages(*pages, extra=["-p", "no:xdist", "-v"], report=report, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "ESCAPED" not in result.stdout
    with open(canary) as handle:
        assert handle.read() == "untouched"
    found = outcomes(report)
    assert len(found) == 6 and all(found.values()), found
    assert all(outcome == "passed" for blocks in found.values() for outcome in blocks), found


def test_a_file_block_through_a_planted_link_is_refused(canary, tmp_path):
    result = run_pages(ESCAPES / "files-refused.md", extra=["-p", "no:xdist"], report=tmp_path / "r.json")
    assert result.returncode == 1, result.stdout[-4000:]
    assert "files-refused.md:10: title='planted.txt' points outside the page's directory" in result.stdout
    with open(canary) as handle:
        assert handle.read() == "untouched"


def test_a_page_over_the_memory_limit_fails_with_the_reason_and_the_run_goes_on(tmp_path):
    report = tmp_path / "report.json"
    result = run_pages(ESCAPES / "memory.md", ESCAPES / "after-memory.md",
                       extra=["-p", "no:xdist", "--doc-sandbox-memory", "2g"], report=report, timeout=600)
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "the sandbox's memory limit (2 GiB) was reached" in result.stdout
    assert "ESCAPED" not in result.stdout.replace("print(\"ESCAPED\")", "")
    found = outcomes(report)
    assert found["tests/fixtures/pages/escapes/after-memory.md"] == ["passed"], found
