"""The JSON record of doc-test runs: per page, per environment it ran in (an
engine, with its variant such as the image store), and per block, what
happened. Runs in other environments add to it; a run replaces only its own
environment's entry of the pages it ran. The format is versioned;
`read_report` is the one way to read it (the site's verified marks use it)."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

FORMAT = 2
# Format 1 (before versioning) had one entry a page and named its environment
# `docker`: {"client", "engine"}.


class ReportError(Exception):
    pass


def write_atomically(path: Path, text: str) -> None:
    """A record is either whole or absent: written beside, then renamed."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def environment_label(environment: dict[str, Any] | None) -> str:
    """`Docker Engine 26.1.5 (containerd image store)`, from an environment's description."""
    environment = environment or {}
    label = " ".join(part for part in (environment.get("name"), environment.get("version")) if part)
    if label and environment.get("variant"):
        label += f" ({environment['variant']})"
    return label or "an unknown environment"


def _legacy_environment(docker: dict[str, Any] | None) -> dict[str, Any]:
    docker = docker or {}
    return {"name": "Docker Engine", "version": docker.get("engine"), "client": docker.get("client")}


def _upgrade(entry: dict[str, Any]) -> dict[str, Any]:
    """A page's entry of format 1 (one environment, called `docker`) as format 2."""
    if "engines" in entry:
        return entry
    environment = entry.pop("environment", None) or _legacy_environment(entry.pop("docker", None))
    return {"engines": {environment_label(environment): {**entry, "environment": environment}}}


def read_report(path: str | Path) -> dict[str, Any] | None:
    """The report at `path`, in the current format; None if there is none.
    A report of a newer format than this harness knows is an error."""
    try:
        record: dict[str, Any] = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: not a doc-test report ({error})")
    version = record.get("format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise ReportError(f"{path}: report format {version!r} is newer than this harness reads ({FORMAT}); "
                          "upgrade doctester")
    record["pages"] = {page: _upgrade(entry) for page, entry in record.get("pages", {}).items()}
    if "docker" in record:
        record["environment"] = _legacy_environment(record.pop("docker"))
    record["format"] = FORMAT
    return record


class Report:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.pages: dict[str, list[dict[str, Any]]] = {}
        self.environment: dict[str, Any] | None = None  # the description of the environment pages ran in, once one did

    def add(self, page: str, line: int, kind: str, status: str, duration: float, reason: str | None = None,
            command: str | None = None) -> None:
        blocks = self.pages.setdefault(page, [])
        blocks.append({"line": line, "kind": kind, "status": status, "duration": round(duration, 3),
                       **({"reason": reason} if reason else {}),
                       **({"command": command} if command else {})})

    def totals(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for blocks in self.pages.values():
            for block in blocks:
                counts[block["status"]] = counts.get(block["status"], 0) + 1
        return counts

    def write(self) -> dict[str, Any]:
        """Write the run's record. Pages this run did not touch keep their
        entries from earlier runs (each page says when it ran), so running
        one page does not make the site forget the others."""
        finished = datetime.datetime.now(datetime.timezone.utc)
        date = finished.isoformat(timespec="seconds")
        pages = self._earlier_pages()
        key = environment_label(self.environment)
        for page, blocks in self.pages.items():
            engines = pages.setdefault(page, {"engines": {}})["engines"]
            if key in engines and all(b["status"] == "cached" for b in blocks):
                continue  # unchanged since it passed: its earlier record says when
            engines[key] = {"date": date, "environment": self.environment,
                            "blocks": sorted(blocks, key=lambda b: b["line"])}
        record = {
            "format": FORMAT,
            "date": date,
            "wall_time": round((finished - self.started).total_seconds(), 1),
            "environment": self.environment,
            "totals": self.totals(),
            "pages": dict(sorted(pages.items())),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(record, indent=2) + "\n")
        return record

    def _earlier_pages(self) -> dict[str, Any]:
        try:
            earlier = read_report(self.path) or {}
        except ReportError:
            return {}
        return {page: entry for page, entry in earlier.get("pages", {}).items() if Path(page).exists()}
