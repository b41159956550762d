"""Start and stop the background services bring-up owns (dockerd, the registry).

Each service we start has a pid file under paths.RUN; `stop` only ever signals
a process whose pid file we wrote and whose command line is still the one we
started, so a daemon somebody else runs is never touched.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

from . import paths
from .progress import BringupError, say


LOG_LIMIT = 10 * 1024 * 1024  # bytes of log kept per service before it is rotated


def pid_file(name):
    return paths.RUN / f"{name}.pid"


def log_file(name):
    return paths.RUN / f"{name}.log"


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


def running_pid(name, program):
    """The pid of our `name` service if it is alive and still runs `program`."""
    try:
        pid = int(pid_file(name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if os.path.basename(_cmdline(pid)) == os.path.basename(program) else None


def last_lines(path, count=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-count:])
    except OSError:
        return "(no log)"


def start(name, argv, ready, timeout):
    """Start `argv` in the background, logging to RUN/name.log, and wait until
    `ready()` is true. On failure the process is stopped and its log quoted."""
    paths.ensure()
    if log_file(name).exists() and log_file(name).stat().st_size > LOG_LIMIT:
        log_file(name).replace(log_file(name).with_suffix(".log.1"))  # keep one old log, bounded
    log = open(log_file(name), "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    pid_file(name).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pid_file(name).unlink(missing_ok=True)
            raise BringupError(f"{name} exited with status {proc.returncode} while starting; "
                               f"last lines of {log_file(name)}:\n{last_lines(log_file(name))}")
        if ready():
            return proc.pid
        time.sleep(0.2)
    stop(name, argv[0])
    raise BringupError(f"{name} did not become ready within {timeout} s; "
                       f"last lines of {log_file(name)}:\n{last_lines(log_file(name))}")


def stop(name, program, timeout=30):
    """Stop our `name` service, if it runs; return True when one was stopped."""
    pid = running_pid(name, program)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name, program):
        time.sleep(0.2)
    if running_pid(name, program):
        say(f"    {name} (pid {pid}) ignored SIGTERM for {timeout} s; killing it")
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    return True
