"""`make test`: every step as `make STEP`, each started once what it needs
has finished, so that light steps run beside heavy ones and the machine's
two cores are kept busy (a step-by-step run left a fifth of them idle).

A step *needs* others (it cannot pass without them: when one fails it is not
started, and the summary says why) and *waits for* others only to share the
machine or a lock with them (it starts when they end, passed or not). One
step at a time streams its output (the chain engine, images, integration,
doc tests, journey); the others write to build/steps/STEP.log, printed whole when they
end. Every step runs in a process group of its own: Ctrl-C, SIGTERM or a
hang-up stops them all with the signal that came (SIGTERM for a hang-up),
so each one's own clean-up still runs (bring-up stops the mirror's writer
on Ctrl-C, the harness reaps its sandboxes on either); what is still there
a minute later is killed.

Standard library only: it starts before .venv exists.
"""
import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = Path("build") / "steps"  # under ROOT, where the steps run
POLL = 0.5  # seconds between looks at the running steps
STOP_GRACE = 60  # seconds a step has to clean up after the stop signal before SIGKILL
BANNER = "=" * 19
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass(frozen=True)
class Step:
    name: str
    needs: tuple[str, ...] = ()
    waits_for: tuple[str, ...] = ()
    # Streams its output (the plan keeps live steps one at a time): the live
    # steps are the chain that sets make test's length.
    live: bool = False
    make_args: tuple[str, ...] = ()    # variables given on make's command line


def plan(as_root: bool) -> list[Step]:
    """make test's steps. Why each edge is there:
    - lint, unit, build, seat-web and workflow (a fresh clone's venv) need no
      engine: they run beside the bring-up;
    - browser-deps installs Chromium with apt-get, which the engine step may be
      using to install the engine (one dpkg lock);
    - integration, the doc tests and the journey each keep two cores busy or
      nearly: two of them at once take as long as one after the other (the
      journey beside integration: 449 s and 387 s, against 224 s and 231 s
      alone), and, beside the journey, a short `docker run` in the doc tests'
      Engine 26.1 lost its container's output in two runs of two (once in
      several runs alone: not understood). They run one after the other;
    - the journey, at about half the machine alone, runs beside the browser
      tests, in a network namespace of their own as root (Chromium fails
      loads when the sandboxes' networks come and go), on one worker; not
      root, they cannot be shielded and wait for the journey to end."""
    browser_waits = ("doctest",) if as_root else ("doctest", "journey")
    return [
        Step("venv", live=True),
        Step("lint", needs=("venv",)),
        Step("unit", needs=("venv",)),
        Step("build", needs=("venv",)),
        Step("workflow", needs=("venv",)),
        Step("seat-web"),
        Step("engine", needs=("venv",), live=True),
        Step("browser-deps", waits_for=("engine",)),
        Step("images", needs=("engine",), live=True),
        Step("integration", needs=("images",), live=True),
        Step("doctest", needs=("images",), waits_for=("integration",), live=True),
        Step("journey", needs=("images",), waits_for=("doctest",), live=True),
        Step("browser", needs=("images", "browser-deps", "seat-web"), waits_for=browser_waits,
             make_args=("BROWSER_WORKERS=1", f"BROWSER_NETNS={'yes' if as_root else 'no'}")),
    ]


# The steps beside the live chain run at a lower priority: they take what
# the chain leaves of the cores instead of slowing it (on an empty cache, the
# unit and workflow tests beside the image builds made them 27 s longer).
BESIDE_NICENESS = 10


def make_command(step: Step) -> list[str]:
    make = ["make", "--no-print-directory", step.name, *step.make_args]
    return make if step.live else ["nice", "-n", str(BESIDE_NICENESS), *make]


@dataclass
class Running:
    step: Step
    process: subprocess.Popen[bytes]
    started: float
    log: Path | None


class HeldOutput:
    """What the steps beside say, held while a live step streams (a row of
    pytest's dots is not cut in two), and said once none does."""

    def __init__(self) -> None:
        self.held: list[bytes] = []

    def say(self, text: bytes, held: bool) -> None:
        self.held.append(text)
        if not held:
            self.flush()

    def flush(self) -> None:
        sys.stdout.flush()
        sys.stdout.buffer.write(b"".join(self.held))
        sys.stdout.buffer.flush()
        self.held.clear()


class StepRunner:
    """Starts each step when it may start, and keeps the summary."""

    def __init__(self, steps: list[Step], command: Callable[[Step], list[str]] | None = None,
                 logs: Path = LOGS) -> None:
        names = {step.name for step in steps}
        for step in steps:
            unknown = set(step.needs + step.waits_for) - names
            if unknown:
                raise SystemExit(f"run_steps: {step.name} needs or waits for {sorted(unknown)}, not in the plan")
        self.command = command or make_command
        self.logs = logs
        self.pending = list(steps)
        self.running: list[Running] = []
        self.results: dict[str, tuple[str, float, float]] = {}  # name -> (outcome, started, took)
        self.start = time.monotonic()
        self.stop_signal: int | None = None  # set by a signal: no step starts, the running ones are stopped
        self.output = HeldOutput()

    def request_stop(self, signum: int, _frame: object = None) -> None:
        """A signal handler: only notes the signal, which the loop acts on
        between two looks at the steps (never halfway through starting one)."""
        self.stop_signal = self.stop_signal or signum

    def run(self) -> int:
        broken = False
        try:
            self._run_steps()
        except OSError as error:  # `make` missing, build/steps not writable: said once, nothing left running
            print(f"run_steps: {error}", file=sys.stderr, flush=True)
            broken = True
            self.request_stop(signal.SIGTERM)
        self.output.flush()
        if self.stop_signal is None:
            return print_summary(self.results, time.monotonic() - self.start)
        print(f"\nrun_steps: {signal.Signals(self.stop_signal).name}: stopping "
              f"{', '.join(r.step.name for r in self.running) or 'nothing: no step is running'}", flush=True)
        # A hang-up reaches no step (each has a session of its own): they get SIGTERM.
        stop_groups([r.process for r in self.running],
                    signal.SIGTERM if self.stop_signal == signal.SIGHUP else self.stop_signal)
        print_summary(self.results, time.monotonic() - self.start)
        return 1 if broken else 128 + self.stop_signal

    def _run_steps(self) -> None:
        while (self.pending or self.running) and self.stop_signal is None:
            for step in list(self.pending):
                if self.stop_signal is None:
                    self._start_or_drop(step)
            if not self.running:
                if self.pending and self.stop_signal is None:  # only possible with a cycle in the plan
                    raise SystemExit(f"run_steps: nothing can start: {[s.name for s in self.pending]}")
                break
            self._reap_one()

    def _start_or_drop(self, step: Step) -> None:
        failed = [name for name in step.needs if name in self.results and self.results[name][0] != "ok"]
        if failed:
            self.pending.remove(step)
            self.results[step.name] = (f"not run: {', '.join(failed)} did not pass", 0.0, 0.0)
            return
        if all(name in self.results for name in step.needs + step.waits_for):
            self.pending.remove(step)
            self._start(step)

    def _start(self, step: Step) -> None:
        argv = self.command(step)
        started = time.monotonic()
        if step.live:
            print(f"\n{BANNER} make {step.name} {BANNER}", flush=True)
            process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)
            log = None
        else:
            (ROOT / self.logs).mkdir(parents=True, exist_ok=True)
            log = ROOT / self.logs / f"{step.name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
            self._say(f"  [{self._clock(started)}] make {step.name}: started beside the others "
                      f"(output: {self.logs / log.name})\n".encode())
        self.running.append(Running(step, process, started, log))

    def _reap_one(self) -> None:
        """Wait until one running step ends (or a signal asks to stop), and record it."""
        while (done := next((r for r in self.running if r.process.poll() is not None), None)) is None:
            if self.stop_signal is not None:
                return
            time.sleep(POLL)
        self.running.remove(done)
        took = time.monotonic() - done.started
        outcome = "ok" if done.process.returncode == 0 else "FAILED"
        self.results[done.step.name] = (outcome, done.started - self.start, took)
        if done.log is not None:
            self._say(f"\n{BANNER} make {done.step.name} (ran beside the others, {took:.0f} s, {outcome}) "
                      f"{BANNER}\n".encode() + done.log.read_bytes())
        self._say(b"")  # said now if no live step streams any more

    def _say(self, text: bytes) -> None:
        self.output.say(text, held=any(r.step.live for r in self.running))

    def _clock(self, at: float) -> str:
        seconds = int(at - self.start)
        return f"{seconds // 60:02d}:{seconds % 60:02d}"


def stop_groups(processes: list[subprocess.Popen[bytes]], signum: int, grace: float = STOP_GRACE) -> None:
    """`signum` to each step's process group; once `grace` is over, SIGKILL to
    every process still in one. A group is waited for whole, not only its
    leader (make): pytest's workers or a build may outlive it."""
    for process in processes:
        _signal_group(process, signum)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for process in processes:
            process.poll()  # reaps a leader that ended: its group can then empty
        if not any(_group_alive(process) for process in processes):
            return
        time.sleep(POLL)
    for process in processes:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member that changed its user: still there
        return True
    return True


def print_summary(results: dict[str, tuple[str, float, float]], total: float) -> int:
    """Each step's outcome, when it started and how long it took; the exit status."""
    width = max(map(len, results), default=4) + 2
    print(f"\n{BANNER} summary {BANNER}")
    print(f"  {'step':<{width}}{'outcome':<9}{'started':>8}{'took':>7}")
    failed = 0
    for name, (outcome, started, took) in results.items():
        if outcome != "ok":
            failed += 1
        if outcome.startswith("not run"):
            print(f"  {name:<{width}}{outcome}")
        else:
            print(f"  {name:<{width}}{outcome:<9}{int(started):>7}s{int(took):>6}s")
    print(f"  {'total':<{width}}{int(total)}s, {failed} failed or not run")
    return 1 if failed else 0


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", action="store_true", help="print the steps and their edges, run nothing")
    options = parser.parse_args()
    steps = plan(os.geteuid() == 0)
    if options.plan:
        for step in steps:
            print(f"{step.name:<14} needs {', '.join(step.needs) or '-'}; waits for {', '.join(step.waits_for) or '-'}")
        return 0
    runner = StepRunner(steps)
    for signum in STOP_SIGNALS:
        signal.signal(signum, runner.request_stop)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
