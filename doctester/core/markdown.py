"""Parse a Markdown page into the blocks the harness runs.

The grammar is documented on the site's authoring guide (docs/authoring.md);
this module is its one implementation. What a profile adds (annotation keys, block
kinds for its fence languages, checks that refuse a block) comes in a
Grammar, so this module knows no tool by name.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .annotations import ANNOTATION, CORE_KEYS, AnnotationKey, parse_annotation
from .blocks import ActionBlock, Block, Options, Output, Page, PageError, ShellBlock, SkippedBlock
from .commands import PROMPTS, console_commands, has_prompt, shell_commands
from .core_kinds import CORE_KINDS, FILE, SHELL
from .kinds import BlockKinds, Fence

CONTAINER = re.compile(r"^(?P<indent> *)(?P<kind>===|!!!|\?\?\?\+?) *(?P<rest>.*)$")
# Lines other renderers drop: Hugo shortcodes, Jinja tags, Docusaurus/VitePress fences of admonitions.
FOREIGN_SYNTAX = re.compile(r"^\s*(?:\{\{[<%].*[>%]\}\}|\{%.*%\}|:::+.*)\s*$")
# Fences of another system's shells: run only where the profile finds them
# the same in the page's shell (doc_tabs = windows), else skipped.
WINDOWS_LANGS = {"powershell", "ps1", "pwsh", "cmd", "bat"}
OUTPUT_LANGS = {"text", "output", ""}  # the output of the command block above, not blocks of their own
# Content tabs that hold one system's form of a step (system_tab decides).
WINDOWS_TAB = re.compile(r"windows|powershell|\bpwsh\b|\bcmd\b|command prompt", re.I)
UNIX_TAB = re.compile(r"\b(?:macos|mac|os ?x|linux|bash|zsh|ubuntu|debian|fedora|wsl|unix)\b", re.I)
# Tokens after which an output fence no longer belongs to the command block above.
BREAKS = {"paragraph_open", "heading_open", "bullet_list_open", "ordered_list_open", "blockquote_open",
          "table_open", "hr", "code_block"}
# A profile's verdict on a block of another system: True (it runs), or why it is skipped.
OtherSystem = Callable[[ShellBlock], Union[bool, str, None]]
Subject = TypeVar("Subject")
Answer = TypeVar("Answer")


@dataclass
class Grammar:
    """How to read pages: the core's rules, a profile's additions, and the
    project's conventions (doc_* settings)."""
    keys: dict[str, AnnotationKey] = field(default_factory=lambda: {k.name: k for k in CORE_KEYS})
    kinds: BlockKinds = CORE_KINDS                      # how each fence language is read and run
    checks: list[Callable[[Block], object]] = field(default_factory=list)  # raise PageError to refuse a block
    console_without_prompt: str = "output"              # or "error"
    untitled_files: str = "named"                       # or "error"
    foreign_syntax: str = "drop"                        # or "keep"
    variants: tuple[str, ...] = ()                      # names a `variant=` annotation may use
    page_checks: list[Callable[[Page], object]] = field(default_factory=list)  # once parsed; PageError refuses
    # A shell block shown for readers of another system (a Windows tab, a
    # powershell fence), read as the page's shell would: returns True if the
    # page's shell runs it with the same effect, else the reason it is skipped.
    other_system: OtherSystem | None = None
    # Which of a step's system tabs run (the two are alternatives: running
    # both would do the step twice): "unix" or "windows".
    tabs: str = "unix"

    @classmethod
    def with_profile(cls, keys: Iterable[AnnotationKey] = (), kinds: BlockKinds = CORE_KINDS,
                     checks: Iterable[Callable[[Block], object]] = (), variants: Iterable[str] = (),
                     **conventions: Any) -> Grammar:
        """The core's grammar with what a profile adds (its annotation keys win)."""
        return cls({**cls().keys, **{key.name: key for key in keys}}, kinds, list(checks),
                   variants=tuple(variants), **conventions)


def system_tab(containers: tuple[str, ...]) -> str | None:
    """"windows" for a block inside a tab whose title names Windows or
    PowerShell (it wins where both are named), "unix" inside one naming only
    macOS, Linux or their shells, else None: the one place that decides, for
    what runs and for what a profile checks."""
    if any(WINDOWS_TAB.search(title) for title in containers):
        return "windows"
    if any(UNIX_TAB.search(title) for title in containers):
        return "unix"
    return None


def tab_group(containers: tuple[str, ...]) -> tuple[str, ...]:
    """What holds a block's system tab (the containers outside it): the blocks
    of one group of tabs share it."""
    for index, title in enumerate(containers):
        if WINDOWS_TAB.search(title) or UNIX_TAB.search(title):
            return tuple(containers[:index])
    return tuple(containers)


def flatten_containers(lines: list[str], drop_foreign: bool = True) -> tuple[list[str], list[tuple[str, ...]]]:
    """Dedent the bodies of content tabs, admonitions and collapsible blocks
    so their fences parse as fences; line numbers are kept. Returns the new
    lines and, for each line, the titles of the containers around it."""
    out: list[str] = []
    context: list[tuple[str, ...]] = []
    stack: list[tuple[int, str]] = []  # (content indent, title)
    in_fence: str | None = None
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
        if in_fence is None and drop_foreign and FOREIGN_SYNTAX.match(body):
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


def split_front_matter(text: str) -> tuple[Any, str]:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            head = text[4:end]
            return yaml.safe_load(head) or {}, "\n" * (head.count("\n") + 3) + text[end + 5:]
    return {}, text


def parse_info(info: str) -> tuple[str, dict[str, str]]:
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


def run_check(path: str, check: Callable[[Subject], Answer], subject: Subject, line: int,
              what: str | None = None) -> Answer:
    """Call a profile's check or reader; its bug is reported at the page's line."""
    try:
        return check(subject)
    except PageError:
        raise
    except Exception as error:
        what = what or f"the check {getattr(check, '__name__', check)}"
        raise PageError(path, line, f"{what} raised {type(error).__name__}: {error}")


class BlockBuilder:
    """One page's blocks, built from its fences and action annotations as the
    grammar reads them (the kind of each fence, which system tab runs), each
    passed through the grammar's checks."""

    def __init__(self, path: str, root: Path, grammar: Grammar) -> None:
        self.path, self.root, self.grammar = path, root, grammar
        self.blocks: list[Block] = []
        # With doc_tabs = windows: the macOS/Linux tab blocks of the tab group
        # being read (index, what holds the group), skipped once a Windows tab
        # beside them runs.
        self.unix_tab_blocks: list[tuple[int, tuple[str, ...]]] = []

    def fence(self, lang: str, title: str, content: str, where: dict[str, Any]) -> ShellBlock | None:
        """Add the block of a fence that is not an output fence; `where` holds
        the Block fields the fence's place gives. Returns the command block an
        output fence right below belongs to, if any."""
        system = system_tab(where["containers"])
        group = tab_group(where["containers"])
        shell = lang in SHELL.languages
        if system is None:
            self.unix_tab_blocks = []
        previous: ShellBlock | None = None
        if lang in WINDOWS_LANGS or (system == "windows" and shell):
            block = self._other_system(where, lang, content) if self.grammar.tabs == "windows" else None
            if block is not None:
                self._skip_unix_tabs_beside(group)
                self.add(block)
                return block
            options = where["options"]
            options.skip = options.skip or "a Windows tab: this run follows the macOS/Linux tabs (doc_tabs = unix)"
            self.add(SkippedBlock(**where, lang=lang))
        else:
            previous = self._read(lang, title, content, where)
        if system == "unix" and self.grammar.tabs == "windows" and shell and lang != "pycon":
            self.unix_tab_blocks.append((len(self.blocks) - 1, group))
        return previous

    def _read(self, lang: str, title: str, content: str, where: dict[str, Any]) -> ShellBlock | None:
        """The block the fence's kind reads, if one does; returns it if it is a
        command block an output fence right below belongs to."""
        # A titled fence (but a command block) is the file it shows; json, yaml ... no kind reads: shown, not run.
        kind = FILE if title and lang not in SHELL.languages else self.grammar.kinds.for_language(lang)
        if kind is None or kind.read is None:
            return None
        fence = Fence(lang=lang, title=title, content=content, grammar=self.grammar, root=self.root, **where)
        read = run_check(self.path, kind.read, fence, fence.line, f"reading a {lang} fence as a {kind.name} block")
        self.add(read)
        # An output fence right below belongs to the command block above (not to a REPL's).
        return read if isinstance(read, ShellBlock) and lang != "pycon" else None

    def _skip_unix_tabs_beside(self, group: tuple[str, ...]) -> None:
        """A Windows tab runs in place of the macOS/Linux tab of its group: a
        step done twice (a POST, a `docker run --name`) would break the next."""
        for index, holder in self.unix_tab_blocks:
            if holder == group:
                done = self.blocks[index]
                assert isinstance(done, ShellBlock), "only shell blocks of a tab are kept to skip"
                done.options.skip = "a macOS/Linux tab: this run follows the Windows tab beside it (doc_tabs = windows)"
                self.blocks[index] = SkippedBlock(done.path, done.line, done.options, done.containers, lang=done.lang)
        self.unix_tab_blocks = [entry for entry in self.unix_tab_blocks if entry[1] != group]

    def _other_system(self, where: dict[str, Any], lang: str, content: str) -> ShellBlock | None:
        """A block shown for Windows readers: the ShellBlock the page's shell
        runs if the grammar's other_system says it means the same there, else
        None (the block is skipped, with the reason set on its options)."""
        options, reason, line = where["options"], "Windows shell: not run on Linux", where["line"]
        if self.grammar.other_system is not None and not options.skip and lang not in ("cmd", "bat", "pycon"):
            if lang in PROMPTS:
                commands = console_commands(content, self.path, line + 1, line, lang)
            else:
                commands = shell_commands(content, line + 1)
            block = ShellBlock(**where, lang=lang if lang in SHELL.languages else "bash", commands=commands)
            verdict = run_check(self.path, self.grammar.other_system, block, block.line)
            if verdict is True:
                return block
            reason = verdict or reason
        options.skip = options.skip or reason
        return None

    def add(self, block: Block) -> None:
        for check in self.grammar.checks:
            run_check(self.path, check, block, block.line)
        self.blocks.append(block)


class PageParser:
    """One page's text -> its Page: front matter, containers flattened, and
    the tokens walked in order. `previous` is the command block an output
    fence right below would belong to; `pending` an annotation waiting for its fence."""

    def __init__(self, path: str, root: Path, grammar: Grammar) -> None:
        self.path, self.grammar = path, grammar
        self.builder = BlockBuilder(path, root, grammar)
        self.pending: tuple[int, Options] | None = None
        self.previous: ShellBlock | None = None
        self.lines: list[str] = []
        self.context: list[tuple[str, ...]] = []

    def parse(self, text: str) -> Page:
        front_matter, text = split_front_matter(text)
        meta = front_matter.get("doctest", {}) if isinstance(front_matter, dict) else {}
        self.lines, self.context = flatten_containers(text.splitlines(), self.grammar.foreign_syntax == "drop")
        for token in MarkdownIt("commonmark").parse("\n".join(self.lines) + "\n"):
            if token.type == "html_block" and token.map and self._annotation(token):
                continue
            if token.type == "fence" and token.map:
                self._fence(token)
            elif token.type in BREAKS:
                self.previous = None
                if self.pending:
                    raise PageError(self.path, self.pending[0], "a doctest annotation must stand right "
                                                                "before the fence it applies to")
        if self.pending:
            raise PageError(self.path, self.pending[0], "a doctest annotation must stand right before a fence")
        blocks = self.builder.blocks
        page = Page(self.path, meta, blocks)
        for check in self.grammar.page_checks:
            run_check(self.path, check, page, blocks[0].line if blocks else 1)
        return page

    def _annotation(self, token: Token) -> bool:
        assert token.map is not None, "the parser took only tokens with lines"
        line, content = token.map[0] + 1, token.content.strip()
        match = ANNOTATION.match(content)
        if content.startswith("<!--") and "doctest" in content and not match:
            raise PageError(self.path, line, "malformed doctest annotation; write <!-- doctest: key=value ... -->")
        if not match:
            return False
        options = parse_annotation(match.group(1), self.path, line, self.grammar.keys)
        unknown = [name for name in options.variants if name not in self.grammar.variants]
        if unknown:
            raise PageError(self.path, line, f"unknown variant {', '.join(unknown)}; known: "
                                             f"{', '.join(self.grammar.variants) or 'none'}")
        if options.press or options.run:
            self.builder.add(ActionBlock(self.path, line, options, self.context[token.map[0]]))
            self.previous = None
        else:
            self.pending = (line, options)
        return True

    def _fence(self, token: Token) -> None:
        assert token.map is not None, "the parser took only tokens with lines"
        start, end = token.map
        if not token.markup or self.lines[end - 1].strip()[:3] != token.markup[:3] or end - start < 2:
            raise PageError(self.path, start + 1, f"unclosed code fence {token.markup}{token.info}")
        lang, attrs = parse_info(token.info)
        options = self.pending[1] if self.pending else Options()
        self.pending = None
        where: dict[str, Any] = dict(path=self.path, line=start + 1, options=options, containers=self.context[start])
        title, content = attrs.get("title", ""), token.content
        is_output = lang in OUTPUT_LANGS or (lang == "console" and self.grammar.console_without_prompt == "output"
                                             and not has_prompt(lang, content))
        if is_output and not title:
            self._output(Output(content.splitlines(), (start + 1, end - 2)))
        else:
            self.previous = self.builder.fence(lang, title, content, where)

    def _output(self, shown: Output) -> None:
        """An output fence: the expected output of the command block right above."""
        previous, self.previous = self.previous, None
        if previous is None:
            return
        if previous.lang in PROMPTS:
            last = previous.commands[-1] if previous.commands else None
            if last is not None and last.expected is not None and not last.expected.lines:
                last.expected = shown
        else:
            previous.expected = shown


def parse_page(path: str | Path, text: str | None = None, root: str | Path = Path("."),
               grammar: Grammar | None = None) -> Page:
    text = Path(path).read_text(encoding="utf-8") if text is None else text
    return PageParser(str(path), Path(root), grammar or Grammar()).parse(text)
