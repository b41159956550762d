"""Running a page: the core on a local bash (no engine needed), and the Docker
profile's placeholder and binding decisions with a stand-in for the engine."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from doctester.core import matching
from doctester.core.blocks import ShellBlock
from doctester.core.markdown import parse_page
from doctester.core.environment import LocalEnvironment
from doctester.core.pagerun import BlockFailure, PageRun, RanAgain, Substitution
from doctester.core.plugin import apply_updates
from doctester.core.session import Interactive
from doctester.docker.engines import PageEngine

SETTINGS = SimpleNamespace(timeout=20, copy=None, copy_ignore=[], reader_shell="bash", workdir_name="workshop")
BLOCK = ShellBlock("page.md", 7)


class StandInEngine(PageEngine):
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


def substituter(containers=(), images=()):
    return Substitution(StandInEngine(containers, images), matching.Bindings())


def test_container_placeholders_name_the_last_container_made():
    run = substituter(["a" * 64, "b" * 64])
    assert run("docker logs <id>", BLOCK) == f"docker logs {'b' * 12}"
    assert substituter(images=["sha256:" + "c" * 64])("docker run <IMAGE ID>", BLOCK) == \
        f"docker run {'c' * 12}"
    assert run("docker commit <CONTAINER ID> py:app", BLOCK) == f"docker commit {'b' * 12} py:app"


def test_captures_and_unbound_placeholders():
    run = substituter()
    run.captures["SERVER"] = "abc123"
    assert run("docker stop <SERVER>", BLOCK) == "docker stop abc123"
    with pytest.raises(BlockFailure, match="page.md:7: unbound placeholder <WHAT>; name a capture "
                                           r"\(SERVER\) or one of <CONTAINER ID>, <IMAGE ID>"):
        run("docker stop <WHAT>", BLOCK)
    with pytest.raises(BlockFailure, match="has created none yet"):
        run("docker logs <id>", BLOCK)


def test_shown_ids_and_prefixes_stand_for_real_ones():
    real = "7a1c2d3e4f50" + "0" * 52
    run = substituter([real, "7b" + "1" * 62])
    run.bindings.bind("e3b0c44298fc", real[:12])
    run.bindings.bind("cool_napier", "festive_hopper")
    assert run("docker rm e3 cool_napier", BLOCK) == "docker rm 7a festive_hopper"
    assert run.bindings.to_shown("7a\nfestive_hopper") == "e3\ncool_napier"
    assert run("echo e3", BLOCK) == "echo e3"  # only docker commands are rewritten


def test_the_core_runs_a_page_in_a_local_bash_without_any_engine(local, run_page):
    run_page(local, "bash", '```bash\nmkdir sub && cd sub && X=1\n```\n\n'
                    '```text title="notes.txt"\nhello\n```\n\n'
                    '```console\n$ echo "$X $(basename $PWD) $(cat notes.txt)"\n1 sub hello\n```\n\n'
                    '<!-- doctest: capture=WHO -->\n```bash\necho world\n```\n\n'
                    '```console\n$ echo <WHO>\nworld\n```\n')
    assert list(local.page_root.iterdir()) == []  # the page's folder is gone


def test_the_working_folder_is_at_home_under_its_configured_name(local, run_page):
    """A reader's `cd ~/intro-to-docker` reaches the page's folder, from
    anywhere, and the page's shell has a home of its own, not the user's."""
    real_home = str(Path.home())
    run_page(local, "bash", '```bash\ncd /\ncd ~/intro-to-docker\n```\n\n'
                            '```console\n$ basename "$PWD"\nintro-to-docker\n```\n\n'
                            f'```console\n$ test "$HOME" != {real_home} && echo own home\nown home\n```\n',
             workdir_name="intro-to-docker")


def test_stale_output_and_a_wrong_exit_status_fail_at_their_line(local, run_page):
    with pytest.raises(BlockFailure, match=r"(?s)page.md:2: echo new: output differs.*-old\n\+new"):
        run_page(local, "bash", "```console\n$ echo new\nold\n```\n")
    # What was printed as is follows the diff of normalized text.
    with pytest.raises(BlockFailure, match=r"(?s)output differs.*--- printed, as is\nabc 2024-01-01\Z"):
        run_page(local, "bash", "```console\n$ echo abc 2024-01-01\nabc\n```\n")
    with pytest.raises(BlockFailure, match=r"(?s)--- printed, as is\n\(nothing\)\Z"):
        run_page(local, "bash", "```console\n$ true\nsomething\n```\n")
    with pytest.raises(BlockFailure, match=r"page.md:2: false exited 1 \(expected 0\)"):
        run_page(local, "bash", "```console\n$ false\n```\n")
    run_page(local, "bash", '<!-- doctest: exit=nonzero -->\n```bash\nfalse\n```\n')


def opens_a_shell(command):
    """The interactive rule a profile gives; here, `bash -i` takes the terminal."""
    return Interactive() if command.startswith("bash --norc -i") else None


@pytest.mark.parametrize("annotation, fails", [("", True), (" exit=1", False)])
def test_keys_that_end_a_shell_with_a_failure_fail_unless_annotated(local, annotation, fails):
    page = parse_page("page.md", "```console\n$ bash --norc -i\n$ trap 'exit 1' EXIT\n```\n\n"
                                 f'<!-- doctest: press="ctrl-d"{annotation} -->\n')
    run = PageRun(page, SETTINGS, local, interactive=opens_a_shell)
    try:
        run.run_block(page.blocks[0])
        if fails:
            with pytest.raises(BlockFailure, match="page.md:6: pressing ctrl-d ended the command that had the "
                                                   r"terminal with status 1 \(expected 0"):
                run.run_block(page.blocks[1])
        else:
            run.run_block(page.blocks[1])
            assert run.session.mode.name == "PLAIN"
    finally:
        assert run.finish() == []


def test_apply_updates_replaces_only_the_output_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# T\n\n```bash\necho hi\n```\n\n```text\nold\nlines\n```\n\n??? note\n\n"
                    "    ```console\n    $ echo x\n    y\n    ```\n")
    apply_updates([(str(page), (7, 8), ["hi"]), (str(page), (15, 15), ["x", "", "z"])], tmp_path)
    assert page.read_text() == ("# T\n\n```bash\necho hi\n```\n\n```text\nhi\n```\n\n??? note\n\n"
                                "    ```console\n    $ echo x\n    x\n\n    z\n    ```\n")


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_page_that_ends_its_own_shell_fails_at_that_line_with_the_reason(local, run_page, shell):
    page = "# Ends its shell\n\n```bash\necho before\n```\n\n```bash\nexit 3\n```\n"
    with pytest.raises(BlockFailure) as failure:
        run_page(local, shell, page)
    assert str(failure.value).startswith("page.md:7:")
    assert "the page's shell ended while running: exit 3" in str(failure.value)


def test_a_failure_report_shows_control_characters_as_escapes(local, run_page):
    page = ("# Prints escapes\n\n```bash\nprintf 'red \\033[31mtext\\033]0;title\\007 \\033[2K\\n'\n```\n\n"
            "```text\nred text\n```\n")
    with pytest.raises(BlockFailure) as failure:
        run_page(local, "bash", page)
    report = str(failure.value)
    assert "\x1b" not in report and "\x07" not in report
    assert "text\\x1b]0;title\\x07" in report  # colours are dropped by matching; the title escape is shown


class FaultyLocal(LocalEnvironment):
    """A local bash whose tool has one known fault: output naming FLAKE."""

    def known_fault(self, output):
        return "the tool's FLAKE (tool#1)" if "FLAKE" in output else None


@pytest.fixture
def faulty_local():
    environment = FaultyLocal()
    yield environment
    environment.close()


# The first run of the command prints FLAKE and fails; every later one passes.
FLAKY_ONCE = ('```console\n$ if [ -e tried ]; then echo done; else touch tried; echo FLAKE; false; fi\n'
              'done\n```\n')


def test_a_known_fault_of_the_tool_runs_the_command_once_more_and_says_so(faulty_local, run_page):
    with pytest.warns(RanAgain, match=r"page.md:2: .*: ran again after the tool's FLAKE \(tool#1\)") as seen:
        run_page(faulty_local, "bash", FLAKY_ONCE)
    assert len([w for w in seen if issubclass(w.category, RanAgain)]) == 1  # once, not until it passes


def test_a_known_fault_twice_and_an_unknown_one_fail(faulty_local, local, run_page, recwarn):
    with pytest.warns(RanAgain), pytest.raises(BlockFailure, match=r"exited 1 \(expected 0\)(?s:.*)FLAKE"):
        run_page(faulty_local, "bash", "```console\n$ echo FLAKE; false\n```\n")
    recwarn.clear()
    # A fault the environment does not know: no second try, though one would pass.
    with pytest.raises(BlockFailure, match="exited 1"):
        run_page(faulty_local, "bash", FLAKY_ONCE.replace("FLAKE", "other"))
    with pytest.raises(BlockFailure, match="exited 1"):  # an environment that knows no faults: none either
        run_page(local, "bash", FLAKY_ONCE)
    assert not [w for w in recwarn if issubclass(w.category, RanAgain)]


def test_a_passing_command_that_prints_a_fault_is_not_run_again(faulty_local, run_page, recwarn):
    run_page(faulty_local, "bash", "```console\n$ echo FLAKE\nFLAKE\n```\n")
    assert not [w for w in recwarn if issubclass(w.category, RanAgain)]
