"""The harness's settings: ini options, each overridable on the command line.

Installed in any project, the plugin collects nothing until `doc_pages`
names the pages. This repository's own pytest.ini is one such configuration.
"""
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from .__main__ import DEFAULT_STATE
from .provider import MODES

# (name, help, default); each has a --doc-<name> flag that overrides the ini.
OPTIONS = [
    ("pages", "globs of the pages to run, relative to the rootdir (nothing is collected without it)", ""),
    ("copy", "a folder, relative to the rootdir, copied into every page's working directory", ""),
    ("copy_ignore", "names left out of that copy (glob patterns)", "__pycache__ .pytest_cache"),
    ("cache_inputs", "globs of files that, when changed, make --doc-cache run a page again", ""),
    ("report", "where the JSON report of a run is written, relative to the rootdir",
     "build/doctest-report.json"),
    ("timeout", "seconds a command may run before it is killed", "120"),
    ("no_engine_hint", "what to tell the reader when no Docker engine answers",
     "Start Docker, or set DOCKER_HOST."),
    ("engine", "private (pages run on Docker engines the run starts and owns) or existing "
               "(the reachable daemon; env DOCTEST_ENGINE overrides)", "private"),
    ("sandbox_image", "the image of the private engines", "intro-to-docker/doctest-sandbox:latest"),
    ("mirror_storage", "a registry's storage folder, served read-only to the private engines as their "
                       "registry mirror (env DOCTEST_MIRROR_STORAGE overrides)", ""),
    ("state_dir", "where runs record what they start", str(DEFAULT_STATE)),
    ("console_without_prompt", "a console block with no `$ ` line: output (of the block before) or error",
     "output"),
    ("untitled_dockerfile", "an untitled dockerfile fence: Dockerfile (written there) or error", "Dockerfile"),
]
CHOICES = {"engine": MODES, "console_without_prompt": ("output", "error"),
           "untitled_dockerfile": ("Dockerfile", "error")}


def add_options(parser, group):
    for name, text, default in OPTIONS:
        parser.addini(f"doc_{name}", text, default=default)
        group.addoption(f"--doc-{name.replace('_', '-')}", dest=f"doc_{name}", default=None, help=text)
    parser.addini("doc_existing_ok", "with doc_engine = existing, go on although the daemon holds objects",
                  type="bool", default=False)
    group.addoption("--doc-existing-ok", action="store_true", default=None,
                    help="with --doc-engine=existing, go on although the daemon holds objects")


@dataclass
class Settings:
    root: Path
    pages: list
    copy: Path
    copy_ignore: list
    cache_inputs: list
    report: Path
    timeout: float
    no_engine_hint: str
    engine: str
    sandbox_image: str
    mirror_storage: Path
    state_dir: Path
    console_without_prompt: str
    untitled_dockerfile: str
    existing_ok: bool

    @classmethod
    def from_config(cls, config):
        values = {}
        for name, _, _ in OPTIONS:
            value = config.getoption(f"doc_{name}")
            values[name] = value if value is not None else config.getini(f"doc_{name}")
        values["engine"] = os.environ.get("DOCTEST_ENGINE") or values["engine"]
        values["mirror_storage"] = os.environ.get("DOCTEST_MIRROR_STORAGE") or values["mirror_storage"]
        for name, allowed in CHOICES.items():
            if values[name] not in allowed:
                raise pytest.UsageError(f"doctester: doc_{name} = {values[name]!r} is not one of "
                                        f"{', '.join(allowed)} (ini option doc_{name}, or --doc-"
                                        f"{name.replace('_', '-')})")
        try:
            timeout = float(values["timeout"])
        except ValueError:
            raise pytest.UsageError(f"doctester: doc_timeout = {values['timeout']!r} is not a number of seconds")
        root = Path(config.rootpath)
        return cls(root=root, pages=values["pages"].split(),
                   copy=root / values["copy"] if values["copy"] else None,
                   copy_ignore=values["copy_ignore"].split(), cache_inputs=values["cache_inputs"].split(),
                   report=root / values["report"], timeout=timeout, no_engine_hint=values["no_engine_hint"],
                   engine=values["engine"], sandbox_image=values["sandbox_image"],
                   mirror_storage=Path(values["mirror_storage"]).expanduser() if values["mirror_storage"] else None,
                   state_dir=Path(values["state_dir"]).expanduser(),
                   console_without_prompt=values["console_without_prompt"],
                   untitled_dockerfile=values["untitled_dockerfile"],
                   existing_ok=bool(config.getoption("doc_existing_ok") or config.getini("doc_existing_ok")))

    def wants(self, path):
        """Is `path` one of the pages?"""
        relative = self.relative(path)
        # `docs/**/*.md` also names docs/index.md, as in a shell with globstar.
        return any(fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern.replace("**/", ""))
                   for pattern in self.pages)

    def relative(self, path):
        path = Path(path)
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def cache_files(self):
        found = set()
        for pattern in self.cache_inputs:
            found.update(p for p in self.root.glob(pattern) if p.is_file())
        package = Path(__file__).parent
        return sorted(found) + sorted(package.glob("*.py"))
