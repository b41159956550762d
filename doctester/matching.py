"""Compare the output a page shows with the output a command really printed.

What legitimately differs between two runs (IDs, digests, sizes, ages, random
container names, ports Docker picks, layer progress, build timings) is matched
by pattern; everything else must be equal, except that runs of spaces only
need to be runs of spaces (table columns widen with their content). A line
`...` matches any number of lines. IDs and names matched this way are
*bound*: the page's value stands for the real one from then on (see
Bindings), so a later `docker rm e3` acts on the container the page showed as
e3b0c44298fc.
"""
import difflib
import re
from dataclasses import dataclass, field

ELLIPSIS = "..."
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
LAYER_LINE = re.compile(
    r"^[0-9a-f]{12}: (Pulling fs layer|Waiting|Downloading.*|Verifying Checksum|Download complete|"
    r"Extracting.*|Pull complete|Already exists|Preparing|Pushing.*|Pushed|Layer already exists|"
    r"Mounted from .*)$")
LAYERS = "<layer progress>"
# curl's progress meter, which it prints only when its output is not a
# terminal: a reader never sees it, so it is dropped.
CURL_METER = re.compile(r"^\s*(% Total\s+% Received.*|Dload\s+Upload\s+Total.*|"
                        r"\d+\s+\S+\s+\d+\s+\S+\s+\d+\s+\S+\s+\S+\s+\S+\s+[-:\d]+\s+[-:\d]+\s+[-:\d]+\s+\S+)$")
AGE = r"(?:About an? \w+|Less than a second|\d+ \w+)"

# (kind, pattern in the page's text, pattern that real output must match, bound?)
VARYING = [
    ("digest", r"sha256:[0-9a-f]{64}", r"sha256:[0-9a-f]{64}", True),
    ("long-id", r"\b[0-9a-f]{64}\b", r"[0-9a-f]{64}", True),
    ("id", r"\b(?=[a-f]*\d)[0-9a-f]{12}\b", r"[0-9a-f]{12}", True),
    ("timestamp", r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z| [+-]\d{4} \w+)?", r"\S+(?: \S+ \S+)?", False),
    ("age", AGE + r" ago", AGE + r" ago", False),
    ("uptime", r"Up " + AGE + r"(?: \((?:healthy|unhealthy|health: starting)\))?",
     r"Up " + AGE + r"(?: \((?:healthy|unhealthy|health: starting)\))?", False),
    ("size", r"(?<![\w.])\d+(?:\.\d+)?\s?[kMG]?B\b", r"\d+(?:\.\d+)?\s?[kMG]?B", False),
    ("seconds", r"(?<![\w.])\d+(?:\.\d+)?m?s\b", r"\d+(?:\.\d+)?m?s", False),
    ("version", r"(?<![\w.])\d+\.\d+\.\d+(?:[-+~][\w.+~-]*)?(?![\w.])", r"\d+\.\d+\.\d+(?:[-+~][\w.+~-]*)?", False),
    ("build", r"(?<=build )[0-9a-f]{7}\b", r"[0-9a-f]{7,}", False),
    ("host-port", r"(?<=:)(?:3[2-9]\d{3}|[4-6]\d{4})(?=->)", r"\d+", False),
    # With IPv6, an engine binds a published port twice, and a port conflict
    # names whichever binding it tried first: either address may be printed.
    ("bind-address", r"(?<=Bind for )(?:0\.0\.0\.0|\[::\]|::)(?=:\d)", r"(?:0\.0\.0\.0|\[::\]|::)", False),
    ("name", r"(?<!\S)[a-z]+_[a-z]+(?!\S)", r"[a-z]+_[a-z]+\d*", True),
]
SCANNER = re.compile("|".join(f"(?P<{kind.replace('-', '_')}>{shown})" for kind, shown, _, _ in VARYING))
REAL = {kind.replace("-", "_"): (real, bound) for kind, _, real, bound in VARYING}


@dataclass
class Bindings:
    """Values the page shows, bound to the real values they stand for."""
    shown_to_real: dict = field(default_factory=dict)

    def bind(self, shown, real):
        if shown != real:
            self.shown_to_real[shown] = real

    def to_shown(self, text):
        """Real values in `text` written as the page shows them: whole words
        only, in one pass, so a short bound prefix never rewrites part of an
        ID, nor a value just written."""
        if not self.shown_to_real:
            return text
        real_to_shown = {real: shown for shown, real in self.shown_to_real.items()}
        words = "|".join(re.escape(real) for real in sorted(real_to_shown, key=len, reverse=True))
        return re.sub(rf"(?<![0-9A-Za-z_])(?:{words})(?![0-9A-Za-z_])",
                      lambda match: real_to_shown[match.group()], text)

    def real_for(self, word):
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


def clean(text):
    """Terminal output as lines: no colours, no carriage returns, no trailing
    blanks, and each run of layer progress lines folded into one line."""
    lines, previous_was_layer, in_meter = [], False, False
    for line in ANSI.sub("", text).replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1].rstrip()  # a carriage return redraws the line, as in a terminal
        line = line.replace("\t", "  ")  # tab stops are columns: any run of blanks is one
        if CURL_METER.match(line) or (in_meter and not line):
            in_meter = True
            continue
        in_meter = False
        if LAYER_LINE.match(line):
            if not previous_was_layer:
                lines.append(LAYERS)
            previous_was_layer = True
            continue
        previous_was_layer = False
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def line_pattern(expected):
    """A regex for one expected line, and the kinds of its bound groups in order."""
    parts, bound, position = [], [], 0
    for match in SCANNER.finditer(expected):
        parts.append(_literal(expected[position:match.start()]))
        kind = match.lastgroup
        real, is_bound = REAL[kind]
        parts.append(f"({real})" if is_bound else f"(?:{real})")
        if is_bound:
            bound.append(match.group())
        position = match.end()
    parts.append(_literal(expected[position:]))
    return re.compile("".join(parts)), bound


def _literal(text):
    return " +".join(re.escape(chunk) for chunk in re.split(r" {2,}", text))


@dataclass
class Outcome:
    matched: bool
    expected: list
    actual: list               # real output as the page would show it
    bound: list = field(default_factory=list)  # (shown, real) pairs found
    shown_as: list = None      # actual lines, each written as the expected line it matches, if any

    def diff(self, label="expected (page)", other="actual"):
        """A unified diff in which only real differences show: an actual line
        that matches an expected line's pattern is written as that line."""
        return "\n".join(difflib.unified_diff(self.expected, self.shown_as or self.actual, label, other,
                                               lineterm="", n=3))


def compare(expected_lines, actual_text, bindings):
    expected = [line.replace("\t", "  ").rstrip() for line in expected_lines]
    expected = [LAYERS if LAYER_LINE.match(line) else line for line in expected]
    expected = [line for i, line in enumerate(expected) if not (line == LAYERS and i and expected[i - 1] == LAYERS)]
    while expected and not expected[-1]:
        expected.pop()
    actual = clean(bindings.to_shown(actual_text))
    patterns = [None if line == ELLIPSIS else line_pattern(line) for line in expected]
    path = _align(patterns, actual)
    if path is None:
        return Outcome(False, expected, actual, shown_as=_as_expected(patterns, expected, actual))
    bound = []
    for pattern_index, actual_index in path:
        regex, shown_values = patterns[pattern_index]
        groups = regex.fullmatch(actual[actual_index]).groups()
        bound.extend(zip(shown_values, groups))
    for shown, real in bound:
        bindings.bind(shown, real)
    return Outcome(True, expected, actual, bound)


def _as_expected(patterns, expected, actual):
    written = []
    for line in actual:
        same = next((expected[i] for i, p in enumerate(patterns) if p and p[0].fullmatch(line)), None)
        written.append(same if same is not None else line)
    return written


def _align(patterns, actual):
    """Pairs (pattern index, actual index) of a full match, or None."""
    memo = {}

    def walk(p, a):
        if (p, a) in memo:
            return memo[(p, a)]
        result = None
        if p == len(patterns):
            result = [] if a == len(actual) else None
        elif patterns[p] is None:  # ellipsis: any number of lines
            for skip in range(a, len(actual) + 1):
                rest = walk(p + 1, skip)
                if rest is not None:
                    result = rest
                    break
        elif a < len(actual) and patterns[p][0].fullmatch(actual[a]):
            rest = walk(p + 1, a + 1)
            if rest is not None:
                result = [(p, a)] + rest
        memo[(p, a)] = result
        return result

    return walk(0, 0)
