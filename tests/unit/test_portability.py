"""The Docker profile's portability rule: a command a reader types outside a
system's tab must mean the same in bash, zsh, PowerShell 7 and Windows
PowerShell 5.1."""
import pytest

from doctester.core.blocks import PageError
from doctester.core.markdown import parse_page
from doctester.docker import plugin as docker
from doctester.docker import portability
from doctester.docker.portability import Unparsable, command_violations

# (command, the shell named, a word of the message); None: accepted.
HOST = [
    # accepted: the common subset
    ("docker ps", None, None),
    ("docker run -d -p 8000:8000 --name web myapp", None, None),
    ("docker ps -a --format '{{.Names}} {{.Status}}'", None, None),
    ("docker ps --format \"{{.Names}}\"", None, None),
    ('docker run --mount "type=bind,source=./x,target=/y" python', None, None),
    ("docker run -e GREETING=hello myapp", None, None),
    ("docker run -e 'GREETING=hello there' myapp", None, None),
    ("docker run python python -c \"print('hi')\"", None, None),
    ("docker run -it python bash # (1)!", None, None),          # mkdocs-material's marker is not copied
    ("docker rm <CONTAINER ID>", None, None),                    # a placeholder the reader fills in
    ("docker run -p 8000:8000 -d myapp ; docker ps", None, None),
    ("git clone https://example.org/x.git", None, None),
    ("cd examples", None, None), ("cd ~", None, None), ("mkdir data", None, None),
    ("cat Dockerfile app.py", None, None), ("ls", None, None), ("ls examples", None, None),
    ("rm hello.py", None, None), ("cp a.txt b.txt", None, None), ("mv a.txt b.txt", None, None),
    ("echo 'Hello there'", None, None), ('echo "Hello there"', None, None),
    ("exit", None, None), ("exit 1", None, None),
    ("docker exec web sh -c 'ls | wc -l > /tmp/n'", None, None),  # quoted: the container's shell reads it
    ("docker run x echo 'hi!'", None, None),
    # substitutions and variables
    ("docker rm -f $(docker ps -aq)", "PowerShell", "subexpression"),
    ("docker rm -f `docker ps -aq`", "PowerShell", "escape character"),
    ("docker run -v $PWD:/app x", "PowerShell", "PowerShell variable"),
    ("docker run -v ${PWD}:/app x", "PowerShell", "PowerShell variable"),
    ('docker run -v "$(pwd):/app" x', "PowerShell", "inside double quotes"),
    ('docker run -e "A=$HOME" x', "PowerShell", "inside double quotes"),
    ('docker run x echo "a`b"', "PowerShell", "backtick"),
    ("docker run x echo $1", "PowerShell", "PowerShell variable"),
    # continuations and escapes
    ("docker run \\\n  -d x", "PowerShell", "backtick"),
    ("docker run x echo a\\ b", "PowerShell", "keeps it"),
    ('docker run x echo "say \\"hi\\""', "PowerShell", "ends its string"),
    # redirections
    ("docker logs web > log.txt", "Windows PowerShell 5.1", "UTF-16"),
    ("docker logs web >> log.txt", "Windows PowerShell 5.1", "UTF-16"),
    ("docker logs web 2> err.txt", "Windows PowerShell 5.1", "UTF-16"),
    ("docker logs web &> all.txt", "Windows PowerShell 5.1", "UTF-16"),
    ("docker logs web 2>&1", "Windows PowerShell 5.1", "error records"),
    ("docker ps > /dev/null", "Windows PowerShell 5.1", "/dev/null"),
    ("docker load < image.tar", "PowerShell", "reserved"),
    ("cat > f <<'EOF'\nline $x\nEOF", "PowerShell", "here-documents"),
    # pipes and lists
    ("docker ps | grep web", "PowerShell", "objects"),
    ("docker save x | docker load", "PowerShell", "objects"),
    ("docker build -t x . && docker run x", "Windows PowerShell 5.1", "`&&`"),
    ("docker start web || docker run web", "Windows PowerShell 5.1", "`||`"),
    ("docker run x &", "PowerShell", "background job"),
    ("A=1 docker compose up", "PowerShell", "looks for a command"),
    ("DOCKER_HOST=tcp://x docker ps", "PowerShell", "looks for a command"),
    # PowerShell's special characters
    ("docker inspect -f {{.Id}} x", "PowerShell", "script block"),
    ("docker run x python -c print(1)", "PowerShell", "grouping"),
    ("curl -d @body.json x", "PowerShell", "splatting"),
    ("docker run --mount type=bind,source=./x,target=/y x", "PowerShell", "array operator"),
    ('docker run --mount type=bind,source="./x",target=/y x', "PowerShell", "mixes quoted"),
    ('docker run -e GREETING="Hello there" x', "PowerShell", '"GREETING=Hello there"'),
    ("docker run x echo 'it''s'", "PowerShell", "escaped"),
    # zsh's globs, history, comments
    ("ls *.py", "zsh", "no matches found"),
    ("docker run x ls /tmp/?", "zsh", "no matches found"),
    ("docker run x python -c 'print([1])' [x]", "zsh", "no matches found"),
    ('docker run x echo "hi!"', "zsh and bash", "history expansion"),
    ("docker run x echo hi!", "zsh and bash", "history expansion"),
    ("docker ps # list them", "zsh", "interactivecomments"),
    ("docker ps # (1)", "zsh", "interactivecomments"),
    ("docker run x =python", "zsh", "command's path"),
    # quoting PowerShell passes to programs its own way
    ("docker run x python -c 'print(\"hi\")'", "PowerShell 5.1 and 7.0-7.2", "drop the `\"`"),
    ("docker run --name '' x", "Windows PowerShell 5.1", "empty argument"),
    ("docker run -e B='' x", "PowerShell", "mixes quoted"),
    ('docker run x echo ""', "Windows PowerShell 5.1", "empty argument"),
    ("docker run -v ~/data:/data x", "PowerShell", "leading `~`"),
    ("docker run -Dfile.encoding=UTF-8 x", "Windows PowerShell 5.1", "at a `.`"),
    # programs
    ("sed -i s/a/b/ f", "PowerShell", "not a command on Windows"),
    ("grep x f", "PowerShell", "not a command on Windows"),
    ("head -n 3 f", "PowerShell", "not a command on Windows"),
    ("tail f", "PowerShell", "not a command on Windows"),
    ("awk 1 f", "PowerShell", "not a command on Windows"),
    ("for i in 1 2; do docker ps; done", "PowerShell", "bash syntax"),
    ("while true; do docker ps; done", "PowerShell", "bash syntax"),
    ("if docker ps; then echo 'y'; fi", "PowerShell", "bash syntax"),
    ("export A=1", "PowerShell", "$env:NAME"),
    ("curl localhost:8000", "PowerShell", "Invoke-WebRequest"),
    ("wget localhost:8000", "PowerShell", "Invoke-WebRequest"),
    ("diff a b", "PowerShell", "Compare-Object"),
    ("touch f", "PowerShell", "not a command on Windows"),
    ("sudo docker ps", "PowerShell", "sudo"),
    ("chmod +x f", "PowerShell", "not a command on Windows"),
    ("python app.py", "PowerShell", "`py` on Windows"),
    ("python3 app.py", "PowerShell", "`py` on Windows"),
    ("py app.py", "PowerShell", "`py` on Windows"),
    ("pip install docker", "PowerShell", "py -m pip"),
    ("which docker", "PowerShell", "not a command on Windows"),
    ("find . -name x", "PowerShell", "text search"),
    ("xargs docker rm", "PowerShell", "not a command on Windows"),
    ("sort f", "PowerShell", "Sort-Object"),
    ("wc -l f", "PowerShell", "not a command on Windows"),
    ("env", "PowerShell", "not a command on Windows"),
    ("source venv/bin/activate", "PowerShell", "bash script"),
    (". venv/bin/activate", "PowerShell", "bash script"),
    ("make images", "PowerShell", "missing, or another program"),
    ("mkdir -p a/b", "PowerShell", "other options"),
    ("cp -r a b", None, None), ("cp -rf a b", "PowerShell", "other options"),
    ("rm -f a", "PowerShell", "other options"),
    ("ls -la", "PowerShell", "other options"),
    ("cat -n f", "PowerShell", "other options"),
    ("mkdir a b", "PowerShell", "2 argument(s)"),
    ("cd", "PowerShell", "0 argument(s)"),
    ("cp a", "PowerShell", "1 argument(s)"),
    ("echo hello", "PowerShell", "quote the text"),
    ("echo hello world", "PowerShell", "2 argument(s)"),
]


def messages(text, scope="host"):
    return [(shell, message) for _, shell, message in command_violations(text, scope)]


@pytest.mark.parametrize("text, shell, word", HOST, ids=[t for t, _, _ in HOST])
def test_a_reader_command_outside_tabs(text, shell, word):
    found = messages(text)
    if shell is None:
        assert found == []
    else:
        assert any(s == shell and word in m for s, m in found), found


# In a macOS/Linux tab only what bash and zsh read differently is refused.
UNIX = [
    ("python3 -m venv .venv && . .venv/bin/activate", None),
    ('docker run -v "$(pwd)":/app x | grep y > out.txt', None),
    ("ls *.py", "zsh"),
    ('echo "hi!"', "zsh and bash"),
    ("docker ps # list", "zsh"),
]


@pytest.mark.parametrize("text, shell", UNIX, ids=[t for t, _ in UNIX])
def test_a_command_in_a_macos_linux_tab(text, shell):
    assert [s for s, _ in messages(text, "unix")] == ([shell] if shell else [])


@pytest.mark.parametrize("text", ["docker run 'x", 'docker run "x', "docker rm `docker ps", "docker rm $(docker ps",
                                  "docker run x\\"])
def test_a_command_that_cannot_be_read_is_an_error(text):
    with pytest.raises(Unparsable):
        command_violations(text)


def test_an_unreadable_command_fails_the_page_at_its_line():
    with pytest.raises(PageError, match=r"page.md:3: \[bash\] cannot read this command"):
        parse("```bash\ndocker ps\ndocker run 'x\n```\n")


def test_every_message_says_what_to_write_instead():
    for text, shell, _ in HOST:
        for _, message in messages(text):
            assert any(w in message for w in ("quote", "write", "use", "Use", "put", "drop", "leave", "let",
                                              "move", "pass", "swap", "show", "call")), message


# ---------------------------------------------------------------- pages

def parse(text, grammar=None):
    return parse_page("page.md", text, grammar=grammar or docker.grammar())


def listing(text):
    page = parse_page("page.md", text, grammar=docker.listing_grammar())
    return [v.format("page.md") for v in portability.page_violations(page)]


def test_the_rule_refuses_at_the_command_line_naming_shell_and_reason():
    with pytest.raises(PageError, match=r"page.md:3: \[Windows PowerShell 5.1\] `&&` is not an operator"):
        parse("```bash\ndocker ps\ndocker build -t x . && docker run x\n```\n")


def test_the_line_of_a_construct_in_a_continued_command():
    assert listing("```bash\ndocker run -d \\\n  -v $PWD:/app x\n```\n")[-1].startswith("page.md:3: [PowerShell] `$PWD`")


def test_commands_typed_into_a_container_are_not_the_readers_shell():
    text = ("```bash\ndocker run -it python bash\n```\n\n"
            "```bash\necho 'x' > /app/a.py && ls *.py | wc -l\nexit\n```\n\n"
            "```bash\ndocker ps | grep x\n```\n")
    assert [v.split(":")[1] for v in listing(text)] == ["11", "11"]  # back on the host after `exit`


def test_a_python_repl_and_detach_keys_end_the_exemption():
    text = ("```bash\ndocker run -it python\n```\n\n"
            "```pycon\n>>> print('a' * 2)\naa\n>>> exit()\n```\n\n"
            "```bash\ndocker run -it --name box ubuntu bash\nls *\n```\n\n"
            '<!-- doctest: press="ctrl-p ctrl-q" -->\n\n'
            "```bash\ncat *.txt\n```\n")
    assert [v.split(":")[1] for v in listing(text)] == ["19"]


def test_custom_detach_keys_and_attach():
    text = ('```bash\ndocker run -it --detach-keys "ctrl-x,x" ubuntu bash\n```\n\n'
            '<!-- doctest: press="ctrl-x x" -->\n\n'
            "```bash\ndocker attach <CONTAINER ID>\nls *\nexit\nls *\n```\n")
    assert [v.split(":")[1] for v in listing(text)] == ["11"]


def test_ctrl_c_leaves_a_server_but_not_a_shell():
    server = '```bash\ndocker run -it -p 8000:8000 myapp\n```\n\n<!-- doctest: press="ctrl-c" -->\n\n```bash\nls *\n```\n'
    shell = server.replace("myapp", "ubuntu bash")
    assert len(listing(server)) == 1 and listing(shell) == []


@pytest.mark.parametrize("title, accepted", [
    ("macOS/Linux", True), ("Linux", True), ("macOS", True), ("bash", True), ("zsh", True),
    ("Windows", True), ("Windows PowerShell", True), ("PowerShell", True), ("cmd", True),
    ("Solution", False), ("Try it", False), ("curl", False), ("Apple Silicon", False),
])
def test_tabs_named_for_a_system_or_shell(title, accepted):
    text = f'=== "{title}"\n\n    ```bash\n    python3 app.py | grep x\n    ```\n'
    assert (listing(text) == []) is accepted


def test_a_macos_linux_tab_still_gets_the_zsh_rules():
    text = '=== "macOS/Linux"\n\n    ```bash\n    ls *.py\n    ```\n'
    assert listing(text) == ['page.md:4: [zsh] an unquoted `*` is a glob: zsh stops with "no matches found" when '
                             "no file matches (bash passes it on); quote the argument ('...')"]


def test_the_annotation_lets_a_block_through_and_needs_a_reason():
    page = parse('<!-- doctest: not-portable="shows the bash idiom" -->\n```bash\ndocker rm $(docker ps -aq)\n```\n')
    assert page.blocks[0].options.extra["not-portable"] == "shows the bash idiom"
    with pytest.raises(PageError, match=r'page.md:1: not-portable needs a reason: not-portable="why"'):
        parse('<!-- doctest: not-portable -->\n```bash\ndocker rm $(docker ps -aq)\n```\n')
    with pytest.raises(PageError, match=r"page.md:1: not-portable needs a reason"):
        parse('<!-- doctest: not-portable="" -->\n```bash\ndocker ps\n```\n')


def test_a_skipped_block_is_still_typed_by_readers():
    with pytest.raises(PageError, match=r"page.md:3: \[PowerShell\] `brew`"):
        parse('<!-- doctest: skip="installs Docker Desktop" -->\n```bash\nbrew install --cask docker\n```\n')


def test_hidden_commands_are_not_checked():
    assert listing('<!-- doctest: run="for i in $(seq 3); do sleep 1; done" -->\n\n```bash\ndocker ps\n```\n') == []


def test_console_blocks_are_checked():
    assert listing("```console\n$ docker ps | grep x\nabc\n```\n")[0].startswith("page.md:2: [PowerShell] a pipe")


# ---------------------------------------------------------------- Windows tabs

def windows(body, lang="powershell", title="Windows PowerShell"):
    """A Windows tab's block, as a run that follows the Windows tabs reads it."""
    return parse(f'=== "{title}"\n\n    ```{lang}\n    {body}\n    ```\n', docker.grammar(tabs="windows")).blocks[0]


TWO_TABS = ('=== "macOS/Linux"\n\n    ```bash\n    python3 examples/curl.py POST localhost:8000/jam name=fig\n    ```\n\n'
            '=== "Windows PowerShell"\n\n    ```powershell\n    py examples/curl.py POST localhost:8000/jam name=fig\n'
            '    ```\n')


def test_a_windows_tab_that_cannot_run_leaves_its_macos_linux_tab_to_run():
    """The step still happens once: the state the next steps need is there."""
    text = TWO_TABS.replace("py examples/curl.py POST localhost:8000/jam name=fig", ".venv\\Scripts\\python -m pip install docker")
    blocks = parse(text, docker.grammar(tabs="windows")).blocks
    assert [b.kind for b in blocks] == ["shell", "skipped"] and blocks[0].commands[0].text.startswith("python3 ")


@pytest.mark.parametrize("tabs, runs, skipped", [("unix", "python3", "a Windows tab"),
                                                  ("windows", "py", "a macOS/Linux tab")])
def test_a_run_follows_one_system_s_tabs_never_both(tabs, runs, skipped):
    """Tabs are alternatives: a step done twice (a POST) would change what follows."""
    blocks = parse(TWO_TABS, docker.grammar(tabs=tabs)).blocks
    ran = [b for b in blocks if b.kind == "shell"]
    assert len(ran) == 1 and ran[0].commands[0].text.startswith(runs + " ")
    assert [b.options.skip.split(":")[0] for b in blocks if b.kind == "skipped"] == [skipped]


@pytest.mark.parametrize("body, lang, title", [
    ("docker run -d -p 8000:8000 myapp", "powershell", "Windows PowerShell"),
    ("docker ps", "bash", "Windows"),
    ("cd examples", "pwsh", "PowerShell"),
    ("py -m pip install docker", "powershell", "Windows PowerShell"),  # the sandbox has `py`
    ("py examples/curl.py localhost:8000", "powershell", "Windows"),
])
def test_a_windows_block_in_the_common_subset_runs(body, lang, title):
    block = windows(body, lang, title)
    assert block.kind == "shell" and block.options.skip is None and block.commands[0].text == body


@pytest.mark.parametrize("body, lang, reason", [
    ("docker run -v ${PWD}:/app x", "powershell", "PowerShell-only syntax"),
    ("python3 -m pip install docker", "powershell", "PowerShell-only syntax"),
    ("py -c 'print(\"hi\")'", "powershell", "PowerShell-only syntax"),
    ('$env:A = "1"', "powershell", "PowerShell-only syntax"),
    ("docker run -it python bash", "powershell", "takes the terminal"),
    ("dir", "cmd", "not run on Linux"),
    ("docker run 'x", "powershell", "PowerShell-only syntax"),   # unreadable as bash: skipped, not an error
])
def test_a_windows_block_outside_the_common_subset_stays_skipped(body, lang, reason):
    block = windows(body, lang)
    assert block.kind == "skipped" and "Windows shell" in block.options.skip and reason in block.options.skip


def test_a_windows_block_annotated_skip_keeps_its_reason():
    text = '=== "Windows"\n\n    <!-- doctest: skip="needs Windows" -->\n    ```powershell\n    docker ps\n    ```\n'
    assert parse(text).blocks[0].options.skip == "needs Windows"


def test_without_a_profile_answer_windows_blocks_are_skipped():
    from doctester.core.markdown import Grammar
    block, = parse_page("p.md", '=== "Windows"\n\n    ```powershell\n    docker ps\n    ```\n',
                        grammar=Grammar(tabs="windows")).blocks
    assert block.options.skip == "Windows shell: not run on Linux"


def test_a_raising_page_check_is_reported_at_the_page():
    def broken(page):
        raise KeyError("x")
    with pytest.raises(PageError, match=r"page.md:1: the check broken raised KeyError"):
        parse("```bash\ndocker ps\n```\n", docker.grammar(page_checks=[broken]))


# ---------------------------------------------------------------- listing

def test_the_listing_prints_every_violation_and_exits_1(tmp_path, capsys):
    page = tmp_path / "p.md"
    page.write_text("```bash\ndocker ps | grep x\nls *.py\n```\n\n```bash\ndocker ps\n```\n")
    clean = tmp_path / "q.md"
    clean.write_text("```bash\ndocker ps\n```\n")
    assert portability.main([str(page), str(clean)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": [")[0] for line in out] == [f"{page}:2", f"{page}:2", f"{page}:3"]
    assert portability.main([str(clean)]) == 0


def test_the_allowlist_is_data():
    assert {"docker", "git", "cd", "mkdir", "cat", "ls", "rm", "cp", "mv", "echo", "exit"} == set(
        portability.PORTABLE_PROGRAMS)


def test_only_the_configured_pages_are_held_to_the_rule(tmp_path, monkeypatch):
    """Another project's pages (or the harness's own fixtures) are not held to
    this workshop's promise unless doc_portable_pages names them."""
    monkeypatch.setitem(docker.PORTABLE, "root", tmp_path)
    monkeypatch.setitem(docker.PORTABLE, "globs", ("docs/**/*.md",))
    assert docker.is_portable_page(tmp_path / "docs" / "index.md")
    assert docker.is_portable_page(tmp_path / "docs" / "part" / "a.md")
    assert not docker.is_portable_page(tmp_path / "tests" / "fixtures" / "page.md")
    monkeypatch.setitem(docker.PORTABLE, "globs", ())
    assert not docker.is_portable_page(tmp_path / "docs" / "index.md")
