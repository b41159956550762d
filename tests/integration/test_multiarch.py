"""Images for the room's second CPU (bringup.multiarch), on the real mirror
that `make images` filled: hello-world is an index of this machine's image
and an arm64 one, an arm64 engine pulls and runs the arm64 one (under QEMU,
in a user namespace of bring-up's own), and nothing of the machine's
binfmt_misc handlers is read or changed."""
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bringup import emulation, engine, host, images, multiarch, registry, services
from tests.integration.conftest import sh

ARCH = multiarch.other_cpu()
HOST_HANDLERS = Path("/proc/sys/fs/binfmt_misc")


@pytest.fixture(scope="module", autouse=True)
def emulation_set_up():
    """What `make images MULTIARCH=all` sets up (`make test` asks for the
    cross-compiled hello-world alone, which needs none of it)."""
    multiarch.set_up_emulation()


def host_handlers():
    """What the machine's own binfmt_misc holds (nothing when it is not mounted)."""
    return sorted(p.name for p in HOST_HANDLERS.iterdir()) if HOST_HANDLERS.is_dir() else []


def still_running(pattern, wait=5):
    """Does a process matching `pattern` still run after `wait` seconds at most?
    (slirp4netns ends at the event its lifeline pipe's closing raises.)"""
    deadline = time.monotonic() + wait
    while subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0:
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


def hello_world_index():
    request = urllib.request.Request(f"{registry.MIRROR_URL}/v2/library/hello-world/manifests/latest",
                                     headers={"Accept": registry.MANIFEST_TYPES})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_hello_world_in_the_mirror_is_an_index_of_both_cpus(client):
    index = hello_world_index()
    assert index["mediaType"] == registry.OCI_INDEX
    assert sorted(entry["platform"]["architecture"] for entry in index["manifests"]) == sorted(
        [host.debian_arch(), ARCH])
    # Each entry is the recipe's image for its CPU, as bring-up pushed it.
    for arch in (host.debian_arch(), ARCH):
        assert (registry.image_labels("library/hello-world", "latest", arch=arch) or {}).get(images.RECIPE_LABEL)
    assert images.pushed()["library/hello-world:latest"] == registry.manifest_digest("library/hello-world", "latest")


def test_an_engine_pulls_the_other_cpus_image_from_the_mirror(client):
    """What an attendee's laptop of the other CPU does, asked for here with
    --platform; by the digest of the index's entry for that CPU, which names
    that image alone: no tag or digest this engine holds changes (by the
    index's digest, the pull would have to move a `hello-world@` digest an
    earlier `docker pull hello-world` recorded for this CPU's image, which
    the engine refuses)."""
    entry, = (e for e in hello_world_index()["manifests"] if e["platform"]["architecture"] == ARCH)
    reference = f"hello-world@{entry['digest']}"
    sh("docker", "pull", "--quiet", "--platform", f"linux/{ARCH}", reference)
    try:
        arch = sh("docker", "image", "inspect", "--format", "{{.Architecture}}", reference).stdout.strip()
    finally:
        sh("docker", "rmi", reference)
    assert arch == ARCH


def test_a_copy_from_a_registry_keeps_every_platform_and_every_digest(client):
    """How `make images` copies Docker Hub's images (copy_from_hub), here
    from the mirror itself onto the same tag: a copy of one platform would
    change the tag's digest; this one adds nothing to the mirror."""
    before = registry.manifest_digest("library/hello-world", "latest")
    try:
        images.copy_all_platforms(f"{registry.LOOPBACK}:{registry.PORT}/library/hello-world:latest", images.HELLO,
                                  plain_http_source=True)
    finally:
        images.stop_writer()
    assert registry.manifest_digest("library/hello-world", "latest") == before
    assert images.pushed()["library/hello-world:latest"] == before


def test_a_program_for_the_other_cpu_runs_in_the_namespace_and_the_machine_is_untouched(tmp_path):
    before = host_handlers()
    program = tmp_path / "hello"
    sh(multiarch.CROSS_GCC[ARCH][0], "-static", "-Os", "-o", str(program),
       str(images.RECIPES / "hello-world/hello.c"))
    if not any(name.startswith(f"qemu-{emulation.QEMU_CPU[ARCH]}") for name in before):
        with pytest.raises(OSError, match="Exec format error"):  # no handler out here
            subprocess.run([str(program)], capture_output=True)
    inside = subprocess.run(multiarch.in_emulation(ARCH, [str(program)]), capture_output=True, text=True)
    assert "Hello from Docker!" in inside.stdout, inside.stderr
    assert host_handlers() == before


def test_the_emulating_engine_runs_the_mirrors_arm64_image_then_leaves_nothing(client, tmp_path):
    before = host_handlers()
    with multiarch.EmulatingEngine(ARCH) as emulating:
        env = dict(os.environ, DOCKER_HOST=emulating.host)
        pid = services.running_pid(emulating.name)
        assert pid, "the emulating engine is not recorded as bring-up's service"
        # It runs in a user and a network namespace of its own, not the machine's.
        for kind in ("user", "net"):
            assert os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
        emulating.load_base(images.HELLO, "hello-world:latest", tmp_path)  # it has no way to the mirror
        ran = sh("docker", "run", "--rm", "--platform", f"linux/{ARCH}", "hello-world", env=env)
        assert "Hello from Docker!" in ran.stdout
        sh("docker", "rmi", "hello-world", env=env)
    assert services.running_pid(emulating.name) is None
    assert not engine.daemon_reachable(emulating.socket)
    for trace in (str(emulating.socket), f"slirp4netns .* {pid} tap0"):  # the engine, its way out
        assert not still_running(trace)
    assert host_handlers() == before


def test_with_multiarch_all_the_workshop_image_for_the_other_cpu_runs_the_server_code(client, tmp_path):
    workshop = images.workshop_image()
    if registry.platform_manifest(workshop.repository, workshop.tag, ARCH) is None:
        pytest.skip(f"the mirror holds {workshop.hub_ref} for {host.debian_arch()} alone: `make images "
                    "MULTIARCH=all` (as `make mirror` runs it) builds it for the other CPU")
    with multiarch.EmulatingEngine(ARCH) as emulating:
        emulating.load_base(workshop, workshop.hub_ref, tmp_path)
        ran = sh("docker", "run", "--rm", "--platform", f"linux/{ARCH}", workshop.hub_ref,
                 "python3", "-c", "import platform, flask; print(platform.machine(), 'flask', flask.__version__)",
                 env=emulating.env)
        sh("docker", "rmi", workshop.hub_ref, env=emulating.env)
    assert ran.stdout.split()[:2] == [emulation.QEMU_CPU[ARCH], "flask"]
