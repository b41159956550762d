"""A page's python fences, run inside its sandbox as a reader's Python
session: one interpreter per page (later fences use the names of earlier
ones), started in the page's folder with the venv the page made there
(`.venv/bin/python`) or else `python3`. Code goes in and results come out
as JSON lines over `docker exec` stdin and stdout; what comes back is data,
never run here."""
from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from .dockerstate import EngineError
from .sandbox import Sandbox

# The interpreter's side: runs each fence in one namespace, with what it
# prints captured, and answers with the output and the traceback, if any.
SERVER = r'''
import contextlib, glob, io, json, os, sys, traceback
sys.path[1:1] = sorted(glob.glob(".venv/lib/python3*/site-packages"))
reply = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what programs a fence starts write is not a reply
os.dup2(1, 2)
namespace = {"__name__": "__main__"}
print(json.dumps({"pid": os.getpid()}), file=reply, flush=True)
for line in sys.stdin:
    request = json.loads(line)
    output, error = io.StringIO(), None
    try:
        os.chdir(request["cwd"])
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            exec(compile(request["code"], request["label"], "exec"), namespace)
    except BaseException:
        error = traceback.format_exc()
    print(json.dumps({"output": output.getvalue(), "error": error}), file=reply, flush=True)
'''
# The sandbox's own python3 runs the session (a page's file cannot stand in
# for it); the venv the page made, if any, lends its packages.
START = 'exec /usr/bin/python3 -u -c "$0"'
MAX_REPLY = 4 << 20  # bytes: a fence that prints more is cut, not buffered without end


class FenceError(EngineError):
    """A fence raised, timed out, or its interpreter ended; the message says which."""


class SandboxPython:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    def _start(self, cwd: str | os.PathLike[str]) -> None:
        argv = self.sandbox.exec_argv("bash", "-c", START, SERVER, workdir=cwd, stdin=True)
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        pid = self._reply(60, "starting Python in the sandbox").get("pid")
        if not isinstance(pid, int) or pid <= 1:
            self.close()
            raise FenceError(f"the page's Python session in the sandbox gave no usable process id: {pid!r}")
        self.pid = pid

    def run(self, label: str, code: str, cwd: Path, timeout: float) -> str:
        """Run one fence; returns what it printed, raises FenceError."""
        if self.process is None:
            self._start(cwd)
        request = (json.dumps({"label": label, "code": code, "cwd": str(cwd)}) + "\n").encode()
        deadline = time.monotonic() + timeout
        self._send(request, deadline)
        answer = self._reply(max(deadline - time.monotonic(), 0.01), "the python fence", timeout)
        if answer.get("error"):
            raise FenceError(f"{answer.get('output', '')}{answer['error']}".rstrip())
        return str(answer.get("output", ""))

    def _send(self, data: bytes, deadline: float) -> None:
        """Write a request within the fence's time: a session that stops
        reading cannot hold this process."""
        assert self.process is not None and self.process.stdin is not None
        descriptor = self.process.stdin.fileno()
        os.set_blocking(descriptor, False)
        while data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [descriptor], [], left)[1]:
                self.close()
                raise FenceError("the page's Python session in the sandbox did not take the fence in time")
            try:
                data = data[os.write(descriptor, data):]
            except BrokenPipeError:
                self.close()
                raise FenceError("the page's Python session in the sandbox has ended") from None

    def _reply(self, timeout: float, what: str, allowed: float | None = None) -> dict[str, Any]:
        """One JSON line within `timeout` s (of the `allowed` s the fence has)."""
        line, deadline = b"", time.monotonic() + timeout
        assert self.process is not None and self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([descriptor], [], [], left)[0]:
                self.close()
                raise FenceError(f"{what} took longer than {allowed or timeout:g} s; "
                                 "give it more with <!-- doctest: timeout=SECONDS -->")
            chunk = os.read(descriptor, 65536)
            if not chunk or len(line) > MAX_REPLY:
                self.close()
                raise FenceError(f"the page's Python session in the sandbox ended during {what}: "
                                 f"{line.decode(errors='replace')[-2000:]}")
            line += chunk
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            self.close()
            raise FenceError(f"the page's Python session answered what is not a result: {line[:200]!r}")
        return answer

    def close(self) -> None:
        """End the interpreter (in the sandbox too, where `docker exec` leaves it running)."""
        if self.process is None:
            return
        if self.pid:
            self.sandbox.run_script(f"kill -9 {int(self.pid)} 2>/dev/null", check=False, timeout=30)
        self.process.kill()
        self.process.wait()
        self.process = self.pid = None
