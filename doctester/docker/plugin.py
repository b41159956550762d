"""The Docker profile: a pytest plugin that implements the core's hooks for
pages about Docker. Pages run on private Docker engines (or, on request, the
reachable daemon); `present:`/`absent:` front matter sets each page's images."""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..core.annotations import AnnotationKey
from ..core.blocks import Block, Page, ShellBlock
from ..core.contract import Normalizers, Provider
from ..core.core_kinds import CORE_KINDS, file_kind
from ..core.kinds import BlockKind
from ..core.markdown import Grammar
from ..core.matching import Rules
from ..core.session import Interactive
from ..core.settings import add_options, read_options
from ..core.state import doc_run
from . import checkpoints, portability, rules
from .dockerstate import EngineError
from .provider import MODES, EngineProvider
from .sandbox import Limits, parse_size
from .ownership import DEFAULT_STATE
from .identity import DEFAULT_HOSTNAME, DEFAULT_LABEL_NAMESPACE, DEFAULT_SANDBOX_IMAGE

if TYPE_CHECKING:
    from ..core.pagerun import PageRun

# The daemon.json `features` that select each image store.
STORES = {"overlay2": None, "containerd": {"containerd-snapshotter": True}}

OPTIONS = [
    ("engine", "private (pages run on Docker engines the run starts and owns) or existing "
               "(the reachable daemon; env DOCTEST_ENGINE overrides)", "private", MODES),
    ("sandbox_image", "the image of the private engines (python -m doctester.docker.sandbox_image build "
                      "builds one)", DEFAULT_SANDBOX_IMAGE, None),
    ("sandbox_hostname", "the hostname of the private engines' sandboxes, which the pages' shells see",
     DEFAULT_HOSTNAME, None),
    ("label_namespace", "the prefix of the labels on what runs create on the outer engine (NAMESPACE.doctest.run) "
                        "and on sandbox images (NAMESPACE.role); reaping finds a killed run's objects by it, "
                        "so keep it the same for every run that shares a state_dir", DEFAULT_LABEL_NAMESPACE,
     None),
    ("image_store", "the private engines' image store: overlay2 (the classic one) or containerd (as on fresh "
                    "Docker Desktop installs)", "overlay2", STORES),
    ("mirror_storage", "a registry's storage folder, served read-only to the private engines as their "
                       "registry mirror (env DOCTEST_MIRROR_STORAGE overrides)", "", None),
    ("state_dir", "where runs record what they start", str(DEFAULT_STATE), None),
    ("no_engine_hint", "what to tell the reader when no Docker engine answers",
     "Start Docker, or set DOCKER_HOST.", None),
    ("sandbox_memory", "each private engine's memory limit, its tmpfs (images, containers' files, the page's "
                       "folder) included, e.g. 6g; empty: all workers' sandboxes fit in 80 % of this "
                       "machine's memory", "", None),
    ("sandbox_pids", "each private engine's process limit (at most 4096)", "4096", None),
    ("sandbox_cpu_shares", "each private engine's relative CPU weight (docker run --cpu-shares)", "512", None),
    ("journey_record", "with --doc-journey: where to write, after each page, the state it leaves the engine and "
                       "the working folder in (read by a checker such as examples/check.py); empty: none",
     "", None),
    ("portable_pages", "globs of the pages (relative to the rootdir) whose reader commands must run unchanged in "
                       "bash, zsh, PowerShell 7 and Windows PowerShell 5.1; empty: none is checked", "", None),
]

# Dockerfiles a page shows: an untitled `dockerfile` fence is written to `Dockerfile`.
DOCKERFILE = file_kind({"dockerfile": "Dockerfile", "docker": "Dockerfile"})
# The journey's record of this run (--doc-journey with doc_journey_record).
JOURNEY_RECORD = pytest.StashKey[checkpoints.JourneyRecord]()

# The pages the portability rule applies to, as this run's configuration names
# them (the page-check hook is given the page alone).
PORTABLE: dict[str, Any] = {"root": Path("."), "globs": ()}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser, OPTIONS)
    parser.addini("doc_existing_ok", "with doc_engine = existing, go on although the daemon holds objects",
                  type="bool", default=False)
    parser.getgroup("doctester").addoption(
        "--doc-existing-ok", action="store_true", default=None,
        help="with --doc-engine=existing, go on although the daemon holds objects")
    parser.addini("doc_trusted_pages", "the pages are trusted: they may run outside a sandbox "
                  "(--doc-engine=existing runs them, and their python fences, on this machine)",
                  type="bool", default=False)
    parser.getgroup("doctester").addoption(
        "--doc-trusted-pages", action="store_true", default=None,
        help="the pages are trusted: allows --doc-engine=existing, which runs them on this machine")


def pytest_doctester_annotation_keys() -> list[AnnotationKey]:
    return [rules.OTHER_ENGINE, portability.NOT_PORTABLE, checkpoints.CHECKPOINT]


def pytest_doctester_block_kinds() -> list[BlockKind]:
    return [DOCKERFILE]


def pytest_doctester_check_block(block: Block) -> None:
    rules.check_engine(block)


def pytest_configure(config: pytest.Config) -> None:
    PORTABLE["root"] = Path(config.rootpath)
    PORTABLE["globs"] = tuple(read_options(config, OPTIONS)["portable_pages"].split())


def journey_record(config: pytest.Config) -> checkpoints.JourneyRecord | None:
    """This run's record of where the journey leaves the reader, if it keeps one."""
    path = read_options(config, OPTIONS)["journey_record"]
    if not path:
        return None
    record = config.stash.get(JOURNEY_RECORD, None)
    if record is None:
        settings = doc_run(config).settings
        record = config.stash[JOURNEY_RECORD] = checkpoints.JourneyRecord(
            settings.root / path, settings.root, settings.copy, settings.copy_ignore)
    return record


def pytest_doctester_journey_page_end(config: pytest.Config, page: Page, run: PageRun) -> None:
    """The journey's record: where this page left the reader's engine and folder."""
    record = journey_record(config)
    if record is not None:
        record.add(page, run.environment, run.workspace)


def pytest_doctester_journey_block_start(config: pytest.Config, page: Page, block: Block, run: PageRun) -> None:
    """A block that checks a step within its page (`checkpoint=try-it`): the
    record of where the steps before it left the reader, under that name."""
    step = block.options.extra.get(checkpoints.CHECKPOINT.name)
    record = journey_record(config)
    if step and record is not None:
        record.add(page, run.environment, run.workspace, step=step)


def is_portable_page(path: str | os.PathLike[str]) -> bool:
    relative = os.path.relpath(Path(path).resolve(), PORTABLE["root"].resolve())
    return any(fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(relative, glob.replace("**/", ""))
               for glob in PORTABLE["globs"])


def pytest_doctester_check_page(page: Page) -> None:
    if is_portable_page(page.path):
        portability.check_page(page)


def pytest_doctester_other_system(block: ShellBlock) -> bool | str | None:
    return portability.windows_verdict(block)


def pytest_doctester_normalizers() -> Normalizers:
    return [*rules.NORMALIZERS, rules.PULL, rules.RUN_ERROR_HINT, rules.LAYERS]


def pytest_doctester_interactive(command: str) -> Interactive | None:
    return rules.interactive(command)


def pytest_doctester_environment(config: pytest.Config, worker: str) -> Provider | None:
    values = read_options(config, OPTIONS, {"engine": os.environ.get("DOCTEST_ENGINE"),
                                            "mirror_storage": os.environ.get("DOCTEST_MIRROR_STORAGE")})
    existing_ok = bool(config.getoption("doc_existing_ok") or config.getini("doc_existing_ok"))
    trusted = bool(config.getoption("doc_trusted_pages") or config.getini("doc_trusted_pages"))
    if values["engine"] == "existing" and not trusted:
        raise pytest.UsageError(
            "doctester: doc_engine = existing runs each page's commands and python fences on this machine, "
            "outside any sandbox; pass --doc-trusted-pages (ini doc_trusted_pages = true) if you trust "
            "every page, or use the default private engines")
    try:
        # How many sandboxes share this machine: this run's workers, or what
        # DOCTEST_SANDBOXES says when several runs go at once (make test).
        sandboxes = os.environ.get("DOCTEST_SANDBOXES") or os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1
        limits = Limits.for_machine(int(sandboxes),
                                    parse_size(values["sandbox_memory"]), int(values["sandbox_pids"]),
                                    int(values["sandbox_cpu_shares"]))
    except ValueError:
        raise pytest.UsageError("doctester: doc_sandbox_pids and doc_sandbox_cpu_shares are whole numbers") from None
    except EngineError as error:
        raise pytest.UsageError(f"doctester: {error}") from None
    return EngineProvider(values["engine"], os.path.expanduser(values["state_dir"]), worker,
                          values["sandbox_image"],
                          os.path.expanduser(values["mirror_storage"]) if values["mirror_storage"] else None,
                          existing_ok, features=STORES[values["image_store"]],
                          no_engine_hint=values["no_engine_hint"], limits=limits,
                          label_namespace=values["label_namespace"] or DEFAULT_LABEL_NAMESPACE,
                          hostname=values["sandbox_hostname"] or DEFAULT_HOSTNAME)


def pytest_doctester_page_group(page: Page) -> str | None:
    """Pages whose first `present` image is the same run in a row, so that
    image is unpacked once on the worker's engine rather than page after page."""
    present = (page.meta or {}).get("present", [])
    return f"image:{present[0]}" if present else None


# The kinds pages are read with when this profile is installed (outside pytest).
KINDS = CORE_KINDS.extended("the profile doctester-docker", pytest_doctester_block_kinds())


def grammar(**conventions: Any) -> Grammar:
    """The grammar pages are read with when this profile is installed, for
    tools that read pages outside pytest (benchmarks, tests)."""
    conventions = {"page_checks": [portability.check_page], "other_system": pytest_doctester_other_system,
                   **conventions}
    return Grammar.with_profile(pytest_doctester_annotation_keys(), KINDS, [pytest_doctester_check_block],
                                Rules.of(pytest_doctester_normalizers()).variant_names, **conventions)


def listing_grammar(**conventions: Any) -> Grammar:
    """The grammar `python -m doctester.docker.portability` reads pages with:
    the profile's, without its checks, so that it lists every violation."""
    return Grammar.with_profile(pytest_doctester_annotation_keys(), KINDS, [],
                                Rules.of(pytest_doctester_normalizers()).variant_names,
                                other_system=pytest_doctester_other_system, **conventions)
