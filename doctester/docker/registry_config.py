"""The configuration of a distribution registry (Debian's docker-registry)
that serves stored images: the mirror inside each sandbox, and bring-up's
mirrors on this machine and on the room's LAN. Bring-up runs from this
repository and imports it from here; the plugin never imports bring-up."""


from __future__ import annotations

import os
from typing import Any


def registry_config(address: str, storage_folder: str | os.PathLike[str], read_only: bool = True,
                    access_log: bool = False) -> dict[str, Any]:
    """A registry listening on `address` (host:port) over `storage_folder`.
    A read-only one refuses pushes (distribution's maintenance mode); deletes
    are off on every one. `access_log`: record every request with the
    address it came from (at info level); otherwise only warnings are logged."""
    storage: dict[str, Any] = {"filesystem": {"rootdirectory": str(storage_folder)}, "delete": {"enabled": False}}
    if read_only:
        storage["maintenance"] = {"readonly": {"enabled": True}, "uploadpurging": {"enabled": False}}
    return {"version": 0.1, "log": {"level": "info" if access_log else "warn", "accesslog": {"disabled": not access_log}},
            "storage": storage, "http": {"addr": address}}
