"""The JSON record of a doc-test run: per page and block, what happened."""
import datetime
import json
import subprocess
from pathlib import Path


def docker_versions():
    result = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}|{{.Server.Version}}"],
                            capture_output=True, text=True, timeout=30)
    client, _, server = result.stdout.strip().partition("|")
    return {"client": client or None, "engine": server or None}


class Report:
    def __init__(self, path):
        self.path = Path(path)
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.pages = {}

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
        finished = datetime.datetime.now(datetime.timezone.utc)
        record = {
            "date": finished.isoformat(timespec="seconds"),
            "wall_time": round((finished - self.started).total_seconds(), 1),
            "docker": docker_versions(),
            "totals": self.totals(),
            "pages": {page: {"blocks": sorted(blocks, key=lambda b: b["line"])}
                      for page, blocks in sorted(self.pages.items())},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=2) + "\n")
        partial.rename(self.path)
        return record
