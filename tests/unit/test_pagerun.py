"""Placeholder binding and output rewriting, with a stand-in for the daemon."""
from types import SimpleNamespace

import pytest

from doctester import dockerstate, matching, plugin
from doctester.fences import Block
from doctester.pagerun import BlockFailure, PageRun


class FakeApi:
    """Just enough of the Docker SDK client for placeholder decisions."""

    def __init__(self, containers=(), images=()):
        self.containers = SimpleNamespace(list=lambda all=True: list(containers))
        self.images = SimpleNamespace(list=lambda all=True: list(images))


def page_run(containers=(), images=()):
    run = PageRun.__new__(PageRun)
    run.api = FakeApi(containers, images)
    run.before = dockerstate.Snapshot(set(), {}, set(), set(), set())
    run.bindings, run.captures = matching.Bindings(), {}
    return run


def container(identifier, created):
    return SimpleNamespace(id=identifier, attrs={"Created": created})


BLOCK = Block("page.md", 7, "shell")


def test_container_placeholders_name_the_last_container_made():
    run = page_run([container("a" * 64, "2026-01-01T00:00:01"), container("b" * 64, "2026-01-01T00:00:02")])
    assert run.substitute("docker logs <id>", BLOCK) == f"docker logs {'b' * 12}"
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
    run = page_run([container(real, "1"), container("7b" + "1" * 62, "2")])
    run.bindings.bind("e3b0c44298fc", real[:12])
    run.bindings.bind("cool_napier", "festive_hopper")
    assert run.substitute("docker rm e3 cool_napier", BLOCK) == "docker rm 7a festive_hopper"
    assert run.bindings.to_shown("7a\nfestive_hopper") == "e3\ncool_napier"
    assert run.substitute("echo e3", BLOCK) == "echo e3"  # only docker commands are rewritten


def test_apply_updates_replaces_only_the_output_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# T\n\n```bash\necho hi\n```\n\n```text\nold\nlines\n```\n\n??? note\n\n"
                    "    ```console\n    $ echo x\n    y\n    ```\n")
    plugin.apply_updates([(str(page), (7, 8), ["hi"]), (str(page), (15, 15), ["x", "", "z"])])
    assert page.read_text() == ("# T\n\n```bash\necho hi\n```\n\n```text\nhi\n```\n\n??? note\n\n"
                                "    ```console\n    $ echo x\n    x\n\n    z\n    ```\n")
