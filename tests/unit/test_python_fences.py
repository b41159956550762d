"""Python fences of a page are run by pytest-markdown-docs, through our collector."""
import subprocess
import sys

from tests.conftest import ROOT


def test_python_fences_run_and_fail_at_their_line(tmp_path):
    page = ROOT / "tests" / "fixtures" / "pages" / "python" / "fences.md"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker", "-v", "-rs", str(page),
                             "--doc-report", str(tmp_path / "report.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "fences.md::line-3 PASSED" in result.stdout
    assert "fences.md::line-9 FAILED" in result.stdout
    assert "this fence must fail" in result.stdout
    assert "fences.md::line-14 SKIPPED" in result.stdout and "a skipped fence must not run" not in result.stdout
    assert "fences.md:14: talks to a service the tests do not run" in result.stdout
    assert result.returncode == 1


def test_with_markdown_docs_each_python_fence_of_a_page_runs_once(tmp_path):
    page = ROOT / "tests" / "fixtures" / "pages" / "python" / "fences.md"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker", "-v", "--markdown-docs",
                             str(page), "--doc-report", str(tmp_path / "report.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.count("fences.md::line-3 PASSED") == 1
    assert "CodeFence" not in result.stdout and "3 deselected" in result.stdout
    assert result.returncode == 1  # the planted failing fence still fails, once


def test_a_python_fence_is_stopped_at_its_timeout(tmp_path):
    page = ROOT / "tests" / "fixtures" / "pages" / "python" / "timeout.md"
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker", "-v", str(page),
                             "--doc-report", str(tmp_path / "report.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "timeout.md::line-4 FAILED" in result.stdout
    assert "timeout.md:4: the python fence took longer than 1 s" in result.stdout
    # What ended the fence is the timeout, not the SystemExit after its sleep.
    assert "BlockFailure: tests/fixtures/pages/python/timeout.md:4" in result.stdout
    assert "SystemExit: the timeout did not stop this fence" not in result.stdout
    assert result.returncode == 1


def test_a_block_asked_for_alone_first_runs_the_python_fences_above_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\ndoc_pages = *.md\n")
    (tmp_path / "page.md").write_text('```python\nopen("made.txt", "w").write("by the fence\\n")\n```\n\n'
                                      "```console\n$ cat made.txt\nby the fence\n```\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker",
                             "-v", "-k", "line-5"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "page.md::line-5 PASSED" in result.stdout and "1 deselected" in result.stdout, result.stdout
