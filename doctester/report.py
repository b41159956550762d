"""The JSON record of a doc-test run: per page and block, what happened."""
import datetime
import json
import re
import subprocess
from pathlib import Path

from .ownership import write_atomically


def docker_versions():
    result = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}|{{.Server.Version}}"],
                            capture_output=True, text=True, timeout=30)
    client, _, server = result.stdout.strip().partition("|")
    return {"client": client or None, "engine": server or None}


def client_version():
    """The docker CLI's version, without asking the daemon: `Docker version 28.2.2, build e6534b4`."""
    result = subprocess.run(["docker", "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"version ([^\s,]+)", result.stdout)
    return found.group(1) if found else None


class Report:
    def __init__(self, path):
        self.path = Path(path)
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.pages = {}
        self.docker = None  # {"client": ..., "engine": ...} when the run already asked the daemon

    def add(self, page, line, kind, status, duration, reason=None, command=None):
        blocks = self.pages.setdefault(page, [])
        blocks.append({"line": line, "kind": kind, "status": status, "duration": round(duration, 3),
                       **({"reason": reason} if reason else {}),
                       **({"command": command} if command else {})})

    def totals(self):
        counts = {}
        for blocks in self.pages.values():
            for block in blocks:
                counts[block["status"]] = counts.get(block["status"], 0) + 1
        return counts

    def write(self):
        """Write the run's record. Pages this run did not touch keep their
        entries from earlier runs (each page says when it ran), so running
        one page does not make the site forget the others."""
        finished = datetime.datetime.now(datetime.timezone.utc)
        date = finished.isoformat(timespec="seconds")
        docker = self.docker or docker_versions()
        pages = self._earlier_pages()
        for page, blocks in self.pages.items():
            if page in pages and all(b["status"] == "cached" for b in blocks):
                continue  # unchanged since it passed: its earlier record says when and on what
            pages[page] = {"date": date, "docker": docker,
                           "blocks": sorted(blocks, key=lambda b: b["line"])}
        record = {
            "date": date,
            "wall_time": round((finished - self.started).total_seconds(), 1),
            "docker": docker,
            "totals": self.totals(),
            "pages": dict(sorted(pages.items())),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, json.dumps(record, indent=2) + "\n")
        return record

    def _earlier_pages(self):
        try:
            earlier = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {page: entry for page, entry in earlier.get("pages", {}).items()
                if "date" in entry and Path(page).exists()}
