"""Block kinds: one registered object per kind (its languages, how a fence
is read, how the block runs); a profile adds its own through one hook."""
import subprocess
import sys
from types import SimpleNamespace

import pytest

from doctester.core import hookspecs, profiles
from doctester.core.blocks import ShellBlock
from doctester.core.core_kinds import CORE_KINDS, SHELL, file_kind, run_shell
from doctester.core.kinds import BlockKind, KindError
from doctester.core.markdown import Grammar, parse_page
from doctester.docker.plugin import DOCKERFILE


def relay(**hooks):
    """The hooks of a profile that implements `hooks`, as pytest calls them."""
    manager = pytest.PytestPluginManager()
    manager.add_hookspecs(hookspecs)
    manager.register(SimpleNamespace(**hooks), name="a-profile")
    return manager.hook


def echo_kind(languages):
    def read(fence):
        return ShellBlock(**fence.where(), lang="bash", commands=[])
    return BlockKind("echo", frozenset(languages), run_shell, read)


def test_a_profile_s_kind_reads_its_language_and_runs_by_its_name():
    kinds = profiles.block_kinds(relay(pytest_doctester_block_kinds=lambda: [echo_kind({"fish"})]))
    page = parse_page("page.md", "```fish\necho hi\n```\n", grammar=Grammar(kinds=kinds))
    assert [type(block) for block in page.blocks] == [ShellBlock]
    assert kinds.runner("echo") is run_shell and kinds.for_language("fish").name == "echo"
    assert "fish" not in CORE_KINDS.languages  # the core's registry is left as it was


def test_a_language_another_kind_has_is_one_usage_error_naming_the_profile_and_the_hook():
    with pytest.raises(pytest.UsageError) as error:
        profiles.block_kinds(relay(pytest_doctester_block_kinds=lambda: [echo_kind({"zsh", "bash"})]))
    message = str(error.value)
    assert "the hook pytest_doctester_block_kinds of the profile a-profile" in message
    assert "'bash'" in message and "'shell'" in message and "the core" in message


def test_a_hook_answering_the_wrong_type_is_one_usage_error_naming_the_profile_and_the_hook():
    old_style = relay(pytest_doctester_block_kinds=lambda: {"dockerfile": "Dockerfile"})
    with pytest.raises(pytest.UsageError, match=r"the hook pytest_doctester_block_kinds of the profile a-profile "
                                                r"returned \{'dockerfile': 'Dockerfile'\}, not a list of BlockKind"):
        profiles.block_kinds(old_style)
    with pytest.raises(pytest.UsageError, match=r"pytest_doctester_normalizers of the profile a-profile returned "
                                                r"\['id'\], not a list of Normalizer or LineFold"):
        profiles.normalizers(SimpleNamespace(hook=relay(pytest_doctester_normalizers=lambda: ["id"])))


def test_a_hook_that_raises_is_one_usage_error_naming_the_profile_and_the_hook():
    def broken():
        raise RuntimeError("boom")
    with pytest.raises(pytest.UsageError, match=r"^doctester: the hook pytest_doctester_block_kinds raised "
                                                r"RuntimeError: boom \(in the profile a-profile\)$"):
        profiles.block_kinds(relay(pytest_doctester_block_kinds=broken))


def test_a_kind_name_that_runs_two_ways_is_refused_and_file_kinds_share_one():
    with pytest.raises(KindError, match="runs otherwise"):
        CORE_KINDS.extended("a profile", [BlockKind("shell", frozenset({"fish"}), lambda run, block, timeout: None)])
    with_docker = CORE_KINDS.extended("docker", [DOCKERFILE, file_kind({"containerfile": "Containerfile"})])
    assert with_docker.for_language("docker") is DOCKERFILE and with_docker.runner("file") is DOCKERFILE.run
    assert SHELL.languages <= with_docker.languages


def test_a_clash_stops_the_run_at_configure_time(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\ndoc_pages = *.md\n")
    (tmp_path / "page.md").write_text("```sh\necho hi\n```\n")
    (tmp_path / "conftest.py").write_text(
        "from doctester.core.core_kinds import SHELL\n"
        "from doctester.core.kinds import BlockKind\n"
        "def pytest_doctester_block_kinds():\n"
        "    return [BlockKind('fish', frozenset({'sh'}), SHELL.run, SHELL.read)]\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:doctester-docker"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 4, result.stdout + result.stderr
    error, = [line for line in result.stderr.splitlines() if "doctester" in line]
    assert "pytest_doctester_block_kinds of the profile" in error and "conftest.py" in error and "'sh'" in error
