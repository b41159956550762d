"""A tier whose engine or browser is missing: skipped with the reason, or,
with `--require`, one clear stop, also under xdist (where pytest.exit in a
worker is an internal error of xdist's)."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONFTEST = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import pytest
from tests.conftest import missing, pytest_addoption

@pytest.fixture
def engine(pytestconfig):
    missing(pytestconfig, "docker", "no engine answers here")
"""
TESTS = "".join(f"def test_{number}(engine):\n    pass\n" for number in range(8))


def run(tmp_path, *args):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_needs_engine.py").write_text(TESTS)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_without_require_the_tier_is_skipped_with_the_reason(tmp_path):
    code, output = run(tmp_path, "-rs")
    assert code == 0, output
    assert "8 skipped" in output and "no engine answers here" in output


def test_require_stops_the_run_with_the_reason(tmp_path):
    code, output = run(tmp_path, "--require", "docker")
    assert code == 1, output
    assert "no engine answers here (--require docker)" in output
    assert "passed" not in output and "error" not in output.lower()


@pytest.mark.parametrize("workers", ["1", "3"])
def test_require_under_xdist_stops_each_worker_after_its_first_test(tmp_path, workers):
    code, output = run(tmp_path, "-p", "xdist", "-n", workers, "--require", "docker")
    assert code != 0, output
    assert "INTERNALERROR" not in output
    assert "Interrupted: no engine answers here (--require docker)" in output
    errors = [line for line in output.splitlines() if line.startswith("ERROR ")]
    assert 1 <= len(errors) <= int(workers), output
