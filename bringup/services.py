"""Start and stop the background services bring-up owns (dockerd, the registry).

Each service we start has a pid file under paths.RUN recording its pid, its
full command line, its start time and the boot it started in. A process is
ours only if all of them still match: a pid reused by another program (after
a crash or a reboot) is never signalled, nor is a daemon somebody else runs.
Pid files and logs live in the private folder paths.RUN and go through the
paths primitives: never through a link, and a pid file that is not a regular
file of the effective user's is refused, never acted on.
"""
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict

from doctester.core.procfs import stat_fields

from . import paths
from .progress import BringupError, say


LOG_LIMIT = 10 * 1024 * 1024  # bytes of log kept per service before it is rotated


class Identity(TypedDict):
    """What a pid file records (as JSON), and what identity() reads of a live process."""
    pid: int
    cmdline: list[str]
    start: int | None
    boot: str | None


def pid_file(name: str) -> Path:
    return paths.RUN / f"{name}.pid"


def log_file(name: str) -> Path:
    return paths.RUN / f"{name}.log"


def _cmdline(pid: int) -> list[str]:
    try:
        return [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError:
        return []


def _start_time(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat, field 22)."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 and fields[19].isdigit() else None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def identity(pid: int, cmdline: list[str] | None = None) -> Identity:
    """What makes a live process this one and no other: command line, start time, boot."""
    return {"pid": pid, "cmdline": cmdline or _cmdline(pid), "start": _start_time(pid), "boot": _boot_id()}


def record(name: str, pid: int, argv: Sequence[str] | None = None) -> None:
    """Write the pid file. `argv`: the command line we started, which right
    after the start /proc may not show yet."""
    paths.write_private(pid_file(name), json.dumps(identity(pid, [str(a) for a in argv] if argv else None)) + "\n")


def running_pid(name: str) -> int | None:
    """The pid of our `name` service if the process its pid file names is
    alive and is still that process (same command line, start time, boot)."""
    try:
        recorded = json.loads(paths.read_private(pid_file(name)))
        pid = int(recorded["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record, or one in the old pid-only form: nothing we can prove is ours
    now = identity(pid)
    if now["cmdline"] and all(now[key] == recorded.get(key) for key in ("cmdline", "start", "boot")):
        return pid
    return None


def last_lines(path: Path, count: int = 20) -> str:
    try:
        return "\n".join(paths.read_private(path).splitlines()[-count:])
    except (OSError, BringupError):
        return "(no log)"


def start(name: str, argv: Sequence[str], ready: Callable[[], bool], timeout: float,
          shows_as: Sequence[str] | None = None) -> int:
    """Start `argv` in the background, logging to RUN/name.log, and wait until
    `ready()` is true. On failure the process is stopped and its log quoted.
    `shows_as`: the command line the process has once running, when `argv`
    sets something up and then executes it (its pid stays the same)."""
    paths.ensure()
    paths.rotate(log_file(name), LOG_LIMIT)  # keep one old log (name.log.1), bounded
    log = paths.open_log(log_file(name))
    try:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as error:
        raise BringupError(f"cannot start {name}: {argv[0]}: {error.strerror}") from None
    finally:
        log.close()
    record(name, proc.pid, shows_as or argv)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file(name).unlink(missing_ok=True)
            raise BringupError(f"{name} exited with status {proc.returncode} while starting; "
                               f"last lines of {log_file(name)}:\n{last_lines(log_file(name))}")
        if ready():
            return proc.pid
        time.sleep(0.2)
    stop(name)
    if proc.poll() is None:  # ours, still setting up (not yet what `shows_as` names)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    raise BringupError(f"{name} did not become ready within {timeout} s; "
                       f"last lines of {log_file(name)}:\n{last_lines(log_file(name))}")


def stop(name: str, timeout: float = 30) -> bool:
    """Stop our `name` service, if it runs; return True when one was stopped."""
    pid = running_pid(name)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name):
        time.sleep(0.2)
    if running_pid(name):
        say(f"    {name} (pid {pid}) ignored SIGTERM for {timeout} s; killing it")
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    return True
