"""The names the Docker profile gives what it makes (labels, the sandbox
image, its hostname) are settings: neutral by default, this project's from
its pytest.ini; whatever creates a run's objects and whatever reaps them use
the same label. The sandbox's recipe ships in the package, with a command
that builds it (only its arguments are checked here: it needs an engine)."""
import json
import os
import shlex
import stat
import sys
import tomllib

import pytest

import doctester.__main__ as reap_command
from bringup import images
from doctester.docker import identity, ownership, plugin, sandbox_image
from doctester.docker.identity import Identity
from doctester.docker.provider import EngineProvider
from doctester.docker.sandbox import Limits, Sandbox
from tests.conftest import ROOT

GIB = 1 << 30
THIS_PROJECT = Identity("org.intro-to-docker", "intro-to-docker/doctest-sandbox:latest", "laptop")


def test_the_defaults_name_nothing_of_this_project():
    defaults = {name: default for name, _, default, _ in plugin.OPTIONS}
    assert (defaults["label_namespace"], defaults["sandbox_image"], defaults["sandbox_hostname"]) == (
        "org.doctester", "doctester/sandbox:latest", "sandbox")
    assert ownership.RUN_LABEL == "org.doctester.doctest.run"
    assert Identity() == Identity("org.doctester", "doctester/sandbox:latest", "sandbox")
    for name, text, default, _ in plugin.OPTIONS:
        assert "intro-to-docker" not in f"{text} {default}" and "laptop" not in default, name
    for path in sandbox_image.recipe_files():
        assert "intro-to-docker" not in path.read_text(), path


def test_this_projects_ini_gives_its_own_names(pytestconfig, monkeypatch):
    """What this project's runs use, read the way the profile reads its options."""
    monkeypatch.delenv("DOCTEST_ENGINE", raising=False)
    provider = plugin.pytest_doctester_environment(pytestconfig, "gw0")
    assert isinstance(provider, EngineProvider)
    assert provider.run_label == "org.intro-to-docker.doctest.run"
    assert (provider.sandbox_image, provider.hostname) == (THIS_PROJECT.sandbox_image, "laptop")
    # Tools run outside pytest (bring-up, the benchmarks, `python -m doctester reap --ini`) read the same file.
    assert Identity.from_ini(ROOT / "pytest.ini") == THIS_PROJECT
    assert images.DOCTEST_IDENTITY == THIS_PROJECT
    assert images.SANDBOX_ROLE_LABEL == "org.intro-to-docker.role=doctest-sandbox"
    assert "doctester reap --ini pytest.ini" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("name, section", [("pytest.ini", "pytest"), ("tox.ini", "pytest"),
                                           ("setup.cfg", "tool:pytest")])
def test_an_ini_file_gives_the_settings_it_has_and_defaults_for_the_others(tmp_path, name, section):
    (tmp_path / name).write_text(f"[{section}]\ndoc_label_namespace = com.example.docs\ndoc_pages = *.md\n")
    assert Identity.from_ini(tmp_path / name) == Identity("com.example.docs")
    assert identity.ini_settings(tmp_path / name) == {"label_namespace": "com.example.docs", "pages": "*.md"}
    assert Identity.from_ini(tmp_path / "missing.ini") == Identity()


# An outer engine that keeps its containers' and networks' labels, answers
# label filters from them, and logs every call.
FAKE_ENGINE = r"""#!{python}
import json, os, sys
args, state_file = sys.argv[1:], os.environ["FAKE_ENGINE_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"objects": {{}}, "calls": []}}
state["calls"].append(args)
objects = state["objects"]
def labels_of(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--label")
if args[:2] == ["network", "create"]:
    objects["network " + args[-1]] = {{"kind": "network", "name": args[-1], "labels": labels_of(args)}}
elif args[:2] == ["run", "-d"]:
    name = args[args.index("--name") + 1]
    objects["container " + name] = {{"kind": "container", "name": name, "labels": labels_of(args)}}
elif "--filter" in args:
    key, _, value = args[args.index("--filter") + 1].removeprefix("label=").partition("=")
    kind = {{"ps": "container", "volume": "volume", "network": "network"}}[args[0]]
    print("\n".join(o["name"] for o in objects.values() if o["kind"] == kind and o["labels"].get(key) == value))
elif args[:2] in (["rm", "-f"], ["network", "rm"]):
    for name in args[2:]:
        objects.pop(("network " if args[0] == "network" else "container ") + name, None)
elif args[0] == "inspect":
    print("true")
json.dump(state, open(state_file, "w"))
"""


@pytest.fixture
def outer_engine(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker"
    program.write_text(FAKE_ENGINE.format(python=sys.executable))
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ENGINE_STATE", str(tmp_path / "engine.json"))
    return lambda: json.loads((tmp_path / "engine.json").read_text())


def killed(provider):
    """The run's process is gone: its lock is dropped, its objects stay."""
    assert provider.run is not None
    provider.run._lock.close()
    provider.run = provider.engine = None


def provider(state, namespace, hostname="sandbox"):
    return EngineProvider("private", state, "gw0", "some/sandbox", label_namespace=namespace, hostname=hostname,
                          limits=Limits.for_machine(1, memory=2 * GIB))


def test_what_a_run_labels_is_what_the_next_run_reaps(tmp_path, outer_engine):
    first = provider(tmp_path / "state", "com.example.docs", hostname="box")
    first.get()
    engine = outer_engine()
    assert {o["kind"] for o in engine["objects"].values()} == {"container", "network"}
    run_id = first.run.id
    assert all(o["labels"] == {"com.example.docs.doctest.run": run_id} for o in engine["objects"].values())
    started = next(call for call in engine["calls"] if call[:2] == ["run", "-d"])
    assert started[started.index("--hostname") + 1] == "box"
    killed(first)
    # A run of another namespace leaves them, and the record that names them, to this project's runs.
    stranger = provider(tmp_path / "state", "org.other")
    stranger.get()
    assert stranger.reaped == [] and (tmp_path / "state" / "runs" / run_id / "objects.json").is_file()
    assert {n for n, o in outer_engine()["objects"].items() if run_id in o["labels"].values()} == set(
        engine["objects"])
    assert stranger.close() == []
    # One with the same namespace removes them, and the dead run's folder.
    second = provider(tmp_path / "state", "com.example.docs")
    second.get()
    assert second.reaped == [f"{run_id} (2 objects)"]
    assert not [o for o in outer_engine()["objects"].values() if run_id in o["labels"].values()]
    assert second.close() == []
    assert outer_engine()["objects"] == {}


def test_a_sandbox_takes_its_runs_label_and_the_default_hostname(tmp_path, outer_engine):
    run = ownership.Run(tmp_path, label="com.example.docs.doctest.run")
    Sandbox(run, "gw1", "some/sandbox", Limits.for_machine(1, memory=2 * GIB)).start()
    started = next(call for call in outer_engine()["calls"] if call[:2] == ["run", "-d"])
    assert f"com.example.docs.doctest.run={run.id}" in started
    assert started[started.index("--hostname") + 1] == "sandbox"
    assert run.release() == []


def test_the_reap_command_takes_the_label_from_the_projects_ini(tmp_path, monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(reap_command, "reap", lambda state, recover, label: asked.append((state, label)) or ([], []))
    (tmp_path / "tox.ini").write_text(f"[pytest]\ndoc_label_namespace = com.example.docs\n"
                                      f"doc_state_dir = {tmp_path / 'state'}\n")
    assert reap_command.main(["reap", "--ini", str(tmp_path / "tox.ini")]) == 0
    assert reap_command.main(["reap", "--ini", str(tmp_path / "tox.ini"), "--label-namespace", "org.x"]) == 0
    assert reap_command.main(["reap"]) == 0
    assert asked == [(tmp_path / "state", "com.example.docs.doctest.run"),
                     (tmp_path / "state", "org.x.doctest.run"),
                     (ownership.DEFAULT_STATE, "org.doctester.doctest.run")]
    with pytest.raises(SystemExit):
        reap_command.main(["reap", "--ini", str(tmp_path / "missing.ini")])
    assert "no such file" in capsys.readouterr().err


def test_the_recipe_is_in_the_package_and_the_wheel_declares_it():
    assert sandbox_image.RECIPE.parent == ROOT / "doctester" / "docker"
    assert [p.name for p in sandbox_image.recipe_files()] == ["Dockerfile", "sandbox-engine", "sandbox-init"]
    dockerfile = (sandbox_image.RECIPE / "Dockerfile").read_text()
    assert "COPY sandbox-init sandbox-engine /usr/local/bin/" in dockerfile
    for script in ("sandbox-init", "sandbox-engine"):
        assert os.access(sandbox_image.RECIPE / script, os.X_OK), script
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "sandbox_recipe/*" in package_data["doctester.docker"]
    assert not (ROOT / "bringup" / "recipes" / "sandbox").exists()  # one copy of the recipe


def built(capsys, *args):
    assert sandbox_image.main(["build", "--print", *args]) == 0
    return shlex.split(capsys.readouterr().out)


def test_the_build_command_by_default(capsys):
    argv = built(capsys)
    assert argv[:2] == ["docker", "build"] and "--pull" not in argv and "--quiet" not in argv
    assert argv[argv.index("-t") + 1] == "doctester/sandbox:latest"
    assert {"BASE=python:latest", "SUITE=trixie"} <= set(argv)
    assert not [a for a in argv if a.startswith("APT_MIRROR=")]  # the base image's own sources
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--label"] == ["org.doctester.role=doctest-sandbox"]
    assert argv[-1] == str(sandbox_image.RECIPE)


def test_the_build_command_with_a_projects_names(capsys):
    argv = built(capsys, "--tag", "docs/sandbox:1", "--base", "python@sha256:d", "--suite", "forky",
                 "--apt-mirror", "http://mirror.example/debian", "--label-namespace", "com.example.docs",
                 "--label", "com.example.recipe=abc", "--label", "empty=", "--pull")
    assert argv[argv.index("-t") + 1] == "docs/sandbox:1" and "--pull" in argv
    assert {"BASE=python@sha256:d", "SUITE=forky", "APT_MIRROR=http://mirror.example/debian"} <= set(argv)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--label"] == [
        "com.example.recipe=abc", "empty=", "com.example.docs.role=doctest-sandbox"]


@pytest.mark.parametrize("args", [["build", "--label", "no-value"], ["build", "--label", "=x"], ["build", "--tag"],
                                  ["push"], []])
def test_the_build_command_refuses_what_it_cannot_use(capsys, args):
    with pytest.raises(SystemExit) as exit:
        sandbox_image.main(args)
    assert exit.value.code == 2
    assert "usage: python -m doctester.docker.sandbox_image" in capsys.readouterr().err


def test_the_recipe_command_prints_the_build_context(capsys):
    assert sandbox_image.main(["recipe"]) == 0
    assert capsys.readouterr().out.strip() == str(sandbox_image.RECIPE)


def test_without_a_docker_cli_the_build_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert sandbox_image.main(["build"]) == 1
    assert "doctester: cannot run docker" in capsys.readouterr().err
