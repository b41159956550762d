"""The GitHub workflow, read as GitHub reads it: actions pinned by commit,
and every step that writes the working tree run as the same user."""
import re

import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "site.yml"


def steps():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    for job in workflow["jobs"].values():
        yield from job["steps"]


def test_every_action_is_pinned_by_commit_with_its_tag_in_a_comment():
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", WORKFLOW.read_text(), re.M)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), f"{action} is not pinned by commit"
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", comment), f"{action} has no `# vX.Y.Z` comment"


def test_the_steps_that_write_the_tree_run_as_one_user():
    # `make` writes .venv, build/ and site/: a later step as another user could not replace them.
    users = [("root" if step["run"].lstrip().startswith("sudo") else "runner", step["run"])
             for step in steps() if "run" in step and re.search(r"\bmake\b", step["run"])]
    assert len(users) >= 2
    assert len({user for user, _ in users}) == 1, users


def test_no_checkout_leaves_its_token_in_the_tree():
    # Page code runs as root in `make test`: a token in .git/config would be its to read.
    checkouts = [step for step in steps() if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert (step.get("with") or {}).get("persist-credentials") is False, step
