"""The page's bash under a pseudo-terminal, and what a terminal sends and shows.

A MarkedShell runs commands in one bash (so `cd` and variables carry over)
and knows a command is done when a marker with its exit status is printed.
"""
import re
import secrets
from pathlib import Path

import pexpect

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


def key_code(key):
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


def repl_output(text):
    """What the REPL printed for a line, without the echo of the line or the next prompt."""
    if LINE_EDITOR_DONE in text:  # Python 3.13+: everything before is line editing
        text = text.rsplit(LINE_EDITOR_DONE, 1)[1]
    else:  # the classic REPL: the terminal echoes the line typed
        text = text.partition("\n")[2]
    text = re.sub(REPL_PROMPT, "", text)
    return re.sub(r"\x1b\[\?2004h[\s\S]*$", "", text)  # the next prompt's set-up


def descendants(pid):
    """Every process below pid, children first in the list's tail."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class MarkedShell:
    def __init__(self, workdir, scratch, spawn, kill_processes, on_timeout):
        """`spawn` is (program, args, env) of the page's bash; `kill_processes(pid)`
        ends every process below that bash, wherever it runs; `on_timeout()`
        runs first when a command times out (to stop what it started)."""
        self.scratch, self.kill_processes, self.on_timeout = Path(scratch), kill_processes, on_timeout
        self.count = 0
        token = secrets.token_hex(4)
        self._mark_parts = (f"__DOCTEST_{token}", "_DONE__")
        self._mark = re.compile(re.escape("".join(self._mark_parts)) + r":(\d+)\r?\n")
        program, args, env = spawn
        self.child = pexpect.spawn(program, args, cwd=str(workdir), env=env, encoding="utf-8",
                                   codec_errors="replace", echo=False, timeout=None, dimensions=(50, 250))
        # pexpect waits 50 ms before each send, and 100 ms around closing, by default.
        self.child.delaybeforesend = None
        self.child.delayafterclose = self.child.delayafterterminate = 0.01
        self.child.sendline("stty -echo; PS1=''; PS2=''; unset PROMPT_COMMAND; " + self.marker_command())
        try:
            self.expect_mark(60)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise SessionError(f"the page's shell did not start: {self.child.before!r}")
        output, _ = self.run_plain("echo $$; pwd", 30)
        pid, self.last_cwd = output.split()[:2]
        self.pid = int(pid)

    def marker_command(self):
        return "printf '%s%s:%d\\n' {} {} $?".format(*self._mark_parts)

    def expect_mark(self, timeout):
        self.child.expect(self._mark, timeout=timeout)
        return int(self.child.match.group(1)), self.child.before

    def wait(self, patterns, command, timeout):
        """Wait for one of `patterns` while `command` runs: a timeout kills it,
        a shell that ends is an error. Returns the index of the pattern seen."""
        try:
            return self.child.expect(patterns, timeout=timeout)
        except pexpect.TIMEOUT:
            self._timed_out(timeout)
        except pexpect.EOF:
            raise SessionError(f"the page's shell ended while running: {command}")

    def await_mark(self, command, timeout):
        """Wait for the marker printed after `command`; returns (exit status, output)."""
        self.wait(self._mark, command, timeout)
        return int(self.child.match.group(1)), self.child.before

    def _timed_out(self, timeout):
        self.on_timeout()
        self.kill_processes(self.pid)
        try:
            self.expect_mark(20)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise SessionError("the page's shell did not recover after a timeout")
        raise CommandTimeout(f"timed out after {timeout:g} s; its processes were killed and "
                             "the page's containers stopped")

    def run_plain(self, command, timeout):
        """Run a command in the page's bash with its output sent to a file,
        so tools print plain, non-TTY output. Returns (output, exit status)."""
        self.count += 1
        script = self.scratch / f"command-{self.count}.sh"
        output = self.scratch / f"output-{self.count}.txt"
        script.write_text(command + "\n")
        self.child.sendline(f"{{ . {script}; }} </dev/null >{output} 2>&1; " + self.marker_command())
        code, _ = self.await_mark(command, timeout)
        return output.read_text(errors="replace"), code

    def cwd(self):
        self.last_cwd = self.run_plain("pwd", 30)[0].strip()
        return Path(self.last_cwd)

    def close(self):
        if self.child.isalive():
            self.kill_processes(self.pid)
            self.child.close(force=True)
