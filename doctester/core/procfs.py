"""/proc/PID/stat, read one way everywhere: the fields after the command
name, which may itself hold spaces and parentheses (so the last `)` ends it).
In the list returned, [0] is the state, [1] the parent's pid and [19] the
start time in clock ticks since boot."""
from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None when
    there is no such process (any more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
