"""What a doc-test run starts, written down before it is started.

Every run (each pytest process, each xdist worker) owns a folder under the
state directory, `runs/<run id>/`, and holds an exclusive `flock` on its
`lock` file for as long as it lives. The kernel drops that lock when the
process dies, even by `kill -9`, so a folder whose lock can be taken belongs
to a dead run: its `objects.json` lists what that run created on the outer
Docker engine (sandbox containers, their volumes and networks), and reaping
removes exactly those, then the folder. Objects are recorded before they are
created, so nothing can exist that the record does not name.
"""
import fcntl
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from ..core.report import write_atomically

KINDS = ("container", "volume", "network")  # removed in this order
RUN_LABEL = "org.intro-to-docker.doctest.run"
DEFAULT_STATE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "doctester"


class Run:
    def __init__(self, state_dir, docker=("docker",)):
        self.root = Path(state_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.dir = self.root / self.id
        self.dir.mkdir()
        self._lock = open(self.dir / "lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.docker = list(docker)
        self.objects = []
        self._save()

    def record(self, kind, name):
        """Note an object on disk before creating it."""
        assert kind in KINDS
        self.objects.append({"kind": kind, "name": name})
        self._save()

    def _save(self):
        write_atomically(self.dir / "objects.json",
                         json.dumps({"pid": os.getpid(), "docker": self.docker, "objects": self.objects}, indent=1))

    def release(self):
        """Remove what this run created, then its folder. Returns problems."""
        problems = remove_objects(self.docker, self.objects)
        if not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        self._lock.close()
        return problems


def remove_objects(docker, objects):
    problems = []
    for kind in KINDS:
        names = [o["name"] for o in objects if o["kind"] == kind]
        if not names:
            continue
        argv = {"container": ["rm", "-f", "-v"], "volume": ["volume", "rm", "-f"],
                "network": ["network", "rm"]}[kind]
        result = subprocess.run([*docker, *argv, *names], capture_output=True, text=True, timeout=120)
        gone = "No such" in result.stderr or "not found" in result.stderr
        if result.returncode and not gone:
            problems.append(f"removing {kind}s {' '.join(names)}: {result.stderr.strip()}")
    return problems


def dead_runs(state_dir):
    """Folders of runs whose process is gone (their lock can be taken)."""
    root = Path(state_dir) / "runs"
    found = []
    for folder in sorted(root.glob("*")) if root.is_dir() else []:
        try:
            with open(folder / "lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                found.append(folder)  # the lock is dropped again when the file closes
        except BlockingIOError:
            continue  # a live run
        except FileNotFoundError:
            found.append(folder)  # killed before it wrote its lock
    return found


def reap(state_dir, recover=lambda folder: []):
    """Remove what dead runs left behind; returns (what was reaped, problems).
    `recover(folder)` first puts back what a dead run had changed outside its
    own objects (images an existing-engine run had moved aside)."""
    reaped, problems = [], []
    for folder in dead_runs(state_dir):
        trouble = recover(folder)
        if trouble:
            problems += trouble
            continue
        try:
            record = json.loads((folder / "objects.json").read_text())
        except (OSError, ValueError):
            record = {"docker": ["docker"], "objects": []}
        trouble = remove_objects(record["docker"], record["objects"])
        problems += trouble
        if not trouble:
            try:
                _remove_tree(folder, record["docker"])
            except OSError as error:
                problems.append(str(error))
                continue
            reaped.append(f"{folder.name} ({len(record['objects'])} objects)")
    return reaped, problems


def _remove_tree(folder, docker):
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        raise OSError(f"cannot remove {folder} (files a sandbox wrote as root?): remove it as root")
