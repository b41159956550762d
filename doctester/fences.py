"""Parse a Markdown page into the blocks the harness runs.

The annotation grammar is documented on the site's authoring guide
(docs/authoring.md); this module is its one implementation.
"""
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

SHELL_LANGS = {"sh", "bash", "shell", "console", "pycon"}
WINDOWS_LANGS = {"powershell", "ps1", "pwsh", "cmd", "bat"}
OUTPUT_LANGS = {"text", "output", ""}
PYTHON_LANGS = {"py", "python", "python3"}
ANNOTATION = re.compile(r"^<!--\s*doctest:(.*?)-->\s*$", re.S)
CONTAINER = re.compile(r"^(?P<indent> *)(?P<kind>===|!!!|\?\?\?\+?) *(?P<rest>.*)$")
# Lines other renderers drop: Hugo shortcodes, Jinja tags, Docusaurus/VitePress fences of admonitions.
DROPPED_SYNTAX = re.compile(r"^\s*(?:\{\{[<%].*[>%]\}\}|\{%.*%\}|:::+.*)\s*$")
SNIPPET = re.compile(r"""^\s*-{1,}8<-{1,}\s+["']?(?P<path>[^"'\s]+)["']?\s*$""")
PROMPTS = {"console": ("$ ", "> "), "pycon": (">>> ", "... ")}  # (prompt, continuation)
KNOWN_KEYS = {"skip", "exit", "timeout", "capture", "pattern", "press", "run", "no-output-check",
              "other-engine"}
# A command that would address another engine than the page's own.
LEAVES_ENGINE = re.compile(r"\bdocker(?:\s+--?[\w-]+(?:=\S+)?)*?\s+(?:-H|--host|--context|-c)(?:[\s=]|$)"
                           r"|\b(?:DOCKER_HOST|DOCKER_CONTEXT)=|\bdocker\s+context\s+use\b")


class PageError(Exception):
    """A malformed page: the message starts with file:line."""

    def __init__(self, path, line, message):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


@dataclass
class Options:
    skip: str = None           # reason; the block is reported as skipped
    exit: str = None           # expected exit status: a number or "nonzero"
    timeout: float = None      # seconds, per command
    capture: str = None        # name under which the command's output is kept
    pattern: str = None        # with capture: regex whose group 1 is kept
    press: list = None         # action: keys typed into the interactive session
    run: str = None            # action: a hidden command run in the page session
    check_output: bool = True  # False: output shown is illustrative, not compared
    other_engine: str = None   # reason a block may address another Docker engine


@dataclass
class Command:
    text: str
    line: int                       # 1-based line of the command in the page
    expected: list = None           # expected output lines, or None: not compared
    expected_span: tuple = None     # (first, last) 0-based page lines of that output


@dataclass
class Block:
    path: str
    line: int                       # 1-based line of the opening fence (or comment)
    kind: str                       # shell | file | python | action | skipped
    lang: str = ""
    title: str = ""
    content: str = ""
    commands: list = field(default_factory=list)
    options: Options = field(default_factory=Options)
    containers: tuple = ()          # titles of the tabs/admonitions around the block
    include: str = None             # file included with pymdownx.snippets, if any
    expected: list = None           # shell block: the output fence right after it, as lines
    expected_span: tuple = None     # (first, last) 0-based page lines of that output

    @property
    def label(self):
        return f"{self.path}:{self.line}"


@dataclass
class Page:
    path: str
    front_matter: dict
    blocks: list


def parse_annotation(text, path, line):
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise PageError(path, line, f"cannot read the doctest annotation ({error})")
    options = Options()
    for word in words:
        key, _, value = word.partition("=")
        if key not in KNOWN_KEYS:
            raise PageError(path, line, f"unknown doctest annotation {key!r}; "
                                        f"known: {', '.join(sorted(KNOWN_KEYS))}")
        if key == "skip":
            if not value.strip():
                raise PageError(path, line, 'skip needs a reason: skip="why"')
            options.skip = value
        elif key == "exit":
            if not (value.isdigit() or value == "nonzero"):
                raise PageError(path, line, f"exit takes a number or 'nonzero', not {value!r}")
            options.exit = value
        elif key == "timeout":
            try:
                options.timeout = float(value)
            except ValueError:
                raise PageError(path, line, f"timeout takes seconds, not {value!r}")
        elif key == "capture":
            if not re.fullmatch(r"[A-Za-z_][\w-]*", value):
                raise PageError(path, line, f"capture takes a name, not {value!r}")
            options.capture = value
        elif key == "pattern":
            try:
                re.compile(value)
            except re.error as error:
                raise PageError(path, line, f"pattern is not a valid regex: {error}")
            options.pattern = value
        elif key == "press":
            options.press = [k for k in re.split(r"[\s,]+", value) if k]
        elif key == "run":
            options.run = value
        elif key == "no-output-check":
            options.check_output = False
        elif key == "other-engine":
            if not value.strip():
                raise PageError(path, line, 'other-engine needs a reason: other-engine="why"')
            options.other_engine = value
    return options


def flatten_containers(lines):
    """Dedent the bodies of content tabs, admonitions and collapsible blocks
    so their fences parse as fences; line numbers are kept. Returns the new
    lines and, for each line, the titles of the containers around it."""
    out, context, stack = [], [], []  # stack of (content indent, title)
    in_fence = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if stack and stripped and indent < stack[-1][0] and in_fence is None:
            while stack and indent < stack[-1][0]:
                stack.pop()
        depth = stack[-1][0] if stack else 0
        match = CONTAINER.match(line) if in_fence is None else None
        if match and len(match["indent"]) == depth:
            title = re.findall(r'"([^"]*)"', match["rest"])
            stack.append((depth + 4, title[0] if title else match["rest"].split()[0] if match["rest"] else ""))
            out.append("")
            context.append(tuple(t for _, t in stack))
            continue
        body = line[min(depth, indent):] if stripped else ""
        if in_fence is None and DROPPED_SYNTAX.match(body):
            body = ""
        fence = re.match(r"^(`{3,}|~{3,})", body)
        if fence:
            if in_fence is None:
                in_fence = fence.group(1)
            elif body.strip().startswith(in_fence) and not body.strip().strip(in_fence[0]):
                in_fence = None
        out.append(body)
        context.append(tuple(t for _, t in stack))
    return out, context


def split_front_matter(text):
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            head = text[4:end]
            return yaml.safe_load(head) or {}, "\n" * (head.count("\n") + 3) + text[end + 5:]
    return {}, text


def parse_info(info):
    """Language and attributes of a fence info string: `bash`, `dockerfile title="Dockerfile"`,
    or superfences' `{.bash title="x"}`."""
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        info = info[1:-1].strip()
        if info.startswith("."):
            info = info[1:]
    words = shlex.split(info) if info else []
    lang = words[0].lower() if words and "=" not in words[0] else ""
    attrs = dict(w.split("=", 1) for w in words if "=" in w)
    return lang, attrs


def shell_commands(body, first_line):
    """Split a shell block into commands: one a line, with `\\` continuations
    and here-documents kept together; blank and comment lines dropped."""
    commands, lines, i = [], body.splitlines(), 0
    while i < len(lines):
        start, text = i, lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            i += 1
            continue
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", text)
        if heredoc:
            while i + 1 < len(lines):
                i += 1
                text += "\n" + lines[i]
                if lines[i].strip() == heredoc.group(1):
                    break
        commands.append(Command(text=text, line=first_line + start))
        i += 1
    return commands


def console_commands(body, first_line, body_start, lang="console"):
    """`$ ` lines are commands (with `> ` continuation lines); the lines under
    a command, up to the next prompt, are its expected output. In a `pycon`
    block the prompts are the Python REPL's `>>> ` and `... `."""
    prompt, continuation = PROMPTS[lang]
    commands, lines = [], body.splitlines()
    for index, text in enumerate(lines):
        if text.startswith(prompt) or text == prompt.rstrip():
            commands.append(Command(text=text[len(prompt):], line=first_line + index, expected=[],
                                    expected_span=(body_start + index + 1, body_start + index)))
        elif commands and (text.startswith(continuation) or text == continuation.rstrip()) \
                and not commands[-1].expected:
            commands[-1].text += "\n" + text[len(continuation):]
            commands[-1].expected_span = (body_start + index + 1, body_start + index)
        elif commands:
            commands[-1].expected.append(text)
            commands[-1].expected_span = (commands[-1].expected_span[0], body_start + index)
        elif text.strip():
            raise PageError("", first_line + index, f"a {lang} block must start with a `{prompt}` line")
    return commands


def check_engine(block):
    """Refuse a command that would leave the page's engine, unless annotated."""
    if block.options.other_engine or block.options.skip:
        return
    for command in block.commands:
        if LEAVES_ENGINE.search(command.text):
            raise PageError(block.path, command.line, f"`{command.text.splitlines()[0]}` would address "
                            "another Docker engine than the page's own (-H, --host, --context, "
                            'DOCKER_HOST or DOCKER_CONTEXT); if that is intended, annotate the block '
                            'with <!-- doctest: other-engine="why" -->')


def parse_page(path, text=None, root=Path("."), conventions=None):
    """`conventions` (doc_console_without_prompt, doc_untitled_dockerfile
    settings) say how to read the forms other projects' docs use."""
    console_output = getattr(conventions, "console_without_prompt", "output") == "output"
    untitled_dockerfile = getattr(conventions, "untitled_dockerfile", "Dockerfile")
    path = str(path)
    text = Path(path).read_text(encoding="utf-8") if text is None else text
    front_matter, text = split_front_matter(text)
    doctest_meta = front_matter.get("doctest", {}) if isinstance(front_matter, dict) else {}
    raw_lines = text.splitlines()
    lines, context = flatten_containers(raw_lines)
    tokens = MarkdownIt("commonmark").parse("\n".join(lines) + "\n")
    blocks, pending, previous = [], None, None  # pending: an annotation waiting for its fence
    for token in tokens:
        if token.type == "html_block" and token.map:
            match = ANNOTATION.match(token.content.strip())
            if token.content.strip().startswith("<!--") and "doctest" in token.content and not match:
                raise PageError(path, token.map[0] + 1, "malformed doctest annotation; "
                                "write <!-- doctest: key=value ... -->")
            if match:
                options = parse_annotation(match.group(1), path, token.map[0] + 1)
                if options.press or options.run:
                    blocks.append(Block(path, token.map[0] + 1, "action", options=options,
                                        containers=context[token.map[0]]))
                    previous = None
                else:
                    pending = (token.map[0] + 1, options)
                continue
        if token.type != "fence" or not token.map:
            if token.type in ("paragraph_open", "heading_open", "bullet_list_open", "ordered_list_open",
                              "blockquote_open", "table_open", "hr", "code_block"):
                previous = None  # an output fence belongs to the command block right above it
                if pending:
                    raise PageError(path, pending[0], "a doctest annotation must stand right "
                                                      "before the fence it applies to")
            continue
        start, end = token.map
        if not token.markup or lines[end - 1].strip()[:3] != token.markup[:3] or end - start < 2:
            raise PageError(path, start + 1, f"unclosed code fence {token.markup}{token.info}")
        lang, attrs = parse_info(token.info)
        options = pending[1] if pending else Options()
        pending = None
        block = Block(path, start + 1, "", lang=lang, title=attrs.get("title", ""), content=token.content,
                      options=options, containers=context[start])
        include = [SNIPPET.match(l) for l in token.content.splitlines()]
        if any(include):
            block.include = next(m["path"] for m in include if m)
            included = root / block.include
            if not included.is_file():
                raise PageError(path, start + 1, f"the included file {block.include} does not exist")
            block.content = included.read_text(encoding="utf-8")
        windows_tab = any("windows" in c.lower() or "powershell" in c.lower() for c in block.containers)
        prompt = PROMPTS.get(lang, ("",))[0]
        is_output = lang in OUTPUT_LANGS or (lang == "console" and console_output and not any(
            line.startswith(prompt) or line == prompt.rstrip() for line in token.content.splitlines()))
        if is_output and not block.title and previous is not None:
            shown, span = token.content.splitlines(), (start + 1, end - 2)
            if previous.lang in PROMPTS and previous.commands and not previous.commands[-1].expected:
                previous.commands[-1].expected, previous.commands[-1].expected_span = shown, span
            elif previous.lang not in PROMPTS:
                previous.expected, previous.expected_span = shown, span
            previous = None
            continue
        if lang in WINDOWS_LANGS or (windows_tab and lang in SHELL_LANGS):
            block.kind = "skipped"
            block.options.skip = block.options.skip or "Windows shell: not run on Linux"
        elif block.title and lang not in SHELL_LANGS:
            block.kind = "file"
        elif lang in ("dockerfile", "docker") and untitled_dockerfile == "Dockerfile":
            block.kind, block.title = "file", "Dockerfile"
        elif lang in ("dockerfile", "docker"):
            raise PageError(path, start + 1, 'a Dockerfile fence needs the path it is written to: '
                                             '```dockerfile title="Dockerfile"')
        elif is_output:
            previous = None
            continue  # output with no command block above it: shown, not run
        elif lang in PROMPTS:
            block.kind = "shell"
            try:
                block.commands = console_commands(token.content, start + 2, start + 1, lang)
            except PageError as error:
                raise PageError(path, error.line, str(error).split(": ", 1)[1])
        elif lang in SHELL_LANGS:
            block.kind = "shell"
            block.commands = shell_commands(token.content, start + 2)
        elif lang in PYTHON_LANGS:
            block.kind = "python"
        else:
            previous = None
            continue  # json, yaml, ...: shown, not run
        check_engine(block)
        blocks.append(block)
        previous = block if block.kind == "shell" and lang != "pycon" else None
    if pending:
        raise PageError(path, pending[0], "a doctest annotation must stand right before a fence")
    return Page(path, doctest_meta, blocks)
