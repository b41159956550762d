"""Where bring-up keeps its state: one cache folder, outside the checkout, so a
fresh clone (CI) reuses what an earlier run built on the same machine.

Bring-up often runs as root, so the cache is trusted only when nobody else
can change it: the folder and each folder bring-up makes in it belong to the
effective user with mode 0700, and no folder above it can be swapped by
another user. Files in it are written, appended to and read without
following symbolic links, through the primitives below; anything else is
refused with one error that names the path and what to do.
"""
import os
import pwd
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Literal

from .progress import BringupError, say

CACHE = Path(os.environ.get("INTRO_DOCKER_CACHE") or Path.home() / ".cache" / "intro-to-docker")
RUN = CACHE / "run"            # pid files, logs and configs of the services we start
REGISTRY_DATA = CACHE / "registry"
ROOTFS = CACHE / "rootfs"      # finished root file system tarballs, named by recipe hash
WORK = CACHE / "work"          # scratch space for builds in progress; never trusted
DOCKER_DATA = CACHE / "docker"  # the data root of a dockerd bring-up starts: never a system engine's

PRIVATE_FOLDER_MODE = 0o700
SECRET_MODE = 0o600
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _who(uid: int) -> str:
    return f"uid {uid} ({_name(uid)})" if _name(uid) != str(uid) else f"uid {uid}"


def _pick_another() -> str:
    return "or set INTRO_DOCKER_CACHE to a folder of your own"


def _refuse(path: Path, problem: str, remedy: str) -> BringupError:
    return BringupError(f"bring-up will not use {path}: {problem}. {remedy}")


def check_ancestors(path: Path) -> None:
    """Refuse a path that another user could redirect: a symbolic link on the
    way that belongs to neither root nor us, or a folder above it owned by
    another user, or writable by its group or others without the sticky bit
    (/tmp has it: others cannot rename what is ours there)."""
    euid = os.geteuid()
    path = Path(os.path.abspath(path))
    walked = Path(path.anchor)
    for part in path.parts[1:-1]:
        walked = walked / part
        try:
            info = os.lstat(walked)
        except FileNotFoundError:
            break  # what does not exist yet, bring-up makes (0700) and checks
        if stat.S_ISLNK(info.st_mode) and info.st_uid not in (0, euid):
            raise _refuse(path, f"{walked} on its way is a symbolic link owned by {_who(info.st_uid)}, "
                          "who can point it anywhere", f"Use a path without it, {_pick_another()}")
    for folder in Path(os.path.realpath(path)).parents:
        try:
            info = os.stat(folder)
        except FileNotFoundError:
            continue
        if info.st_uid not in (0, euid):
            raise _refuse(path, f"the folder {folder} above it belongs to {_who(info.st_uid)}, who can "
                          "rename it and put another in its place",
                          "Run bring-up as that user, or as root with root's own home (`sudo -H make ...`, "
                          f"not `sudo -E`), {_pick_another()}")
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            raise _refuse(path, f"the folder {folder} above it is writable by other users "
                          f"(mode {stat.S_IMODE(info.st_mode):04o}, no sticky bit), who can swap what is in it",
                          f"`chmod go-w {folder}`, {_pick_another()}")


def private_folder(path: Path, mode: int = PRIVATE_FOLDER_MODE) -> Path:
    """Make `path` a folder of the effective user's, mode 0700 (or `mode`,
    which never lets others write), or check that it is one. An existing
    folder we own that others cannot write is set to `mode`; one that is a
    link, another user's, or writable by others is refused (something may
    already have been planted in it)."""
    assert not mode & 0o022
    euid = os.geteuid()
    path = Path(path)
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    except FileNotFoundError:
        check_ancestors(path)
        path.parent.mkdir(mode=PRIVATE_FOLDER_MODE, parents=True, exist_ok=True)
        os.mkdir(path, mode)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, f"it is a symbolic link (to {os.readlink(path)}), and bring-up keeps its "
                      "state only in a real folder", f"Remove the link, {_pick_another()}")
    if not stat.S_ISDIR(info.st_mode):
        raise _refuse(path, "it is not a folder", f"Move it away, {_pick_another()}")
    if info.st_uid != euid:
        raise _refuse(path, f"it belongs to {_who(info.st_uid)}, not to {_who(euid)} who runs bring-up",
                      f"As root, run `sudo -H make ...` (root's own cache, not `sudo -E`), "
                      f"`chown -R {_name(euid)} {path}` if it is yours to take, {_pick_another()}")
    found = stat.S_IMODE(info.st_mode)
    if found & 0o022:
        raise _refuse(path, f"its group or other users can write in it (mode {found:04o}), so what is "
                      "in it may not be what bring-up wrote",
                      f"Check its contents, then `chmod {mode:o} {path}`, {_pick_another()}")
    if found != mode:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        say(f"    {path} was mode {found:04o}; set to {mode:04o} (only {_who(euid)} may change bring-up's state)")
    return path


def ensure() -> None:
    """The cache and the folders bring-up makes in it: checked, created 0700."""
    check_ancestors(CACHE)
    private_folder(CACHE)
    for folder in (RUN, ROOTFS, WORK):
        private_folder(folder)
    # The mirror's storage holds public images, which the doc tests' sandboxes
    # read through a bind mount as their unprivileged reader: others read it,
    # only we write it.
    private_folder(REGISTRY_DATA, mode=0o755)


def check_folder(folder: Path) -> None:
    """The folder a file is written in: a real folder of ours that nobody else writes."""
    info = os.lstat(folder)  # FileNotFoundError: nothing was written there yet
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _refuse(folder, "it is not a real folder (a symbolic link, or a file)",
                      f"Remove it and run `make engine` again, {_pick_another()}")
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
        raise _refuse(folder, f"it belongs to {_who(info.st_uid)} with mode {stat.S_IMODE(info.st_mode):04o}; "
                      f"bring-up writes only in folders of {_who(os.geteuid())} that nobody else can write",
                      f"`chmod 700 {folder}` if it is yours, {_pick_another()}")


def _check_opened(fd: int, path: Path) -> os.stat_result:
    info = os.fstat(fd)
    _check_file(info, path)
    return info


def _check_file(info: os.stat_result, path: Path) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refuse(path, f"it is a symbolic link (to {os.readlink(path)}), which bring-up does not follow",
                      "Remove the link and run the command again")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(path, "it is not a regular file", "Remove it and run the command again")
    if info.st_uid != os.geteuid():
        raise _refuse(path, f"it belongs to {_who(info.st_uid)}, not to {_who(os.geteuid())}: "
                      "somebody else wrote it", "Remove it and run the command again")
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise _refuse(path, f"other users may write it (mode {stat.S_IMODE(info.st_mode):04o})",
                      "Remove it and run the command again")


def _open(path: Path, flags: int, mode: int = SECRET_MODE) -> int:
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        if info is not None:  # O_NOFOLLOW met a link (ELOOP), O_NONBLOCK a FIFO nobody reads (ENXIO), ...
            _check_file(info, path)
        raise


def write_private(path: Path, data: str | bytes, mode: int = SECRET_MODE) -> Path:
    """Replace `path` with `data`, written to a new file of ours beside it
    (O_EXCL, never through a link) and renamed over it. What is at `path`
    must be a regular file of ours: a planted link or FIFO is refused, never
    followed. Mode 0600 unless told otherwise."""
    path = Path(path)
    check_folder(path.parent)
    try:
        _check_file(os.lstat(path), path)  # what is there is ours to replace, or refused (a link, a FIFO)
    except FileNotFoundError:
        pass
    content = data.encode() if isinstance(data, str) else data
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def open_log(path: Path) -> BinaryIO:
    """`path` opened for appending (binary), created 0600; never through a link,
    and never a file another user made."""
    return _open_checked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "ab")


def open_private(path: Path) -> BinaryIO:
    """A file bring-up wrote, opened for reading (binary): a regular file of
    ours in a folder of ours, never through a link. FileNotFoundError when
    there is none."""
    return _open_checked(path, os.O_RDONLY, "rb")


def _open_checked(path: Path, flags: int, mode: Literal["ab", "rb"]) -> BinaryIO:
    """`path` in a folder of ours, opened without following a link, and
    checked to be a regular file of ours that others cannot write."""
    path = Path(path)
    check_folder(path.parent)
    fd = _open(path, flags | os.O_NONBLOCK)  # O_NONBLOCK: a planted FIFO must not hang us
    try:
        _check_opened(fd, path)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, mode)


def read_private(path: Path) -> str:
    """The text of a file bring-up wrote (see open_private)."""
    with open_private(path) as stream:
        return stream.read().decode(errors="replace")


def rotate(path: Path, limit: int) -> bool:
    """Keep one older copy of a log that grew past `limit` bytes (path.1).
    Renames move the entries themselves, never what a link points to."""
    path = Path(path)
    check_folder(path.parent)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    _check_file(info, path)
    if info.st_size <= limit:
        return False
    os.replace(path, path.with_name(path.name + ".1"))
    return True


def only_match(folder: Path, pattern: str, made_by: str) -> Path:
    """The first file under `folder` matching `pattern`, or an error saying
    that `made_by` did not produce it (not a bare StopIteration)."""
    found = next(folder.glob(pattern), None)
    if found is None:
        raise BringupError(f"{made_by} left no {pattern} in {folder}")
    return found
