"""Parsing pages into blocks: fences, annotations, containers, output; the
core's grammar alone, and with what the Docker profile adds."""
import pytest

from doctester.core import markdown
from doctester.core.commands import shell_commands
from doctester.core.annotations import AnnotationKey
from doctester.core.blocks import PageError
from doctester.core.markdown import Grammar, parse_page
from doctester.docker import plugin as docker


def grammar(**conventions):
    """What the plugin builds with the Docker profile installed, without its
    portability rule (tested in test_portability.py): these pages test the parser."""
    return docker.grammar(**{"page_checks": [], **conventions})


STRICT = grammar(console_without_prompt="error", untitled_files="error")


def parse(text, conventions=STRICT):
    return parse_page("page.md", text, grammar=conventions)


def test_shell_block_with_output_fence_and_line_numbers():
    page = parse("# T\n\n```bash\ndocker ps\n```\n\n```text\nCONTAINER ID\n```\n")
    [block] = page.blocks
    assert (block.kind, block.line, block.commands[0].line) == ("shell", 3, 4)
    assert block.expected.lines == ["CONTAINER ID"] and block.expected.span == (7, 7)


def test_console_prompts_continuations_and_outputs():
    page = parse("```console\n$ echo a \\\n> b\na b\n$ true\n```\n")
    first, second = page.blocks[0].commands
    assert first.text == "echo a \\\nb" and first.expected.lines == ["a b"]
    assert second.text == "true" and second.expected.lines == []


def test_console_must_start_with_a_prompt():
    with pytest.raises(PageError, match=r"page.md:2: a console block must start with a `\$ ` line"):
        parse("```console\noops\n```\n")


# The forms Docker's own docs use, read by default (both can be switched off, as above).
def test_a_console_block_without_prompt_is_the_output_of_the_block_before():
    page = parse("```console\n$ docker ps -q\n```\n\n```console\nabc\n```\n\n"
                 "```bash\necho hi\n```\n\n```console\nhi\n```\n", conventions=grammar())
    first, second = page.blocks
    assert first.commands[0].expected.lines == ["abc"] and second.expected.lines == ["hi"]
    assert parse("Prose.\n\n```console\nonly output\n```\n", conventions=grammar()).blocks == []


def test_an_untitled_dockerfile_is_written_to_dockerfile():
    block, = parse("```dockerfile\nFROM x\n```\n", conventions=grammar()).blocks
    assert (block.kind, block.title, block.content) == ("file", "Dockerfile", "FROM x\n")


def test_shortcodes_and_other_renderers_admonitions_are_ignored():
    text = ('{{< tabs >}}\n{{% tab name="Linux" %}}\n\n```bash\necho a\n```\n\n{{% /tab %}}\n'
            ':::note\n\n```bash\necho b\n```\n\n:::\n{% raw %}\n')
    assert [b.commands[0].text for b in parse(text, conventions=grammar()).blocks] == ["echo a", "echo b"]


def test_heredoc_and_continuation_stay_one_command():
    body = "cat > f <<'EOF'\nline\nEOF\ndocker run \\\n  -it x\n# comment\n"
    commands = shell_commands(body, 10)
    assert [c.text for c in commands] == ["cat > f <<'EOF'\nline\nEOF", "docker run \\\n  -it x"]
    assert [c.line for c in commands] == [10, 13]


def test_annotations_apply_to_the_next_fence():
    page = parse('<!-- doctest: exit=125 timeout=5 capture=ID pattern="(\\w+)" -->\n```bash\nx\n```\n')
    options = page.blocks[0].options
    assert (options.exit, options.timeout, options.capture, options.pattern) == ("125", 5.0, "ID", "(\\w+)")


@pytest.mark.parametrize("text, message", [
    ("<!-- doctest: skip -->\n```bash\nx\n```\n", "skip needs a reason"),
    ("<!-- doctest: exit=bad -->\n```bash\nx\n```\n", "exit takes a number"),
    ("<!-- doctest: retries=3 -->\n```bash\nx\n```\n", "unknown doctest annotation 'retries'"),
    ("<!-- doctest: timeout=3 -->\n\nSome prose.\n\n```bash\nx\n```\n", "must stand right before"),
    ("```dockerfile\nFROM x\n```\n", "needs the path it is written to"),
    ("Text\n\n```bash\nx\n", "unclosed code fence"),
    ("<!-- doctest skip=x -->\n```bash\nx\n```\n", "malformed doctest annotation"),
])
def test_malformed_pages_name_the_line(text, message):
    with pytest.raises(PageError, match=message) as error:
        parse(text)
    assert str(error.value).startswith("page.md:")


def test_action_comment_stands_alone():
    page = parse('Press keys:\n\n<!-- doctest: press="ctrl-p ctrl-q" -->\n\nMore text.\n')
    [block] = page.blocks
    assert block.kind == "action" and block.options.press == ["ctrl-p", "ctrl-q"] and block.line == 3


def test_tabs_and_collapsed_solutions_are_run_and_windows_tabs_skipped():
    text = ('=== "macOS/Linux"\n\n    ```bash\n    echo $(pwd)\n    ```\n\n'
            '=== "Windows PowerShell"\n\n    ```powershell\n    echo ${PWD}\n    ```\n\n'
            '??? success "Solution"\n\n    ```bash\n    docker ps\n    ```\n')
    linux, windows, solution = parse(text).blocks
    assert linux.kind == "shell" and linux.containers == ("macOS/Linux",) and linux.line == 3
    assert windows.kind == "skipped" and "Windows" in windows.options.skip
    assert solution.kind == "shell" and solution.containers == ("Solution",)


def test_file_fences_and_front_matter():
    page = parse('---\ndoctest:\n  absent: [hello-world]\n---\n```dockerfile title="Dockerfile"\nFROM x\n```\n')
    assert page.meta == {"absent": ["hello-world"]}
    [block] = page.blocks
    assert (block.kind, block.title, block.content, block.line) == ("file", "Dockerfile", "FROM x\n", 5)


def test_snippet_include_reads_the_real_file(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "Dockerfile").write_text("FROM python:alpine\n")
    page = parse_page("page.md", '```dockerfile title="Dockerfile"\n--8<-- "examples/Dockerfile"\n```\n',
                      root=tmp_path, grammar=STRICT)
    assert page.blocks[0].content == "FROM python:alpine\n"
    with pytest.raises(PageError, match="included file examples/nope does not exist"):
        parse_page("page.md", '```dockerfile title="x"\n--8<-- "examples/nope"\n```\n', root=tmp_path,
                   grammar=STRICT)


def test_superfences_info_and_unrun_languages():
    assert markdown.parse_info('{.bash title="run.sh"}') == ("bash", {"title": "run.sh"})
    assert parse("```json\n{}\n```\n").blocks == []


def test_pycon_blocks_are_repl_inputs_with_outputs():
    page = parse('```pycon\n>>> def f():\n...     return 2\n...\n>>> f() + 1\n3\n```\n')
    first, second = page.blocks[0].commands
    assert first.text == "def f():\n    return 2\n" and first.expected.lines == []
    assert second.text == "f() + 1" and second.expected.lines == ["3"]


def test_the_core_alone_knows_no_dockerfile_and_no_docker_keys():
    core = Grammar()
    assert parse_page("page.md", "```dockerfile\nFROM x\n```\n", grammar=core).blocks == []  # shown, not run
    with pytest.raises(PageError, match="page.md:1: unknown doctest annotation 'other-engine'"):
        parse_page("page.md", '<!-- doctest: other-engine="why" -->\n```bash\nx\n```\n', grammar=core)
    assert parse_page("page.md", "```bash\ndocker -H tcp://x ps\n```\n", grammar=core).blocks  # no guard


def test_the_docker_profile_refuses_another_engine_unless_annotated():
    with pytest.raises(PageError, match="page.md:3: `docker -H tcp://x ps` would address another Docker engine"):
        parse("Text\n\n```bash\ndocker -H tcp://x ps\n```\n".replace("Text\n\n", "Text\n"))
    block, = parse('<!-- doctest: other-engine="the organizer\'s" -->\n```bash\ndocker -H tcp://x ps\n```\n').blocks
    assert block.options.extra == {"other-engine": "the organizer's"}


def test_a_profile_that_raises_is_reported_at_the_page_line():
    def broken_check(block):
        raise KeyError("oops")
    broken = Grammar(checks=[broken_check])
    with pytest.raises(PageError, match=r"page.md:3: the check broken_check raised KeyError: 'oops'"):
        parse_page("page.md", "# T\n\n```bash\nx\n```\n", grammar=broken)
    keys = {**Grammar().keys, "retries": AnnotationKey("retries", lambda value: {}[value])}
    with pytest.raises(PageError, match=r"page.md:1: reading retries='many' failed: KeyError"):
        parse_page("page.md", '<!-- doctest: retries=many -->\n```bash\nx\n```\n', grammar=Grammar(keys))


def test_block_kinds_carry_their_own_data():
    shell, file, action = parse('```bash\necho a\n```\n\n```dockerfile title="D"\nFROM x\n```\n\n'
                                '<!-- doctest: press="ctrl-d" exit=1 -->\n').blocks
    assert (shell.kind, shell.summary()) == ("shell", "echo a") and not hasattr(shell, "title")
    assert (file.kind, file.summary()) == ("file", "D") and not hasattr(file, "commands")
    assert (action.kind, action.summary(), action.options.exit) == ("action", "ctrl-d", "1")


def test_a_variant_must_be_one_the_profiles_declare():
    block, = parse('<!-- doctest: variant=pulled-or-present -->\n```bash\ndocker pull python\n```\n').blocks
    assert block.options.variants == ("pulled-or-present",)
    with pytest.raises(PageError, match="page.md:1: unknown variant engine-29; known: classic-store-wording, pulled-or-present"):
        parse('<!-- doctest: variant=engine-29 -->\n```bash\ndocker images\n```\n')


def test_a_quoted_string_that_spans_lines_stays_one_command():
    body = "docker run x sh -c '\n  echo a\n  echo b'\necho next\n# it's a comment\n"
    commands = shell_commands(body, 5)
    assert [c.text for c in commands] == ["docker run x sh -c '\n  echo a\n  echo b'", "echo next"]
    assert [c.line for c in commands] == [5, 8]


def test_a_snippet_include_outside_the_project_is_refused(tmp_path):
    """A page is input: its include may not read the machine's other files."""
    (tmp_path / "project").mkdir()
    (tmp_path / "secret.txt").write_text("not yours\n")
    for path in ("../secret.txt", str(tmp_path / "secret.txt")):
        text = f'```dockerfile title="Dockerfile"\n--8<-- "{path}"\n```\n'
        with pytest.raises(PageError, match="outside the project"):
            parse_page("p.md", text, root=tmp_path / "project")
