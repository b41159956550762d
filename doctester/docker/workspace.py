"""A page's folder inside its sandbox. Nothing of it is on this machine: the
project's files go in as a tar stream, a file block's text over `docker
exec` stdin, and the checks of where a file may go run inside, so a link a
page plants can lead nowhere but into the sandbox."""
from __future__ import annotations

import fnmatch
import functools
import io
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

from .dockerstate import EngineError
from .sandbox import READER_HOME, Sandbox

PAGES = f"{READER_HOME}/pages"

# $1 page folder, $2 the shell's folder, $3 the title; the text is stdin.
WRITE = r'''
target=$(realpath -m -- "$2/$3") || exit 3
case "$target" in "$1"/*) ;; *) exit 3 ;; esac
mkdir -p -- "${target%/*}" && cat > "$target"
'''


@functools.lru_cache(maxsize=4)  # made once per test process, sent into every page's folder
def project_tar(copy: str | Path, ignore: tuple[str, ...]) -> bytes:
    """The project's files as an uncompressed tar, named by the folder's name."""
    copy = Path(copy)
    buffer = io.BytesIO()

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if any(fnmatch.fnmatch(part, pattern) for part in Path(info.name).parts
                           for pattern in ignore) else info

    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(copy, arcname=copy.name, filter=keep)
    return buffer.getvalue()


class SandboxWorkspace:
    """The core's Workspace, kept in the sandbox: `tmp` (the shell's home),
    `workdir` in it, `scratch` for the shell's output."""

    def __init__(self, sandbox: Sandbox, copy: Path | None = None, ignore: Sequence[str] = (),
                 name: str = "workshop") -> None:
        self.sandbox = sandbox
        made = sandbox.run_script(f'mkdir -p {PAGES} && mktemp -d {PAGES}/page-XXXXXXXX', timeout=30)
        self.tmp = Path(made.stdout.strip())
        self.workdir, self.scratch = self.tmp / name, self.tmp / "scratch"
        sandbox.run_script('mkdir -p -- "$1" "$2"', str(self.workdir), str(self.scratch), timeout=30)
        if copy is not None:
            result = subprocess.run(sandbox.exec_argv("tar", "-x", "-C", str(self.workdir), stdin=True),
                                    input=project_tar(str(copy), tuple(ignore)), capture_output=True,
                                    timeout=120)
            if result.returncode:
                raise EngineError(f"copying {copy} into the sandbox failed: "
                                  f"{result.stderr.decode(errors='replace').strip()}")

    def write(self, relative_to: Path, title: str, content: str) -> bool:
        """Write a file block; False if its title points outside the page's folder."""
        result = self.sandbox.run_script(WRITE, str(self.tmp), str(relative_to), title, stdin=content,
                                 check=False, timeout=60)
        if result.returncode == 3:
            return False
        if result.returncode:
            raise EngineError(f"writing {title} in the sandbox failed: {result.stderr.strip()}")
        return True

    def remove(self) -> None:
        # As the engine's namespace root: its containers' files belong to its uids.
        self.sandbox.in_engine_namespace('rm -rf -- "$1"', str(self.tmp), check=False, timeout=120)
