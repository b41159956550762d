"""Tear-down runs to its end: Ctrl-C and SIGTERM wait until it is done."""
import contextlib
import signal


@contextlib.contextmanager
def uninterrupted():
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
