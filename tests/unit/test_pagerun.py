"""Placeholder binding and output rewriting, with a stand-in for the engine."""
import pytest

from doctester import matching, plugin
from doctester.fences import Block
from doctester.pagerun import BlockFailure, PageRun


class FakeEngine:
    """Just enough of a page's engine for placeholder decisions: what the
    page made, oldest first."""

    def __init__(self, containers=(), images=()):
        self.containers, self.images = list(containers), list(images)

    def new_containers(self):
        return self.containers

    def new_images(self):
        return self.images

    def all_ids(self):
        return set(self.containers) | {i.split(":")[-1] for i in self.images}


def page_run(containers=(), images=()):
    run = PageRun.__new__(PageRun)
    run.engine = FakeEngine(containers, images)
    run.bindings, run.captures = matching.Bindings(), {}
    return run


BLOCK = Block("page.md", 7, "shell")


def test_container_placeholders_name_the_last_container_made():
    run = page_run(["a" * 64, "b" * 64])
    assert run.substitute("docker logs <id>", BLOCK) == f"docker logs {'b' * 12}"
    assert page_run(images=["sha256:" + "c" * 64]).substitute("docker run <IMAGE ID>", BLOCK) == \
        f"docker run {'c' * 12}"
    assert run.substitute("docker commit <CONTAINER ID> py:app", BLOCK) == f"docker commit {'b' * 12} py:app"


def test_captures_and_unbound_placeholders():
    run = page_run()
    run.captures["SERVER"] = "abc123"
    assert run.substitute("docker stop <SERVER>", BLOCK) == "docker stop abc123"
    with pytest.raises(BlockFailure, match="page.md:7: unbound placeholder <WHAT>"):
        run.substitute("docker stop <WHAT>", BLOCK)
    with pytest.raises(BlockFailure, match="has created none yet"):
        run.substitute("docker logs <id>", BLOCK)


def test_shown_ids_and_prefixes_stand_for_real_ones():
    real = "7a1c2d3e4f50" + "0" * 52
    run = page_run([real, "7b" + "1" * 62])
    run.bindings.bind("e3b0c44298fc", real[:12])
    run.bindings.bind("cool_napier", "festive_hopper")
    assert run.substitute("docker rm e3 cool_napier", BLOCK) == "docker rm 7a festive_hopper"
    assert run.bindings.to_shown("7a\nfestive_hopper") == "e3\ncool_napier"
    assert run.substitute("echo e3", BLOCK) == "echo e3"  # only docker commands are rewritten


def test_apply_updates_replaces_only_the_output_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# T\n\n```bash\necho hi\n```\n\n```text\nold\nlines\n```\n\n??? note\n\n"
                    "    ```console\n    $ echo x\n    y\n    ```\n")
    plugin.apply_updates([(str(page), (7, 8), ["hi"]), (str(page), (15, 15), ["x", "", "z"])], tmp_path)
    assert page.read_text() == ("# T\n\n```bash\necho hi\n```\n\n```text\nhi\n```\n\n??? note\n\n"
                                "    ```console\n    $ echo x\n    x\n\n    z\n    ```\n")
