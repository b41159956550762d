"""What the Docker profile teaches the core about Docker's pages: which
commands take the terminal, which refuse to run, and which fields of
Docker's output vary between runs."""
from __future__ import annotations

import re
import shlex

from ..core.annotations import AnnotationKey, reason
from ..core.blocks import Block, PageError, ShellBlock
from ..core.matching import AGE, LineFold, Normalizer
from ..core.session import Interactive

INTERACTIVE = re.compile(r"^\s*docker\s+(?:container\s+)?(?P<verb>run|exec|attach|start)\b(?P<args>.*)$", re.S)
LONG_BOOLEANS = {"--interactive": "i", "--tty": "t", "--detach": "d", "--rm": "", "--init": "",
                 "--privileged": "", "--read-only": "", "--sig-proxy": ""}
SHORT_WITH_VALUE = set("pvewuhlmc")

# A command that would address another engine than the page's own.
LEAVES_ENGINE = re.compile(r"\bdocker(?:\s+--?[\w-]+(?:=\S+)?)*?\s+(?:-H|--host|--context|-c)(?:[\s=]|$)"
                           r"|\b(?:DOCKER_HOST|DOCKER_CONTEXT)=|\bdocker\s+context\s+use\b")


# Faults of the engine itself, reported upstream and intermittent: a command
# that fails with one runs once more (core: KnownFaults). Each names its report.
KNOWN_FAULTS = [
    # BuildKit unpacking a built image into the containerd image store (Docker
    # 28-29, the store of a fresh Docker Desktop): seen once in the journey.
    (re.compile(r"failed to prepare extraction snapshot \"[^\"]*\": parent snapshot \S+ does not exist"),
     "the containerd store's intermittent \"parent snapshot does not exist\" (moby/buildkit#6521)"),
]


def known_fault(output: str) -> str | None:
    """The report of a known engine fault `output` shows, or None."""
    return next((report for pattern, report in KNOWN_FAULTS if pattern.search(output)), None)


# Commands that make and remove no object of the engine: after one of them
# a journey does not list the engine to credit what is new to it (a listing
# costs a `docker exec`, about a sixth of a second on 2 cores). A command
# counts only when every simple command in it is one of these; anything
# else is listed. A wrong "nothing" only credits an object to a later
# command (in a failure's hint and the chapters' record), so a page that
# sets out to hide what it makes (an alias, a function, a hook) can, for
# its own record only; the syntax below is refused because an honest page
# may use it and a plain split would misread it.
READS_ONLY = {"cd", "ls", "cat", "echo", "printf", "pwd", "grep", "head", "tail", "wc", "sort", "uniq", "diff",
              "mkdir", "touch", "cp", "mv", "true", "false", "test", "[", "which", "type", "curl", "sleep",
              "clear", "history", "id", "whoami", "uname", "date", "tr", "cut", "file", "stat"}
DOCKER_READS = {"ps", "images", "inspect", "logs", "port", "top", "diff", "version", "info", "history", "search",
                "image ls", "image inspect", "image history", "container ls", "container inspect", "container logs",
                "container port", "volume ls", "volume inspect", "network ls", "network inspect", "system df",
                "compose ps", "compose logs", "compose config", "compose ls"}
# Comments, here-documents, continued lines, and expansions that run
# commands or that a plain split misreads (bash's $'...', ${...} with its
# operators and subscripts, $[...], zsh's =(...) and parameter flags).
UNSURE = re.compile(r"#|<<|\\\n|\$'|\$\{|\$\[|\$\(|`|[<>=]\(")
OPERATORS = ";&|\n"  # what ends a simple command (a pipe, a list, a background job, a line)


def makes_nothing(command: str) -> bool:
    """Whether `command` (as typed) can make or remove no engine object."""
    if UNSURE.search(command):
        return False
    lexer = shlex.shlex(command, posix=True, punctuation_chars=OPERATORS)
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:  # an unclosed quote: the shell decides what it is
        return False
    simple: list[list[str]] = [[]]
    for word in words:
        if set(word) <= set(OPERATORS):
            simple.append([])
        else:
            simple[-1].append(word)
    return all(_reads_only(argv) for argv in simple if argv)


def _reads_only(argv: list[str]) -> bool:
    if argv[0] == "curl":  # the jam server's API, not the engine's (which a Unix socket would reach)
        return not any(word.startswith("--unix") or word in ("-K", "--config") for word in argv)
    if argv[0] != "docker":
        return argv[0] in READS_ONLY
    # The verb right after `docker` (an option before it may take a value
    # that would read as the verb), with its object (`image ls`).
    return " ".join(argv[1:2]) in DOCKER_READS or " ".join(argv[1:3]) in DOCKER_READS


OTHER_ENGINE = AnnotationKey("other-engine", reason("other-engine"),
                             help="why a block may address another Docker engine")
NORMALIZERS = [
    Normalizer("digest", r"sha256:[0-9a-f]{64}", r"sha256:[0-9a-f]{64}", True),
    Normalizer("long-id", r"\b[0-9a-f]{64}\b", r"[0-9a-f]{64}", True),
    Normalizer("id", r"\b(?=[a-f]*\d)[0-9a-f]{12}\b", r"[0-9a-f]{12}", True),
    Normalizer("uptime", r"Up " + AGE + r"(?: \((?:healthy|unhealthy|health: starting)\))?",
               r"Up " + AGE + r"(?: \((?:healthy|unhealthy|health: starting)\))?"),
    Normalizer("build", r"(?<=build )[0-9a-f]{7}\b", r"[0-9a-f]{7,}"),
    Normalizer("host-port", r"(?<=:)(?:3[2-9]\d{3}|[4-6]\d{4})(?=->)", r"\d+"),
    # With IPv6, an engine binds a published port twice, and a port conflict
    # names whichever binding it tried first: either address may be printed.
    Normalizer("bind-address", r"(?<=Bind for )(?:0\.0\.0\.0|\[::\]|::)(?=:\d)", r"(?:0\.0\.0\.0|\[::\]|::)"),
    # A port published on IPv6's any-address: CLI 26 writes `:::8000->8000/tcp`,
    # CLI 28 `[::]:8000->8000/tcp`; a page may show either.
    Normalizer("ipv6-published", r"(?:\[::\]|::)(?=:\d+->)", r"(?:\[::\]|::)"),
    # Engine 28 puts a failed port binding under "failed to set up container
    # networking: " (Engine 26 says only what failed).
    Normalizer("networking-setup-error", r"(?<=Error response from daemon: )driver failed programming ",
               r"(?:failed to set up container networking: )?driver failed programming "),
    # `docker image history` writes an EXPOSE step as a Go map before Engine 28
    # (`EXPOSE map[8000/tcp:{}]`), as a list from it (`EXPOSE [8000/tcp]`).
    Normalizer("history-expose-map", r"(?<=EXPOSE )map(?=\[)", r"(?:map)?"),
    Normalizer("history-expose-port", r"(?<=/tcp):\{\}|(?<=/udp):\{\}", r"(?::\{\})?"),
    Normalizer("name", r"(?<!\S)[a-z]+_[a-z]+(?!\S)", r"[a-z]+_[a-z]+\d*", True),
    # BuildKit numbers its steps in the order they start, which varies when
    # several run at once (`--progress=plain` prints `#7 [3/5] COPY ...`).
    Normalizer("build-step", r"^#\d+(?= )", r"#\d+"),
    # A pushed manifest's size in bytes, which changes with the image.
    Normalizer("manifest-size", r"(?<=: digest: sha256:[0-9a-f]{64} size: )\d+\b", r"\d+"),
    # Declared variant: a pull of an image the reader may already have (pulled
    # before the workshop, or on an earlier page) downloads nothing.
    Normalizer("pulled-or-present", r"Status: Downloaded newer image for",
               r"Status: (?:Downloaded newer image|Image is up to date) for", variant=True),
    # Declared variant: the classic (overlay2) image store words a refused
    # `docker rmi` differently from the containerd store, which pages show.
    Normalizer("classic-store-wording", r"conflict: unable to delete \S+ \(must be forced\)",
               r'conflict: unable to (?:delete \S+ \(must be forced\)|remove repository reference "\S+" '
               r"\(must force\))", variant=True),
    # Declared variant: how the CLI reports a failed `docker run` (or create).
    # CLI 26 adds a period to the daemon's message and a `See 'docker run
    # --help'.` line; CLI 27 and later add no period, then a blank line and
    # `Run 'docker run --help' for more information` (RUN_ERROR_HINT folds both).
    Normalizer("run-error-wording", r"(?<=\S)\.$", r"\.?", variant=True),
]
# Under the declared variant pulled-or-present, everything a run or pull says
# about fetching the image is one line, which may be missing: the reader may
# already have the image (pulled before the workshop, or on an earlier page).
PULL = LineFold("pull-messages", re.compile(
    r"^(Unable to find image '\S+' locally|\S+: Pulling from \S+|[0-9a-f]{12}: .*|Digest: sha256:[0-9a-f]{64}|"
    r"Status: (?:Downloaded newer image|Image is up to date) for \S+)$"), "<pull messages>",
    optional_in="pulled-or-present", only_in="pulled-or-present")
# Under the declared variant run-error-wording, the CLI's pointer to the
# command's help, in either CLI's words (with CLI 27's blank line before it).
RUN_ERROR_HINT = LineFold("run-error-hint", re.compile(
    r"^(?:See 'docker [\w -]+--help'\.|Run 'docker [\w -]+--help' for more information|)$"),
    "<the command's help>", only_in="run-error-wording")
LAYERS = LineFold("layer-progress", re.compile(
    r"^[0-9a-f]{12}: (Pulling fs layer|Waiting|Downloading.*|Verifying Checksum|Download complete|"
    r"Extracting.*|Pull complete|Already exists|Preparing|Pushing.*|Pushed|Layer already exists|"
    r"Mounted from .*)$"), "<layer progress>", optional_in="pulled-or-present")


def is_interactive(command: str) -> bool:
    """Does this docker command take the terminal (`run -it`, `exec -it`,
    `attach`, `start -ai`)?"""
    match = INTERACTIVE.match(command)
    if not match:
        return False
    if match["verb"] == "attach":
        return True
    flags: set[str] = set()
    words = iter(match["args"].split())
    for word in words:
        if word.startswith("--"):
            name = word.split("=")[0]
            if name in LONG_BOOLEANS:
                flags.add(LONG_BOOLEANS[name])
            elif "=" not in word:
                next(words, None)  # its value
        elif word.startswith("-") and len(word) > 1:
            cluster = word[1:].split("=")[0]
            flags.update(cluster)
            if cluster[-1] in SHORT_WITH_VALUE and "=" not in word and len(cluster) == 1:
                next(words, None)
        else:
            break  # the image (or container): the container's own arguments follow
    if match["verb"] == "start":
        return {"a", "i"} <= flags
    return {"i", "t"} <= flags and "d" not in flags


def interactive(command: str) -> Interactive | None:
    if not is_interactive(command):
        return None
    match = INTERACTIVE.match(command)
    assert match is not None  # is_interactive matched it
    return Interactive(reattach=match["verb"] == "attach")


def check_engine(block: Block) -> None:
    """Refuse a command that would leave the page's engine, unless annotated."""
    if not isinstance(block, ShellBlock) or "other-engine" in block.options.extra or block.options.skip:
        return
    for command in block.commands:
        if LEAVES_ENGINE.search(command.text):
            raise PageError(block.path, command.line, f"`{command.text.splitlines()[0]}` would address "
                            "another Docker engine than the page's own (-H, --host, --context, "
                            'DOCKER_HOST or DOCKER_CONTEXT); if that is intended, annotate the block '
                            'with <!-- doctest: other-engine="why" -->')
