"""How a block fails: the one exception a page's failure is reported with,
and the helpers its messages share (a page run and every block kind raise it)."""
import contextlib
import re
import signal
from collections.abc import Iterator
from types import FrameType

OUTPUT_TAIL = 40  # lines of a failed command's output shown in its report
# Control characters but newline and tab: in a report they would move the
# reader's terminal (a page's output could retitle it, hide lines, or fake
# a green result); they are shown as escapes instead.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    return CONTROL.sub(lambda m: "\\x%02x" % ord(m.group()), text.replace("\r\n", "\n"))


def tail(text: str, count: int = OUTPUT_TAIL) -> str:
    lines = text.rstrip().splitlines()
    cut = f"[... {len(lines) - count} earlier lines ...]\n" if len(lines) > count else ""
    return cut + "\n".join(lines[-count:])


class BlockFailure(Exception):
    """A block did not do what its page says; the message is the whole report,
    with control characters shown as escapes. `output` is what the command
    really printed, if one ran."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(printable(message))
        self.output = output


def exit_ok(code: int, expect: str | None) -> bool:
    """Does an exit status match an `exit=` annotation (None: 0)?"""
    if expect is None:
        return code == 0
    return code != 0 if expect == "nonzero" else code == int(expect)


@contextlib.contextmanager
def time_limit(label: str, seconds: float) -> Iterator[None]:
    """Python code run in this process (a python fence) gets `seconds`, then
    a BlockFailure. Pytest runs items in the main thread, where signals land."""
    def too_long(signum: int, frame: FrameType | None) -> None:
        raise BlockFailure(f"{label}: the python fence took longer than {seconds:g} s; "
                           "give it more with <!-- doctest: timeout=SECONDS -->")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
