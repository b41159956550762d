"""One way to end a process tree (core.environment.kill_descendants), on
this machine's process table or on one a profile gives (a sandbox's)."""
import signal
import subprocess
import time

from doctester.core.environment import kill_descendants
from doctester.core.terminal import descendants


def test_a_given_table_is_ended_deepest_first_term_then_kill(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    table = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1}  # 10 -> 11 -> 12, 10 -> 13; 20 is not below 10
    sent = []
    kill_descendants(10, lambda: table, lambda pids, sig: sent.append((list(pids), sig)))
    assert [sig for _, sig in sent] == [signal.SIGTERM, signal.SIGKILL]
    ended = sent[0][0]
    assert set(ended) == {11, 12, 13} and ended.index(12) < ended.index(11)  # a child before its parent


def test_nothing_below_sends_nothing():
    sent = []
    kill_descendants(10, lambda: {10: 1}, lambda pids, sig: sent.append(pids))
    assert sent == []


def test_on_this_machine_the_tree_below_a_process_ends():
    parent = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        children = descendants(parent.pid)
        assert len(children) == 2
        kill_descendants(parent.pid)
        assert parent.wait(timeout=10) is not None
        assert descendants(parent.pid) == []
    finally:
        parent.kill()
        parent.wait()
