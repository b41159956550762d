"""make test's scheduler (scripts/run_steps.py): steps start once what they
need and wait for has ended, a failed need stops its dependents, a step
beside the others has its output printed whole, and the plan itself is
whole. The steps here are small shell commands instead of make targets."""
import importlib.util
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("run_steps", ROOT / "scripts" / "run_steps.py")
run_steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_steps)
Step = run_steps.Step


def runner(tmp_path, steps, scripts):
    """A StepRunner whose step NAME runs scripts[NAME] in sh, each noting in
    tmp_path/order when it starts and ends."""
    order = tmp_path / "order"

    def command(step):
        return ["sh", "-c", f"echo start {step.name} >> {order}; ( {scripts.get(step.name, 'true')} ); "
                            f"status=$?; echo end {step.name} >> {order}; exit $status"]
    return run_steps.StepRunner(steps, command=command, logs=tmp_path / "logs"), order


def test_steps_start_after_what_they_need_and_wait_for(tmp_path, capsys):
    steps = [Step("a", live=True), Step("b", needs=("a",)), Step("c", needs=("a",), waits_for=("b",))]
    steps_runner, order = runner(tmp_path, steps, {"b": "sleep 0.3"})
    assert steps_runner.run() == 0
    events = order.read_text().split("\n")
    assert events.index("end a") < events.index("start b") < events.index("end b") < events.index("start c")


def test_steps_without_edges_run_at_once(tmp_path, capsys):
    """a can only end once b has started: run one after the other, they would hang (bounded: 20 s)."""
    steps = [Step("a"), Step("b")]
    began = tmp_path / "b-began"
    steps_runner, order = runner(tmp_path, steps, {
        "a": f"for i in $(seq 200); do [ -e {began} ] && exit 0; sleep 0.1; done; exit 1",
        "b": f"touch {began}"})
    assert steps_runner.run() == 0
    events = order.read_text().split("\n")
    assert events.index("start b") < events.index("end a")


def test_a_failed_need_stops_its_dependents_but_not_the_steps_that_only_wait(tmp_path, capsys):
    steps = [Step("setup"), Step("needs-it", needs=("setup",)), Step("waits-for-it", waits_for=("setup",)),
             Step("after-the-dependent", needs=("needs-it",))]
    steps_runner, order = runner(tmp_path, steps, {"setup": "exit 3"})
    assert steps_runner.run() == 1
    events = order.read_text()
    assert "start needs-it" not in events and "start after-the-dependent" not in events
    assert "end waits-for-it" in events
    summary = capsys.readouterr().out.split("summary")[-1]
    assert re.search(r"setup +FAILED", summary)
    assert re.search(r"needs-it +not run: setup did not pass", summary)
    assert re.search(r"after-the-dependent +not run: needs-it did not pass", summary)
    assert re.search(r"waits-for-it +ok", summary)
    assert "3 failed or not run" in summary


def test_a_step_beside_the_others_has_its_output_printed_whole_when_it_ends(tmp_path, capsys):
    steps_runner, _ = runner(tmp_path, [Step("quiet")], {"quiet": "echo one; echo two >&2"})
    assert steps_runner.run() == 0
    out = capsys.readouterr().out
    assert "make quiet: started beside the others" in out
    block = out.split("make quiet (ran beside the others")[1]
    assert "one\ntwo\n" in block
    assert (tmp_path / "logs" / "quiet.log").read_text().endswith("one\ntwo\n")


@pytest.mark.parametrize("as_root", [True, False])
def test_the_plan_names_only_its_own_steps_and_every_step_can_start(as_root):
    steps = run_steps.plan(as_root)
    names = [step.name for step in steps]
    assert len(names) == len(set(names))
    seen = set()
    for step in steps:  # listed in an order in which each step's edges come first: no cycle
        assert set(step.needs + step.waits_for) <= seen, step.name
        seen.add(step.name)
    live = [step.name for step in steps if step.live]
    # The live steps stream to one terminal: each must end before the next starts.
    by_name = {step.name: step for step in steps}
    for earlier, later in zip(live, live[1:]):
        assert earlier in by_name[later].needs + by_name[later].waits_for, (earlier, later)


def test_not_root_the_browser_tests_wait_for_the_journey():
    """Only as root can Chromium be shielded (a network namespace) from the
    sandboxes' networks coming and going."""
    browser = {step.name: step for step in run_steps.plan(False)}["browser"]
    assert "journey" in browser.waits_for and "BROWSER_NETNS=no" in browser.make_args
    browser = {step.name: step for step in run_steps.plan(True)}["browser"]
    assert "journey" not in browser.waits_for and "BROWSER_NETNS=yes" in browser.make_args


def test_the_steps_beside_the_live_chain_run_at_a_lower_priority():
    steps = {step.name: step for step in run_steps.plan(True)}
    assert run_steps.make_command(steps["images"])[0] == "make"
    command = run_steps.make_command(steps["unit"])
    assert command[:3] == ["nice", "-n", str(run_steps.BESIDE_NICENESS)] and command[3:5] == ["make", "--no-print-directory"]
    # `nice` as make_command writes it, on this machine: the step's processes get the niceness.
    niceness = subprocess.run([*command[:3], "sh", "-c", "ps -o ni= -p $$"], capture_output=True, text=True, check=True)
    assert int(niceness.stdout) == min(os.nice(0) + run_steps.BESIDE_NICENESS, 19)  # 19: the lowest priority


def test_every_step_is_a_make_target():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))
    assert {step.name for step in run_steps.plan(True)} <= targets


def test_a_plan_naming_an_unknown_step_is_refused():
    with pytest.raises(SystemExit, match="waits for \\['nowhere'\\]"):
        run_steps.StepRunner([Step("a", waits_for=("nowhere",))])


def wait_for(condition, seconds=20.0):
    """Poll `condition` for up to `seconds` (bounded), for a loaded machine."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def gone(pid):
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_signal_stops_every_running_step_and_what_it_started_and_starts_no_other(tmp_path, capsys):
    child = tmp_path / "child.pid"
    steps = [Step("long"), Step("after", waits_for=("long",))]
    steps_runner, order = runner(tmp_path, steps, {"long": f"sleep 60 & echo $! > {child}; wait"})
    stopper = threading.Thread(target=lambda: (wait_for(lambda: child.exists() and child.read_text().strip()),
                                               steps_runner.request_stop(signal.SIGTERM)))
    stopper.start()
    assert steps_runner.run() == 128 + signal.SIGTERM
    stopper.join()
    wait_for(lambda: gone(int(child.read_text())))
    assert "start after" not in order.read_text()
    out = capsys.readouterr().out
    assert "run_steps: SIGTERM: stopping long" in out and "summary" in out


def test_what_outlives_the_grace_is_killed(tmp_path):
    """A step that ignores the signal it is sent is killed once the grace is over."""
    process = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60 & wait; sleep 60"], start_new_session=True)
    time.sleep(0.2)  # its trap is set
    run_steps.stop_groups([process], signal.SIGTERM, grace=0.5)
    assert process.returncode == -signal.SIGKILL
    wait_for(lambda: not run_steps._group_alive(process))  # its sleep too, once reaped


def test_what_a_step_beside_says_waits_until_the_live_step_has_ended(tmp_path, capfd):
    """The live step's row is not cut in two by the other step's output."""
    steps = [Step("live", live=True), Step("beside")]
    began = tmp_path / "beside-ended"
    steps_runner, _ = runner(tmp_path, steps, {
        "live": f"printf 'row..'; for i in $(seq 200); do [ -e {began} ] && break; sleep 0.1; done; echo 'end'",
        "beside": f"echo beside said this; touch {began}"})
    assert steps_runner.run() == 0
    out = capfd.readouterr().out
    assert "row..end\n" in out
    assert out.index("row..end") < out.index("make beside: started beside") < out.index("beside said this")


def test_a_step_that_cannot_start_is_one_line_and_leaves_nothing_running(tmp_path, capsys):
    """No `make` (here: a program that does not exist) for the second step while the first runs."""
    steps = [Step("long"), Step("broken")]

    def command(step):
        return [str(tmp_path / "no-such-program")] if step.name == "broken" else ["sh", "-c", "sleep 60 & wait"]
    steps_runner = run_steps.StepRunner(steps, command=command, logs=tmp_path / "logs")
    assert steps_runner.run() == 1
    captured = capsys.readouterr()
    assert "run_steps: [Errno 2] No such file or directory" in captured.err
    assert "stopping long" in captured.out
    long_step, = steps_runner.running
    wait_for(lambda: not run_steps._group_alive(long_step.process))  # its sleep too
