"""The configuration of a distribution registry (Debian's docker-registry)
that serves stored images: the mirror inside each sandbox, and bring-up's
mirrors on this machine and on the room's LAN. Bring-up runs from this
repository and imports it from here; the plugin never imports bring-up."""


def registry_config(address, storage_folder, read_only=True, access_log=False):
    """A registry listening on `address` (host:port) over `storage_folder`.
    A read-only one refuses pushes (distribution's maintenance mode); deletes
    are off on every one. `access_log`: record every request with the
    address it came from (at info level); otherwise only warnings are logged."""
    storage = {"filesystem": {"rootdirectory": str(storage_folder)}, "delete": {"enabled": False}}
    if read_only:
        storage["maintenance"] = {"readonly": {"enabled": True}, "uploadpurging": {"enabled": False}}
    return {"version": 0.1, "log": {"level": "info" if access_log else "warn", "accesslog": {"disabled": not access_log}},
            "storage": storage, "http": {"addr": address}}
