"""A command typed into the page's own shell, and what it printed read back.

The command is typed as a reader types it; its output goes to a file of the
page's shell (so tools print plain, non-TTY output), which that shell prints
after it, before the marker with its status. What the shell itself says (a
history expansion it cannot do, a parse error) comes before that output.
"""
from __future__ import annotations

import re
import time

import pexpect

from .terminal import CommandTimeout, MarkedShell, SessionError

# A terminal's line discipline keeps at most this many bytes of a typed line.
TYPED_LINE_LIMIT = 4096
# bash drops a line it cannot expand (`!x`: event not found) or parse, and with
# it the `{` typed before the command: the `}` after it is then an error too.
BASH_CLOSE_ERROR = "bash: syntax error near unexpected token `}'\n"


class CommandIncomplete(CommandTimeout):
    """The shell was left waiting for more of a command than the page typed."""


def check_typable(command: str) -> None:
    """Refuse a command with a line longer than a terminal takes."""
    longest = max(len(line.encode()) for line in command.split("\n"))
    if longest >= TYPED_LINE_LIMIT:
        raise SessionError(f"a line of {longest} bytes cannot be typed into a terminal (at most "
                           f"{TYPED_LINE_LIMIT - 1}): split it with `\\` continuations")


def run_plain(shell: MarkedShell, command: str, timeout: float) -> tuple[str, int]:
    """Type a command into the page's shell; returns (output, exit status)."""
    check_typable(command)
    text = shell.markers.plain_text(command)
    # A marker nobody waited for (a line the shell read as a command of its
    # own) must not end this command: what else arrived stays for it.
    while shell.child.expect([shell.markers.mark, pexpect.TIMEOUT], timeout=0) == 0:
        pass
    shell.child.send(text)
    deadline, shown, prompts = time.monotonic() + timeout, "", 0
    while True:
        which = shell.wait([shell.markers.mark, re.escape(shell.markers.more)], command, timeout,
                           max(deadline - time.monotonic(), 0.01))
        if which == 0:
            before = shown + shell.before()
            code, _ = shell.marked()
            return _printed(shell, before), code
        shown += shell.before()
        prompts += 1
        if prompts >= text.count("\n"):  # all typed, and the shell asks for more
            _, before = shell.recover(("\x03",))
            raise CommandIncomplete(
                f"the page's {shell.name} still waited for input after the whole command was typed (an "
                "unclosed quote or here-document; in zsh, `!\"` ends history expansion and is dropped, "
                "so `\"...!\"` stays open): it was interrupted with Ctrl-C"
                + (f"\n--- output ---\n{(shown + before).rstrip()}" if (shown + before).strip() else ""))


def _printed(shell: MarkedShell, before: str) -> str:
    """What the shell said, then what the command wrote, from all that came before its marker."""
    read, _, wrote = before.replace("\r\n", "\n").partition(shell.markers.start)
    read = shell.markers.clean(read)
    if f"{shell.name}: " in read:
        # The shell dropped a line it could not expand or parse; the
        # lines typed after it were read as commands of their own.
        read += _resync(shell)
        if shell.name == "bash" and read.endswith(BASH_CLOSE_ERROR):
            read = read[:-len(BASH_CLOSE_ERROR)]  # the error of our own `}`
    return read + wrote


def _resync(shell: MarkedShell) -> str:
    """Skip the markers of lines the shell read after it dropped one; returns what they printed."""
    shell.child.send(shell.markers.sync_command())
    try:
        shell.child.expect(re.escape(shell.markers.sync) + "\r?\n", timeout=30)
    except (pexpect.EOF, pexpect.TIMEOUT):
        raise SessionError(f"the page's {shell.name} did not come back after a line it could not read") from None
    skipped = shell.markers.clean(shell.markers.mark.sub("", shell.before()).replace("\r\n", "\n"))
    shell.expect_mark(30)
    return skipped
