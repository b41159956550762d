"""The workshop's images for a room's second CPU: arm64 beside this
machine's amd64 (or the reverse), so that an Apple silicon laptop pulls
images it runs natively, not under emulation, nor "exec format error".

Each image is made for the other CPU from the same recipe:
- hello-world: hello.c cross-compiled (Debian's cross gcc), then the same
  Dockerfile built for that platform (nothing runs);
- the python stand-ins: mmdebstrap with the same packages for that
  architecture, its maintainer scripts under QEMU (bringup.emulation), then
  the same Dockerfiles (which run nothing);
- registry and the workshop image, whose recipes RUN commands: built by an
  emulating engine, a second dockerd of ours inside bringup.emulation's
  namespace, so its containers run the other CPU's programs under QEMU.

Each such image is pushed under `<tag>--<arch>`; then every tag of the image
becomes an OCI index of this machine's image and that one, which engines of
either CPU pull from as they pull Docker Hub's.
"""
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from . import emulation, engine, host, images, paths, registry, services
from .docker_cli import DOCKER, BringupDocker
from .progress import BringupError, say, step

OTHER_CPU = {"amd64": "arm64", "arm64": "amd64"}
CROSS_GCC = {"arm64": ("aarch64-linux-gnu-gcc", ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]),
             "amd64": ("x86_64-linux-gnu-gcc", ["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"])}
TOOLS = ["mmdebstrap", "arch-test", "slirp4netns", "skopeo"]  # arch-test: how mmdebstrap checks the emulation
CHOICES = ("none", "hello-world", "all")
DEFAULT = "hello-world"  # what `make images` builds for the other CPU unless told (MULTIARCH=...)
# Debian's qemu-user-static, unpacked here, never installed (bringup.emulation says why).
QEMU_ROOT = paths.CACHE / "qemu-user-static"
SOURCES = [Path(__file__), Path(emulation.__file__), Path(images.__file__)]


def other_cpu() -> str | None:
    return OTHER_CPU.get(host.debian_arch())


def why_not(arch: str | None) -> str | None:
    """Why this machine cannot build images for `arch`, or None."""
    if arch is None:
        return f"bring-up knows no second CPU for this machine's {host.debian_arch()}"
    if not (host.is_root() and host.is_debian_like() and host.has_apt()):
        return "building for another CPU needs root on Debian or Ubuntu (its cross compiler and QEMU)"
    if not emulation.kernel_supported():
        return (f"Linux {os.uname().release} has no binfmt_misc per user namespace (6.7 has), and bring-up "
                "never registers QEMU in the machine's own")
    return None


def platform_image(image: images.Image, arch: str) -> images.Image:
    """Where the image for `arch` alone is pushed: `<tag>--<arch>`."""
    return images.Image(image.repository, f"{image.tag}--{arch}", image.inputs)


def join(image: images.Image, arch: str, digest: str, build: Callable[[images.Image], None]) -> None:
    """Make every tag of image an index of this machine's image and the one
    for `arch` (built by `build(target)` unless the mirror has it)."""
    if images.cached(image, digest, arch):
        say(f"    {image.hub_ref} for {arch}: in the mirror (recipe {digest})")
        return
    target = platform_image(image, arch)
    if not images.cached(target, digest, arch):
        with step(f"building {image.hub_ref} for {arch}"):
            build(target)
    native = registry.platform_manifest(image.repository, image.tag, host.debian_arch())
    other = registry.platform_manifest(target.repository, target.tag, arch)
    if native is None or other is None:
        raise BringupError(f"{image.hub_ref}: the mirror lacks its image for "
                           f"{host.debian_arch() if native is None else arch} right after bring-up made it")
    for tag in image.tags:
        registry.put_index(image.repository, tag, [(native[0], host.debian_arch()), (other[0], arch)],
                           images.writer().authorization())
        images.record_push(image.with_tag(tag))


def ensure_hello(arch: str, scratch: Path) -> None:
    digest = images.recipe_hash(images.HELLO.inputs + SOURCES, arch)

    def build(target: images.Image) -> None:
        local = images.build_hello_locally(digest, scratch, CROSS_GCC[arch][0], arch)
        images.push(local, target, f"pushing hello-world for {arch}")
        DOCKER.remove_image(local)

    join(images.HELLO, arch, digest, build)


def set_up_emulation() -> None:
    """What building under QEMU needs (MULTIARCH=all): the tools, and QEMU
    unpacked. The cross-compiled hello-world needs neither."""
    engine.install_packages(TOOLS)
    unpack_qemu()


def unpack_qemu() -> None:
    """qemu-user-static's files under QEMU_ROOT, from the package apt would
    install (its signature checked by apt), unpacked once."""
    if (QEMU_ROOT / emulation.HANDLERS.relative_to("/")).is_dir():
        return
    with images.scratch_folder() as scratch, step(f"unpacking {emulation.PACKAGE} (not installing it)"):
        download = ["apt-get", "-o", "APT::Sandbox::User=root", "download", emulation.PACKAGE]
        result = subprocess.run(download, cwd=scratch, capture_output=True, text=True)
        if result.returncode:  # lists never fetched on this machine (a fresh container)
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            result = subprocess.run(download, cwd=scratch, capture_output=True, text=True)
        if result.returncode:
            raise BringupError(f"`{' '.join(download)}` failed:\n{result.stderr[-1500:]}")
        unpacked = scratch / "root"
        images.run(["dpkg-deb", "-x", str(paths.only_match(scratch, f"{emulation.PACKAGE}_*.deb", "apt-get download")), str(unpacked)],
                   f"unpacking {emulation.PACKAGE}")
        shutil.rmtree(QEMU_ROOT, ignore_errors=True)
        unpacked.rename(QEMU_ROOT)  # only a finished unpacking gets the trusted name


def in_emulation(arch: str, argv: Sequence[str], own_network: bool = False) -> list[str]:
    """argv, run in bringup.emulation's namespace for `arch`."""
    return [sys.executable, emulation.__file__, arch, "--qemu-root", str(QEMU_ROOT),
            *(["--own-network"] if own_network else []), "--", *argv]


ROOTFS_STAGE = "bringup-rootfs"  # the first stage of build_on_rootfs

# How python_rootfs makes a root file system, as part of its tarballs' name:
# change it when that code changes. (The tarballs do not carry the hash of
# this module's code, as images do: any edit here would cost a new
# bootstrap of several minutes under emulation.)
ROOTFS_METHOD = "mmdebstrap minbase, version 1"


def python_rootfs(arch: str, scratch: Path, private: Sequence[str]) -> tuple[Path, Path]:
    """The python stand-ins' root file systems for `arch` (once per recipe)."""
    release, mirror, packages = images.rootfs_recipe()
    digest = images.recipe_hash(images.PYTHON_LATEST.inputs, arch, release, "".join(private), ROOTFS_METHOD)
    full, slim = images.rootfs_tarballs(digest, arch)
    if full.exists() and slim.exists():
        return full, slim
    root = scratch / f"rootfs-{arch}"
    with step(f"mmdebstrap {release} for {arch}, its package scripts under QEMU (several minutes, once)"):
        result = subprocess.run(in_emulation(arch, [
            "mmdebstrap", "--mode=root", "--variant=minbase", f"--arch={arch}", f"--include={','.join(packages)}",
            f"--keyring={host.DEBIAN_KEYRING}", release, str(root), mirror]), capture_output=True, text=True)
        if result.returncode:
            raise BringupError(f"mmdebstrap for {arch} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    version = subprocess.run(in_emulation(arch, ["chroot", str(root), "python3", "-c",
                                                 "import sys; print('%d.%d' % sys.version_info[:2])"]),
                             capture_output=True, text=True).stdout.strip()
    if version != images.PINNED_PYTHON:
        raise BringupError(f"the python stand-in for {arch} runs Python {version or '(none)'}, but pages pin "
                           f"python:{images.PINNED_PYTHON}-alpine")
    return images.finish_rootfs(root, full, slim, private)


def ensure_python(arch: str, scratch: Path, private: Sequence[str], emulating: "EmulatingEngine") -> str:
    """Both python stand-ins for `arch`, built on the emulating engine (the
    full image's recipe RUNs apt-get); return their recipe digest."""
    digest = images.recipe_hash(images.PYTHON_LATEST.inputs + SOURCES, arch, images.rootfs_recipe()[0],
                                "".join(private))
    labels = {images.PRIVATE_CA_LABEL: "yes"} if private else {}
    for image, kind in ((images.PYTHON_LATEST, 0), (images.PYTHON_ALPINE, 1)):
        def build(target: images.Image, image: images.Image = image, kind: int = kind) -> None:
            build_on_rootfs(emulating, image, target, digest, python_rootfs(arch, scratch, private)[kind],
                            images.RECIPES / f"python/Dockerfile.{image.tag}", scratch, labels)

        join(image, arch, digest, build)
    return digest


class EmulatingEngine:
    """A dockerd of ours in bringup.emulation's namespace, for the builds
    whose recipes RUN the other CPU's programs. Its own data root, exec root
    and socket. Recorded like
    every service bring-up starts, so `make engine-stop` stops it after a kill.
    It has a network namespace of its own (bringup.emulation --own-network):
    its containers' networks and rules are made there, never in the host's."""

    def __init__(self, arch: str) -> None:
        self.arch = arch
        self.name = engine.emulating_engine(arch)
        self.socket = paths.RUN / f"docker-{arch}.sock"
        self.docker = BringupDocker.on(self.host)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def __enter__(self) -> "EmulatingEngine":
        # One user at a time (a `make images` and a test): a second waits.
        self.lock = paths.open_log(paths.RUN / f"{self.name}.lock")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        services.stop(self.name)  # one a killed run left
        # A configuration of its own, empty: never the system's /etc/docker/daemon.json.
        config = paths.write_private(paths.RUN / f"daemon-{self.arch}.json", "{}\n")
        pid_file = paths.RUN / f"{self.name}.docker-pid"
        pid_file.unlink(missing_ok=True)  # no dockerd of this name runs: one a kill left
        dockerd = [engine.DOCKERD, "--config-file", str(config), "--pidfile", str(pid_file), "--host", self.host,
                   "--data-root", str(paths.CACHE / f"docker-{self.arch}"),
                   "--exec-root", str(paths.RUN / f"docker-{self.arch}-exec"),
                   "--cgroup-parent", f"intro-to-docker-{self.arch}"]
        try:
            with step(f"starting an engine that runs {self.arch} programs under QEMU"):
                services.start(self.name, in_emulation(self.arch, dockerd, own_network=True),
                               ready=lambda: engine.daemon_reachable(self.socket), timeout=60, shows_as=dockerd)
        except BaseException:
            self.lock.close()
            raise
        return self

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, DOCKER_HOST=self.host)

    def load_base(self, image: images.Image, as_tag: str, scratch: Path) -> None:
        """The mirror's image for `arch` into this engine, as `as_tag`, through
        a file: the engine has no way to the mirror (its namespace does not
        reach this machine's loopback)."""
        found = registry.platform_manifest(image.repository, image.tag, self.arch)
        if found is None:
            raise BringupError(f"{image.hub_ref} for {self.arch} is not in the mirror: run `make images "
                               "MULTIARCH=all` again")
        archive = scratch / f"base-{self.arch}.tar"
        images.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                    f"docker://{registry.LOOPBACK}:{registry.PORT}/{image.repository}@{found[0]}",
                    f"docker-archive:{archive}:{as_tag}"], f"fetching {image.hub_ref} for {self.arch}")
        try:
            self.docker.run("load", "--quiet", "--input", str(archive), what=f"loading {image.hub_ref}")
        finally:
            archive.unlink(missing_ok=True)

    def build(self, image: images.Image, target: images.Image, digest: str, context: Path,
              build_args: Iterable[tuple[str, str]] = (), labels: Mapping[str, str] | None = None,
              classic: bool = True) -> None:
        """Build `context` for `arch` and push it as `target`. `classic`: the
        classic builder, for recipes whose bases load_base put here (BuildKit,
        0.8 in Engine 20.10, takes a base for another CPU from a registry only)."""
        local = f"intro-to-docker-build/{image.repository.rsplit('/', 1)[-1]}:{digest}-{self.arch}"
        args = [arg for name, value in build_args for arg in ("--build-arg", f"{name}={value}")]
        labels = {images.RECIPE_LABEL: digest, **(labels or {})}
        builder = self.docker.with_env(DOCKER_BUILDKIT="0") if classic else self.docker
        builder.run("build", "--quiet", "--platform", f"linux/{self.arch}", *args,
                    *(arg for name, value in labels.items() for arg in ("--label", f"{name}={value}")),
                    "-t", local, str(context), what=f"building {image.hub_ref} for {self.arch}")
        # Pushed by bring-up's engine, which reaches the writer as it always does.
        with step(f"handing {image.hub_ref} for {self.arch} to bring-up's engine"):
            self.docker.hand_over(local, DOCKER, f"loading {image.hub_ref} for {self.arch}")
        self.docker.remove_image(local)
        images.push(local, target, f"pushing {image.hub_ref} for {self.arch}")
        DOCKER.remove_image(local)

    def __exit__(self, *exc: object) -> None:
        try:
            services.stop(self.name)
            remove_empty_cgroups(f"intro-to-docker-{self.arch}")
        finally:
            self.lock.close()


def remove_empty_cgroups(parent_name: str) -> None:
    """The cgroups runc made under --cgroup-parent, once empty (rmdir removes no other)."""
    for parent in Path("/sys/fs/cgroup").glob(f"*/{parent_name}"):
        for cgroup in sorted(parent.rglob("*/"), key=lambda path: len(path.parts), reverse=True) + [parent]:
            try:
                cgroup.rmdir()
            except OSError:
                pass


def build_on_rootfs(emulating: EmulatingEngine, image: images.Image, target: images.Image, digest: str, tarball: Path,
                    dockerfile: Path, scratch: Path, labels: Mapping[str, str] | None = None) -> None:
    """Build, on the emulating engine, a recipe whose base (ARG BASE) is a
    root file system tarball. The recipe runs as written, after a first
    stage that unpacks the tarball: BuildKit reads a local base for another
    CPU from nowhere but a registry, and `docker import` records this
    machine's CPU, not the tarball's."""
    context = scratch / f"{image.tag}-{emulating.arch}"
    context.mkdir()
    os.link(tarball, context / "rootfs.tar")  # the cache and the scratch folder share a file system
    # ARG before the first FROM: the recipe's own `FROM ${BASE}` reads it.
    (context / "Dockerfile").write_text(f"ARG BASE\nFROM scratch AS {ROOTFS_STAGE}\nADD rootfs.tar /\n\n"
                                        + dockerfile.read_text())
    try:
        emulating.build(image, target, digest, context, [("BASE", ROOTFS_STAGE)], labels, classic=False)
    finally:
        shutil.rmtree(context)


BASE_TAG = "intro-to-docker-build/base:python-alpine"  # the registry recipe's base, in the emulating engine


def ensure_registry(arch: str, base_digest: str, emulating: EmulatingEngine, scratch: Path) -> None:
    """registry:2's stand-in for `arch` (its recipe RUNs apt-get), on the emulating engine."""
    mirror = images.apt_mirror()
    digest = images.recipe_hash(images.REGISTRY.inputs + SOURCES, base_digest, arch, mirror)

    def build(target: images.Image) -> None:
        emulating.load_base(images.PYTHON_ALPINE, BASE_TAG, scratch)
        emulating.build(images.REGISTRY, target, digest, images.RECIPES / "registry",
                        [("BASE", BASE_TAG), ("APT_MIRROR", mirror)])

    join(images.REGISTRY, arch, digest, build)


def ensure_workshop(arch: str, base_digest: str, emulating: EmulatingEngine, scratch: Path) -> None:
    """The workshop image for `arch`, from examples/ (its recipe RUNs pip), on the emulating engine."""
    workshop = images.workshop_image()
    digest = images.recipe_hash(workshop.inputs + SOURCES, base_digest, arch)

    def build(target: images.Image) -> None:
        # examples/Dockerfile names its base itself: the same name, in the emulating engine.
        emulating.load_base(images.PYTHON_ALPINE, f"python:{images.PINNED_PYTHON}-alpine", scratch)
        emulating.build(workshop, target, digest, images.REPO_ROOT / "examples")

    join(workshop, arch, digest, build)


def ensure(choice: str = DEFAULT) -> None:
    """The images `choice` names (CHOICES), for the other CPU too."""
    if choice not in CHOICES:
        raise BringupError(f"MULTIARCH={choice!r}: choose one of {', '.join(CHOICES)}")
    if choice == "none":
        return
    online = images.hub_reachable()
    if online and choice == DEFAULT:
        return  # Docker Hub's hello-world came with every CPU it has
    arch = other_cpu()
    reason = why_not(arch)
    if reason:
        if choice == DEFAULT:
            say(f"    note: images for this machine's CPU only: {reason}")
            return
        raise BringupError(f"{reason}; `MULTIARCH=none` serves images for this machine's CPU alone")
    assert arch is not None  # why_not gives a reason when there is no other CPU
    if choice == "all":
        set_up_emulation()
    with images.scratch_folder() as scratch:
        if online:  # Docker Hub's images came with every CPU they have: only the workshop's own is built
            with EmulatingEngine(arch) as emulating:
                ensure_workshop(arch, "hub", emulating, scratch)
            return
        engine.install_packages(CROSS_GCC[arch][1])
        ensure_hello(arch, scratch)
        if choice == "all":
            private = images.host_private_certificates()
            with EmulatingEngine(arch) as emulating:
                python_digest = ensure_python(arch, scratch, private, emulating)
                ensure_registry(arch, python_digest, emulating, scratch)
                ensure_workshop(arch, python_digest, emulating, scratch)
