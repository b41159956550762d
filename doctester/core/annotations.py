"""The annotation grammar: `<!-- doctest: key=value key ... -->` before a
fence, or alone (an action). Each key is an AnnotationKey; a profile adds
its own through the pytest_doctester_annotation_keys hook. The keys are
listed on the authoring page (docs/authoring.md)."""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .blocks import Options, PageError

ANNOTATION = re.compile(r"^<!--\s*doctest:(.*?)-->\s*$", re.S)


@dataclass(frozen=True)
class AnnotationKey:
    name: str
    read: Callable[[str], Any]  # the text after `=` -> its value; raises ValueError with the reason
    attribute: str | None = None  # the Options field it sets; None: kept in Options.extra
    help: str = ""


def reason(key: str) -> Callable[[str], str]:
    """The reader of an annotation whose value is a reason, which must not be empty."""
    def read(value: str) -> str:
        if not value.strip():
            raise ValueError(f'{key} needs a reason: {key}="why"')
        return value
    return read


def _exit(value: str) -> str:
    if not (value.isdigit() or value == "nonzero"):
        raise ValueError(f"exit takes a number or 'nonzero', not {value!r}")
    return value


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"timeout takes seconds, not {value!r}") from None


def _name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w-]*", value):
        raise ValueError(f"capture takes a name, not {value!r}")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"pattern is not a valid regex: {error}") from None
    return value


CORE_KEYS = [
    AnnotationKey("skip", reason("skip"), "skip", "never run the block; the reason is printed"),
    AnnotationKey("exit", _exit, "exit", "the exit status the block's last command must have"),
    AnnotationKey("timeout", _seconds, "timeout", "seconds each command may run"),
    AnnotationKey("capture", _name, "capture", "keep the output under a name, used later as <name>"),
    AnnotationKey("pattern", _regex, "pattern", "with capture: keep group 1 of this regex"),
    AnnotationKey("press", lambda v: [k for k in re.split(r"[\s,]+", v) if k], "press",
                  "keys typed into the interactive session"),
    AnnotationKey("run", str, "run", "a command run in the page's shell, not shown"),
    AnnotationKey("no-output-check", lambda v: False, "check_output", "the output shown is not compared"),
    AnnotationKey("variant", lambda v: tuple(k for k in re.split(r"[\s,]+", v) if k), "variants",
                  "named variants of the output the block accepts (listed on the authoring page)"),
    AnnotationKey("alone", reason("alone"), "alone",
                  "for a reader starting at this page: not run in a journey, which has what it makes"),
    AnnotationKey("in-order", reason("in-order"), "in_order",
                  "for a reader who followed the pages before this one: run only in a journey"),
]


def parse_annotation(text: str, path: str, line: int, keys: Mapping[str, AnnotationKey]) -> Options:
    """`keys`: name -> AnnotationKey. Returns Options; a bad key or value is
    a PageError at the annotation's line."""
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise PageError(path, line, f"cannot read the doctest annotation ({error})")
    options = Options()
    for word in words:
        name, _, value = word.partition("=")
        key = keys.get(name)
        if key is None:
            raise PageError(path, line, f"unknown doctest annotation {name!r}; known: {', '.join(sorted(keys))}")
        try:
            parsed = key.read(value)
        except ValueError as error:
            raise PageError(path, line, str(error))
        except Exception as error:  # a profile's reader: a bug there is still reported at the page's line
            raise PageError(path, line, f"reading {name}={value!r} failed: {type(error).__name__}: {error}")
        if key.attribute:
            setattr(options, key.attribute, parsed)
        else:
            options.extra[name] = parsed
    return options
