"""The engine of one test process (a pytest run, or one xdist worker):
started on first use, reused from page to page, removed at the end. Before
it starts anything, it reaps what dead runs left behind."""
import contextlib
import signal

from . import ownership
from .dockerstate import EngineError
from .engines import ExistingEngine, PrivateEngine, recover_existing
from .sandbox import Sandbox

MODES = ("private", "existing")


@contextlib.contextmanager
def uninterrupted():
    """Clean-up runs to its end: Ctrl-C and SIGTERM wait until it is done."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class EngineProvider:
    def __init__(self, mode, state_dir, worker, sandbox_image, mirror_storage=None,
                 existing_ok=False, features=None):
        if mode not in MODES:
            raise EngineError(f"unknown doc engine {mode!r}: use one of {', '.join(MODES)}")
        self.mode, self.state_dir, self.worker = mode, state_dir, worker
        self.sandbox_image, self.mirror_storage = sandbox_image, mirror_storage
        self.existing_ok, self.features = existing_ok, features
        self.engine = self.run = None
        self.reaped, self.ready_after = [], None

    def get(self):
        if self.engine is None:
            with uninterrupted():
                self.reaped, problems = ownership.reap(self.state_dir, recover_existing)
                if problems:
                    raise EngineError("could not reap what an earlier, killed run left:\n  "
                                      + "\n  ".join(problems))
                self.run = ownership.Run(self.state_dir)
            if self.mode == "existing":
                self.engine = ExistingEngine(self.run, self.existing_ok)
            else:
                sandbox = Sandbox(self.run, self.worker, self.sandbox_image, self.mirror_storage,
                                  self.features)
                try:
                    sandbox.start()
                except BaseException:
                    with uninterrupted():
                        self.run.release()
                    self.run = None
                    raise
                self.ready_after = sandbox.ready_after
                self.engine = PrivateEngine(sandbox)
        return self.engine

    def close(self):
        """Remove everything this process started; returns problems."""
        if self.run is None:
            return []
        with uninterrupted():
            problems, self.run, self.engine = self.run.release(), None, None
        return problems
