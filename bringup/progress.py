"""Say what each step is doing and, when it took more than a second, how long."""
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import NoReturn


class BringupError(Exception):
    """A fault bring-up cannot get past; its text is the one message shown."""


def say(text: str) -> None:
    print(text, flush=True)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    say(f"==> {what} ...")
    start = time.monotonic()
    yield
    took = time.monotonic() - start
    if took >= 1:
        say(f"    {what}: done in {took:.1f} s")


def fail(message: str) -> NoReturn:
    print(f"bringup: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)
