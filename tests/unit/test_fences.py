"""Parsing pages into blocks: fences, annotations, containers, output."""
from types import SimpleNamespace

import pytest

from doctester import fences
from doctester.fences import PageError, parse_page


STRICT = SimpleNamespace(console_without_prompt="error", untitled_dockerfile="error")


def parse(text, conventions=STRICT):
    return parse_page("page.md", text, conventions=conventions)


def test_shell_block_with_output_fence_and_line_numbers():
    page = parse("# T\n\n```bash\ndocker ps\n```\n\n```text\nCONTAINER ID\n```\n")
    [block] = page.blocks
    assert (block.kind, block.line, block.commands[0].line) == ("shell", 3, 4)
    assert block.expected == ["CONTAINER ID"] and block.expected_span == (7, 7)


def test_console_prompts_continuations_and_outputs():
    page = parse("```console\n$ echo a \\\n> b\na b\n$ true\n```\n")
    first, second = page.blocks[0].commands
    assert first.text == "echo a \\\nb" and first.expected == ["a b"]
    assert second.text == "true" and second.expected == []


def test_console_must_start_with_a_prompt():
    with pytest.raises(PageError, match=r"page.md:2: a console block must start with a `\$ ` line"):
        parse("```console\noops\n```\n")


# The forms Docker's own docs use, read by default (both can be switched off, as above).
def test_a_console_block_without_prompt_is_the_output_of_the_block_before():
    page = parse("```console\n$ docker ps -q\n```\n\n```console\nabc\n```\n\n"
                 "```bash\necho hi\n```\n\n```console\nhi\n```\n", conventions=None)
    first, second = page.blocks
    assert first.commands[0].expected == ["abc"] and second.expected == ["hi"]
    assert parse("Prose.\n\n```console\nonly output\n```\n", conventions=None).blocks == []


def test_an_untitled_dockerfile_is_written_to_dockerfile():
    block, = parse("```dockerfile\nFROM x\n```\n", conventions=None).blocks
    assert (block.kind, block.title, block.content) == ("file", "Dockerfile", "FROM x\n")


def test_shortcodes_and_other_renderers_admonitions_are_ignored():
    text = ('{{< tabs >}}\n{{% tab name="Linux" %}}\n\n```bash\necho a\n```\n\n{{% /tab %}}\n'
            ':::note\n\n```bash\necho b\n```\n\n:::\n{% raw %}\n')
    assert [b.commands[0].text for b in parse(text, conventions=None).blocks] == ["echo a", "echo b"]


def test_heredoc_and_continuation_stay_one_command():
    body = "cat > f <<'EOF'\nline\nEOF\ndocker run \\\n  -it x\n# comment\n"
    commands = fences.shell_commands(body, 10)
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
    assert page.front_matter == {"absent": ["hello-world"]}
    [block] = page.blocks
    assert (block.kind, block.title, block.content, block.line) == ("file", "Dockerfile", "FROM x\n", 5)


def test_snippet_include_reads_the_real_file(tmp_path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "Dockerfile").write_text("FROM python:alpine\n")
    page = parse_page("page.md", '```dockerfile title="Dockerfile"\n--8<-- "examples/Dockerfile"\n```\n',
                      root=tmp_path)
    assert page.blocks[0].content == "FROM python:alpine\n"
    with pytest.raises(PageError, match="included file examples/nope does not exist"):
        parse_page("page.md", '```dockerfile title="x"\n--8<-- "examples/nope"\n```\n', root=tmp_path)


def test_superfences_info_and_unrun_languages():
    assert fences.parse_info('{.bash title="run.sh"}') == ("bash", {"title": "run.sh"})
    assert parse("```json\n{}\n```\n").blocks == []


def test_pycon_blocks_are_repl_inputs_with_outputs():
    page = parse('```pycon\n>>> def f():\n...     return 2\n...\n>>> f() + 1\n3\n```\n')
    first, second = page.blocks[0].commands
    assert first.text == "def f():\n    return 2\n" and first.expected == []
    assert second.text == "f() + 1" and second.expected == ["3"]
