"""The engine of one test process (a pytest run, or one xdist worker):
started on first use, reused from page to page, removed at the end. Before
it starts anything, it reaps what dead runs left behind."""
from __future__ import annotations

import subprocess
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.contract import LeavesNotes, Provider
from ..core.signals import uninterrupted
from . import ownership
from .dockerstate import EngineError
from .engines import ExistingEngine, PrivateEngine, recover_existing
from .identity import DEFAULT_HOSTNAME, DEFAULT_LABEL_NAMESPACE, run_label
from .sandbox import Limits, Sandbox, build_hint

MODES = ("private", "existing")


class EngineProvider:
    def __init__(self, mode: str, state_dir: str | os.PathLike[str], worker: str, sandbox_image: str,
                 mirror_storage: str | os.PathLike[str] | None = None, existing_ok: bool = False,
                 features: dict[str, Any] | None = None, no_engine_hint: str = "",
                 limits: Limits | None = None, label_namespace: str = DEFAULT_LABEL_NAMESPACE,
                 hostname: str = DEFAULT_HOSTNAME) -> None:
        if mode not in MODES:
            raise EngineError(f"unknown doc engine {mode!r}: use one of {', '.join(MODES)}")
        self.mode, self.state_dir, self.worker = mode, Path(state_dir), worker
        self.sandbox_image = sandbox_image
        self.mirror_storage = Path(mirror_storage) if mirror_storage else None
        self.existing_ok, self.features, self.no_engine_hint = existing_ok, features, no_engine_hint
        self.limits = limits or Limits.for_machine(1)
        # What reaping looks for is what this run labels its objects with.
        self.run_label, self.hostname = run_label(label_namespace), hostname
        self.engine: PrivateEngine | ExistingEngine | None = None
        self.run: ownership.Run | None = None
        self.reaped: list[str] = []
        self.ready_after: float | None = None

    @property
    def notes(self) -> list[str]:
        return [f"reaped what killed runs left: {', '.join(self.reaped)}"] if self.reaped else []

    def check(self) -> str:
        """One clear error for a missing daemon or image; else a string naming
        the engine (a change of it makes --doc-cache run pages again)."""
        probe = ["docker", "version", "--format", "{{.Server.Version}}"]
        if self.mode == "private":
            probe = ["docker", "image", "inspect", "--format", "{{.Id}}", self.sandbox_image]
        try:
            result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(probe, 1, "", str(error))
        if result.returncode:
            message = (result.stderr.strip().splitlines() or ["no answer"])[-1]
            if "No such image" in message:
                raise EngineError(f"the private engines' image {self.sandbox_image} is missing: "
                                  f"build it ({build_hint(self.sandbox_image)})")
            raise EngineError(f"no Docker daemon answers ({message}). {self.no_engine_hint}")
        return f"{self.mode}|{self.features}|{result.stdout.strip()}"

    def get(self) -> PrivateEngine | ExistingEngine:
        if self.engine is None:
            with uninterrupted():
                self.reaped, problems = ownership.reap(self.state_dir, recover_existing, label=self.run_label)
                if problems:
                    raise EngineError("could not reap what an earlier, killed run left:\n  "
                                      + "\n  ".join(problems))
                self.run = ownership.Run(self.state_dir, label=self.run_label)
            if self.mode == "existing":
                self.engine = ExistingEngine(self.run, self.existing_ok)
            else:
                sandbox = Sandbox(self.run, self.worker, self.sandbox_image, self.limits,
                                  self.mirror_storage, self.features, hostname=self.hostname)
                try:
                    sandbox.start()
                except BaseException:
                    with uninterrupted():
                        self.run.release()
                    self.run = None
                    raise
                self.ready_after = sandbox.ready_after
                self.engine = PrivateEngine(sandbox)
        return self.engine

    def describe(self) -> dict[str, Any]:
        return self.get().describe()

    def close(self) -> list[str]:
        """Remove everything this process started; returns problems."""
        if self.run is None:
            return []
        with uninterrupted():
            problems, self.run, self.engine = self.run.release(), None, None
        return problems


if TYPE_CHECKING:  # mypy holds the provider to the core's contract
    _PROVIDER: type[Provider] = EngineProvider
    _NOTES: type[LeavesNotes] = EngineProvider
