"""One live session per page, typed into like a reader's terminal.

Ordinary commands run in the page's bash. Commands the profile calls
interactive (`docker run -it`, say) run on the session's pseudo-terminal;
until the shell or REPL they open is left (`exit`, or keys pressed), the
page's commands are typed into it. The session's mode says where typed
commands go.
"""
from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pexpect

from .plain_commands import run_plain
from .terminal import (REPL_NEXT_PROMPT, REPL_PROMPT, SHELL_PROMPT, CommandTimeout, MarkedShell,  # noqa: F401
                       SessionError, Spawn, key_code, repl_output)

LEAVE_WAIT = 3  # seconds to see whether pressed keys ended the interactive session
PROMPT_WAIT = 60
ENDING_KEYS = {"ctrl-d"}  # keys that end what they are typed into, rather than detach from it


class Mode(enum.Enum):
    PLAIN = "the page's bash"
    SHELL = "a shell the page opened"
    REPL = "a Python REPL the page opened"


@dataclass(frozen=True)
class Interactive:
    """A profile's verdict on a command: it takes the terminal. `reattach`:
    it returns to a session left earlier (which shows no new prompt)."""
    reattach: bool = False


@dataclass
class Result:
    output: str
    exit_code: int
    ended: bool = True  # False: pressed keys left the session where it was


def never_interactive(command: str) -> Interactive | None:
    return None


def open_program(shell: MarkedShell, command: str, timeout: float) -> tuple[Mode, str, int]:
    """What a command that takes the terminal opened, once it shows a prompt
    or returns: (where typed commands go now, what it printed, its exit status)."""
    which = shell.wait([shell.markers.mark, REPL_PROMPT, SHELL_PROMPT], command, min(timeout, PROMPT_WAIT))
    if which == 0:  # it returned already
        code, shown = shell.marked()
        return Mode.PLAIN, shown, code
    shown = shell.markers.clean(shell.before())
    if which == 1:
        return Mode.REPL, shown, 0
    # A shell: stop its echo and prompts, so what a command prints can be
    # told apart from what we typed. bash's line editor echoes a newline
    # for every line, whatever stty says: turn it off.
    shell.child.sendline("stty -echo; PS1=''; PS2=''; "
                         "case \"$BASH_VERSION\" in ?*) set +o emacs +o vi;; esac; " + shell.markers.marker_command())
    shell.await_mark(command, timeout)
    return Mode.SHELL, re.sub(r"[^\n]*[#$] ?$", "", shown.rstrip(" ")).rstrip() + "\n", 0


def type_into_repl(shell: MarkedShell, command: str, timeout: float) -> str:
    """Type a command's lines into a REPL the page opened; returns what it printed."""
    printed = []
    for line in command.splitlines() or [""]:
        shell.child.send(line + "\r")
        shell.wait(REPL_NEXT_PROMPT, command, timeout)
        printed.append(repl_output(shell.before() + str(shell.child.after)))
    return "".join(printed)


class PageSession:
    """Where the reader's typed commands go (the page's shell, or a shell or
    REPL a command opened), and each command's Result."""

    def __init__(self, workdir: Path, scratch: Path, spawn: Spawn, kill_processes: Callable[[int], None],
                 on_timeout: Callable[[], None] | None = None,
                 interactive: Callable[[str], Interactive | None] = never_interactive, shell: str = "bash") -> None:
        """`interactive(command)` returns an Interactive for a command that takes
        the terminal, None otherwise; `shell` names the reader's shell `spawn` starts."""
        self.shell = MarkedShell(workdir, scratch, spawn, kill_processes, on_timeout or (lambda: None), shell)
        self.interactive = interactive
        self.mode = Mode.PLAIN
        self.detached: Mode | None = None  # the mode of the last session left with keys, until re-attached

    def run(self, command: str, timeout: float) -> Result:
        """Run one command where the reader would type it; return its Result."""
        try:
            return self._run(command, timeout)
        except CommandTimeout:
            self.mode = Mode.PLAIN  # what had the terminal was killed
            raise

    def _run(self, command: str, timeout: float) -> Result:
        if self.mode is Mode.REPL:
            output, code = self._type_into_repl(command, timeout)
        elif self.mode is Mode.SHELL:
            output, code = self._type_into_shell(command, timeout)
        else:
            verdict = self.interactive(command)
            if verdict is None:
                output, code = run_plain(self.shell, command, timeout)
            else:
                output, code = self._start_interactive(command, verdict, timeout)
        return Result(output, code)

    def _start_interactive(self, command: str, verdict: Interactive, timeout: float) -> tuple[str, int]:
        child = self.shell.child
        # Typed as a reader types it; the page's shell prints the marker when it returns.
        child.send(self.shell.markers.interactive_text(command))
        if verdict.reattach and self.detached is Mode.SHELL:
            # The shell left earlier was set up already and shows no prompt.
            self.mode = Mode.SHELL
            child.sendline(self.shell.markers.marker_command())
            self.shell.await_mark(command, timeout)
            return "", 0
        if verdict.reattach:
            time.sleep(0.5)
            child.send("\r")  # as a reader presses Enter to see the prompt again
        self.mode, shown, code = open_program(self.shell, command, timeout)
        return shown, code

    def _type_into_shell(self, command: str, timeout: float) -> tuple[str, int]:
        self.shell.child.send(command + "\n")
        if command.strip() == "exit" or command.strip().startswith("exit "):
            output, code = self._leave(timeout)
            # A bare `exit` passes on the status of the shell's last command,
            # which a reader never sees; only `exit N` asks for a status.
            return output, code if command.strip() != "exit" else 0
        self.shell.child.sendline(self.shell.markers.marker_command())
        code, before = self.shell.await_mark(command, timeout)
        return before, code

    def _type_into_repl(self, command: str, timeout: float) -> tuple[str, int]:
        if command.strip() in ("exit()", "quit()", "exit", "quit"):
            self.shell.child.send(command + "\r")
            output, code = self._leave(timeout)
            return repl_output(output), code
        return type_into_repl(self.shell, command, timeout), 0

    def _leave(self, timeout: float) -> tuple[str, int]:
        """The shell or REPL the page opened ends: back to the page's bash."""
        code, before = self.shell.await_mark("exit", timeout)
        self.mode = Mode.PLAIN
        return before, code

    def press(self, keys: list[str]) -> Result:
        """Type keys (ctrl-p ctrl-q, ctrl-x, x, enter ...) into the session. If
        they end what has the terminal (detach keys, ctrl-d), the page's bash
        takes over again, as in a reader's terminal; the Result then holds the
        exit status of the command that had the terminal."""
        for key in keys:
            self.shell.child.send(key_code(key))
            time.sleep(0.1)
        try:
            code, output = self.shell.expect_mark(LEAVE_WAIT)
        except pexpect.TIMEOUT:
            return Result("", 0, ended=False)
        ending = {k.lower() for k in keys} & ENDING_KEYS
        self.detached = None if ending else self.mode
        self.mode = Mode.PLAIN
        return Result(output, code)

    def cwd(self) -> Path:
        """The page's bash's working directory (the last one known while a
        shell or REPL the page opened has the terminal)."""
        return self.shell.cwd() if self.mode is Mode.PLAIN else Path(self.shell.last_cwd)

    def close(self) -> None:
        self.shell.close()
