"""Bring-up decisions, without a Docker engine."""
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time

import pytest

from bringup import engine, host, images, organizer, paths, registry, services
from bringup.__main__ import stop_all
from bringup.progress import BringupError
from doctester.docker import sandbox_image
from tests.conftest import ROOT


@pytest.mark.parametrize("reachable, root, debian, apt, plan", [
    (True, False, False, False, engine.Plan.REUSE),
    (True, True, True, True, engine.Plan.REUSE),
    (False, True, True, True, engine.Plan.START),
    (False, False, True, True, engine.Plan.NOT_ROOT),
    (False, True, False, True, engine.Plan.UNSUPPORTED),
    (False, True, True, False, engine.Plan.UNSUPPORTED),
])
def test_decide(reachable, root, debian, apt, plan):
    assert engine.decide(reachable, root, debian, apt) is plan
    # Another engine's trace, and none answers: never a second engine, whatever else holds.
    expected = plan if reachable else engine.Plan.FOREIGN
    assert engine.decide(reachable, root, debian, apt, foreign="a socket we did not make") is expected


def test_a_stale_socket_of_another_engine_is_refused_and_left_alone(run_dir, tmp_path, monkeypatch):
    stale = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(stale))  # a socket file nobody listens on, as a crashed engine leaves
    monkeypatch.setattr(engine, "DEFAULT_SOCKET", str(stale))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{stale}")
    monkeypatch.setattr(engine, "system_service", lambda: None)
    monkeypatch.setattr(engine, "SLOW_ENGINE_WAIT", 2)
    for fact, value in (("is_root", True), ("is_debian_like", True), ("has_apt", True)):
        monkeypatch.setattr(host, fact, lambda value=value: value)
    started = []
    monkeypatch.setattr(engine, "install_packages", lambda: started.append("packages"))
    monkeypatch.setattr(engine, "start_dockerd", lambda: started.append("dockerd"))
    with pytest.raises(BringupError, match=rf"no Docker daemon answered within 2 s, but the socket {stale} exists "
                                           "and bring-up did not make it: bring-up never starts a second engine"):
        engine.ensure_engine()
    assert started == [] and stale.exists()
    # The same socket, recorded as made by our own dockerd: ours to clean up.
    (paths.RUN / engine.SOCKET_RECORD).write_text(f"{stale}\n")
    assert engine.foreign_engine() is None


def test_a_slow_engine_is_waited_for(tmp_path, monkeypatch):
    """An engine whose socket exists answers only after a while (starting, or
    socket-activated): bring-up reuses it rather than starting its own."""
    import http.server
    import socketserver
    import threading

    path = tmp_path / "slow.sock"

    class Ping(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            ready = time.monotonic() > opened + 2
            body = (b'{"ApiVersion": "1.45"}' if self.path.endswith("/version") else b"OK") if ready else b"starting"
            self.send_response(200 if ready else 503)
            self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/plain")
            self.send_header("Api-Version", "1.45")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

        def address_string(self):
            return "unix"

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(str(path), Ping)
    opened = time.monotonic()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        assert engine.daemon_reachable() is False
        assert engine.wait_for_slow_engine(wait=15) is True
    finally:
        server.shutdown()
        server.server_close()


def test_not_root_without_daemon_is_one_clear_error(run_dir, monkeypatch):
    monkeypatch.setattr(engine, "daemon_reachable", lambda: False)
    monkeypatch.setattr(engine, "foreign_engine", lambda: None)
    monkeypatch.setattr(host, "is_root", lambda: False)
    monkeypatch.setattr(host, "is_debian_like", lambda: True)
    monkeypatch.setattr(host, "has_apt", lambda: True)
    with pytest.raises(BringupError, match="needs root"):
        engine.ensure_engine()


def test_unsupported_system_says_how_to_start_docker():
    assert "Docker Desktop" in engine.how_to_start_docker("darwin")
    assert "Docker Desktop" in engine.how_to_start_docker("win32")
    assert "systemctl" in engine.how_to_start_docker("linux")


def test_apt_sources_both_formats():
    one_line = ("# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
                "deb-src http://src.example/debian bookworm main\n")
    deb822 = ("Types: deb\nURIs: http://other.example/debian\nSuites: bookworm bookworm-updates\n"
              "Components: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.example\nSuites: bookworm\n")
    assert host.parse_apt_sources(one_line, [deb822]) == [
        ("http://mirror.example/debian", "bookworm"),
        ("http://other.example/debian", "bookworm"),
        ("http://other.example/debian", "bookworm-updates"),
    ]


def test_recipe_hash_changes_with_content_and_facts(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "REPO_ROOT", tmp_path)
    recipe = tmp_path / "Dockerfile"
    recipe.write_text("FROM scratch\n")
    first = images.recipe_hash([recipe], "amd64")
    assert images.recipe_hash([recipe], "amd64") == first
    assert images.recipe_hash([recipe], "arm64") != first
    recipe.write_text("FROM scratch\nCMD [\"/hello\"]\n")
    assert images.recipe_hash([recipe], "amd64") != first


@pytest.mark.parametrize("labels, served, hit", [
    (None, None, False),                                  # not in the mirror
    ({}, "sha256:else", False),                           # in the mirror, not ours
    ({}, "sha256:ours", True),                            # Docker Hub's, as bring-up copied it
    ({images.RECIPE_LABEL: "old"}, "sha256:ours", False), # an older recipe
    ({images.RECIPE_LABEL: "abc"}, "sha256:ours", True),  # this recipe, as bring-up pushed it
    ({images.RECIPE_LABEL: "abc"}, "sha256:else", False), # the right label on a manifest someone else pushed
])
def test_cache_hit_only_on_same_recipe_as_pushed(monkeypatch, labels, served, hit):
    monkeypatch.setattr(registry, "image_labels", lambda repository, tag, arch=None: labels)
    monkeypatch.setattr(registry, "manifest_digest", lambda repository, tag: served)
    monkeypatch.setattr(images, "pushed", lambda: {"library/hello-world:latest": "sha256:ours"})
    assert images.cached(images.HELLO, "abc") is hit


def test_a_build_base_is_the_digest_bring_up_pushed(monkeypatch):
    monkeypatch.setattr(images, "pushed", lambda: {"library/python:alpine": "sha256:" + "a" * 64})
    assert images.pinned(images.PYTHON_ALPINE) == "python@sha256:" + "a" * 64
    with pytest.raises(BringupError, match="python:latest was not pushed by bring-up"):
        images.pinned(images.PYTHON_LATEST)


def test_the_sandbox_matrix_keeps_engine_26_as_latest_and_adds_engine_28():
    by_tag = {sandbox.tag: sandbox for sandbox in images.SANDBOX_ENGINES}
    assert len(by_tag) == len(images.SANDBOX_ENGINES)  # one image per engine
    assert by_tag["latest"].suite == "trixie"          # pytest.ini's default image: Engine 26.1
    assert by_tag["engine-28"].suite == "forky"
    assert by_tag["engine-28"].reference == "intro-to-docker/doctest-sandbox:engine-28"
    ini = (ROOT / "pytest.ini").read_text()
    assert f"doc_sandbox_image = {by_tag['latest'].reference}" in ini


def test_each_sandbox_has_a_recipe_of_its_own():
    """The same recipe files, base, machine and mirror: the release still
    tells the images apart, so changing one engine never passes for the other."""
    latest, engine_28 = images.SANDBOX_ENGINES
    facts = ("python-digest", "amd64", "http://mirror.example/debian")
    assert images.sandbox_digest(latest, *facts) == images.sandbox_digest(latest, *facts)
    assert images.sandbox_digest(latest, *facts) != images.sandbox_digest(engine_28, *facts)
    assert images.sandbox_digest(engine_28, *facts) != images.sandbox_digest(engine_28, "other", *facts[1:])
    assert images.sandbox_digest(engine_28, *facts) != images.sandbox_digest(engine_28, *facts[:2], "")
    argv = images.sandbox_build_argv(engine_28, "d1g", "http://mirror.example/debian", "python@sha256:d")
    assert argv[argv.index("-t") + 1] == "intro-to-docker/doctest-sandbox:engine-28"
    assert {"SUITE=forky", "APT_MIRROR=http://mirror.example/debian", "BASE=python@sha256:d"} <= set(argv)
    assert f"{images.RECIPE_LABEL}=d1g" in argv and argv[-1] == str(sandbox_image.RECIPE)
    # The harness's own build command (the recipe in its package), with this project's labels.
    assert argv == sandbox_image.build_argv(engine_28.reference, "python@sha256:d", suite="forky",
                                            apt_mirror="http://mirror.example/debian",
                                            label_namespace="org.intro-to-docker",
                                            labels={images.RECIPE_LABEL: "d1g"}, pull=True, quiet=True)
    assert images.SANDBOX_ROLE_LABEL == "org.intro-to-docker.role=doctest-sandbox" in argv


def _fake_docker_images(monkeypatch, local, dangling=(), in_use=()):
    """`local`: reference -> (id, recipe label) of the images the engine holds;
    a build gives the reference a new id. `dangling`: untagged sandbox images
    (by id); `in_use`: ids a container runs on, which rmi refuses. Returns
    what was built and removed."""
    done = {"built": [], "removed": []}
    dangling = list(dangling)
    monkeypatch.setattr(images, "pushed", lambda: {"library/python:latest": "sha256:" + "b" * 64})

    def build(argv, what, **_):
        reference, label = argv[argv.index("-t") + 1], argv[argv.index("--label") + 1]
        done["built"].append(reference)
        old = local.get(reference)
        local[reference] = (f"new-{reference}", label.split("=", 1)[1])
        if old:
            dangling.append(old[0])

    def docker(argv, **_):
        if argv[:2] == ["docker", "rmi"]:
            assert "-f" not in argv and "--force" not in argv
            if argv[2] in in_use:
                return subprocess.CompletedProcess(argv, 1, "", "image is being used by running container")
            done["removed"].append(argv[2])
            if argv[2] in dangling:
                dangling.remove(argv[2])
            return subprocess.CompletedProcess(argv, 0, "", "")
        if argv[:2] == ["docker", "images"]:
            assert {"dangling=true", f"label={images.SANDBOX_ROLE_LABEL}"} <= set(argv)
            return subprocess.CompletedProcess(argv, 0, "".join(f"{i}\n" for i in dangling), "")
        image = local.get(argv[-1])
        return subprocess.CompletedProcess(argv, 0 if image else 1, f"{image[0]}\n" if image else "", "")

    monkeypatch.setattr(images, "run", build)
    monkeypatch.setattr(images.subprocess, "run", docker)
    monkeypatch.setattr(images, "local_label", lambda reference: local[reference][1] if reference in local else None)
    monkeypatch.setattr(images, "apt_mirror", lambda: "http://mirror.example/debian")
    return done


def ensure_sandbox_images():
    """What `make images` does for the sandboxes: their builds at once, then
    the replaced images no run uses any more removed."""
    images.run_at_once(images.sandbox_builds("py", "amd64"))
    images.remove_replaced_sandboxes()


def test_sandbox_images_are_built_only_when_their_recipe_changed(monkeypatch):
    latest, engine_28 = images.SANDBOX_ENGINES
    mirror = "http://mirror.example/debian"
    current = images.sandbox_digest(latest, "py", "amd64", mirror)
    local = {latest.reference: ("old-latest", current),                  # up to date: kept as it is
             engine_28.reference: ("old-28", "an older recipe")}         # changed: rebuilt, the old one removed
    done = _fake_docker_images(monkeypatch, local)
    ensure_sandbox_images()
    assert done == {"built": [engine_28.reference], "removed": ["old-28"]}
    assert local[engine_28.reference] == (f"new-{engine_28.reference}",
                                          images.sandbox_digest(engine_28, "py", "amd64", mirror))
    # Nothing changed since: nothing built, nothing removed.
    done["built"].clear(), done["removed"].clear()
    ensure_sandbox_images()
    assert done == {"built": [], "removed": []}


def test_a_first_sandbox_build_removes_nothing(monkeypatch):
    done = _fake_docker_images(monkeypatch, {})
    ensure_sandbox_images()
    assert sorted(done["built"]) == sorted(s.reference for s in images.SANDBOX_ENGINES)  # built at once: any order
    assert done["removed"] == []


def test_a_replaced_sandbox_still_in_use_is_removed_by_a_later_bring_up(monkeypatch):
    """A doc-test run had a sandbox on the image a rebuild replaced: it stays
    (never forced) until a later bring-up finds it unused."""
    latest, engine_28 = images.SANDBOX_ENGINES
    local = {latest.reference: ("old-latest", "an older recipe"), engine_28.reference: ("old-28", "older")}
    in_use = {"old-latest"}
    done = _fake_docker_images(monkeypatch, local, in_use=in_use)
    ensure_sandbox_images()
    assert done["removed"] == ["old-28"]  # old-latest refused while in use
    in_use.clear()                        # the run ended
    done["built"].clear(), done["removed"].clear()
    ensure_sandbox_images()
    assert done == {"built": [], "removed": ["old-latest"]}


def _make_variable(name):
    match = re.search(rf"^{re.escape(name)} \??:?= *(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, f"the Makefile sets no {name}"
    return match.group(1).strip()


def test_the_makefile_matrix_runs_on_the_images_bring_up_builds():
    """Every pass of `make doctest` and `make journey` names an engine whose
    sandbox image `make images` builds, a store the harness knows and a shell."""
    from doctester.docker.plugin import STORES
    built = {sandbox.reference for sandbox in images.SANDBOX_ENGINES}
    engines = {}
    for sandbox in images.SANDBOX_ENGINES:
        version = sandbox.engine.split()[1].rstrip(",")  # "Engine 28.5, containerd 2.1" -> 28.5
        engines[version] = _make_variable(f"SANDBOX_IMAGE_{version}")
        assert engines[version] == sandbox.reference
    assert set(engines.values()) == built
    doctest = [p.split(":") for p in _make_variable("DOCTEST_MATRIX").split()]
    journey = [p.split(":") for p in _make_variable("JOURNEY_MATRIX").split()]
    for engine_version, store, shell, tabs in doctest + journey:
        assert engine_version in engines and store in STORES and shell in {"bash", "zsh"}
        assert tabs in {"unix", "windows"}
    # Between them, the page passes and the journey cover every engine, image
    # store, shell and set of tabs.
    passes = doctest + journey
    assert {engines[e] for e, _, _, _ in passes} == built
    assert {s for _, s, _, _ in passes} == set(STORES)
    assert {sh for _, _, sh, _ in passes} == {"bash", "zsh"}
    assert {t for _, _, _, t in passes} == {"unix", "windows"}
    assert len(journey) == 1 and journey[0][:2] == ["28.5", "containerd"]  # a fresh Docker Desktop's engine


def test_interrupted_tar_leaves_no_trusted_file(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    (root / "file").write_text("x")
    target = tmp_path / "python-full-abc.tar"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(tarfile.TarFile, "add", interrupted)
    with pytest.raises(KeyboardInterrupt):
        images._tar(root, target)
    assert not target.exists()


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path)
    monkeypatch.setattr(paths, "RUN", tmp_path / "run")
    monkeypatch.setattr(paths, "REGISTRY_DATA", tmp_path / "registry")
    monkeypatch.setattr(paths, "ROOTFS", tmp_path / "rootfs")
    monkeypatch.setattr(paths, "WORK", tmp_path / "work")
    paths.ensure()
    return paths.RUN


def test_service_that_dies_at_start_is_reported_with_its_log(run_dir):
    with pytest.raises(BringupError, match=r"(?s)exited with status 3.*boom"):
        services.start("dying", ["sh", "-c", "echo boom; exit 3"], ready=lambda: False, timeout=5)
    assert not services.pid_file("dying").exists()


def test_service_never_ready_is_stopped(run_dir):
    with pytest.raises(BringupError, match="did not become ready within 1 s"):
        services.start("sleepy", ["/bin/sleep", "30"], ready=lambda: False, timeout=1)
    assert services.running_pid("sleepy") is None


def test_a_reused_pid_is_not_ours(run_dir):
    """Ours means the same command line, start time and boot as recorded."""
    ours = subprocess.Popen(["sleep", "30"])
    try:
        services.record("sleeper", ours.pid, ["sleep", "30"])
        for _ in range(100):  # right after the start, /proc may still show the parent's command line
            if services.identity(ours.pid)["cmdline"] == ["sleep", "30"]:
                break
            time.sleep(0.02)
        assert services.running_pid("sleeper") == ours.pid
        recorded = json.loads(services.pid_file("sleeper").read_text())
        # The same pid, now another process: started at another time, or another program.
        for change in ({"start": recorded["start"] + 1}, {"cmdline": ["sleep", "31"]}, {"boot": "another-boot"}):
            services.pid_file("sleeper").write_text(json.dumps({**recorded, **change}))
            assert services.running_pid("sleeper") is None
            assert services.stop("sleeper") is False
        assert ours.poll() is None  # never signalled
    finally:
        ours.kill()
        ours.wait()


def test_stop_leaves_a_process_we_did_not_start(run_dir):
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        services.pid_file("dockerd").write_text(f"{stranger.pid}\n")  # a recycled pid
        assert services.stop("dockerd") is False
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_busy_port_is_refused(run_dir, monkeypatch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setattr(registry, "PORT", listener.getsockname()[1])
        with pytest.raises(BringupError, match="is busy"):
            registry.ensure_running(name="unit-registry")
    assert not services.pid_file("unit-registry").exists()


def test_organizer_rejects_a_name_that_is_not_an_address():
    with pytest.raises(BringupError, match="not an IP address"):
        organizer.serve("my-laptop")


def test_missing_daemon_gives_one_clear_message(tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no.sock", INTRO_DOCKER_CACHE=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "bringup", "images"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("bringup: error: the Docker daemon did not answer")


def test_registry_is_stopped_again_when_dockerd_fails(run_dir, monkeypatch):
    stopped = []
    monkeypatch.setattr(engine, "daemon_reachable", lambda: False)
    monkeypatch.setattr(engine, "foreign_engine", lambda: None)
    monkeypatch.setattr(host, "is_root", lambda: True)
    monkeypatch.setattr(host, "is_debian_like", lambda: True)
    monkeypatch.setattr(host, "has_apt", lambda: True)
    monkeypatch.setattr(engine, "install_packages", lambda: None)
    monkeypatch.setattr(engine, "install_cli_plugins", lambda: None)
    monkeypatch.setattr(registry, "ensure_running", lambda: True)
    monkeypatch.setattr(registry, "stop", lambda: stopped.append("registry"))

    def failing_dockerd():
        raise BringupError("dockerd exited with status 1 while starting")
    monkeypatch.setattr(engine, "start_dockerd", failing_dockerd)
    with pytest.raises(BringupError, match="dockerd exited"):
        engine.ensure_engine()
    assert stopped == ["registry"]


def test_a_socket_our_killed_dockerd_left_is_removed_and_forgotten(run_dir, monkeypatch):
    left = engine.own_socket()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(left))  # dockerd was killed: its socket file stays
    (run_dir / engine.SOCKET_RECORD).write_text(f"{left}\n")
    monkeypatch.setenv("DOCKER_HOST", engine.own_host())  # as the Makefile sets it while the file exists
    engine.forget_stale_socket()
    assert not left.exists() and not (run_dir / engine.SOCKET_RECORD).exists()
    assert "DOCKER_HOST" not in os.environ


def test_a_users_docker_host_is_kept_when_our_socket_is_gone(run_dir, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    engine.forget_stale_socket()
    assert os.environ["DOCKER_HOST"] == "tcp://127.0.0.1:2375"


CERT_A = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----"
CERT_B = "-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----"


def test_only_certificates_beyond_the_distributions_bundle_are_private():
    assert images.private_certificates(f"{CERT_A}\n{CERT_B}\n", f"# Debian\n{CERT_A}\n") == [CERT_B]
    # Line breaks and indentation do not make a known certificate new.
    assert images.private_certificates(CERT_A.replace("\n", "\r\n"), CERT_A) == []
    assert images.private_certificates("", CERT_A) == []


@pytest.mark.parametrize("given, expected", [("", "ours"), (None, "ours"), ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375")])
def test_our_running_engine_is_used_unless_docker_host_names_another(run_dir, monkeypatch, given, expected):
    monkeypatch.setattr(services, "running_pid", lambda name: 4242 if name == "dockerd" else None)
    if given is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
    else:
        monkeypatch.setenv("DOCKER_HOST", given)  # empty: as a parent make exports it before the engine is up
    engine.use_own_engine()
    assert os.environ["DOCKER_HOST"] == (engine.own_host() if expected == "ours" else expected)


def test_engine_stop_stops_every_service_bring_up_started_and_says_which(monkeypatch, capsys):
    asked = []

    def stopper(name, running):
        return lambda: asked.append(name) or running
    monkeypatch.setattr(organizer, "stop", stopper("room", True))
    monkeypatch.setattr(engine, "stop_emulating_engines", stopper("emulating", False))
    monkeypatch.setattr(engine, "stop_dockerd", stopper("dockerd", True))
    monkeypatch.setattr(registry, "stop", stopper("registry", False))
    stop_all()
    assert asked == ["room", "emulating", "dockerd", "registry"]
    assert capsys.readouterr().out == "stopped: the room's mirror, dockerd\n"


def test_builds_at_once_all_run_to_their_end_and_every_failure_is_told(capsys):
    finished = []

    def slow():
        time.sleep(0.2)
        finished.append("slow")

    def failing(what):
        def build():
            raise BringupError(f"building {what} failed")
        return build
    with pytest.raises(BringupError, match="building registry failed"):
        images.run_at_once([failing("registry"), slow, failing("sandbox")])
    assert finished == ["slow"]  # not cut short by the failure beside it
    assert "also failed: building sandbox failed" in capsys.readouterr().out
