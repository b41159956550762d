"""What a page is made of, once parsed: one record per kind of block, each
carrying only its own data. A page runs its blocks in order; output fences
are not blocks, they are the `expected` lines of the command above them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PageError(Exception):
    """A malformed page: the message starts with file:line."""

    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


@dataclass
class Options:
    """A block's `<!-- doctest: ... -->` annotation. Keys a profile adds
    (through pytest_doctester_annotation_keys) are kept in `extra`."""
    skip: str | None = None      # reason; the block is reported as skipped
    exit: str | None = None      # expected exit status: a number or "nonzero"
    timeout: float | None = None  # seconds, per command
    capture: str | None = None   # name under which the command's output is kept
    pattern: str | None = None   # with capture: regex whose group 1 is kept
    press: list[str] | None = None  # keys typed into the interactive session
    run: str | None = None       # a hidden command run in the page session
    check_output: bool = True    # False: output shown is illustrative, not compared
    alone: str | None = None     # why a reader following the pages in order skips it (not run in a journey)
    in_order: str | None = None  # why only a reader who followed the pages in order runs it (only in a journey)
    variants: tuple[str, ...] = ()  # named variants of the output that the block accepts
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Output:
    """Output a page shows: its lines, and where they are on the page."""
    lines: list[str]
    span: tuple[int, int]      # (first, last) 0-based page lines, for --doc-update


@dataclass
class Command:
    text: str
    line: int                  # 1-based line of the command in the page
    expected: Output | None = None  # what the page shows under it, if anything


@dataclass
class Block:
    path: str
    line: int                  # 1-based line of the opening fence (or comment)
    options: Options = field(default_factory=Options)
    containers: tuple[str, ...] = ()  # titles of the tabs/admonitions around the block
    kind = "block"

    @property
    def label(self) -> str:
        return f"{self.path}:{self.line}"

    def summary(self) -> str:
        """One line naming the block in reports."""
        return self.kind


@dataclass
class ShellBlock(Block):
    lang: str = "bash"
    commands: list[Command] = field(default_factory=list)
    expected: Output | None = None  # the output fence right after a bash block
    kind = "shell"

    def summary(self) -> str:
        return self.commands[0].text.splitlines()[0] if self.commands else self.kind


@dataclass
class FileBlock(Block):
    title: str = ""            # the path it is written to, from the page shell's directory
    content: str = ""
    include: str | None = None  # the project file a snippet include shows, if any
    kind = "file"

    def summary(self) -> str:
        return self.title


@dataclass
class ActionBlock(Block):
    """An annotation with no fence: keys pressed, or a hidden command run."""
    kind = "action"

    def summary(self) -> str:
        return self.options.run or " ".join(self.options.press or [])


@dataclass
class PythonBlock(Block):
    content: str = ""
    kind = "python"


@dataclass
class SkippedBlock(Block):
    """Shown for readers on another system (a Windows tab): never run."""
    lang: str = ""
    kind = "skipped"


@dataclass
class Page:
    path: str
    meta: dict[str, Any]       # the front matter's `doctest:` mapping
    blocks: list[Block]
