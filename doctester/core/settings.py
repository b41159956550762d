"""The harness's settings: ini options, each overridable on the command line.

Installed in any project, the plugin collects nothing until `doc_pages`
names the pages. This repository's own pytest.ini is one such configuration.
A profile adds its own options with the same helpers.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

GROUP = ("doctester", "doc tests of Markdown pages")

# (name, help, default, allowed values or None); each has a --doc-<name> flag that overrides the ini.
Option = tuple[str, str, str, Optional[Iterable[str]]]
OPTIONS: list[Option] = [
    ("pages", "globs of the pages to run, relative to the rootdir (nothing is collected without it)", "", None),
    ("copy", "a folder, relative to the rootdir, copied into every page's working directory", "", None),
    ("workdir_name", "the name of the page's working folder, which the page's shell finds at ~/NAME "
                     "(its home is a folder of the run's own)", "workshop", None),
    ("copy_ignore", "names left out of that copy (glob patterns)", "__pycache__ .pytest_cache", None),
    ("cache_inputs", "globs of files that, when changed, make --doc-cache run a page again", "", None),
    ("report", "where the JSON report of a run is written, relative to the rootdir",
     "build/doctest-report.json", None),
    ("timeout", "seconds a command may run before it is killed", "120", None),
    ("console_without_prompt", "a console block with no `$ ` line: output (of the block before) or error",
     "output", ("output", "error")),
    ("untitled_files", "an untitled fence of a file language (dockerfile): named (written to its usual "
                       "name, Dockerfile) or error", "named", ("named", "error")),
    ("foreign_syntax", "lines other renderers drop (Hugo/Jinja shortcodes, ::: admonitions): drop or keep",
     "drop", ("drop", "keep")),
    ("tabs", "which of a step's system tabs run: unix (the macOS/Linux tabs; Windows tabs are skipped) or "
             "windows (the Windows tabs, where the profile finds they run unchanged in the page's shell; "
             "macOS/Linux tabs are skipped)", "unix", ("unix", "windows")),
    ("reader_shell", "the reader's shell the pages are typed into: bash, or zsh (as on macOS: no interactive "
                     "comments, an unmatched glob is an error, `!` expands history)", "bash", ("bash", "zsh")),
]


def add_options(parser: pytest.Parser, options: Iterable[Option]) -> None:
    group = parser.getgroup(*GROUP)
    for name, text, default, _ in options:
        parser.addini(f"doc_{name}", text, default=default)
        group.addoption(f"--doc-{name.replace('_', '-')}", dest=f"doc_{name}", default=None, help=text)


def read_options(config: pytest.Config, options: Iterable[Option],
                 environ: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """{name: value}: the flag if given, else the ini (or `environ[name]`);
    a value outside its allowed ones is a usage error naming the option."""
    values: dict[str, str] = {}
    for name, _, _, allowed in options:
        value = config.getoption(f"doc_{name}")
        if value is None:
            value = (environ or {}).get(name) or config.getini(f"doc_{name}")
        if allowed and value not in allowed:
            raise pytest.UsageError(f"doctester: doc_{name} = {value!r} is not one of {', '.join(allowed)} "
                                    f"(ini option doc_{name}, or --doc-{name.replace('_', '-')})")
        values[name] = value
    return values


@dataclass
class Settings:
    root: Path
    pages: list[str]
    copy: Path | None
    copy_ignore: list[str]
    cache_inputs: list[str]
    report: Path
    timeout: float
    console_without_prompt: str
    untitled_files: str
    foreign_syntax: str
    reader_shell: str = "bash"
    tabs: str = "unix"
    workdir_name: str = "workshop"

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        values = read_options(config, OPTIONS)
        try:
            timeout = float(values["timeout"])
        except ValueError:
            raise pytest.UsageError(f"doctester: doc_timeout = {values['timeout']!r} is not a number of seconds")
        name = values["workdir_name"]
        if not re.fullmatch(r"[\w][\w.-]*", name) or name in ("scratch",):
            raise pytest.UsageError(f"doctester: doc_workdir_name = {name!r} is not a folder name (letters, "
                                    "digits, `.`, `-`, `_`; not `scratch`, where the shell keeps output)")
        root = Path(config.rootpath)
        return cls(root=root, pages=values["pages"].split(),
                   copy=root / values["copy"] if values["copy"] else None,
                   copy_ignore=values["copy_ignore"].split(), cache_inputs=values["cache_inputs"].split(),
                   report=root / values["report"], timeout=timeout,
                   console_without_prompt=values["console_without_prompt"],
                   untitled_files=values["untitled_files"], foreign_syntax=values["foreign_syntax"],
                   reader_shell=values["reader_shell"], tabs=values["tabs"],
                   workdir_name=values["workdir_name"])

    def wants(self, path: str | Path) -> bool:
        """Is `path` one of the pages?"""
        relative = self.relative(path)
        # `docs/**/*.md` also names docs/index.md, as in a shell with globstar.
        return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern.replace("**/", ""))
                   for pattern in self.pages)

    def relative(self, path: str | Path) -> str:
        path = Path(path)
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def cache_files(self, extra: Iterable[Path] = ()) -> list[Path]:
        found = set(extra)
        for pattern in self.cache_inputs:
            found.update(p for p in self.root.glob(pattern) if p.is_file())
        package = Path(__file__).parent.parent  # the harness itself: a change to it reruns every page
        return sorted(found) + sorted(package.rglob("*.py"))
