"""The jam server's requirements lock every package it runs on: installed
with --require-hashes into a fresh environment, as the image installs them,
they are complete and consistent, and the server starts."""
import subprocess
import venv

from tests.conftest import ROOT

REQUIREMENTS = ROOT / "examples" / "rest_server" / "requirements.txt"


def test_the_servers_requirements_are_a_complete_exact_lock(tmp_path):
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    # As the image installs it: every file checked against its hash; without
    # --no-deps, so a dependency missing from the lock is an error here too.
    installed = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                "--require-hashes", "-r", str(REQUIREMENTS)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, f"a dependency is missing from {REQUIREMENTS.name}:\n{check.stdout}"
    app = subprocess.run([python, "-c", "import sys, app; print(app.create_app(sys.argv[1]).test_client()"
                          ".get('/health').status_code)", str(tmp_path / "jams.json")], cwd=ROOT / "examples" / "rest_server",
                         capture_output=True, text=True, timeout=60, env={"PYTHONPATH": "", "HOME": str(tmp_path),
                                                                          "PYTHONDONTWRITEBYTECODE": "1"})
    assert app.stdout.splitlines()[-1] == "200", app.stdout + app.stderr
