"""Signals during a run: a TERM (from CI or `timeout`) unwinds like Ctrl-C,
so pages still tear down; tear-down itself runs to its end."""
import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Union

# What signal.signal returns and takes: a function, SIG_DFL/SIG_IGN, or None
# (a handler not set from Python).
Handler = Union[Callable[[int, Union[FrameType, None]], object], int, signal.Handlers, None]


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_terminate() -> Handler:
    """From now on TERM raises KeyboardInterrupt; returns the handler to put back (restore_terminate)."""
    return signal.signal(signal.SIGTERM, _terminated)


def restore_terminate(previous: Handler) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
