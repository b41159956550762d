"""What a doc-test run starts, written down before it is started.

Every run (each pytest process, each xdist worker) owns a folder under the
state directory, `runs/<run id>/`, and holds an exclusive `flock` on its
`lock` file for as long as it lives. The kernel drops that lock when the
process dies, even by `kill -9`, so a folder whose lock can be taken belongs
to a dead run: its `objects.json` lists what that run created on the outer
Docker engine (sandbox containers, their volumes and networks), and reaping
removes exactly those, then the folder. Objects are recorded before they are
created, so nothing can exist that the record does not name. A run's engine
may be a Swarm manager (seats placed by Swarm): its services and configs are
recorded and reaped as well.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ..core.report import write_atomically
from .dockerstate import DockerCLI, already_gone
from .identity import run_label

KINDS = ("service", "container", "config", "volume", "network")  # removed in this order
RUN_LABEL = run_label()  # the default; a run takes its own from doc_label_namespace
DEFAULT_STATE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "doctester"


RUN_ID = re.compile(r"\d+-[0-9a-f]{6}")


class Run:
    def __init__(self, state_dir: str | os.PathLike[str], docker: Iterable[str] = ("docker",),
                 label: str = RUN_LABEL) -> None:
        self.root = Path(state_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.id = f"{os.getpid()}-{secrets.token_hex(3)}"
        self.docker = list(docker)
        self.label = label  # the key of the label, valued with this run's id, on every object it creates
        self.objects: list[dict[str, str]] = []
        # A room starts seats in threads of its own, each recording into this run.
        self._guard = threading.Lock()
        # The folder is made, locked and written outside runs/, then moved in
        # whole: a run folder without its lock held is never seen there, so
        # another worker's reaping cannot take a starting run for a dead one.
        staging = Path(state_dir) / "staging"
        staging.mkdir(exist_ok=True)
        starting = Path(tempfile.mkdtemp(prefix=f"{self.id}.", dir=staging))
        self._lock = open(starting / "lock", "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.dir = starting
        self._save()
        self.dir = self.root / self.id
        os.rename(starting, self.dir)

    def record(self, kind: str, name: str) -> None:
        """Note an object on disk before creating it."""
        assert kind in KINDS
        with self._guard:
            self.objects.append({"kind": kind, "name": name})
            self._save()

    def _save(self) -> None:
        write_atomically(self.dir / "objects.json",
                         json.dumps({"pid": os.getpid(), "docker": self.docker, "label": self.label,
                                     "objects": self.objects}, indent=1))

    def release_some(self, *names: str) -> list[str]:
        """Remove this run's objects called any of `names` now, and drop them
        from its record once gone (a room recycling one seat). Returns problems."""
        with self._guard:
            mine = [o for o in self.objects if o["name"] in names]
        problems = remove_objects(self.docker, mine, label=self.label)
        if not problems:
            with self._guard:
                self.objects = [o for o in self.objects if o["name"] not in names]
                self._save()
        return problems

    def release(self) -> list[str]:
        """Remove what this run created, then its folder. Returns problems."""
        problems = remove_objects(self.docker, self.objects, label=self.label)
        if not problems:
            shutil.rmtree(self.dir, ignore_errors=True)
        self._lock.close()
        return problems


LISTING = {"container": ["ps", "-a", "--format", "{{.Names}}"], "volume": ["volume", "ls", "--format", "{{.Name}}"],
           "network": ["network", "ls", "--format", "{{.Name}}"],
           "service": ["service", "ls", "--format", "{{.Name}}"], "config": ["config", "ls", "--format", "{{.Name}}"]}
REMOVE = {"service": ["service", "rm"], "container": ["rm", "-f", "-v"], "config": ["config", "rm"],
          "volume": ["volume", "rm", "-f"], "network": ["network", "rm"]}


def labelled(docker: Iterable[str], kind: str, run_id: str, label: str = RUN_LABEL) -> set[str] | str:
    """Names of the objects of `kind` that carry this run's label, or what
    the engine said when it could not list them."""
    result = DockerCLI(docker).run(*LISTING[kind][:-2], "--filter", f"label={label}={run_id}",
                                   *LISTING[kind][-2:], check=False, timeout=120)
    return set(result.stdout.split()) if result.returncode == 0 else (result.stderr.strip() or "no answer")


def remove_objects(docker: Iterable[str], objects: Sequence[dict[str, Any]],
                   run_id: str | None = None, label: str = RUN_LABEL) -> list[str]:
    """Remove the objects named; with `run_id` (a dead run's record, which a
    page could have rewritten), only those whose `label` has that run's id."""
    problems: list[str] = []
    for kind in KINDS:
        names = [o["name"] for o in objects if o["kind"] == kind]
        if names and run_id is not None:
            found = labelled(docker, kind, run_id, label)
            if isinstance(found, str):  # the record is kept for a reaper that reaches the engine
                problems.append(f"listing {kind}s failed: {found}")
                continue
            names = sorted(set(names) & found)
        if not names:
            continue
        result = DockerCLI(docker).run(*REMOVE[kind], *names, check=False, timeout=120)
        if result.returncode and not already_gone(result.stderr):
            problems.append(f"removing {kind}s {' '.join(names)}: {result.stderr.strip()}")
    return problems


def dead_runs(state_dir: str | os.PathLike[str]) -> list[tuple[Path, IO[str]]]:
    """Folders of runs whose process is gone, each with its lock now held by
    the caller (an open file; closing it drops the lock), so two reapers never
    reap one dead run: the second finds it locked, as a live run's."""
    root = Path(state_dir) / "runs"
    found: list[tuple[Path, IO[str]]] = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not (folder.is_dir() and RUN_ID.fullmatch(folder.name)):
            continue
        try:
            lock = open(folder / "lock", "a")
        except FileNotFoundError:
            continue  # reaped by another worker meanwhile
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue  # a live run, or another worker reaping it
        if not folder.exists():  # reaped and removed between the listing and the lock
            lock.close()
            continue
        found.append((folder, lock))
    return found


def reap(state_dir: str | os.PathLike[str], recover: Callable[[Path], list[str]] = lambda folder: [],
         docker: Iterable[str] = ("docker",), label: str = RUN_LABEL) -> tuple[list[str], list[str]]:
    """Remove what dead runs left behind; returns (what was reaped, problems).
    `recover(folder)` first puts back what a dead run had changed outside its
    own objects (images an existing-engine run had moved aside). The command
    run is `docker`, never one a record names; an object is removed only if
    it carries `label` (the runs' own, from the same doc_label_namespace)
    with the dead run's id."""
    reaped: list[str] = []
    problems: list[str] = []
    for folder, lock in dead_runs(state_dir):
        with contextlib.closing(lock):
            problems += _reap_one(folder, recover, reaped, list(docker), label)
    _clear_staging(state_dir)
    return reaped, problems


def _reap_one(folder: Path, recover: Callable[[Path], list[str]], reaped: list[str],
              docker: list[str], label: str) -> list[str]:
    """Reap one dead run whose lock the caller holds; returns problems. A
    run whose record names another label (a project with another
    doc_label_namespace, sharing the state folder) is left to its own
    project's runs: reaped here, its objects would not be found by label
    and its record would be lost."""
    try:
        record = json.loads((folder / "objects.json").read_text())
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and record.get("label", label) != label:
        return []
    trouble = recover(folder)
    if trouble:
        return trouble
    try:
        objects = record["objects"]
    except (KeyError, TypeError):
        objects = []
    objects = [o for o in objects if isinstance(o, dict) and o.get("kind") in KINDS and isinstance(o.get("name"), str)]
    trouble = remove_objects(docker, objects, run_id=folder.name, label=label)
    if trouble:
        return trouble
    try:
        _remove_tree(folder)
    except OSError as error:
        return [str(error)]
    reaped.append(f"{folder.name} ({len(objects)} objects)")
    return []


STAGING_GRACE = 300  # seconds a starting run may take to move its folder into runs/


def _clear_staging(state_dir: str | os.PathLike[str]) -> None:
    """Folders of runs killed while starting: they recorded no object yet."""
    staging = Path(state_dir) / "staging"
    for folder in staging.iterdir() if staging.is_dir() else []:
        try:
            if time.time() - folder.stat().st_mtime < STAGING_GRACE:
                continue
            with open(folder / "lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
        except (OSError, BlockingIOError):
            continue


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        raise OSError(f"cannot remove {folder} (files a sandbox wrote as root?): remove it as root")
