"""The reader's shell (doc_reader_shell): pages are typed into an interactive
bash or zsh as a reader types them, so each shell reads a command as a typed
line. Runs on this machine's bash and zsh, without any engine."""
import shutil
from types import SimpleNamespace

import pytest

from doctester.core.markdown import parse_page
from doctester.core.pagerun import BlockFailure, PageRun
from doctester.core.session import Interactive

SHELLS = ["bash", pytest.param("zsh", marks=pytest.mark.skipif(not shutil.which("zsh"), reason="no zsh here"))]


def settings(shell):
    return SimpleNamespace(timeout=20, copy=None, copy_ignore=[], reader_shell=shell, workdir_name="workshop")


@pytest.mark.parametrize("shell", SHELLS)
def test_commands_span_lines_keep_their_status_and_cd_carries_over(local, shell, run_page):
    run_page(local, shell,
             "```bash\nmkdir sub && cd sub\nX=1\n```\n\n"
             "```text title=\"notes.txt\"\nhello\n```\n\n"
             "```console\n$ echo \"$X $(basename $PWD) $(cat notes.txt)\"\n1 sub hello\n```\n\n"
             "```bash\ncat <<'EOF'\nliteral $X\nEOF\n```\n\n```text\nliteral $X\n```\n\n"
             "```bash\necho one \\\n  two\n```\n\n```text\none two\n```\n\n"
             "```bash\necho 'first\nsecond'\n```\n\n```text\nfirst\nsecond\n```\n\n"
             "```bash\nprintf 'no newline'\n```\n\n```text\nno newline\n```\n\n"
             "<!-- doctest: exit=7 -->\n```bash\n(exit 7)\n```\n\n"
             "```bash\nread line; echo \"[$line]\"\n```\n\n```text\n[]\n```\n")


@pytest.mark.parametrize("shell, shown", [("bash", "one"), pytest.param(
    "zsh", "one # a comment", marks=pytest.mark.skipif(not shutil.which("zsh"), reason="no zsh here"))])
def test_a_comment_typed_at_the_prompt_is_an_argument_in_zsh(local, shell, shown, run_page):
    run_page(local, shell, f"```bash\necho one # a comment\n```\n\n```text\n{shown}\n```\n")


@pytest.mark.parametrize("shell, words", [("bash", "[1]\n[2]"), pytest.param(
    "zsh", "[1 2]", marks=pytest.mark.skipif(not shutil.which("zsh"), reason="no zsh here"))])
def test_unquoted_variables_are_split_by_bash_only(local, shell, words, run_page):
    run_page(local, shell, f'```bash\nv="1 2"; for w in $v; do echo "[$w]"; done\n```\n\n```text\n{words}\n```\n')


@pytest.mark.skipif(not shutil.which("zsh"), reason="no zsh here")
def test_an_unmatched_glob_is_an_error_in_zsh(local, run_page):
    with pytest.raises(BlockFailure, match=r"(?s)page.md:2: echo \*.nomatch exited 1.*no matches found: \*.nomatch"):
        run_page(local, "zsh", "```bash\necho *.nomatch\n```\n")
    run_page(local, "bash", "```bash\necho *.nomatch\n```\n\n```text\n*.nomatch\n```\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_history_expansion_works_on_what_was_typed(local, shell, run_page):
    # `!!` is the reader's previous command, not anything the harness typed around it.
    run_page(local, shell, "```bash\necho one\n```\n\n```bash\necho !!\n```\n\n```text\necho echo one\necho one\n```\n"
                           "\n```bash\necho 'single!quotes'\n```\n\n```text\nsingle!quotes\n```\n")
    with pytest.raises(BlockFailure, match=rf'page.md:2: echo "a!b" exited \d+ .*\n--- output ---\n{shell}: '
                                           r'(!b: event not found|event not found: b)$'):
        run_page(local, shell, '```bash\necho "a!b"\n```\n')


def test_a_bang_before_a_closing_quote_leaves_zshs_quote_open(local, run_page):
    run_page(local, "bash", '```bash\necho "Hello!"\n```\n\n```text\nHello!\n```\n')
    if not shutil.which("zsh"):
        pytest.skip("no zsh here")
    with pytest.raises(BlockFailure, match=r'page.md:2: echo "Hello!"\n.*zsh still waited for input'):
        run_page(local, "zsh", '```bash\necho "Hello!"\n```\n\n```bash\necho next\n```\n')


@pytest.mark.parametrize("shell", SHELLS)
def test_an_unclosed_quote_fails_at_once_and_the_shell_goes_on(local, shell):
    page = parse_page("page.md", "```bash\necho 'open\n```\n\n```bash\necho fine\n```\n\n```text\nfine\n```\n")
    run = PageRun(page, settings(shell), local)
    try:
        with pytest.raises(BlockFailure, match="still waited for input"):
            run.run_block(page.blocks[0])
        run.run_block(page.blocks[1])
    finally:
        assert run.finish() == []


@pytest.mark.parametrize("shell", SHELLS)
def test_a_timeout_kills_the_command_and_the_shell_goes_on(local, shell):
    page = parse_page("page.md", "<!-- doctest: timeout=1 -->\n```bash\ncd /; sleep 30\n```\n\n"
                                 "```bash\npwd\n```\n\n```text\n/\n```\n")
    run = PageRun(page, settings(shell), local)
    try:
        with pytest.raises(BlockFailure, match="timed out after 1 s"):
            run.run_block(page.blocks[0])
        run.run_block(page.blocks[1])
    finally:
        assert run.finish() == []


def opens_a_shell(command):
    return Interactive() if command.startswith("bash --norc -i") else None


@pytest.mark.parametrize("shell", SHELLS)
def test_a_shell_the_page_opens_takes_the_typed_commands_until_exit(local, shell, run_page):
    run = run_page(local, shell, "```console\n$ cd /tmp\n$ bash --norc -i\n$ echo inside $((1+2))\ninside 3\n"
                                 "$ exit\nexit\n$ pwd\n/tmp\n```\n\n"
                                 "```bash\necho !!\n```\n\n```text\necho pwd\npwd\n```\n",
                   interactive=opens_a_shell)
    assert run.session.mode.name == "PLAIN"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_line_the_shell_drops_leaves_the_next_commands_in_step(local, shell, run_page):
    # `!b` cannot be expanded: the shell drops that line and reads the next typed
    # line as a command of its own, as it does for a reader.
    run_page(local, shell, '<!-- doctest: exit=nonzero -->\n```bash\necho "a!b"; cat <<EOF\nsecond\nEOF\n```\n\n'
                           '```bash\necho third\n```\n\n```text\nthird\n```\n')


def test_a_material_annotation_that_strips_its_comment_is_not_typed():
    # The copy button copies `docker run -it python bash`: zsh would read `#` and `(1)!` as arguments.
    page = parse_page("page.md", "```bash\ndocker run -it python bash # (1)!\necho hi # (2)\n```\n")
    assert [c.text for c in page.blocks[0].commands] == ["docker run -it python bash", "echo hi # (2)"]
