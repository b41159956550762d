"""Compare the output a page shows with the output a command really printed.

What legitimately differs between two runs is matched by pattern: the core
knows timestamps, ages, sizes, durations and version numbers; a profile adds
its tool's own (IDs, random names, progress lines) through the
pytest_doctester_normalizers hook. Everything else must be equal, except that
runs of spaces only need to be runs of spaces (table columns widen with their
content). A line `...` matches any number of lines. Values a bound normalizer
matched are *bound*: the page's value stands for the real one from then on
(see Bindings), so a later `docker rm e3` acts on the container the page
showed as e3b0c44298fc.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

ELLIPSIS = "..."
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
# curl's progress meter, which it prints only when its output is not a
# terminal (the page shell sends output to a file): a reader never sees it.
# Newer curl (8.22 in Debian forky) leaves the three time columns blank while
# they are unknown.
CURL_METER = re.compile(r"^\s*(% Total\s+% Received.*|Dload\s+Upload\s+Total.*|"
                        r"\d+\s+\S+\s+\d+\s+\S+\s+\d+\s+\S+\s+\S+\s+\S+\s+[-:\d]+\s+[-:\d]+\s+[-:\d]+\s+\S+|"
                        r"\d+(?:\s+[\d.]+[kMGTP]?){7}\s{10,}[\d.]+[kMGTP]?)$")
AGE = r"(?:About an? \w+|Less than a second|\d+ \w+)"


@dataclass(frozen=True)
class Normalizer:
    """A field that varies between runs: how a page writes it, what real
    output must match there, and whether the value is bound."""
    name: str
    shown: str
    real: str
    bound: bool = False
    variant: bool = False  # a declared variant: in force only on blocks that name it (variant=NAME)


@dataclass(frozen=True)
class LineFold:
    """Lines that vary in number (progress, layers): each run of them, shown
    or real, is folded into one `placeholder` line."""
    name: str
    pattern: re.Pattern[str]
    placeholder: str
    optional_in: str | None = None  # under this declared variant, the folded lines may be absent
    only_in: str | None = None      # a fold that is itself a declared variant: in force only under it


CORE_NORMALIZERS = [
    Normalizer("timestamp", r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z| [+-]\d{4} \w+)?",
               r"\S+(?: \S+ \S+)?"),
    Normalizer("age", AGE + r" ago", AGE + r" ago"),
    Normalizer("size", r"(?<![\w.])\d+(?:\.\d+)?\s?[kMG]?B\b", r"\d+(?:\.\d+)?\s?[kMG]?B"),
    Normalizer("seconds", r"(?<![\w.])\d+(?:\.\d+)?m?s\b", r"\d+(?:\.\d+)?m?s"),
    Normalizer("version", r"(?<![\w.])\d+\.\d+\.\d+(?:[-+~][\w.+~-]*)?(?![\w.])",
               r"\d+\.\d+\.\d+(?:[-+~][\w.+~-]*)?"),
]


class Rules:
    """The normalizers and folds in force: a profile's first (more specific),
    then the core's. Variants are in force only where a block declares them."""

    def __init__(self, normalizers: Sequence[Normalizer] = (), folds: Iterable[LineFold] = (),
                 declared: Iterable[str] = ()) -> None:
        every = list(normalizers) + [n for n in CORE_NORMALIZERS if n.name not in {m.name for m in normalizers}]
        names = [n.name for n in every] + [f.name for f in folds]
        doubled = {name for name in names if names.count(name) > 1}
        if doubled:
            raise ValueError(f"normalizer names used twice: {', '.join(sorted(doubled))}")
        self.every, self.folds, self.declared = every, list(folds), tuple(declared)
        self.normalizers = [n for n in every if not n.variant or n.name in self.declared]

    @classmethod
    def of(cls, found: Iterable[Normalizer | LineFold]) -> Rules:
        """Rules from what profiles answered: Normalizers and LineFolds, mixed."""
        return cls([n for n in found if isinstance(n, Normalizer)], [f for f in found if isinstance(f, LineFold)])

    @property
    def variant_names(self) -> list[str]:
        return sorted({n.name for n in self.every if n.variant} | {f.optional_in for f in self.folds if f.optional_in}
                      | {f.only_in for f in self.folds if f.only_in})

    def declaring(self, names: Sequence[str]) -> Rules:
        """These rules with the variants a block names in force."""
        if not names:
            return self
        return Rules([n for n in self.every if n not in CORE_NORMALIZERS], self.folds, names)

    @cached_property
    def scanner(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?P<g{i}>{n.shown})" for i, n in enumerate(self.normalizers)))

    def fold(self, line: str) -> str | None:
        """The placeholder of the fold `line` belongs to, or None."""
        return next((f.placeholder for f in self.folds
                     if (f.only_in is None or f.only_in in self.declared) and f.pattern.match(line)), None)

    def optional_lines(self) -> set[str]:
        """Placeholders of folds whose lines a declared variant lets be absent."""
        return {f.placeholder for f in self.folds if f.optional_in in self.declared}


CORE_RULES = Rules()


SHORT_PREFIX = re.compile(r"[0-9a-f]{1,11}")  # an ID typed short, shorter than Docker's short IDs


@dataclass
class Bindings:
    """Values the page shows, bound to the real values they stand for."""
    shown_to_real: dict[str, str] = field(default_factory=dict)

    def bind(self, shown: str, real: str) -> None:
        if shown != real:
            self.shown_to_real[shown] = real

    def to_shown(self, text: str) -> str:
        """Real values in `text` written as the page shows them: whole words
        only, in one pass, so a short bound prefix never rewrites part of an
        ID, nor a value just written."""
        if not self.shown_to_real:
            return text
        real_to_shown = {real: shown for shown, real in self.shown_to_real.items()}
        # An ID prefix typed short (`docker rm e3`) is rewritten only where it
        # is a whole line, as Docker echoes it: inside a line, two characters
        # match too much (`chown 10001:10…` is no ID `10`).
        longest_first = sorted(real_to_shown, key=len, reverse=True)
        prefixes = {real for real in longest_first if SHORT_PREFIX.fullmatch(real)}
        words = "|".join(re.escape(real) for real in longest_first if real not in prefixes)
        lines = "|".join(re.escape(real) for real in longest_first if real in prefixes)
        patterns = [rf"(?<![0-9A-Za-z_])(?:{words})(?![0-9A-Za-z_])" if words else None,
                    rf"(?m)^(?:{lines})$" if lines else None]
        for pattern in filter(None, patterns):
            text = re.sub(pattern, lambda match: real_to_shown[match.group()], text)
        return text

    def real_for(self, word: str) -> str | None:
        """The real value of a word of a command: a bound value, or a prefix
        of a bound ID (like `docker rm e3` for e3b0c44298fc)."""
        if word in self.shown_to_real:
            return self.shown_to_real[word]
        if re.fullmatch(r"[0-9a-f]{2,63}", word):
            matches = {real for shown, real in self.shown_to_real.items()
                       if re.fullmatch(r"[0-9a-f]{12}|[0-9a-f]{64}", shown) and shown.startswith(word)
                       and len(shown) > len(word)}
            if len(matches) == 1:
                return matches.pop()
        return None


def clean(text: str, rules: Rules = CORE_RULES) -> list[str]:
    """Terminal output as lines: no colours, no carriage returns, no trailing
    blanks, and each run of lines of one fold written as its placeholder."""
    lines: list[str] = []
    previous_fold, in_meter = None, False
    for line in ANSI.sub("", text).replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1].rstrip()  # a carriage return redraws the line, as in a terminal
        line = line.replace("\t", "  ")  # tab stops are columns: any run of blanks is one
        if CURL_METER.match(line) or (in_meter and not line):
            in_meter = True
            continue
        in_meter = False
        fold = rules.fold(line)
        if fold is None or fold != previous_fold:
            lines.append(fold or line)
        previous_fold = fold
    while lines and not lines[-1]:
        lines.pop()
    return lines


# A regex for an expected line, and the shown values of its bound groups in order.
LinePattern = tuple["re.Pattern[str]", list[str]]


def line_pattern(expected: str, rules: Rules = CORE_RULES) -> LinePattern:
    """A regex for one expected line, and the shown values of its bound groups in order."""
    parts: list[str] = []
    bound: list[str] = []
    position = 0
    for match in rules.scanner.finditer(expected):
        parts.append(_literal(expected[position:match.start()]))
        normalizer = rules.normalizers[int(str(match.lastgroup)[1:])]
        parts.append(f"({normalizer.real})" if normalizer.bound else f"(?:{normalizer.real})")
        if normalizer.bound:
            bound.append(match.group())
        position = match.end()
    parts.append(_literal(expected[position:]))
    return re.compile("".join(parts)), bound


def _literal(text: str) -> str:
    return " +".join(re.escape(chunk) for chunk in re.split(r" {2,}", text))


@dataclass
class Outcome:
    matched: bool
    expected: list[str]
    actual: list[str]          # real output as the page would show it
    shown_as: list[str] | None = None  # actual lines, each written as the expected line it matches, if any

    def diff(self, label: str = "expected (page)", other: str = "actual") -> str:
        """A unified diff in which only real differences show: an actual line
        that matches an expected line's pattern is written as that line."""
        return "\n".join(difflib.unified_diff(self.expected, self.shown_as or self.actual, label, other,
                                               lineterm="", n=3))


def compare(expected_lines: list[str], actual_text: str, bindings: Bindings, rules: Rules = CORE_RULES) -> Outcome:
    expected = clean("\n".join(expected_lines), rules)
    actual = clean(bindings.to_shown(actual_text), rules)
    patterns = [None if line == ELLIPSIS else line_pattern(line, rules) for line in expected]
    optional_lines = rules.optional_lines()
    optional = {i for i, line in enumerate(expected) if line in optional_lines}
    path = _align(patterns, actual, optional)
    if path is None:
        return Outcome(False, expected, actual, shown_as=_as_expected(patterns, expected, actual))
    bound: list[tuple[str, str]] = []
    for pattern_index, actual_index in path:
        pattern = patterns[pattern_index]
        assert pattern is not None, "an ellipsis matches no one line"
        regex, shown_values = pattern
        found = regex.fullmatch(actual[actual_index])
        assert found is not None, "the alignment matched this line"
        bound.extend(zip(shown_values, found.groups()))
    for shown, real in bound:
        bindings.bind(shown, real)
    return Outcome(True, expected, actual)


def _as_expected(patterns: list[LinePattern | None], expected: list[str], actual: list[str]) -> list[str]:
    written = []
    for line in actual:
        same = next((expected[i] for i, p in enumerate(patterns) if p and p[0].fullmatch(line)), None)
        written.append(same if same is not None else line)
    return written


def _align(patterns: list[LinePattern | None], actual: list[str],
           optional: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, int]] | None:
    """Pairs (pattern index, actual index) of a full match, or None. The
    patterns at `optional` indices match their line, or no line at all."""
    memo: dict[tuple[int, int], list[tuple[int, int]] | None] = {}

    def walk(p: int, a: int) -> list[tuple[int, int]] | None:
        if (p, a) in memo:
            return memo[(p, a)]
        result: list[tuple[int, int]] | None = None
        pattern = patterns[p] if p < len(patterns) else None
        if p == len(patterns):
            result = [] if a == len(actual) else None
        elif patterns[p] is None:  # ellipsis: any number of lines
            for skip in range(a, len(actual) + 1):
                rest = walk(p + 1, skip)
                if rest is not None:
                    result = rest
                    break
        else:
            if a < len(actual) and pattern is not None and pattern[0].fullmatch(actual[a]):
                rest = walk(p + 1, a + 1)
                if rest is not None:
                    result = [(p, a)] + rest
            if result is None and p in optional:
                result = walk(p + 1, a)
        memo[(p, a)] = result
        return result

    return walk(0, 0)
