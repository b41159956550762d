"""The page's shell under a pseudo-terminal, and what a terminal sends and shows.

A MarkedShell types commands into one interactive shell, bash or zsh, as a
reader types them into theirs (so `cd` and variables carry over, and the
shell reads each command as a typed line: history expansion, comments, globs
as the reader's shell has them), and knows a command is done when the shell,
before its next prompt, prints a marker with the exit status.
"""
from __future__ import annotations

import re
import secrets
import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, Union

import pexpect

from .procfs import stat_fields

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

# Typed once into the page's shell, as one line (so: no `!`, no glob, no `#`).
# No echo, no prompts, no line editor (it would draw what is typed); before
# each new prompt, a hook prints what the command wrote, then the salted
# marker with its status and the shell's folder. A command is typed as a
# reader types it, so the shell reads it as a typed line; its output goes to
# OUT, which only the page's shell writes and reads (the harness never opens
# a file in the page's folders), with stdin from /dev/null so tools print
# plain, non-TTY output and read no type-ahead.
# bash: the command is typed inside `{` and `} </dev/null >OUT 2>&1` lines;
# the hook then puts the command as typed back in the history, without them.
BASH_SETUP = (
    "stty -echo; PS1=''; PS2=MORE; unset PROMPT_COMMAND; shopt -s lithist; "
    "__doctest_end() { local s=$? h; h=$(builtin fc -ln -1 2>/dev/null); h=${h#?}; h=${h# }; "
    "case $h in $'{\\n'*) h=${h#$'{\\n'}; h=${h%$'\\n}'*}; builtin history -d -1; "
    "builtin history -s -- \"$h\";; esac; "
    "builtin printf '%s%s\\n' START; command cat OUT 2>/dev/null; command rm -f OUT; "
    "builtin printf '%s%s:%d:%s\\n' MARK \"$s\" \"$PWD\"; }; "
    "PROMPT_COMMAND=__doctest_end; builtin history -c; builtin printf '%s%s:%d\\n' PID $$")
# zsh: the command is typed alone; preexec sends its output to OUT (but not
# for a command that takes the terminal, announced by a line of the harness:
# a space-led line, which lingers in the history only while the next one is read).
ZSH_SETUP = (
    " unsetopt zle prompt_cr prompt_sp; setopt histignorespace; stty -echo; PS1=''; PS2=MORE; "
    "RPS1=''; RPS2=''; HISTSIZE=2000; __doctest_tty=; __doctest_quiet=; __doctest_on=; "
    "preexec() { if [[ $1 == ' __doctest_'* ]]; then __doctest_quiet=1; elif [[ -n $__doctest_tty ]]; "
    "then __doctest_tty=; else exec {__doctest_o}>&1 {__doctest_e}>&2 {__doctest_i}<&0 </dev/null "
    ">OUT 2>&1; __doctest_on=1; fi; }; "
    "precmd() { local s=$?; if [[ -n $__doctest_quiet ]]; then __doctest_quiet=; return; fi; __doctest_tty=; "
    "if [[ -n $__doctest_on ]]; then exec >&$__doctest_o 2>&$__doctest_e <&$__doctest_i {__doctest_o}>&- "
    "{__doctest_e}>&- {__doctest_i}<&-; __doctest_on=; fi; "
    "builtin printf '%s%s\\n' START; command cat OUT 2>/dev/null; command rm -f OUT; "
    "builtin printf '%s%s:%d:%s\\n' MARK \"$s\" \"$PWD\"; }; "
    "builtin printf '%s%s:%d\\n' PID $$")
SETUPS = {"bash": BASH_SETUP, "zsh": ZSH_SETUP}
# A terminal's line discipline keeps at most this many bytes of a typed line.
TYPED_LINE_LIMIT = 4096
# bash drops a line it cannot expand (`!x`: event not found) or parse, and with
# it the `{` typed before the command: the `}` after it is then an error too.
BASH_CLOSE_ERROR = "bash: syntax error near unexpected token `}'\n"


class CommandIncomplete(CommandTimeout):
    """The shell was left waiting for more of a command than the page typed."""


class MarkedShell:
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
        token = secrets.token_hex(4)
        self._mark_parts = (f"__DOCTEST_{token}", "_DONE__")
        # The page's shell adds its folder; a shell the page opened prints the status only.
        self._mark = re.compile(re.escape("".join(self._mark_parts)) + r":(\d+)(?::([^\r\n]*))?\r?\n")
        self._more = f"__DOCTEST_{token}_MORE__"
        self._start = f"__DOCTEST_{token}_OUTPUT__\n"  # what the command wrote follows
        self._token = token
        self._output = shlex.quote(str(Path(scratch) / "output"))
        setup = (SETUPS[shell].replace("MARK", " ".join(self._mark_parts)).replace("MORE", self._more)
                 .replace("OUT", self._output).replace("PID", f"__DOCTEST_{token} _PID__")
                 .replace("START", f"__DOCTEST_{token} _OUTPUT__"))
        # `cwd`: the folder of the program that starts the shell, on this
        # machine (None where the shell runs elsewhere and goes to `workdir` itself).
        program, args, env, cwd = spawn
        self.child = pexpect.spawn(program, args, cwd=cwd, env=env, encoding="utf-8",
                                   codec_errors="replace", echo=False, timeout=None, dimensions=(50, 250),
                                   maxread=65536)
        # pexpect waits 50 ms before each send, and 100 ms around closing, by default.
        self.child.delaybeforesend = None
        self.child.delayafterclose = self.child.delayafterterminate = 0.01
        self.last_cwd = str(workdir)
        self.child.sendline(setup)
        try:
            self.child.expect(f"__DOCTEST_{token}_PID__:(\\d+)\r?\n", timeout=60)
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

    def marker_command(self) -> str:
        return "printf '%s%s:%d\\n' {} {} $?".format(*self._mark_parts)

    def expect_mark(self, timeout: float) -> tuple[int, str]:
        """The next marker; a shell that ends first (`exit`, ctrl-d) is a SessionError."""
        try:
            self.child.expect(self._mark, timeout=timeout)
        except pexpect.EOF:
            raise SessionError(f"the page's {self.name} ended (an `exit`, or ctrl-d, in the page's own "
                               f"shell?); its last output:\n{self.before() or ''}".rstrip()) from None
        return self._marked()

    def _marked(self) -> tuple[int, str]:
        """(exit status, what came before) of the marker just seen; the page's
        shell's marker also says where it is."""
        if self.matched().group(2) is not None:
            self.last_cwd = self.matched().group(2)
        return int(self.matched().group(1)), self.clean(self.before())

    def clean(self, text: str) -> str:
        """Without the continuation prompts the page's shell printed while it read a command."""
        return text.replace(self._more, "").replace(self._start, "").replace(self._start[:-1] + "\r\n", "")

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
        self.wait(self._mark, command, timeout)
        return self._marked()

    def _recover(self, keys: tuple[str, ...] = ("", "\x03")) -> tuple[int, str]:
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
        self._recover()
        raise CommandTimeout(f"timed out after {timeout:g} s; its processes were killed and "
                             "the page's containers stopped")

    def run_plain(self, command: str, timeout: float) -> tuple[str, int]:
        """Type a command into the page's shell as a reader types it; its output
        goes to a file of the page's shell (so tools print plain, non-TTY
        output), which that shell prints after it. Returns (output, exit status)."""
        longest = max(len(line.encode()) for line in command.split("\n"))
        if longest >= TYPED_LINE_LIMIT:
            raise SessionError(f"a line of {longest} bytes cannot be typed into a terminal (at most "
                               f"{TYPED_LINE_LIMIT - 1}): split it with `\\` continuations")
        text = command + "\n"
        if self.name == "bash":
            text = f"{{\n{command}\n}} </dev/null >{self._output} 2>&1\n"
        # A marker nobody waited for (a line the shell read as a command of its
        # own) must not end this command: what else arrived stays for it.
        while self.child.expect([self._mark, pexpect.TIMEOUT], timeout=0) == 0:
            pass
        self.child.send(text)
        deadline, shown, prompts = time.monotonic() + timeout, "", 0
        while True:
            which = self.wait([self._mark, re.escape(self._more)], command, timeout,
                              max(deadline - time.monotonic(), 0.01))
            if which == 0:
                before = shown + self.before()
                code, _ = self._marked()
                # The shell's own messages (history expansion, a parse error) come
                # before what the command wrote.
                read, _, wrote = before.replace("\r\n", "\n").partition(self._start[:-1] + "\n")
                read = self.clean(read)
                if f"{self.name}: " in read:
                    # The shell dropped a line it could not expand or parse; the
                    # lines typed after it were read as commands of their own.
                    read += self._resync()
                    if self.name == "bash" and read.endswith(BASH_CLOSE_ERROR):
                        read = read[:-len(BASH_CLOSE_ERROR)]  # the error of our own `}`
                return read + wrote, code
            shown += self.before()
            prompts += 1
            if prompts >= text.count("\n"):  # all typed, and the shell asks for more
                _, before = self._recover(("\x03",))
                raise CommandIncomplete(
                    f"the page's {self.name} still waited for input after the whole command was typed (an "
                    "unclosed quote or here-document; in zsh, `!\"` ends history expansion and is dropped, "
                    "so `\"...!\"` stays open): it was interrupted with Ctrl-C"
                    + (f"\n--- output ---\n{(shown + before).rstrip()}" if (shown + before).strip() else ""))

    def _resync(self) -> str:
        """Skip the markers of lines the shell read after it dropped one; returns what they printed."""
        sync = f"__DOCTEST_{self._token}_SYNC__"
        self.child.send(f" builtin printf '%s%s\\n' __DOCTEST_{self._token} _SYNC__\n")
        try:
            self.child.expect(re.escape(sync) + "\r?\n", timeout=30)
        except (pexpect.EOF, pexpect.TIMEOUT):
            raise SessionError(f"the page's {self.name} did not come back after a line it could not read") from None
        skipped = self.clean(self._mark.sub("", self.before()).replace("\r\n", "\n"))
        self.expect_mark(30)
        return skipped

    def interactive_text(self, command: str) -> str:
        """What is typed to run a command that takes the terminal: the page's
        shell prints the marker when it returns."""
        if self.name == "bash":
            return f"{{\n{command}\n}}\n"
        return f" __doctest_tty=1\n{command}\n"

    def cwd(self) -> Path:
        """The page's shell's folder, as its last prompt reported it."""
        return Path(self.last_cwd)

    def close(self) -> None:
        if self.child.isalive():
            self.kill_processes(self.pid)
            self.child.close(force=True)
