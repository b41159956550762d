"""One object per pytest run: what the run was configured with, and what it
collects (the report, --doc-update's rewrites, the environments' tear-down
problems), kept in config.stash. A run writes its report in one place
(write_report); under pytest-xdist, the controller, from its workers' pages."""
from __future__ import annotations

import fcntl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .contract import InteractiveVerdict, Provider
from .markdown import Grammar
from .matching import Rules
from .report import Report
from .settings import Settings
from .signals import Handler

if TYPE_CHECKING:
    from .pagerun import PageRun, Update


@dataclass
class DocRun:
    settings: Settings
    grammar: Grammar
    rules: Rules
    interactive: InteractiveVerdict
    environments: Provider      # the provider of page environments
    extra_cache_files: list[Path]
    report: Report
    updates: list[Update] | None = None  # with --doc-update: the rewrites of the pages' shown output
    journey: bool = False       # --doc-journey: the pages in order, in one PageRun
    previous_terminate: Handler = None  # the SIGTERM handler before the run's, put back at its end
    environment_state: str = ""  # what check() said of the environment: part of --doc-cache's key
    journey_run: PageRun | None = None
    problems: list[str] = field(default_factory=list)   # tearing down the environments failed
    summary: list[str] = field(default_factory=list)    # lines for the end of the terminal report

    def cache_files(self) -> list[Path]:
        return self.settings.cache_files(self.extra_cache_files)

    def worker_output(self) -> dict[str, Any]:
        """What an xdist worker hands its controller (see add_worker_output)."""
        return {"pages": self.report.pages, "environment": self.report.environment, "problems": self.problems}

    def add_worker_output(self, output: dict[str, Any]) -> None:
        for page, blocks in output["pages"].items():
            self.report.pages.setdefault(page, []).extend(blocks)
        self.report.environment = self.report.environment or output["environment"]
        self.problems += output["problems"]

    def write_report(self) -> None:
        """Write the record under a lock: two runs at once merge, never clobber."""
        report = self.report
        report.path.parent.mkdir(parents=True, exist_ok=True)
        with open(report.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            record = report.write()
        totals = ", ".join(f"{n} {s}" for s, n in sorted(record["totals"].items()))
        self.summary.append(f"doc tests: {totals} in {len(report.pages)} pages; report: {report.path}")


DOC_RUN = pytest.StashKey[DocRun]()


def doc_run(config: pytest.Config) -> DocRun:
    return config.stash[DOC_RUN]
