"""Bring-up trusts no folder: its cache is the effective user's, mode 0700, and
nothing in it is written, read or signalled through a link or a file another
user made. Real files in a temporary folder; as root, other owners are made
with chown (uid 1000)."""
import json
import os
import stat
import subprocess
import time

import pytest

from bringup import engine, paths, services
from bringup.progress import BringupError

OTHER_UID = 1000
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user's needs root")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Where the cache would be: not made yet."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(paths, "CACHE", folder)
    for name, sub in (("RUN", "run"), ("REGISTRY_DATA", "registry"), ("ROOTFS", "rootfs"),
                      ("WORK", "work"), ("DOCKER_DATA", "docker")):
        monkeypatch.setattr(paths, name, folder / sub)
    return folder


@pytest.fixture
def run(cache):
    paths.ensure()
    return paths.RUN


@pytest.fixture
def precious(tmp_path):
    """A file somebody would like root to overwrite, append to or read."""
    target = tmp_path / "precious"
    target.write_text("precious\n")
    return target


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_fresh_cache_is_made_private(cache):
    paths.ensure()
    for folder in (cache, paths.RUN, paths.ROOTFS, paths.WORK):
        assert mode(folder) == 0o700 and os.lstat(folder).st_uid == os.geteuid()
    # Public images, read by the doc tests' sandboxes: others read, only we write.
    assert mode(paths.REGISTRY_DATA) == 0o755 and os.lstat(paths.REGISTRY_DATA).st_uid == os.geteuid()


def test_a_fresh_cache_with_missing_parents_is_made_private(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "CACHE", tmp_path / "home" / ".cache" / "intro-to-docker")
    paths.private_folder(paths.CACHE)
    assert mode(paths.CACHE) == mode(paths.CACHE.parent) == 0o700


def test_a_cache_of_ours_that_others_may_only_read_is_narrowed(cache, capsys):
    cache.mkdir(mode=0o755)
    os.chmod(cache, 0o755)
    paths.ensure()
    assert mode(cache) == 0o700
    assert "was mode 0755; set to 0700" in capsys.readouterr().out


def test_a_symlinked_cache_is_refused(cache, tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    cache.symlink_to(real)
    with pytest.raises(BringupError, match=rf"will not use {cache}: it is a symbolic link .*INTRO_DOCKER_CACHE"):
        paths.ensure()
    assert list(real.iterdir()) == []  # nothing made through the link


@pytest.mark.parametrize("writable", [0o770, 0o707, 0o777])
def test_a_cache_others_can_write_is_refused(cache, writable):
    cache.mkdir()
    os.chmod(cache, writable)
    with pytest.raises(BringupError, match=rf"{cache}: its group or other users can write in it "
                                           rf"\(mode 0{writable:o}\).*`chmod 700 {cache}`"):
        paths.ensure()
    assert mode(cache) == writable and not paths.RUN.exists()  # left as it was


def test_a_run_folder_others_can_write_is_refused(cache):
    cache.mkdir(mode=0o700)
    paths.RUN.mkdir(mode=0o700)
    os.chmod(paths.RUN, 0o777)
    with pytest.raises(BringupError, match=f"{paths.RUN}: its group or other users can write"):
        paths.ensure()


def test_a_world_writable_parent_without_sticky_bit_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setattr(paths, "CACHE", shared / "cache")
    with pytest.raises(BringupError, match=rf"the folder {shared} above it is writable by other users "
                                           r"\(mode 0777, no sticky bit\)"):
        paths.check_ancestors(paths.CACHE)
    os.chmod(shared, 0o1777)  # as /tmp: others cannot rename what is ours
    paths.check_ancestors(paths.CACHE)


@as_root
def test_a_cache_owned_by_another_user_is_refused(cache):
    cache.mkdir(mode=0o700)
    os.chown(cache, OTHER_UID, OTHER_UID)
    with pytest.raises(BringupError, match=rf"{cache}: it belongs to uid {OTHER_UID}\b.*not to uid 0.*sudo -H"):
        paths.ensure()
    assert not paths.RUN.exists()


@as_root
def test_a_cache_below_another_users_folder_is_refused(tmp_path, monkeypatch):
    """`sudo -E make engine`: root's cache in the user's home, which the user can swap."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chown(home, OTHER_UID, OTHER_UID)
    monkeypatch.setattr(paths, "CACHE", home / ".cache" / "intro-to-docker")
    with pytest.raises(BringupError, match=rf"the folder {home} above it belongs to uid {OTHER_UID}"):
        paths.ensure()
    assert list(home.iterdir()) == []


@as_root
def test_a_link_on_the_way_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    os.lchown(link, OTHER_UID, OTHER_UID)
    monkeypatch.setattr(paths, "CACHE", link / "cache")
    with pytest.raises(BringupError, match=rf"{link} on its way is a symbolic link owned by uid {OTHER_UID}"):
        paths.ensure()
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("name", ["dockerd.pid", "daemon.json", "dockerd.socket"])
def test_a_planted_link_is_not_written_through(run, precious, name):
    (run / name).symlink_to(precious)
    with pytest.raises(BringupError, match=rf"{run / name}: it is a symbolic link .*which bring-up does not follow"):
        paths.write_private(run / name, "overwritten\n")
    assert precious.read_text() == "precious\n"
    assert [p.name for p in run.iterdir()] == [name]  # no temporary file left behind


def test_a_planted_link_at_a_pid_file_is_not_written_through(run, precious):
    services.pid_file("dockerd").symlink_to(precious)
    with pytest.raises(BringupError, match="symbolic link"):
        services.record("dockerd", os.getpid(), ["sleep", "30"])
    assert precious.read_text() == "precious\n"


def test_a_planted_link_at_daemon_json_stops_dockerd_before_it_starts(run, precious, monkeypatch):
    (run / "daemon.json").symlink_to(precious)
    started = []
    monkeypatch.setattr(services, "start", lambda *args, **kwargs: started.append(args))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    with pytest.raises(BringupError, match=r"daemon\.json: it is a symbolic link"):
        engine.start_dockerd()
    assert started == [] and precious.read_text() == "precious\n"


def test_a_planted_link_at_a_log_is_not_appended_to(run, precious):
    services.log_file("dying").symlink_to(precious)
    with pytest.raises(BringupError, match=r"dying\.log: it is a symbolic link"):
        services.start("dying", ["sh", "-c", "echo written; exit 3"], ready=lambda: False, timeout=5)
    assert precious.read_text() == "precious\n"
    assert not services.pid_file("dying").exists()  # nothing was started


def test_a_planted_link_at_a_big_log_is_not_rotated(run, precious):
    services.log_file("big").symlink_to(precious)
    with pytest.raises(BringupError, match="symbolic link"):
        paths.rotate(services.log_file("big"), limit=1)
    assert precious.read_text() == "precious\n" and services.log_file("big").is_symlink()


def test_a_planted_fifo_does_not_hang_a_log_or_a_pid_file(run):
    os.mkfifo(services.log_file("stuck"))
    os.mkfifo(services.pid_file("stuck"))
    with pytest.raises(BringupError, match="not a regular file"):
        paths.open_log(services.log_file("stuck"))
    with pytest.raises(BringupError, match="not a regular file"):
        services.running_pid("stuck")


def test_logs_and_pid_files_are_private(run):
    services.start("quick", ["sleep", "30"], ready=lambda: True, timeout=5)
    try:
        assert mode(services.pid_file("quick")) == 0o600
        assert mode(services.log_file("quick")) == 0o600
    finally:
        services.stop("quick")


def test_a_big_log_is_rotated_once(run):
    log = services.log_file("chatty")
    log.write_bytes(b"x" * 100)
    assert paths.rotate(log, limit=10) is True
    assert not log.exists() and log.with_name("chatty.log.1").read_bytes() == b"x" * 100
    assert paths.rotate(log, limit=10) is False


def test_a_written_file_replaces_ours_with_the_mode_asked(run):
    target = run / "daemon.json"
    paths.write_private(target, "one\n")
    assert target.read_text() == "one\n" and mode(target) == 0o600
    paths.write_private(target, b"two\n", mode=0o644)
    assert paths.read_private(target) == "two\n" and mode(target) == 0o644


@pytest.fixture
def sleeper():
    process = subprocess.Popen(["sleep", "30"])
    for _ in range(100):  # right after the start, /proc may still show the parent's command line
        if services.identity(process.pid)["cmdline"] == ["sleep", "30"]:
            break
        time.sleep(0.02)
    yield process
    process.kill()
    process.wait()


def _forge(path, sleeper):
    """A record that names `sleeper` exactly as a pid file of ours would."""
    path.write_text(json.dumps(services.identity(sleeper.pid)) + "\n")


def test_a_pid_file_that_is_a_link_is_never_signalled(run, tmp_path, sleeper):
    forged = tmp_path / "forged.pid"
    _forge(forged, sleeper)
    services.pid_file("dockerd").symlink_to(forged)
    with pytest.raises(BringupError, match=r"dockerd\.pid: it is a symbolic link"):
        services.stop("dockerd")
    assert sleeper.poll() is None


@as_root
def test_a_pid_file_of_another_user_is_never_signalled(run, sleeper):
    _forge(services.pid_file("dockerd"), sleeper)
    os.chown(services.pid_file("dockerd"), OTHER_UID, OTHER_UID)
    with pytest.raises(BringupError, match=rf"dockerd\.pid: it belongs to uid {OTHER_UID}\b.*somebody else wrote it"):
        services.stop("dockerd")
    assert sleeper.poll() is None


def test_a_pid_file_others_may_write_is_never_signalled(run, sleeper):
    _forge(services.pid_file("dockerd"), sleeper)
    os.chmod(services.pid_file("dockerd"), 0o666)
    with pytest.raises(BringupError, match=r"other users may write it \(mode 0666\)"):
        services.stop("dockerd")
    assert sleeper.poll() is None


@as_root
def test_a_pid_file_in_a_folder_of_another_user_is_never_signalled(run, sleeper):
    _forge(services.pid_file("dockerd"), sleeper)
    os.chown(run, OTHER_UID, OTHER_UID)
    with pytest.raises(BringupError, match=rf"will not use {run}: it belongs to uid {OTHER_UID}"):
        services.stop("dockerd")
    assert sleeper.poll() is None


def test_a_pid_file_naming_a_process_we_did_not_start_is_never_signalled(run, sleeper):
    """A regular file of ours, but the process it names is not what we started."""
    record = services.identity(sleeper.pid)
    paths.write_private(services.pid_file("dockerd"), json.dumps({**record, "cmdline": ["dockerd"]}))
    assert services.stop("dockerd") is False
    assert sleeper.poll() is None


def test_a_record_of_ours_is_read_and_its_process_stopped(run, sleeper):
    """The control case: the same live process, recorded by bring-up, is ours."""
    services.record("sleeper", sleeper.pid, ["sleep", "30"])
    assert services.running_pid("sleeper") == sleeper.pid
    assert services.stop("sleeper") is True
    assert sleeper.wait(timeout=10) is not None


def test_the_socket_record_is_read_only_from_a_file_of_ours(run, tmp_path):
    elsewhere = tmp_path / "record"
    elsewhere.write_text("/var/run/docker.sock\n")
    (run / engine.SOCKET_RECORD).symlink_to(elsewhere)
    with pytest.raises(BringupError, match="symbolic link"):
        engine.our_socket()


def test_a_planted_link_at_a_tarball_is_not_read(run, precious):
    tarball = paths.ROOTFS / "python-full-abc.tar"
    tarball.symlink_to(precious)
    with pytest.raises(BringupError, match="symbolic link"):
        paths.open_private(tarball)
    real = paths.ROOTFS / "python-slim-abc.tar"
    real.write_bytes(b"tar")
    with paths.open_private(real) as stream:
        assert stream.read() == b"tar"
