"""A command block's body as the commands a reader types: shell fences one
command a line (with continuations, quotes and here-documents), console and
pycon fences by their prompts, with the output shown under each command."""
import re
import shlex

from .blocks import Command, Output, PageError

PROMPTS = {"console": ("$ ", "> "), "pycon": (">>> ", "... ")}  # (prompt, continuation)
# mkdocs-material's code annotation that strips its comment (`# (1)!`): the
# page shows a marker there, and the copy button copies the line without it.
MATERIAL_ANNOTATION = re.compile(r"\s*#\s*\(\d+\)!\s*$")


def shell_commands(body: str, first_line: int) -> list[Command]:
    """Split a shell block into commands: one a line, with `\\` continuations,
    quoted strings that span lines and here-documents kept together; blank and
    comment lines dropped; what a reader copies (no `# (1)!` annotations)."""
    commands, lines, i = [], [MATERIAL_ANNOTATION.sub("", line) for line in body.splitlines()], 0
    while i < len(lines):
        start, text = i, lines[i]
        if not text.strip() or text.lstrip().startswith("#"):
            i += 1
            continue
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        while open_quote(text) and i + 1 < len(lines):  # a quoted string that spans lines
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


def open_quote(text: str) -> bool:
    """Does `text` end inside a quoted string, as bash would read it?"""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return True
    return False


def console_commands(body: str, path: str, first_line: int, body_start: int, lang: str = "console") -> list[Command]:
    """`$ ` lines are commands (with `> ` continuation lines); the lines under
    a command, up to the next prompt, are its expected output. In a `pycon`
    block the prompts are the Python REPL's `>>> ` and `... `."""
    prompt, continuation = PROMPTS[lang]
    commands: list[Command] = []
    for index, text in enumerate(body.splitlines()):
        here = body_start + index
        expected = commands[-1].expected if commands else None
        if text.startswith(prompt) or text == prompt.rstrip():
            commands.append(Command(text[len(prompt):], first_line + index, Output([], (here + 1, here))))
        elif expected is not None and (text.startswith(continuation) or text == continuation.rstrip()) \
                and not expected.lines:
            commands[-1].text += "\n" + text[len(continuation):]
            expected.span = (here + 1, here)
        elif expected is not None:
            expected.lines.append(text)
            expected.span = (expected.span[0], here)
        elif text.strip():
            raise PageError(path, first_line + index, f"a {lang} block must start with a `{prompt}` line")
    return commands


def has_prompt(lang: str, content: str) -> bool:
    prompt = PROMPTS.get(lang, ("",))[0]
    return any(line.startswith(prompt) or line == prompt.rstrip() for line in content.splitlines())
