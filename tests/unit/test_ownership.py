"""Run records and reaping, decided with a stand-in `docker` that logs what it
is asked (the integration tests reap real sandboxes on a real engine)."""
import json
import os
import stat
import sys

import pytest

from doctester.docker import ownership

FAKE_DOCKER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if "--filter" in args and os.environ.get("FAKE_DOCKER_CANNOT_LIST"):  # the engine does not answer
    sys.exit(os.environ["FAKE_DOCKER_CANNOT_LIST"])
elif "--filter" in args:  # a listing of what carries a run's label
    print("\\n".join(json.loads(os.environ.get("FAKE_DOCKER_LABELLED", "[]"))))
elif os.environ.get("FAKE_DOCKER_ERROR"):  # a removal fails with this message
    sys.exit(os.environ["FAKE_DOCKER_ERROR"])
"""


@pytest.fixture
def docker(tmp_path, monkeypatch):
    program = tmp_path / "docker"
    program.write_text(FAKE_DOCKER.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(tmp_path / "docker.log"))

    def calls():
        log = tmp_path / "docker.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return str(program), calls


def dead_run(state, run_id, objects, docker="docker"):
    folder = state / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "lock").touch()
    (folder / "objects.json").write_text(json.dumps({"docker": docker, "objects": objects}))
    return folder


def test_a_live_run_is_never_reaped_and_its_folder_appears_whole(tmp_path, docker):
    run = ownership.Run(tmp_path, docker=(docker[0],))
    assert (run.dir / "lock").exists() and (run.dir / "objects.json").exists()
    assert ownership.dead_runs(tmp_path) == []
    assert list((tmp_path / "staging").iterdir()) == []  # moved into runs/, lock held all along
    assert run.release() == [] and not run.dir.exists()


def test_a_dead_run_is_reaped_once_whoever_asks(tmp_path, docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_LABELLED", json.dumps(["doctest-a"]))
    folder = dead_run(tmp_path, "123-abcdef", [{"kind": "container", "name": "doctest-a"}])
    first = ownership.dead_runs(tmp_path)
    assert [f for f, _ in first] == [folder]
    assert ownership.dead_runs(tmp_path) == []  # another reaper finds it locked, as a live run's
    for _, lock in first:
        lock.close()
    reaped, problems = ownership.reap(tmp_path, docker=(docker[0],))
    assert problems == [] and reaped == ["123-abcdef (1 objects)"] and not folder.exists()
    assert ["rm", "-f", "-v", "doctest-a"] in docker[1]()


def test_reaping_runs_no_command_a_record_names_and_removes_only_labelled_objects(tmp_path, docker, monkeypatch):
    canary = tmp_path / "canary"
    monkeypatch.setenv("FAKE_DOCKER_LABELLED", json.dumps(["doctest-b"]))
    dead_run(tmp_path, "456-abcdef", [{"kind": "container", "name": "doctest-b"},
                                      {"kind": "container", "name": "users-own-database"}],
             docker=["sh", "-c", f"touch {canary}"])
    reaped, problems = ownership.reap(tmp_path, docker=(docker[0],))
    assert problems == [] and not canary.exists()
    removals = [call for call in docker[1]() if call[:1] == ["rm"]]
    assert removals == [["rm", "-f", "-v", "doctest-b"]]


def test_folders_that_are_not_runs_are_left_alone(tmp_path, docker):
    (tmp_path / "runs" / "notes").mkdir(parents=True)
    assert ownership.dead_runs(tmp_path) == []
    assert (tmp_path / "runs" / "notes").exists()


def test_a_run_killed_while_starting_leaves_nothing_that_blocks_the_next(tmp_path, docker):
    stale = tmp_path / "staging" / "789-abcdef.x"
    stale.mkdir(parents=True)
    (stale / "lock").touch()
    os.utime(stale, (0, 0))
    ownership.reap(tmp_path, docker=(docker[0],))
    assert not stale.exists()


@pytest.mark.parametrize("error", ["Error response from daemon: No such container: doctest-c",
                                   "Error response from daemon: network doctest-c not found"])
def test_removing_what_is_already_gone_is_no_problem(tmp_path, docker, monkeypatch, error):
    monkeypatch.setenv("FAKE_DOCKER_ERROR", error)
    for kind in ("container", "network"):
        assert ownership.remove_objects((docker[0],), [{"kind": kind, "name": "doctest-c"}]) == []


def test_a_removal_the_engine_refuses_is_a_problem(tmp_path, docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_ERROR", "Error response from daemon: network doctest-c has active endpoints")
    problems = ownership.remove_objects((docker[0],), [{"kind": "network", "name": "doctest-c"}])
    assert problems == ["removing networks doctest-c: Error response from daemon: network doctest-c has "
                        "active endpoints"]


def test_seats_started_in_threads_at_once_all_reach_the_record(tmp_path):
    import concurrent.futures
    run = ownership.Run(tmp_path)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: run.record("container", f"seat{n}"), range(200)))
    written = json.loads((run.dir / "objects.json").read_text())["objects"]
    assert sorted(o["name"] for o in written) == sorted(f"seat{n}" for n in range(200))
    run.release_some("nothing-of-ours")  # nothing recorded under that name: the record stays whole
    assert len(json.loads((run.dir / "objects.json").read_text())["objects"]) == 200


def test_a_dead_run_whose_engine_cannot_list_is_kept_for_a_later_reaper(tmp_path, docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_CANNOT_LIST", "Cannot connect to the Docker daemon")
    folder = dead_run(tmp_path, "1-aaaaaa", [{"kind": "service", "name": "doctest-1-aaaaaa-seat1"}])
    reaped, problems = ownership.reap(tmp_path, docker=(docker[0],))
    assert reaped == [] and problems == ["listing services failed: Cannot connect to the Docker daemon"]
    assert (folder / "objects.json").is_file()  # nothing was lost: the next reaper that reaches the engine removes it
