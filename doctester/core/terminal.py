"""The page's shell under a pseudo-terminal, and what a terminal sends and shows.

A MarkedShell types commands into one interactive shell, bash or zsh, as a
reader types them into theirs (so `cd` and variables carry over, and the
shell reads each command as a typed line: history expansion, comments, globs
as the reader's shell has them), and knows a command is done when the shell,
before its next prompt, prints a marker with the exit status. What is typed
and the markers read back are shell_markers'; a command typed into the
page's own shell is plain_commands'.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, Union

import pexpect

from .procfs import stat_fields
from .shell_markers import SETUPS, ShellMarkers

# How to start a reader's shell: (program, args, environment variables, folder
# on this machine to start it in, or None where the shell runs elsewhere and
# goes to the page's folder itself).
Spawn = tuple[str, list[str], dict[str, str], "str | None"]
# What pexpect waits for: a regex (as text or compiled), or a list of them.
Pattern = Union[str, bytes, "re.Pattern[str]", "re.Pattern[bytes]", type[pexpect.EOF], type[pexpect.TIMEOUT]]

NAMED_KEYS = {"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " "}
SHELL_PROMPT = r"(?:^|\n)[^\n]*[#$] $"
# The Python REPL's prompt. Python 3.13's REPL colours it and moves the cursor
# after it, and redraws it at every key: a prompt counts once the line typed
# was sent (a newline, or the end of bracketed paste, precedes it).
_CONTROL = r"(?:\x1b\[[?0-9;]*[A-Za-z]|\x1b[=>])*"
REPL_PROMPT = _CONTROL + r"(?:>>>|\.\.\.) " + _CONTROL + "$"
REPL_NEXT_PROMPT = r"(?:\n|\x1b\[\?2004l)[\s\S]*?" + REPL_PROMPT
LINE_EDITOR_DONE = "\x1b[?2004l"  # Python 3.13's REPL ends editing a line with this


class CommandTimeout(Exception):
    pass


class SessionError(Exception):
    pass


def key_code(key: str) -> str:
    """What a key sends to a terminal: ctrl-<letter>, a named key, or one character."""
    lowered = key.lower()
    if re.fullmatch(r"ctrl-[a-z]", lowered):
        return chr(ord(lowered[-1]) - ord("a") + 1)
    if lowered in NAMED_KEYS:
        return NAMED_KEYS[lowered]
    if len(key) == 1:
        return key
    raise SessionError(f"unknown key {key!r}: use ctrl-<letter>, one character, or one of "
                       f"{', '.join(NAMED_KEYS)}")


def repl_output(text: str) -> str:
    """What the REPL printed for a line, without the echo of the line or the next prompt."""
    if LINE_EDITOR_DONE in text:  # Python 3.13+: everything before is line editing
        text = text.rsplit(LINE_EDITOR_DONE, 1)[1]
    else:  # the classic REPL: the terminal echoes the line typed
        text = text.partition("\n")[2]
    text = re.sub(REPL_PROMPT, "", text)
    return re.sub(r"\x1b\[\?2004h[\s\S]*$", "", text)  # the next prompt's set-up


def process_table() -> dict[int, int]:
    """This machine's processes: pid -> parent pid (from /proc)."""
    table: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        fields = stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and fields[1].isdigit():
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int, table: Mapping[int, int] | None = None) -> list[int]:
    """Every process below pid, children first in the list's tail; `table`
    (pid -> parent pid) is this machine's unless another one's is given."""
    parents: dict[int, list[int]] = {}
    for child, parent in (process_table() if table is None else table).items():
        parents.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# The reader's shells. Each runs interactive, as in a terminal, without any
# rc file of the machine or the user: zsh with its default options, as a
# fresh macOS account has them (no interactive comments, NOMATCH, `!` history
# expansion, no word splitting of unquoted variables).
SHELLS = {"bash": ("bash", "--norc", "--noprofile", "--noediting", "-i"),
          "zsh": ("zsh", "-f", "-i")}


def spawn_terminal(spawn: Spawn) -> pexpect.spawn[str]:
    """Start a reader's shell under a pseudo-terminal of a reader's size."""
    # `cwd`: the folder of the program that starts the shell, on this
    # machine (None where the shell runs elsewhere and goes to the page's folder itself).
    program, args, env, cwd = spawn
    child = pexpect.spawn(program, args, cwd=cwd, env=env, encoding="utf-8", codec_errors="replace", echo=False,
                          timeout=None, dimensions=(50, 250), maxread=65536)
    # pexpect waits 50 ms before each send, and 100 ms around closing, by default.
    child.delaybeforesend = None
    child.delayafterclose = child.delayafterterminate = 0.01
    return child


class MarkedShell:
    """The page's shell as a process: what it printed up to each marker, and
    what is done when it times out or ends. `markers` says what to type."""

    def __init__(self, workdir: Path, scratch: Path, spawn: Spawn, kill_processes: Callable[[int], None],
                 on_timeout: Callable[[], None], shell: str = "bash") -> None:
        """`spawn` is (program, args, env, cwd) of the page's shell, one of SHELLS,
        named by `shell`; `kill_processes(pid)` ends every process below that
        shell, wherever it runs; `on_timeout()` runs first when a command times
        out (to stop what it started). `scratch` is a folder of the page's
        shell, where it keeps a command's output."""
        if shell not in SETUPS:
            raise SessionError(f"unknown reader shell {shell!r}: use one of {', '.join(SETUPS)}")
        self.kill_processes, self.on_timeout, self.name = kill_processes, on_timeout, shell
        self.markers = ShellMarkers(shell, scratch)
        self.child = spawn_terminal(spawn)
        self.last_cwd = str(workdir)
        self.child.sendline(self.markers.setup())
        try:
            self.child.expect(self.markers.pid, timeout=60)
            self.pid = int(self.matched().group(1))
            self.expect_mark(60)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise SessionError(f"the page's {shell} did not start: {self.before()!r}")

    def matched(self) -> re.Match[str]:
        """The match of the pattern last seen (every pattern a shell waits for is a regex)."""
        match = self.child.match
        if not isinstance(match, re.Match):
            raise SessionError(f"the page's {self.name} shell matched no pattern")
        return match

    def before(self) -> str:
        """What the shell printed before the pattern last seen."""
        return self.child.before or ""

    def expect_mark(self, timeout: float) -> tuple[int, str]:
        """The next marker; a shell that ends first (`exit`, ctrl-d) is a SessionError."""
        try:
            self.child.expect(self.markers.mark, timeout=timeout)
        except pexpect.EOF:
            raise SessionError(f"the page's {self.name} ended (an `exit`, or ctrl-d, in the page's own "
                               f"shell?); its last output:\n{self.before() or ''}".rstrip()) from None
        return self.marked()

    def marked(self) -> tuple[int, str]:
        """(exit status, what came before) of the marker just seen; the page's
        shell's marker also says where it is."""
        if self.matched().group(2) is not None:
            self.last_cwd = self.matched().group(2)
        return int(self.matched().group(1)), self.markers.clean(self.before())

    def wait(self, patterns: Pattern | list[Pattern], command: str, timeout: float,
             limit: float | None = None) -> int:
        """Wait for one of `patterns` while `command` runs: after `timeout`
        (or what is left of it, `limit`) it is killed, a shell that ends is an
        error. Returns the index of the pattern seen."""
        try:
            return self.child.expect(patterns, timeout=timeout if limit is None else limit)
        except pexpect.TIMEOUT:
            self._timed_out(timeout)
        except pexpect.EOF:
            raise SessionError(f"the page's shell ended while running: {command}")

    def await_mark(self, command: str, timeout: float) -> tuple[int, str]:
        """Wait for the marker printed after `command`; returns (exit status, output)."""
        self.wait(self.markers.mark, command, timeout)
        return self.marked()

    def recover(self, keys: tuple[str, ...] = ("", "\x03")) -> tuple[int, str]:
        """The page's shell back at its prompt: what a command started is gone;
        a command still being read (an unclosed quote) is dropped with Ctrl-C
        (zsh without its line editor acts on it at the next line)."""
        for key in keys:
            key = key + "\n" if key == "\x03" and self.name == "zsh" else key
            self.child.send(key)
            try:
                return self.expect_mark(10)
            except pexpect.TIMEOUT:
                continue
            except SessionError:
                break
        raise SessionError("the page's shell did not recover after a timeout")

    def _timed_out(self, timeout: float) -> NoReturn:
        self.on_timeout()
        self.kill_processes(self.pid)
        self.recover()
        raise CommandTimeout(f"timed out after {timeout:g} s; its processes were killed and "
                             "the page's containers stopped")

    def cwd(self) -> Path:
        """The page's shell's folder, as its last prompt reported it."""
        return Path(self.last_cwd)

    def close(self) -> None:
        if self.child.isalive():
            self.kill_processes(self.pid)
            self.child.close(force=True)
