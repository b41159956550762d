"""Commands a reader types on their own computer must mean the same in bash,
macOS's zsh, PowerShell 7 and Windows PowerShell 5.1.

A page's command outside a content tab named for a system or shell is typed
by every attendee into whichever of those four shells they have. This module
reads such a command the way bash does, and refuses each construct that
breaks, or changes meaning, in one of the others, naming the shell, the
reason and what to write instead. Commands typed into a container (after an
interactive `docker run -it`, `docker exec -it`, `docker attach`, `docker
start -ai`, until `exit` or keys that leave it) are not the reader's shell's,
and a block annotated `<!-- doctest: not-portable="why" -->` is let through.
Inside a macOS/Linux tab, typed into bash or zsh, only what differs between
those two is refused.

    python -m doctester.docker.portability docs/*.md

lists every refused command of the pages given, `page:line: [shell] message`.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..core.annotations import AnnotationKey
from ..core.blocks import ActionBlock, Command, Page, PageError, ShellBlock
from ..core.markdown import system_tab
from . import rules

POWERSHELL = "PowerShell"                     # 5.1 and 7 alike
WINPS = "Windows PowerShell 5.1"
LEGACY_ARGS = "PowerShell 5.1 and 7.0-7.2"    # $PSNativeCommandArgumentPassing = Legacy
ZSH = "zsh"
ZSH_BASH = "zsh and bash"
TABS = '=== "macOS/Linux" / === "Windows PowerShell" content tabs'
ANNOTATE = '<!-- doctest: not-portable="why" -->'


@dataclass(frozen=True)
class Program:
    """How a program may be called so it behaves the same in the four shells.
    `args`: (fewest, most) arguments (None: any number); `flags`: whether
    arguments may start with `-`; `native`: PowerShell runs a program (whose
    arguments go through its native quoting) rather than its own alias or
    cmdlet; `quoted`: every argument must be quoted text; `options`: the
    options it may take although `flags` is False (not counted in `args`)."""
    args: tuple[int, int | None] = (0, None)
    flags: bool = True
    native: bool = True
    quoted: bool = False
    options: frozenset[str] = frozenset()


# The programs a reader's command may call outside a system's tab. In
# PowerShell cd, mkdir, cat, ls, rm, cp, mv and echo are its own aliases
# (Set-Location, New-Item, Get-Content, ...), which act alike only as below.
PORTABLE_PROGRAMS = {
    "docker": Program(),
    "git": Program(),
    "cd": Program((1, 1), flags=False, native=False),
    "mkdir": Program((1, 1), flags=False, native=False),
    "cat": Program((1, None), flags=False, native=False),
    "ls": Program((0, None), flags=False, native=False),
    "rm": Program((1, 1), flags=False, native=False),
    # PowerShell takes `-r` as the one parameter of Copy-Item it begins, -Recurse.
    "cp": Program((2, 2), flags=False, native=False, options=frozenset({"-r"})),
    "mv": Program((2, 2), flags=False, native=False),
    "echo": Program((1, 1), flags=False, native=False, quoted=True),
    "exit": Program((0, 1), flags=False, native=False),
}

# What a Windows tab may call besides: a block there runs in the page's bash
# when bash does with it what PowerShell does (the sandbox has `py`).
WINDOWS_TAB_PROGRAMS = {
    "py": Program(),
}

_MISSING = "is not a command on Windows"
_PYTHON = ("is `python3` on macOS and Linux but `py` on Windows (where `python`/`python3` may open the "
           "Microsoft Store); put each in its system's tab")
# Why a program outside PORTABLE_PROGRAMS is refused, where there is more to say.
NOT_PORTABLE_PROGRAMS = {
    **{name: _MISSING for name in ("sed", "grep", "head", "tail", "awk", "touch", "chmod", "chown", "xargs",
                                   "wc", "env", "which", "seq", "sleep", "tr", "cut", "uniq", "tee", "jq",
                                   "less", "more", "open", "xdg-open", "nc", "lsof", "ps", "kill", "watch",
                                   "brew", "apt", "apt-get", "systemctl", "service", "usermod", "newgrp",
                                   "id", "whoami", "uname", "true", "false", "test", "[", "printf",
                                   "export", "unset", "source", ".", "read", "set")},
    "for": "is bash syntax; PowerShell's loops are written differently",
    "while": "is bash syntax; PowerShell's loops are written differently",
    "until": "is bash syntax; PowerShell's loops are written differently",
    "if": "is bash syntax; PowerShell's `if` is written differently",
    "case": "is bash syntax",
    "export": "is bash syntax; PowerShell sets a variable with `$env:NAME = \"value\"`",
    "unset": "is bash syntax; PowerShell removes a variable with `Remove-Item Env:NAME`",
    "source": "reads a bash script; PowerShell has no such command",
    ".": "reads a bash script; PowerShell's `.` dot-sources PowerShell scripts only",
    "curl": "is an alias of Invoke-WebRequest in Windows PowerShell 5.1 (other options, other output); "
            "PowerShell 7 runs curl.exe",
    "wget": "is an alias of Invoke-WebRequest in Windows PowerShell 5.1 and missing elsewhere on Windows",
    "diff": "is an alias of Compare-Object in PowerShell (other output)",
    "sort": "is an alias of Sort-Object in PowerShell, which sorts differently and takes other options",
    "find": "is find.exe on Windows, a text search, not a file finder",
    "sudo": "does not exist on Windows (and Docker Desktop needs no sudo)",
    "python": _PYTHON, "python3": _PYTHON, "py": _PYTHON,
    "pip": "is `pip3` or `python3 -m pip` on macOS and Linux, `py -m pip` on Windows; put each in its system's tab",
    "pip3": "is not on Windows (`py -m pip` is); put each in its system's tab",
    "pwd": "prints a table (Path, ----) in PowerShell",
}


@dataclass(frozen=True)
class Violation:
    line: int
    shell: str
    message: str

    def format(self, path: str | os.PathLike[str]) -> str:
        return f"{path}:{self.line}: [{self.shell}] {self.message}"


class Unparsable(ValueError):
    """A command this module cannot read the way bash would."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset


def _not_portable(value: str) -> str:
    if not value.strip():
        raise ValueError('not-portable needs a reason: not-portable="why"')
    return value


NOT_PORTABLE = AnnotationKey("not-portable", _not_portable,
                             help="why a block a reader types outside a system's tab may use syntax that "
                                  "bash, zsh, PowerShell 7 and Windows PowerShell 5.1 read differently")

# ---------------------------------------------------------------- reading

PLACEHOLDER = re.compile(r"<[A-Za-z_][\w .-]*>")       # <CONTAINER ID>: the reader types a value there
MATERIAL_MARKER = re.compile(r"#\s*\(\d+\)!\s*(?=\n|$)")   # mkdocs-material code annotation, not copied
OPERATORS = ("&&", "||", ";;", "&>>", "&>", ">>", ">&", ">|", "<<<", "<<", "<>", "<&", "|&", "<(", ">(",
             "|", "&", ";", ">", "<", "(", ")")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a check finds: (offset in the command, the shell, the message).
Found = tuple[int, str, str]


@dataclass
class Part:
    text: str
    quote: str          # "" unquoted, "'" or '"' quoted, "$" an expansion, "\\" an escaped character
    offset: int


@dataclass
class Word:
    parts: list[Part]
    offset: int
    end: int | None = None

    @property
    def value(self) -> str:
        return "".join(p.text for p in self.parts)

    @property
    def quoted(self) -> bool:
        return any(p.quote in ("'", '"') for p in self.parts)

    def unquoted(self) -> str:
        return "".join(p.text for p in self.parts if p.quote == "")


@dataclass
class Op:
    text: str
    offset: int


class Findings:
    """The constructs found in one command that differ between the shells of
    its scope: all of them in "host"; in "unix", only what zsh and bash read
    differently (`host_only` False)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.found: list[Found] = []

    def flag(self, offset: int, shell: str, message: str, host_only: bool = True) -> None:
        if host_only and self.scope != "host":
            return
        self.found.append((offset, shell, message))


def closing_end(text: str, at: int, opening: str, closing: str) -> int:
    """The end of the bracket that `text[at]` (`opening`) opens, skipping
    quoted text and escaped characters as bash does."""
    quote: str | None
    depth, i, quote = 0, at, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                i += 1
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 1
        elif c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise Unparsable(at, f"this `{opening}` is never closed")


def expansion_end(text: str, at: int) -> int:
    """The end of the expansion that starts at `at` ($NAME, ${...}, $(...), $1);
    `at + 1` for a lone `$`."""
    nxt = text[at + 1:at + 2]
    if nxt == "(":
        return closing_end(text, at + 1, "(", ")")
    if nxt == "{":
        return closing_end(text, at + 1, "{", "}")
    name = NAME.match(text, at + 1)
    if name:
        return name.end()
    if nxt and (nxt.isdigit() or nxt in "?$!#*@-_"):
        return at + 2
    return at + 1


def unquoted_character(c: str, starts: bool) -> tuple[str, str, bool] | None:
    """(shell, message, host_only) for an unquoted character another shell
    reads differently; `starts`: it begins a word."""
    if c in "*?[":
        return ZSH, (f"an unquoted `{c}` is a glob: zsh stops with \"no matches found\" when no file matches "
                     "(bash passes it on); quote the argument ('...')"), False
    if c == "!":
        return ZSH_BASH, ("an unquoted `!` is history expansion in interactive zsh and bash; put it in single "
                          "quotes ('...')"), False
    if c in "{}":
        return POWERSHELL, (f"an unquoted `{c}` delimits a script block in PowerShell; quote the argument "
                            "('{{.Names}}')"), True
    if c == "@" and starts:
        return POWERSHELL, ("a word starting with an unquoted `@` is splatting (or an array or here-string) in "
                            "PowerShell; quote the argument ('@file.json')"), True
    if c == "," and not starts:
        return POWERSHELL, ("an unquoted `,` is PowerShell's array operator, which splits and re-joins the "
                            "argument; quote the whole argument (--mount \"type=bind,source=./x,target=/y\")"), True
    if c == "=" and starts:
        return ZSH, ("a word starting with `=` is replaced by a command's path in zsh (`=python` -> "
                     "/usr/bin/python); quote it"), False
    return None


class QuotedReader:
    """Reads, from an escape, a quote, a `$` or a backtick, the one part of a
    word bash reads there, and flags how the other shells read it otherwise.
    Each reader returns the part and the offset after it."""

    def __init__(self, text: str, findings: Findings) -> None:
        self.text, self.flag = text, findings.flag

    def escaped(self, at: int) -> tuple[Part | None, int]:
        """A `\\` and the character it escapes; no part for a line continuation."""
        nxt = self.text[at + 1:at + 2]
        if nxt == "\n":
            self.flag(at, POWERSHELL, "a `\\` at the end of a line continues it in bash and zsh, not in "
                                      "PowerShell (whose continuation is a backtick): write the command on "
                                      "one line")
            return None, at + 2
        if not nxt:
            raise Unparsable(at, "a `\\` ends the command with nothing to escape")
        self.flag(at, POWERSHELL, f"`\\{nxt}`: bash and zsh drop the `\\`, PowerShell keeps it; quote the "
                                  "argument instead ('...')")
        return Part(nxt, "\\", at), at + 2

    def single_quoted(self, at: int, previous: Part | None) -> tuple[Part, int]:
        """`'...'`; `previous` is the word's part before it, if any."""
        end = self.text.find("'", at + 1)
        if end == -1:
            raise Unparsable(at, "this `'` is never closed")
        if previous is not None and previous.quote == "'" and previous.offset + len(previous.text) + 2 == at:
            self.flag(at, POWERSHELL, "`''` inside single quotes is an escaped `'` in PowerShell but ends and "
                                      "reopens the quote in bash and zsh; write the argument as one "
                                      "quoted string")
        return Part(self.text[at + 1:end], "'", at), end + 1

    def double_quoted(self, at: int) -> tuple[Part, int]:
        buffer: list[str] = []
        i = at + 1
        while True:
            if i >= len(self.text):
                raise Unparsable(at, 'this `"` is never closed')
            if self.text[i] == '"':
                return Part("".join(buffer), '"', at), i + 1
            i = self._double_quoted_character(i, buffer)

    def _double_quoted_character(self, i: int, buffer: list[str]) -> int:
        """Reads what starts at `i` inside double quotes into `buffer`; returns
        the offset after it."""
        text, c = self.text, self.text[i]
        if c == "\\" and text[i + 1:i + 2] in ('"', "\\", "$", "`", "\n"):
            self.flag(i, POWERSHELL, f'`\\{text[i + 1]}` inside double quotes: bash and zsh drop the `\\`, '
                                     "PowerShell keeps it (and a `\\\"` ends its string); use single quotes "
                                     "outside and none inside")
            buffer.append(text[i + 1])
            return i + 2
        if c == "$":
            end = expansion_end(text, i)
            self.flag(i, POWERSHELL, f"`{text[i:end]}` inside double quotes is expanded by PowerShell its own "
                                     "way ($VAR is a PowerShell variable, not the environment's; $(...) runs "
                                     "PowerShell); use single quotes, or a content tab per system")
            buffer.append(text[i:end])
            return end
        if c == "`":
            self.flag(i, POWERSHELL, "a backtick inside double quotes is command substitution in bash and zsh, "
                                     "PowerShell's escape character; use single quotes")
        elif c == "!":
            self.flag(i, ZSH_BASH, "`!` inside double quotes is history expansion in interactive zsh and bash; "
                                   "use single quotes ('...!')", host_only=False)
        buffer.append(c)
        return i + 1

    def dollar(self, at: int) -> tuple[Part, int]:
        """An unquoted expansion; a lone `$` is literal in every shell."""
        end = expansion_end(self.text, at)
        if end == at + 1:
            return Part("$", "", at), at + 1
        expansion = self.text[at:end]
        if expansion.startswith("$("):
            why = ("`$(...)` is command substitution in bash and zsh, a subexpression in PowerShell (its output "
                   "split into lines, not words; `$(pwd)` is a PowerShell path object)")
        else:
            why = (f"`{expansion}` is an environment or shell variable in bash and zsh, a PowerShell variable "
                   "in PowerShell (the environment's is $env:NAME)")
        self.flag(at, POWERSHELL, why + "; write the value, or put each system's form in " + TABS)
        return Part(expansion, "$", at), end

    def backtick(self, at: int) -> tuple[Part, int]:
        end = self.text.find("`", at + 1)
        if end == -1:
            raise Unparsable(at, "this backtick is never closed")
        self.flag(at, POWERSHELL, "a backtick is command substitution in bash and zsh but PowerShell's escape "
                                  "character; write the value, or use " + TABS)
        return Part(self.text[at:end + 1], "$", at), end + 1


class Lexer:
    """Reads a command as bash would, into words (with their quoting) and
    operators; `findings` collects the constructs that differ between the
    shells of `scope`."""

    def __init__(self, text: str, scope: str) -> None:
        self.text = text
        self.findings = Findings(scope)
        self.quotes = QuotedReader(text, self.findings)
        self.tokens: list[Word | Op] = []
        self.word: Word | None = None
        self.i, self.heredoc = 0, False

    def add(self, part: Part) -> None:
        if self.word is None:
            self.word = Word([], part.offset)
        self.word.parts.append(part)

    def end_word(self) -> None:
        if self.word is not None:
            self.word.end = self.i
            self.tokens.append(self.word)
            self.word = None

    def read(self) -> list[Word | Op]:
        text, n = self.text, len(self.text)
        while self.i < n:
            c = text[self.i]
            if c in " \t":
                self.end_word()
                self.i += 1
            elif c == "\n":
                self.end_word()
                if self.heredoc:  # the rest is the here-document's body
                    break
                self.tokens.append(Op(";", self.i))
                self.i += 1
            elif c in "\\'\"$`":
                self.quoted(c)
            elif c == "#" and self.word is None:
                self.comment()
            elif c in "|&;<>()":
                self.operator()
            else:
                self.plain(c)
        self.end_word()
        return self.tokens

    def quoted(self, c: str) -> None:
        part: Part | None
        at = self.i
        if c == "\\":
            part, end = self.quotes.escaped(at)
        elif c == "'":
            previous = self.word.parts[-1] if self.word is not None and self.word.parts else None
            part, end = self.quotes.single_quoted(at, previous)
        elif c == '"':
            part, end = self.quotes.double_quoted(at)
        elif c == "$":
            part, end = self.quotes.dollar(at)
        else:
            part, end = self.quotes.backtick(at)
        if part is None:  # a line continuation ends the word where the `\` is
            self.end_word()
        else:
            self.add(part)
        self.i = end

    def plain(self, c: str) -> None:
        starts = self.word is None
        verdict = unquoted_character(c, starts)
        if verdict:
            shell, message, host_only = verdict
            self.findings.flag(self.i, shell, message, host_only)
        # A leading `~` is checked against the program: native programs see a literal ~.
        self.add(Part(c, "~" if c == "~" and starts else "", self.i))
        self.i += 1

    def comment(self) -> None:
        at = self.i
        end = self.text.find("\n", at)
        if not MATERIAL_MARKER.match(self.text, at):
            self.findings.flag(at, ZSH, "zsh (without `setopt interactivecomments`, as on macOS) reads `#` and "
                                        "what follows as arguments; move the comment into the prose",
                               host_only=False)
        self.i = len(self.text) if end == -1 else end

    def operator(self) -> None:
        at = self.i
        op = next(o for o in OPERATORS if self.text.startswith(o, at))
        # `2>`, `2>&1`: a number right before a redirection belongs to it.
        if op[0] in "<>" and self.word is not None and self.word.value.isdigit() \
                and all(p.quote == "" for p in self.word.parts):
            op, self.word = self.word.value + op, None
        self.end_word()
        self.tokens.append(Op(op, at))
        self.i = at + len(op.lstrip("0123456789"))
        self.heredoc = self.heredoc or op.endswith("<<")


# What each operator means for the other shells.
def _operator_violation(op: str, last: bool) -> tuple[str, str] | None:
    bare = op.lstrip("0123456789")
    if op in ("&&", "||"):
        return WINPS, (f"`{op}` is not an operator in Windows PowerShell 5.1 (PowerShell 7 has it); put each "
                       "command on its own line, or in its own block")
    if op == "|" or op == "|&":
        return POWERSHELL, ("a pipe `|` hands PowerShell objects, not bytes (5.1 re-encodes the text), and the "
                            "Unix tools usually on its right are missing on Windows; use docker's own "
                            "--filter/--format, or show the whole output")
    if op == "&":
        if last:
            return POWERSHELL, ("a trailing `&` is refused by Windows PowerShell 5.1 and starts a background "
                                "job in PowerShell 7 (its output is not shown); use `docker run -d`, or a "
                                "second terminal")
        return POWERSHELL, "`&` is the call operator in PowerShell; put each command on its own line"
    if bare in ("<<", "<<<"):
        return POWERSHELL, ("PowerShell has no here-documents; show the file in a fence with "
                            'title="name" (the harness writes it) and let the reader save it')
    if bare in ("<", "<&", "<>", "<("):
        return POWERSHELL, ("`<` is reserved in PowerShell (\"The '<' operator is reserved for future "
                            "use\"); pass the file name as an argument")
    if bare in (">", ">>", ">|", "&>", "&>>", ">&", ">("):
        return WINPS, (f"`{op}`: Windows PowerShell 5.1 writes redirected output as UTF-16 (and wraps a "
                       "program's stderr in error records); let the output show, or have the reader save "
                       'a file shown in a fence with title="name"')
    if op in ("(", ")"):
        return POWERSHELL, ("an unquoted `(` or `)` is a subshell in bash, a grouping expression in "
                            "PowerShell; quote the argument")
    if op == ";;":
        return POWERSHELL, "`;;` is bash syntax"
    return None


REDIRECTS = re.compile(r"^\d*(?:>>?|>\||&>>?|>&|<|<>|<&|<<<?)$")


def split_commands(tokens: Sequence[Word | Op]) -> list[tuple[list[Word], list[tuple[Op, Word | None]], Op | None]]:
    """Simple commands between operators: (words, redirections, the operator
    after it). A redirection takes the word after it (its target) along."""
    commands: list[tuple[list[Word], list[tuple[Op, Word | None]], Op | None]]
    words: list[Word]
    redirections: list[tuple[Op, Word | None]]
    commands, words, redirections, index = [], [], [], 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if isinstance(token, Word):
            words.append(token)
        elif REDIRECTS.match(token.text):
            candidate = tokens[index] if index < len(tokens) else None
            target = candidate if isinstance(candidate, Word) else None
            index += target is not None
            redirections.append((token, target))
        else:
            commands.append((words, redirections, token))
            words, redirections = [], []
    commands.append((words, redirections, None))
    return commands


COMPOUND = {"for", "while", "until", "if", "case", "select", "function", "do", "then", "done", "fi", "esac",
            "else", "elif"}


def _program_violations(words: list[Word], found: list[Found],
                        programs: Mapping[str, Program] = PORTABLE_PROGRAMS) -> bool | None:
    """What the program called (the first word) and its arguments may not do.
    Returns True when bash syntax (a loop, a test) starts: the commands up to
    its end are not checked again."""
    first = words[0]
    at = first.offset
    if NAME.fullmatch(first.value.split("=", 1)[0] or "-") and "=" in first.unquoted() \
            and first.parts[0].quote == "":
        found.append((at, POWERSHELL, f"`{first.value.split('=')[0]}=...` before a command sets a variable "
                                      "for it in bash and zsh; PowerShell looks for a command of that name. "
                                      "Pass the value as an option (docker run -e NAME=value) or use " + TABS))
        return None
    name = first.value
    program = programs.get(name) if not first.quoted and all(p.quote == "" for p in first.parts) else None
    if program is None:
        why = NOT_PORTABLE_PROGRAMS.get(name, "may be missing, or another program, on Windows")
        found.append((at, POWERSHELL, f"`{name}` {why}; the portable commands are "
                                      f"{', '.join(sorted(programs))}. Use {TABS}, or annotate "
                                      f"{ANNOTATE}"))
        return name in COMPOUND
    args = [word for word in words[1:] if word.quoted or word.value not in program.options]
    call = _call_violation(name, program, args, at)
    if call:
        found.append(call)
        return None
    for word in args:
        found.extend(_argument_violations(name, program, word))
    return None


def _call_violation(name: str, program: Program, args: list[Word], at: int) -> Found | None:
    """An option, or a number of arguments, with which PowerShell's own
    command of that name acts otherwise."""
    if not program.flags:
        for word in args:
            if word.value.startswith("-") and not word.quoted:
                return (word.offset, POWERSHELL,
                        f"`{name} {word.value}`: PowerShell's `{name}` is its own command, which takes "
                        f"other options; call `{name}` without options, or use {TABS}")
    fewest, most = program.args
    if len(args) < fewest or (most is not None and len(args) > most):
        count = f"{fewest}" if fewest == most else f"at least {fewest}" if most is None else f"{fewest} to {most}"
        return (at, POWERSHELL, f"`{name}` with {len(args)} argument(s): PowerShell's `{name}` is its own "
                                f"command, which acts alike with {count} argument(s) only; use {TABS}")
    return None


def _argument_violations(name: str, program: Program, word: Word) -> list[Found]:
    """What one argument of the program may not be: unquoted text for echo;
    for a native program, what PowerShell passes on otherwise."""
    found: list[Found] = []
    if program.quoted and not all(p.quote in ("'", '"') for p in word.parts):
        found.append((word.offset, POWERSHELL, f"`{name}` prints each unquoted word on its own line in "
                                               f"PowerShell; quote the text: {name} '...'"))
    if not program.native:
        return found
    if word.parts and word.parts[0].quote == "~":
        found.append((word.offset, POWERSHELL, f"a leading `~` is not expanded for programs like {name} in "
                                               "PowerShell; write a path relative to the current folder"))
    if any(p.quote == "'" and '"' in p.text for p in word.parts):
        found.append((word.offset, LEGACY_ARGS,
                      f"PowerShell 5.1 and 7.0-7.2 drop the `\"` inside an argument passed to {name} "
                      "(curl -d '{\"a\": 1}' arrives as {a: 1}); swap the quotes (double outside, "
                      "single inside: python -c \"print('hi')\"), or read the text from a file"))
    if word.quoted and not word.value:
        found.append((word.offset, WINPS, f"Windows PowerShell 5.1 drops an empty argument ('' or \"\") "
                                          f"passed to {name}; leave it out or give a value"))
    if word.value.startswith("-") and "." in word.unquoted() and not word.quoted:
        found.append((word.offset, WINPS, f"Windows PowerShell 5.1 splits an unquoted argument that "
                                          f"starts with `-` at a `.` (`{word.value}`); quote it"))
    return found


def _mixed_quoting(word: Word) -> bool:
    kinds = [p.quote for p in word.parts if p.quote != "$"]
    return len(word.parts) > 1 and any(k in ("'", '"') for k in kinds) and len(set(kinds)) > 1 or (
        len(word.parts) > 1 and word.parts[0].quote in ("'", '"') and any(p.quote != word.parts[0].quote
                                                                             for p in word.parts[1:]))


def _quoted(word: Word) -> str:
    value = word.value
    if not any(c in value for c in "\"$`!"):
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return "(use a content tab per system)"


def command_violations(text: str, scope: str = "host") -> list[Found]:
    """(offset, shell, message) of each construct in `text` (one command as
    the page shows it) that is not read alike by the shells of `scope`:
    "host" (bash, zsh, PowerShell 7, Windows PowerShell 5.1), "unix" (bash
    and zsh) or "windows" (PowerShell, and bash running what a Windows tab
    shows: the host's rules, with WINDOWS_TAB_PROGRAMS too). Raises Unparsable."""
    text = MATERIAL_MARKER.sub("", PLACEHOLDER.sub(lambda m: "X" * len(m.group()), text))
    lexer = Lexer(text, "host" if scope == "windows" else scope)
    tokens = lexer.read()
    found = list(lexer.findings.found)
    if scope == "unix":
        return found
    commands, in_compound = split_commands(tokens), False
    for index, (words, redirections, op) in enumerate(commands):
        for redirection, target in redirections:
            # Every redirection has a verdict (REDIRECTS and _operator_violation name the same operators).
            shell, message = _operator_violation(redirection.text, False)  # type: ignore[misc]
            if target is not None and target.value == "/dev/null":
                message = message.split(";")[0] + "; and Windows has no /dev/null: drop the redirection"
            found.append((redirection.offset, shell, message))
        if op is not None:
            last = all(not w for w, _, _ in commands[index + 1:])
            verdict = _operator_violation(op.text, last)
            if verdict:
                found.append((op.offset, *verdict))
        if not words or in_compound:
            in_compound = in_compound and not (words and words[0].value in ("done", "fi", "esac"))
            continue
        for word in words:
            if _mixed_quoting(word):
                found.append((word.offset, POWERSHELL, f"`{text[word.offset:word.end]}` mixes quoted and unquoted "
                                                       "text in one argument, which PowerShell splits or passes "
                                                       f"with its quotes; quote the whole argument: {_quoted(word)}"))
        in_compound = bool(_program_violations(
            words, found, {**PORTABLE_PROGRAMS, **WINDOWS_TAB_PROGRAMS} if scope == "windows" else PORTABLE_PROGRAMS))
    return sorted(found, key=lambda f: f[0])


# ---------------------------------------------------------------- pages

SHELL_OPENERS = {"bash", "sh", "ash", "zsh", "dash", "python", "python3", "ipython", "node", "irb"}
EXITS = re.compile(r"^\s*(exit(\s+\d+)?|exit\(\)|quit\(\)|quit)\s*$")


def tab_scope(containers: tuple[str, ...]) -> str:
    """"windows" inside a Windows tab, "unix" inside a macOS/Linux one (as the
    core reads tabs, so what is checked is what runs), else "host": every
    reader types it."""
    return system_tab(containers) or "host"


def violations_of(command: Command, scope: str, path: str) -> list[Violation]:
    """The Violations of one Command; an unreadable command is one too."""
    try:
        found = command_violations(command.text, scope)
    except Unparsable as error:
        found = [(error.offset, "bash", f"cannot read this command ({error}); close the quote, or annotate "
                                        f"{ANNOTATE} if it is meant")]
    out, seen = [], set()
    for offset, shell, message in found:
        line = command.line + command.text[:offset].count("\n")
        key = (line, shell, message.split(";")[0][-60:])
        if key not in seen:
            seen.add(key)
            out.append(Violation(line, shell, message))
    return out


def _leaves(keys: Sequence[str], opener: str | None) -> bool:
    keys = [k.lower() for k in keys]
    detach = re.search(r"--detach-keys[= ]['\"]?([\w,-]+)", opener or "")
    if detach and [k for k in detach.group(1).split(",")] == keys[-len(detach.group(1).split(",")):]:
        return True
    if "ctrl-d" in keys or ("ctrl-p" in keys and "ctrl-q" in keys[keys.index("ctrl-p"):]):
        return True
    if "ctrl-c" in keys:
        words = (opener or "").split()
        return not (words and words[-1] in SHELL_OPENERS)
    return False


def page_violations(page: Page) -> list[Violation]:
    """Every Violation of the page's reader commands, in page order. Walks
    the blocks as a reader types them: commands typed into a container's
    shell or REPL are not checked."""
    inside: list[str] = []  # the commands that took the terminal, innermost last
    out: list[Violation] = []
    for block in page.blocks:
        if isinstance(block, ActionBlock):
            if block.options.press and inside and _leaves(block.options.press, inside[-1]):
                inside.pop()
            continue
        if not isinstance(block, ShellBlock):
            continue
        scope = tab_scope(block.containers)
        if scope == "windows":
            continue  # a Windows reader's alternative; the walk follows the others
        exempt = "not-portable" in block.options.extra
        for command in block.commands:
            if inside or block.lang == "pycon":
                if EXITS.match(command.text) and inside:
                    inside.pop()
                continue
            if not exempt:
                out.extend(violations_of(command, scope, page.path))
            if rules.is_interactive(command.text):
                inside.append(command.text)
    return out


def check_page(page: Page) -> None:
    """The profile's page check: refuse the first reader command that the
    four shells do not read alike."""
    for violation in page_violations(page):
        raise PageError(page.path, violation.line, f"[{violation.shell}] {violation.message}")


def windows_verdict(block: ShellBlock) -> bool | str:
    """A block shown in a Windows tab: True if every command is in the
    common subset (the page's bash runs it with the same effect as
    PowerShell), else the reason it is skipped."""
    if "not-portable" in block.options.extra:
        return "Windows shell: annotated not-portable, not run on Linux"
    for command in block.commands:
        if block.lang == "pycon":
            return "Windows shell: a Python REPL in a Windows tab, not run on Linux"
        if rules.is_interactive(command.text):
            return "Windows shell: takes the terminal as the other systems' tab does; not run on Linux"
        found = violations_of(command, "windows", block.path)
        if found:
            return (f"Windows shell: uses PowerShell-only syntax, not run on Linux "
                    f"(line {found[0].line}: {found[0].message.split(';')[0]})")
    return True


# ---------------------------------------------------------------- listing

def list_violations(paths: Iterable[str], root: Path = Path("."), out: TextIO | None = None) -> int:
    """Print `page:line: [shell] message` for every violation of the pages;
    return how many there are."""
    out = out or sys.stdout
    from ..core.markdown import parse_page
    from .plugin import listing_grammar
    grammar = listing_grammar()
    total = 0
    for path in paths:
        try:
            page = parse_page(path, root=root, grammar=grammar)
        except PageError as error:
            print(f"{error} [the page does not parse]", file=out)
            total += 1
            continue
        for violation in page_violations(page):
            print(violation.format(path), file=out)
            total += 1
    return total


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m doctester.docker.portability PAGE.md ...\n"
              "Lists every command a reader types outside a system's tab that bash, zsh, PowerShell 7 and "
              "Windows PowerShell 5.1 do not read alike: page:line: [shell] message. Exit 1 if any.")
        return 0 if argv else 2
    return 1 if list_violations(argv) else 0


if __name__ == "__main__":
    sys.exit(main())
