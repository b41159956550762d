"""MkDocs hook: the site serves the workshop's files as `intro-to-docker.zip`.

Readers unpack it into their home folder and get `~/intro-to-docker/examples/`,
the folder every chapter starts in (before.md), without a Git client or the
repository's address; in a room with bad Wi-Fi the organizer's site hands it
out. The archive holds exactly the `examples/` the doc tests copy into each
page's folder (pytest.ini's doc_copy, less doc_copy_ignore), so what a reader
unpacks is what the pages were proven with.
"""
import configparser
import fnmatch
import io
import zipfile
from pathlib import Path

from mkdocs.structure.files import File

ARCHIVE = "intro-to-docker.zip"
TOP = "intro-to-docker"
# Zip entries carry a date; a fixed one makes the archive the same bytes for the same files.
FIXED_DATE = (2026, 1, 1, 0, 0, 0)


def copied_files(root):
    """(path, name in the archive) of every file the doc tests copy."""
    ini = configparser.ConfigParser()
    ini.read(root / "pytest.ini")
    folder = root / ini["pytest"]["doc_copy"].strip()
    ignored = ini["pytest"].get("doc_copy_ignore", "").split()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in ignored):
            yield path, f"{TOP}/{folder.name}/{relative.as_posix()}"


def archive(root):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path, name in copied_files(root):
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zipped.writestr(info, path.read_bytes())
    return buffer.getvalue()


def on_files(files, config):
    root = Path(config["config_file_path"]).parent
    files.append(File.generated(config, ARCHIVE, content=archive(root)))
    return files
