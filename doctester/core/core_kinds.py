"""The core's block kinds: shell and console commands, files a page shows,
hidden actions, python fences. A profile adds kinds the same way (the
Docker profile: `dockerfile` fences, through file_kind)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .blocks import ActionBlock, FileBlock, PageError, ShellBlock
from .commands import PROMPTS, console_commands, shell_commands
from .failures import BlockFailure, exit_ok, tail
from .kinds import BlockKind, BlockKinds, Fence
from .python_fences import PYTHON

if TYPE_CHECKING:
    from .pagerun import PageRun

SNIPPET = re.compile(r"""^\s*-{1,}8<-{1,}\s+["']?(?P<path>[^"'\s]+)["']?\s*$""")


def read_shell(fence: Fence) -> ShellBlock:
    if fence.lang in PROMPTS:
        commands = console_commands(fence.content, fence.path, fence.line + 1, fence.line, fence.lang)
    else:
        commands = shell_commands(fence.content, fence.line + 1)
    return ShellBlock(**fence.where(), lang=fence.lang, commands=commands)


def run_shell(run: PageRun, block: ShellBlock, timeout: float) -> None:
    outputs = []
    for index, command in enumerate(block.commands):
        last = index == len(block.commands) - 1
        outputs.append(run.run_command(block, command.text, command.line, command.expected, timeout,
                                       expect=block.options.exit if last else None))
    if block.expected is not None and block.options.check_output:
        run.check_output(block, block.commands[-1].text if block.commands else "", block.line,
                         block.expected, "".join(outputs))


def file_block(fence: Fence, title: str) -> FileBlock:
    """A file the page shows, written under `title`; a snippet include shows a project file, read here."""
    content = fence.content
    include = next((m["path"] for m in map(SNIPPET.match, content.splitlines()) if m), None)
    if include:
        included = (fence.root / include).resolve()
        if not included.is_relative_to(fence.root.resolve()):
            raise PageError(fence.path, fence.line, f"the included file {include} is outside the project "
                                                    f"({fence.root.resolve()}): a page may show only its own files")
        if not included.is_file():
            raise PageError(fence.path, fence.line, f"the included file {include} does not exist")
        content = included.read_text(encoding="utf-8")
    return FileBlock(**fence.where(), title=title, content=content, include=include)


def run_file(run: PageRun, block: FileBlock, timeout: float) -> None:
    if not run.workspace.write(run.cwd(), block.title, block.content):
        raise BlockFailure(f"{block.label}: title={block.title!r} points outside the page's directory")


def file_kind(usual_names: Mapping[str, str]) -> BlockKind:
    """Fences of languages that are files ({"dockerfile": "Dockerfile"}): an
    untitled one is written under its language's usual name (with
    doc_untitled_files = error it must name its path)."""
    def read(fence: Fence) -> FileBlock:
        name = usual_names[fence.lang]
        if fence.grammar.untitled_files != "named":
            raise PageError(fence.path, fence.line, f'a {fence.lang} fence needs the path it is written to: '
                                                    f'```{fence.lang} title="{name}"')
        return file_block(fence, name)
    return BlockKind("file", frozenset(usual_names), run_file, read)


def run_action(run: PageRun, block: ActionBlock, timeout: float) -> None:
    options = block.options
    if options.run:
        run.run_command(block, options.run, block.line, None, timeout, expect=None)
    if options.press:
        result = run.press(options.press)
        if result.ended and not exit_ok(result.exit_code, options.exit):
            raise BlockFailure(f"{block.label}: pressing {' '.join(options.press)} ended the command that had "
                               f"the terminal with status {result.exit_code} (expected {options.exit or 0}; "
                               f"annotate exit=N if that is what the page shows)\n--- output ---\n{tail(result.output)}")


SHELL = BlockKind("shell", frozenset({"sh", "bash", "shell", "console", "pycon"}), run_shell, read_shell)
# Any fence with a `title=` but a command block: the file it shows.
FILE = BlockKind("file", frozenset(), run_file, lambda fence: file_block(fence, fence.title))
ACTION = BlockKind("action", frozenset(), run_action)  # made from an annotation alone: keys pressed, a hidden command
CORE_KINDS = BlockKinds("the core", [SHELL, FILE, ACTION, PYTHON])
