"""Block kinds: one registered object per kind of block, with the fence
languages it claims, how such a fence becomes a block, and how the block
runs (Sybil's regions carry their evaluator the same way). The core's kinds
are in core_kinds.py; a profile adds its own through the
pytest_doctester_block_kinds hook. A language belongs to one kind only."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .blocks import Block, Options

if TYPE_CHECKING:
    from .markdown import Grammar
    from .pagerun import PageRun


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page, as a kind reads it."""
    path: str
    line: int                   # 1-based line of the opening fence
    lang: str
    title: str                  # the fence's `title=` attribute, or ""
    content: str
    options: Options            # its `<!-- doctest: ... -->` annotation
    containers: tuple[str, ...]  # titles of the tabs/admonitions around it
    grammar: Grammar
    root: Path                  # the project, where snippet includes are read

    def where(self) -> dict[str, Any]:
        """The fields every block has, for a kind's Block subclass."""
        return {"path": self.path, "line": self.line, "options": self.options, "containers": self.containers}


ReadFence = Callable[[Fence], Block]
RunBlock = Callable[["PageRun", Any, float], None]  # (the page's run, a block of the kind, timeout in s)


@dataclass(frozen=True)
class BlockKind:
    name: str                   # the `kind` of the blocks it makes, as reports name them
    languages: frozenset[str]   # fence languages it reads; none for a kind made otherwise
    run: RunBlock
    read: ReadFence | None = None  # None: its blocks come from annotations, not fences


class KindError(Exception):
    """Two kinds claim one language, or one name runs two ways."""


class BlockKinds:
    """The kinds pages are read and run with, each with where it was registered."""

    def __init__(self, origin: str = "the core", kinds: Iterable[BlockKind] = ()) -> None:
        self._by_language: dict[str, tuple[BlockKind, str]] = {}
        self._by_name: dict[str, tuple[BlockKind, str]] = {}
        self._add(origin, kinds)

    def extended(self, origin: str, kinds: Iterable[BlockKind]) -> BlockKinds:
        """These kinds and those `origin` (a profile) registers; KindError if they clash."""
        more = BlockKinds()
        more._by_language, more._by_name = dict(self._by_language), dict(self._by_name)
        more._add(origin, kinds)
        return more

    def _add(self, origin: str, kinds: Iterable[BlockKind]) -> None:
        for kind in kinds:
            for lang in sorted(kind.languages):
                if lang in self._by_language:
                    other, where = self._by_language[lang]
                    raise KindError(f"the kind {kind.name!r} of {origin} claims the fence language {lang!r}, "
                                    f"which is the kind {other.name!r}'s of {where}")
                self._by_language[lang] = kind, origin
            same, where = self._by_name.get(kind.name, (None, ""))
            if same is not None and same.run is not kind.run:
                raise KindError(f"the kind {kind.name!r} of {origin} runs otherwise than the kind of that "
                                f"name of {where}")
            self._by_name[kind.name] = kind, origin

    def for_language(self, lang: str) -> BlockKind | None:
        found = self._by_language.get(lang)
        return found[0] if found else None

    def runner(self, name: str) -> RunBlock:
        """How blocks of the kind `name` run."""
        if name not in self._by_name:
            raise KindError(f"no block kind {name!r} is registered; known: {', '.join(sorted(self._by_name))}")
        return self._by_name[name][0].run

    @property
    def languages(self) -> frozenset[str]:
        """Every fence language some kind runs."""
        return frozenset(self._by_language)
