"""What the harness types into the page's shell, and the salted lines it reads back.

The page's shell prints, before each new prompt, what the command wrote and
then a marker with its exit status and folder. Every marker carries a random
salt, so nothing a page prints can pass for one; no line typed holds a marker
whole (printf joins its halves), so the shell's echo cannot pass for one either.
"""
from __future__ import annotations

import re
import secrets
import shlex
from pathlib import Path

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


class ShellMarkers:
    """One page's shell's salted markers, and the text typed to get them."""

    def __init__(self, shell: str, scratch: Path) -> None:
        """`shell` is a key of SETUPS; `scratch` a folder of the page's shell,
        where it keeps a command's output."""
        self.shell = shell
        self.salt = f"__DOCTEST_{secrets.token_hex(4)}"
        self._mark_parts = (self.salt, "_DONE__")
        # The page's shell adds its folder; a shell the page opened prints the status only.
        self.mark = re.compile(re.escape("".join(self._mark_parts)) + r":(\d+)(?::([^\r\n]*))?\r?\n")
        self.more = f"{self.salt}_MORE__"
        self.start = f"{self.salt}_OUTPUT__\n"  # what the command wrote follows
        self.pid = f"{self.salt}_PID__:(\\d+)\r?\n"
        self.sync = f"{self.salt}_SYNC__"
        self.output = shlex.quote(str(Path(scratch) / "output"))

    def setup(self) -> str:
        """The line that sets the page's shell up, with this page's salt."""
        return (SETUPS[self.shell].replace("MARK", " ".join(self._mark_parts)).replace("MORE", self.more)
                .replace("OUT", self.output).replace("PID", f"{self.salt} _PID__")
                .replace("START", f"{self.salt} _OUTPUT__"))

    def marker_command(self) -> str:
        """A command that prints the marker, for a shell the page opened (it has no hook)."""
        return "printf '%s%s:%d\\n' {} {} $?".format(*self._mark_parts)

    def sync_command(self) -> str:
        """A line the page's shell reads as its own command, printing the sync line."""
        return f" builtin printf '%s%s\\n' {self.salt} _SYNC__\n"

    def clean(self, text: str) -> str:
        """Without the continuation prompts the page's shell printed while it read a command."""
        return text.replace(self.more, "").replace(self.start, "").replace(self.start[:-1] + "\r\n", "")

    def plain_text(self, command: str) -> str:
        """What is typed to run a command whose output goes to the output file."""
        if self.shell == "bash":
            return f"{{\n{command}\n}} </dev/null >{self.output} 2>&1\n"
        return command + "\n"

    def interactive_text(self, command: str) -> str:
        """What is typed to run a command that takes the terminal: the page's
        shell prints the marker when it returns."""
        if self.shell == "bash":
            return f"{{\n{command}\n}}\n"
        return f" __doctest_tty=1\n{command}\n"
