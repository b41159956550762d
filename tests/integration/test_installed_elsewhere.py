"""The harness as another project uses it: a wheel built from this tree,
installed into a fresh virtual environment outside the repository, run on
that project's own layout and ini. Its good page passes, its stale one fails
at the line, and nothing is collected before it is configured."""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from doctester.docker.identity import Identity
from tests.conftest import ROOT

OTHER = ROOT / "tests" / "fixtures" / "other-project"
# The other project keeps the harness's neutral labels and hostname; its
# sandboxes run from the image this checkout's `make images` built (a project
# of its own would build one: python -m doctester.docker.sandbox_image build).
SANDBOX_IMAGE = Identity.from_ini(ROOT / "pytest.ini").sandbox_image


def sh(*argv, cwd, timeout=600):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of a fresh venv with the wheel installed, a copy of the other project)."""
    place = tmp_path_factory.mktemp("elsewhere")
    wheels = place / "wheels"
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT), cwd=place)
    assert built.returncode == 0, built.stderr
    venv.create(place / "venv", with_pip=True)
    python = place / "venv" / "bin" / "python"
    wheel = next(wheels.glob("doctester_docker-*.whl"))
    # The same pinned versions as this repository uses, so the run is reproducible.
    pins = [line for line in (ROOT / "requirements.txt").read_text().split()
            if line.split("==")[0].lower() in {"pytest", "pexpect", "ptyprocess", "markdown-it-py", "mdurl",
                                               "pyyaml", "pytest-markdown-docs", "pluggy", "iniconfig",
                                               "packaging"}]
    installed = sh(str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel), *pins,
                   cwd=place)
    assert installed.returncode == 0, installed.stderr
    project = place / "project"
    shutil.copytree(OTHER, project)
    return python, project


def run(installed, *args):
    python, project = installed
    return sh(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"doc_sandbox_image={SANDBOX_IMAGE}",
              *args, cwd=project)


@pytest.mark.usefixtures("client")  # the page runs on a private engine
def test_the_other_projects_good_page_passes(installed):
    result = run(installed, "guide/intro.md")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 passed in" in result.stdout and "warning" not in result.stdout
    assert (installed[1] / "reports" / "doctest.json").is_file(), "the report goes where its ini says"


@pytest.mark.usefixtures("client")  # the page runs on a private engine
def test_the_planted_stale_output_fails_at_its_line(installed):
    result = run(installed, "guide/stale.md")
    assert result.returncode == 1
    assert "guide/stale.md:52: docker images greeter --format '{{.Repository}}': output differs" in result.stdout
    assert "-greeter-renamed" in result.stdout and "+greeter" in result.stdout


def test_nothing_is_collected_until_configured(installed, tmp_path):
    python, project = installed
    bare = tmp_path / "bare"
    shutil.copytree(project / "guide", bare / "guide")
    (bare / "tox.ini").write_text("[pytest]\n")
    result = sh(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "guide", cwd=bare)
    assert result.returncode == 5 and "no tests ran" in result.stdout  # pytest's "nothing collected"


def test_an_unknown_ini_value_is_one_clear_error(installed):
    result = run(installed, "guide/intro.md", "-o", "doc_engine=laptop")
    assert result.returncode == 4
    assert "doc_engine = 'laptop' is not one of private, existing" in result.stderr


def test_the_wheel_registers_both_plugins_and_the_site_plugin(installed):
    python, project = installed
    listing = sh(str(python), "-c", "from importlib.metadata import entry_points as e\n"
                 "for group in ('pytest11', 'mkdocs.plugins'):\n"
                 "    print(group, sorted(f'{p.name}={p.value}' for p in e(group=group)))", cwd=project)
    assert "'doctester-docker=doctester.docker.plugin', 'doctester=doctester.core.plugin'" in listing.stdout, \
        listing.stdout + listing.stderr
    assert "mkdocs.plugins ['doctest-verified=doctester.mkdocs_plugin:VerifiedPlugin']" in listing.stdout


def test_a_hook_that_raises_is_one_usage_error_naming_it(installed, tmp_path):
    python, project = installed
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    (broken / "conftest.py").write_text("def pytest_doctester_normalizers():\n    raise RuntimeError('boom')\n")
    result = sh(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "guide/intro.md", cwd=broken)
    assert result.returncode == 4
    assert "doctester: the hook pytest_doctester_normalizers raised RuntimeError: boom" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_wheel_carries_the_sandbox_recipe_and_its_build_command(installed):
    python, project = installed
    shown = sh(str(python), "-m", "doctester.docker.sandbox_image", "recipe", cwd=project)
    recipe = Path(shown.stdout.strip())
    assert shown.returncode == 0 and ROOT not in recipe.parents, shown.stdout + shown.stderr  # the installed copy
    assert sorted(p.name for p in recipe.iterdir()) == ["Dockerfile", "sandbox-engine", "sandbox-init"]
    assert all(os.access(recipe / name, os.X_OK) for name in ("sandbox-engine", "sandbox-init"))
    printed = sh(str(python), "-m", "doctester.docker.sandbox_image", "build", "--print", "--tag", "other/sandbox",
                 cwd=project)
    assert printed.returncode == 0 and printed.stdout.split()[-1] == str(recipe), printed.stdout + printed.stderr
