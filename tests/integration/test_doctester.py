"""The harness on the real daemon: fixture pages that must pass, pages with
planted staleness that must fail at the right line, and the daemon left as
it was found."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.integration.doc_runs import PAGES, left_by, run_pages, wait_for_hung_container


def test_fixture_page_passes_and_leaves_nothing_behind(client, tmp_path):
    result = run_pages(PAGES / "passing.md", report=tmp_path / "report.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not left_by(client, result.pid)
    record = json.loads((tmp_path / "report.json").read_text())
    [entry] = record["pages"]["tests/fixtures/pages/passing.md"]["engines"].values()
    blocks = entry["blocks"]
    assert {b["status"] for b in blocks} == {"passed"}
    assert record["format"] == 2 and record["environment"]["name"] == "Docker Engine"
    assert record["environment"]["version"] and record["environment"]["client"]


def test_two_runs_in_a_row_give_the_same_result(client):
    first = run_pages(PAGES / "passing.md")
    second = run_pages(PAGES / "passing.md")
    assert first.returncode == second.returncode == 0
    assert first.stdout.splitlines()[-1].split(" in ")[0] == second.stdout.splitlines()[-1].split(" in ")[0]


STALE = [
    ("bad-flag.md", 4, "docker run --rmm hello-world exited 125"),
    ("wrong-image.md", 4, "docker run --rm hello-wrld exited 125"),
    ("wrong-port.md", 6, "curl -s 127.0.0.1:18001/jam exited 7"),
    ("changed-output.md", 3, "output differs\n--- expected (page)\n+++ actual"),
    ("broken-dockerfile.md", 9, "docker build -t doctest-broken . exited 1"),
    ("hung-command.md", 5, "timed out after 3 s"),
    ("no-prompt.md", 5, "timed out after 4 s"),
]


@pytest.fixture(scope="module")
def stale_run(client):
    """Every stale page in one run, one after another on one engine: each
    fails alone, and a failed or hung page leaves the next a clean engine."""
    result = run_pages(*(PAGES / "stale" / page for page, _, _ in STALE))
    return result, left_by(client, result.pid)


@pytest.mark.parametrize("page, line, message", STALE)
def test_stale_page_fails_at_the_right_line(stale_run, page, line, message):
    result, left = stale_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{len(STALE)} failed" in result.stdout.splitlines()[-1], result.stdout
    report = result.stdout.split(f"tests/fixtures/pages/stale/{page}:{line}: ", 1)
    assert len(report) == 2, result.stdout
    assert message in re.split(r"\n(?:_{3,}|={3,}) ", report[1])[0], result.stdout
    assert not left, "the pages left something behind"


@pytest.mark.parametrize("page, line, message", [
    ("unclosed.md", 5, "unclosed code fence"),
    ("unknown-annotation.md", 3, "unknown doctest annotation 'retries'"),
    ("dockerfile-without-path.md", 3, "a dockerfile fence needs the path"),  # with doc_untitled_files = error
    ("leaves-engine.md", 5, "`docker --context desktop-linux ps` would address another Docker engine"),
])
def test_malformed_page_is_a_collection_error_at_its_line(page, line, message):
    result = run_pages(PAGES / "malformed" / page, extra=["--doc-untitled-files", "error"])
    assert result.returncode == 2
    assert f"tests/fixtures/pages/malformed/{page}:{line}: {message}" in result.stdout


def finish(proc, seconds):
    """The output of a run told to stop; a run that does not stop in time fails the test."""
    try:
        return proc.communicate(timeout=seconds)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the run did not stop within {seconds} s of Ctrl-C:\n{proc.communicate()[0]}")


def test_ctrl_c_mid_page_still_cleans_up(client):
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             str(PAGES / "long-running.md"), "--doc-timeout", "60"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_hung_container(client, proc)
    proc.send_signal(signal.SIGINT)
    output = finish(proc, 240)
    assert proc.returncode != 0
    assert not left_by(client, proc.pid), output


@pytest.mark.usefixtures("client")  # the page runs on a private engine
def test_update_mode_rewrites_only_the_output(tmp_path):
    page = tmp_path / "stale.md"
    shutil.copy(PAGES / "stale" / "changed-output.md", page)
    original = page.read_text()
    result = run_pages(page, extra=["--doc-update"])
    assert "rewrote 1 output block" in result.stdout
    updated = page.read_text()
    assert updated == original.replace("hello from the old page", "hello from the page")
    assert run_pages(page).returncode == 0


@pytest.mark.usefixtures("client")  # the page runs on a private engine
def test_doc_cache_skips_an_unchanged_page(tmp_path):
    page = tmp_path / "cached.md"
    page.write_text("# Cached\n\n```bash\necho cached\n```\n")
    argv = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pytest.ini"), "-q", str(page), "--doc-cache",
            "-o", f"cache_dir={tmp_path}/cache", "--doc-report", str(tmp_path / "report.json")]
    first = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    second = subprocess.run(argv + ["-rs"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "1 passed" in first.stdout
    assert "1 skipped" in second.stdout and "cached: page, inputs and environment unchanged" in second.stdout
    page.write_text(page.read_text().replace("cached", "changed"))
    third = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "1 passed" in third.stdout


def test_missing_daemon_is_one_clear_error(tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/none.sock")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(PAGES / "passing.md")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 3
    assert result.stdout.count("no Docker daemon answers") == 1


def test_k_runs_one_block_after_the_blocks_it_depends_on(client):
    # line-82 commits the container made at line-53 by a shell typed into at line-57.
    result = run_pages(PAGES / "passing.md", extra=["-k", "line-82", "-rA"])
    assert result.returncode == 0, result.stdout
    assert "PASSED tests/fixtures/pages/passing.md::line-82" in result.stdout
    assert "1 passed, 13 deselected" in result.stdout


def test_x_stops_at_the_first_failing_page_and_still_cleans_up(client):
    result = run_pages(PAGES / "stale" / "bad-flag.md", PAGES / "passing.md", extra=["-x"])
    assert result.returncode == 1
    assert "stopping after 1 failures" in result.stdout and "passing.md" not in result.stdout.split("FAILURES")[0]
    assert not left_by(client, result.pid)


@pytest.mark.usefixtures("client")  # the page runs on a private engine
def test_k_never_runs_a_skipped_block_before_the_selected_one():
    result = run_pages(PAGES / "skip-before.md", extra=["-k", "line-8", "-rA"])
    assert result.returncode == 0, result.stdout
    assert "PASSED tests/fixtures/pages/skip-before.md::line-8" in result.stdout
    whole = run_pages(PAGES / "skip-before.md", extra=["-rs"])
    assert "skip-before.md:4: would fail if it ran" in whole.stdout and "1 passed, 1 skipped" in whole.stdout


def test_a_journey_failure_names_the_page_and_line_that_left_the_culprit(client):
    pages = sorted((PAGES / "journey").glob("*.md"))
    alone = run_pages(*pages)
    assert alone.returncode == 0, alone.stdout + alone.stderr  # each page passes on its own
    journey = run_pages(*pages, extra=["--doc-journey", "-rs"])
    assert journey.returncode == 1, journey.stdout + journey.stderr
    assert "tests/fixtures/pages/journey/2-trips-over-it.md:8: docker run -d --name wants-the-port " \
           "-p 127.0.0.1:18123:80 python:alpine sleep 300 exited 125" in journey.stdout
    assert "left by tests/fixtures/pages/journey/1-leaves-a-server.md:16: container left-running " \
           "(the error names 18123)" in journey.stdout
    assert "1-leaves-a-server.md:11: in the journey the reader skips it: the reader has one from before" \
        in journey.stdout
    assert not left_by(client, alone.pid) and not left_by(client, journey.pid)


def test_a_journey_runs_on_one_worker_only(tmp_path):
    result = run_pages(PAGES / "passing.md", extra=["--doc-journey", "-n", "2"])
    assert result.returncode == 4 and "--doc-journey runs the pages one after another" in result.stderr
