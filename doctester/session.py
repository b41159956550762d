"""One live bash session per page, typed into like a reader's terminal.

Ordinary commands run in the page's bash (so `cd` and variables carry over)
with their output sent to a file, so Docker prints plain, non-TTY output.
Interactive commands (`docker run -it`, `docker exec -it`, `docker attach`)
run on the session's pseudo-terminal; until the container's shell or REPL is
left (`exit`, or the detach keys), the page's commands are typed into it.
"""
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

NAMED_KEYS = {"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " "}
LEAVE_WAIT = 3  # seconds to see whether pressed keys ended the interactive session
SHELL_PROMPT = r"(?:^|\n)[^\n]*[#$] $"
# The Python REPL's prompt. Python 3.13's REPL colours it and moves the cursor
# after it, and redraws it at every key: a prompt counts once the line typed
# was sent (a newline, or the end of bracketed paste, precedes it).
_CONTROL = r"(?:\x1b\[[?0-9;]*[A-Za-z]|\x1b[=>])*"
REPL_PROMPT = _CONTROL + r"(?:>>>|\.\.\.) " + _CONTROL + "$"
REPL_NEXT_PROMPT = r"(?:\n|\x1b\[\?2004l)[\s\S]*?" + REPL_PROMPT
LINE_EDITOR_DONE = "\x1b[?2004l"  # Python 3.13's REPL ends editing a line with this
PROMPT_WAIT = 60
INTERACTIVE = re.compile(r"^\s*docker\s+(?:container\s+)?(?P<verb>run|exec|attach|start)\b(?P<args>.*)$", re.S)


LONG_BOOLEANS = {"--interactive": "i", "--tty": "t", "--detach": "d", "--rm": "", "--init": "",
                 "--privileged": "", "--read-only": "", "--sig-proxy": ""}
SHORT_WITH_VALUE = set("pvewuhlmc")


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


class CommandTimeout(Exception):
    pass


class SessionError(Exception):
    pass


@dataclass
class Result:
    output: str
    exit_code: int
    duration: float


def is_interactive(command):
    match = INTERACTIVE.match(command)
    if not match:
        return False
    if match["verb"] == "attach":
        return True
    flags, words = set(), iter(match["args"].split())
    for word in words:
        if word.startswith("--"):
            name = word.split("=")[0]
            if name in LONG_BOOLEANS:
                flags.add(LONG_BOOLEANS[name])
            elif "=" not in word:
                next(words, None)  # its value
        elif word.startswith("-") and len(word) > 1:
            cluster = word[1:].split("=")[0]
            flags.update(cluster)
            if cluster[-1] in SHORT_WITH_VALUE and "=" not in word and len(cluster) == 1:
                next(words, None)
        else:
            break  # the image (or container): the container's own arguments follow
    if match["verb"] == "start":
        return {"a", "i"} <= flags
    return {"i", "t"} <= flags and "d" not in flags


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


class PageSession:
    def __init__(self, workdir, scratch, spawn, kill_processes, on_timeout=None):
        """`spawn` is (program, args, env) of the page's bash; `kill_processes(pid)`
        ends every process below that bash, wherever it runs."""
        self.workdir, self.scratch = Path(workdir), Path(scratch)
        self.on_timeout = on_timeout or (lambda: None)   # e.g. stop the page's containers
        self.kill_processes = kill_processes
        self.inside = None     # None, "shell" or "repl": what the typed commands go to
        self.detached = None   # what the last detached container was running
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
        self.child.sendline("stty -echo; PS1=''; PS2=''; unset PROMPT_COMMAND; "
                            + self._marker_command())
        try:
            self._expect_mark(60)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise SessionError(f"the page's shell did not start: {self.child.before!r}")
        output, _ = self._run_plain("echo $$; pwd", 30)
        pid, self.last_cwd = output.split()[:2]
        self.shell_pid = int(pid)

    # -- plumbing ----------------------------------------------------------
    def _marker_command(self):
        return "printf '%s%s:%d\\n' {} {} $?".format(*self._mark_parts)

    def _expect_mark(self, timeout):
        self.child.expect(self._mark, timeout=timeout)
        return int(self.child.match.group(1)), self.child.before

    def _wait(self, patterns, command, timeout):
        """Wait for one of `patterns` while `command` runs: a timeout kills it,
        a shell that ends is an error. Returns the index of the pattern seen."""
        try:
            return self.child.expect(patterns, timeout=timeout)
        except pexpect.TIMEOUT:
            self._timed_out(command, timeout)
        except pexpect.EOF:
            raise SessionError(f"the page's shell ended while running: {command}")

    def _await_mark(self, command, timeout):
        """Wait for the marker printed after `command`; returns (exit status, output)."""
        self._wait(self._mark, command, timeout)
        return int(self.child.match.group(1)), self.child.before

    def _kill_running(self):
        self.kill_processes(self.shell_pid)

    def _timed_out(self, command, timeout):
        self.on_timeout()
        self._kill_running()
        self.inside = None
        try:
            self._expect_mark(20)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise SessionError("the page's shell did not recover after a timeout")
        raise CommandTimeout(f"timed out after {timeout:g} s; its processes were killed and "
                             "the page's containers stopped")

    # -- commands ----------------------------------------------------------
    def run(self, command, timeout):
        """Run one command where the reader would type it; return its Result."""
        start = time.monotonic()
        if self.inside == "repl":
            output, code = self._type_into_repl(command, timeout)
        elif self.inside == "shell":
            output, code = self._type_into_container_shell(command, timeout)
        elif is_interactive(command):
            output, code = self._start_interactive(command, timeout)
        else:
            output, code = self._run_plain(command, timeout)
        return Result(output, code, time.monotonic() - start)

    def _run_plain(self, command, timeout):
        self.count += 1
        script = self.scratch / f"command-{self.count}.sh"
        output = self.scratch / f"output-{self.count}.txt"
        script.write_text(command + "\n")
        self.child.sendline(f"{{ . {script}; }} </dev/null >{output} 2>&1; " + self._marker_command())
        code, _ = self._await_mark(command, timeout)
        return output.read_text(errors="replace"), code

    def _start_interactive(self, command, timeout):
        # Braces, the command on its own line: a trailing `# comment` cannot hide
        # the marker, and bash has read both lines before docker reads any input.
        self.child.sendline("{ " + command + "\n}; " + self._marker_command())
        if INTERACTIVE.match(command)["verb"] == "attach" and self.detached == "shell":
            # The shell we detached from was set up already and shows no prompt.
            return self._sync_inside("shell", timeout)
        if INTERACTIVE.match(command)["verb"] == "attach":
            time.sleep(0.5)
            self.child.send("\r")  # as a reader presses Enter to see the prompt again
        which = self._wait([self._mark, REPL_PROMPT, SHELL_PROMPT], command, min(timeout, PROMPT_WAIT))
        shown = self.child.before
        if which == 0:
            return shown, int(self.child.match.group(1))
        if which == 1:
            self.inside = "repl"
            return shown, 0
        # A shell in the container: stop its echo and prompts, so what a command
        # prints can be told apart from what we typed.
        # bash's line editor echoes a newline for every line, whatever stty says: turn it off.
        self.child.sendline("stty -echo; PS1=''; PS2=''; "
                            "case \"$BASH_VERSION\" in ?*) set +o emacs +o vi;; esac; " + self._marker_command())
        self.inside = "shell"
        self._await_mark(command, timeout)
        return re.sub(r"[^\n]*[#$] ?$", "", shown.rstrip(" ")).rstrip() + "\n", 0

    def _sync_inside(self, kind, timeout):
        self.inside = kind
        self.child.sendline(self._marker_command())
        self._await_mark("docker attach", timeout)
        return "", 0

    def _type_into_container_shell(self, command, timeout):
        self.child.send(command + "\n")
        if command.strip() == "exit" or command.strip().startswith("exit "):
            output, code = self._leave(timeout)
            # A bare `exit` passes on the status of the container's last command,
            # which a reader never sees; only `exit N` asks for a status.
            return output, code if command.strip() != "exit" else 0
        self.child.sendline(self._marker_command())
        code, before = self._await_mark(command, timeout)
        return before, code

    def _type_into_repl(self, command, timeout):
        if command.strip() in ("exit()", "quit()", "exit", "quit"):
            self.child.send(command + "\r")
            output, code = self._leave(timeout)
            return repl_output(output), code
        output = []
        for line in command.splitlines() or [""]:
            self.child.send(line + "\r")
            self._wait(REPL_NEXT_PROMPT, command, timeout)
            output.append(repl_output(self.child.before + self.child.after))
        return "".join(output), 0

    def _leave(self, timeout):
        """The container's shell or REPL ends: back to the page's bash."""
        code, before = self._await_mark("exit", timeout)
        self.inside = None
        return before, code

    def press(self, keys, timeout):
        """Type keys (ctrl-p ctrl-q, ctrl-x, x, enter ...) into the interactive
        session. If they end it (detach keys, ctrl-d), the page's shell takes
        over again, as in a reader's terminal."""
        for key in keys:
            self.child.send(key_code(key))
            time.sleep(0.1)
        inside = self.inside
        try:
            code, output = self._expect_mark(LEAVE_WAIT)
        except pexpect.TIMEOUT:
            return Result("", 0, 0)  # still inside
        self.inside = None
        self.detached = inside if "ctrl-d" not in [k.lower() for k in keys] else None
        return Result(output, code, 0)

    def cwd(self):
        """The page shell's working directory (the last one known while a
        container's shell or REPL has the terminal)."""
        if self.inside is None:
            self.last_cwd = self._run_plain("pwd", 30)[0].strip()
        return Path(self.last_cwd)

    def close(self):
        if self.child.isalive():
            self._kill_running()
            self.child.close(force=True)
