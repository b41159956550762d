"""The GitHub workflow's commands, run in their order and as their users, in a
fresh clone owned by an unprivileged user as a runner's checkout is: a step
that could not replace what an earlier step made fails here, not on GitHub."""
import os
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"
RUNNER_UID = 65534  # the checkout's owner, as GitHub's `runner` user owns it
# `make test` is this very CI run; in the clone, the part of it that writes
# the tree (.venv, build/, site/) stands for it.
STANDS_FOR = {"make test": "make venv build"}
# Steps that change the machine rather than the tree: not this test's to repeat.
MACHINE_STEPS = re.compile(r"\bapt-get\b")


def run_steps():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return [step for step in workflow["jobs"]["test"]["steps"] if "run" in step]


def as_user(command):
    """(user, command without sudo): a step's `sudo [options] cmd` runs cmd as root."""
    words = shlex.split(command)
    if words and words[0] == "sudo":
        words = words[1:]
        while words and words[0].startswith("-"):
            words = words[1:]
        return "root", " ".join(words)
    return "runner", command


def expressions_filled(env):
    """`${{ github.x }}` values as GitHub would fill them, with neutral words."""
    return {key: re.sub(r"\$\{\{[^}]*\}\}", "example", str(value)) for key, value in (env or {}).items()}


@pytest.fixture
def runner_checkout(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("runs the workflow's root steps as root: run it as root, as CI does")
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    home = tmp_path / "home"
    home.mkdir()
    for path in (tmp_path, clone, home):
        shutil.chown(path, RUNNER_UID, RUNNER_UID)
    for path in clone.rglob("*"):
        os.lchown(path, RUNNER_UID, RUNNER_UID)
    return clone, home


def test_the_workflow_steps_run_in_order_as_their_users(runner_checkout, capsys):
    clone, home = runner_checkout
    steps = run_steps()
    assert len(steps) >= 2
    ran = []
    for step in steps:
        user, command = as_user(step["run"])
        if MACHINE_STEPS.search(command):
            with capsys.disabled():
                print(f"\n  not repeated: `{step['name']}` installs packages on the machine, not into the tree")
            continue
        command = STANDS_FOR.get(command, command)
        env = dict(os.environ, **expressions_filled(step.get("env")))
        argv = ["bash", "-c", command]
        if user == "runner":
            env["HOME"] = str(home)
            argv = ["setpriv", f"--reuid={RUNNER_UID}", f"--regid={RUNNER_UID}", "--clear-groups", *argv]
        result = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (f"step `{step['name']}` ({command}, as {user}) exited "
                                        f"{result.returncode}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        ran.append(step["name"])
    assert (clone / "site" / "index.html").is_file(), "the steps left no site to publish"
    assert len(ran) >= 2, f"only {ran} ran: the test would prove nothing"
