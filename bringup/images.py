"""The public images the pages use, served by the local mirror.

When Docker Hub is reachable the real images are pulled and copied into the
mirror. When it is not, faithful stand-ins are built from Debian packages.
The mirror is the cache: every image carries a label with the hash of its
recipe, and an image whose label matches is not built again. Nothing is
pushed until its build has finished, so an interrupted run leaves nothing a
later run trusts (scratch work lives under paths.WORK and is discarded).
"""
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import yaml

from doctester.docker import sandbox_image
from doctester.docker.identity import Identity

from . import engine, host, paths, registry
from .docker_cli import DOCKER
from .progress import BringupError, say, step

RECIPES = Path(__file__).parent / "recipes"
REPO_ROOT = Path(__file__).resolve().parent.parent
RECIPE_LABEL = "org.intro-to-docker.recipe"
# On an image that trusts a private CA of this machine (and on every image
# built from it, which inherits the label): for tests here, never for a room.
PRIVATE_CA_LABEL = "org.intro-to-docker.private-ca"
HUB_TIMEOUT = 4  # seconds


@dataclass
class Image:
    repository: str      # as on Docker Hub, e.g. "library/python"
    tag: str
    inputs: list[Path] = field(default_factory=list)  # files whose content defines the image
    aliases: tuple[str, ...] = ()  # more tags a stand-in is published under (the same image)

    @property
    def mirror_ref(self) -> str:
        """The name it is pushed under: the mirror's writer."""
        return f"{registry.LOOPBACK}:{registry.WRITER_PORT}/{self.repository}:{self.tag}"

    @property
    def hub_ref(self) -> str:
        name = self.repository.removeprefix("library/")
        return f"{name}:{self.tag}"

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.tag, *self.aliases)

    def with_tag(self, tag: str) -> "Image":
        return Image(self.repository, tag, self.inputs)


def workshop_image_name() -> str:
    """The name the pages use for the REST server image, defined once in mkdocs.yml."""
    config = yaml.load((REPO_ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    name: str = config["extra"]["workshop_image"]  # BaseLoader: every scalar is a string
    return name


def recipe_hash(files: Iterable[str | os.PathLike[str]], *facts: str) -> str:
    digest = hashlib.sha256()
    for fact in facts:
        digest.update(f"{fact}\0".encode())
    for path in sorted(Path(p) for p in files):
        digest.update(f"{path.relative_to(REPO_ROOT)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _recipe_files(folder: str) -> list[Path]:
    return [p for p in sorted((RECIPES / folder).rglob("*")) if p.is_file()]


def _example_files() -> list[Path]:
    """What the workshop image is built from: the server, the Dockerfile and its ignore list."""
    examples = REPO_ROOT / "examples"
    ignored = {"__pycache__", ".pytest_cache"}
    files = [p for p in sorted((examples / "rest_server").rglob("*"))
             if p.is_file() and not ignored & set(p.parts) and p.name != "jams.json"]
    return files + [examples / "Dockerfile", examples / ".dockerignore"]


SANDBOX_IMAGE = "intro-to-docker/doctest-sandbox"  # the doc tests' private engines; pytest.ini names it
# The doc tests' names for what they make, as pytest.ini sets them for the harness (doc_label_namespace ...).
DOCTEST_IDENTITY = Identity.from_ini(REPO_ROOT / "pytest.ini")


@dataclass(frozen=True)
class SandboxEngine:
    """One private engine of the doc tests' matrix: a tag of SANDBOX_IMAGE,
    built from the harness's recipe (doctester/docker/sandbox_recipe) with the
    engine's packages from one Debian release."""
    tag: str
    suite: str    # the Debian release of docker.io, containerd, buildx and compose
    engine: str   # what it runs, for messages and the Makefile's matrix

    @property
    def reference(self) -> str:
        return f"{SANDBOX_IMAGE}:{self.tag}"


# `latest` (pytest.ini's default) stays Engine 26.1; `engine-28` is today's
# engine, as a fresh Docker Desktop has it (the Makefile runs pages on both).
SANDBOX_ENGINES = (SandboxEngine("latest", "trixie", "Engine 26.1, containerd 1.7"),
                   SandboxEngine("engine-28", "forky", "Engine 28.5, containerd 2.1"))
HELLO = Image("library/hello-world", "latest", _recipe_files("hello-world"))
# Pages pin the version as `python:3.13-alpine`; the stand-ins are Python 3.13,
# from the Debian release recipes/python/suite names.
PINNED_PYTHON = "3.13"
PYTHON_ALPINE = Image("library/python", "alpine", _recipe_files("python"), aliases=(f"{PINNED_PYTHON}-alpine",))
PYTHON_LATEST = Image("library/python", "latest", _recipe_files("python"))
REGISTRY = Image("library/registry", "2", _recipe_files("registry"))
PUBLIC_IMAGES = [HELLO, PYTHON_ALPINE, PYTHON_LATEST, REGISTRY]


def workshop_image() -> Image:
    repository, _, tag = workshop_image_name().partition(":")
    return Image(repository, tag or "latest", _example_files())


def run(argv: Sequence[str], what: str, cwd: str | os.PathLike[str] | None = None, stdin: IO[bytes] | None = None,
        env: Mapping[str, str] | None = None) -> None:
    """Run a build tool (a compiler, skopeo), its output streaming as progress.
    The docker CLI goes through DOCKER instead."""
    result = subprocess.run(argv, cwd=cwd, stdin=stdin, env=env)
    if result.returncode:
        raise BringupError(f"{what} failed: `{' '.join(map(str, argv))}` exited {result.returncode}")


@functools.cache  # one answer per run: bring-up and multiarch ask it in turn
def hub_reachable() -> bool:
    """Is the daemon's index server (Docker Hub) reachable within a few seconds?"""
    address = engine.client().info().get("IndexServerAddress") or ""
    server = urllib.parse.urlsplit(address).hostname
    if not server:
        return False
    try:
        urllib.request.urlopen(f"https://{server}/v2/", timeout=HUB_TIMEOUT)
    except urllib.error.HTTPError:
        return True  # it answered (401 and friends): reachable
    except (urllib.error.URLError, OSError):
        return False
    return True


# What bring-up itself pushed, tag by tag: only those manifests count as
# built (a tag someone else pushed, before the mirror took pushes from bring-up
# alone, carries a recipe label anyone can compute), and only those reach a room.
PUSHED = "mirror-pushed.json"


def pushed() -> dict[str, str]:
    """{"repository:tag": manifest digest} of every push bring-up made."""
    try:
        return cast("dict[str, str]", json.loads(paths.read_private(paths.CACHE / PUSHED)))
    except FileNotFoundError:
        return {}
    except ValueError:
        raise BringupError(f"{paths.CACHE / PUSHED} is not the JSON bring-up writes: remove it and run "
                           "`make images` (the images are then pushed again)") from None


# The builds after the python stand-ins run at once (ensure_after_python):
# one writer for all of them, and one read-change-write of the record at a time.
_PUSHES = threading.Lock()


def record_push(image: Image) -> None:
    digest = registry.manifest_digest(image.repository, image.tag)
    if not digest:
        raise BringupError(f"{image.hub_ref} is not in the mirror right after its push")
    with _PUSHES:
        record = pushed()
        record[f"{image.repository}:{image.tag}"] = digest
        paths.write_private(paths.CACHE / PUSHED, json.dumps(record, indent=1, sort_keys=True))


@contextlib.contextmanager
def scratch_folder() -> Iterator[Path]:
    """A folder for one run's builds, under paths.WORK, removed at its end."""
    with tempfile.TemporaryDirectory(dir=paths.WORK) as scratch:
        yield Path(scratch)


def pinned(image: Image) -> str:
    """image by the digest bring-up pushed (name@sha256:...): a build on it
    takes exactly that image, whatever the tag names meanwhile."""
    digest = pushed().get(f"{image.repository}:{image.tag}")
    if not digest:
        raise BringupError(f"{image.hub_ref} was not pushed by bring-up: run `make images` again")
    return f"{image.hub_ref.split(':')[0]}@{digest}"


def cached(image: Image, digest: str, arch: str | None = None) -> bool:
    """Does every tag of image hold what bring-up pushed, built from this
    recipe, or copied from Docker Hub (no recipe label)? A copy is kept when
    Docker Hub is out of reach: better than a stand-in, and a room without
    internet could not build one. `arch`: the image for that CPU in the tag's
    index (by default this machine's)."""
    record = pushed()

    def current(tag: str) -> bool:
        labels = registry.image_labels(image.repository, tag, arch=arch)
        return (labels is not None and labels.get(RECIPE_LABEL, digest) == digest
                and record.get(f"{image.repository}:{tag}") == registry.manifest_digest(image.repository, tag))
    return all(current(tag) for tag in image.tags)


# The mirror's writer of this `make images`: started at its first push (a run
# that finds every image cached starts none), stopped when the run ends.
_writer: list[registry.Writer] = []


def writer() -> registry.Writer:
    with _PUSHES:
        if not _writer:
            _writer.append(registry.Writer().__enter__())
        return _writer[0]


def push(source_ref: str, image: Image, what: str) -> None:
    """Push source_ref to the mirror as image, through the writer; drop the name we made."""
    DOCKER.run("tag", source_ref, image.mirror_ref, what="tagging")
    DOCKER.with_env(DOCKER_CONFIG=str(writer().client_config)).run("push", image.mirror_ref, what=what)
    DOCKER.remove_image(image.mirror_ref)
    record_push(image)


def stop_writer() -> None:
    while _writer:
        _writer.pop().__exit__()


def publish(local_ref: str, image: Image) -> None:
    """Push a built image to the mirror under its Docker Hub name, then drop
    the local names we made so pages start from a clean daemon."""
    for tagged in map(image.with_tag, image.tags):
        push(local_ref, tagged, f"pushing {tagged.hub_ref} to the mirror")
    DOCKER.remove_image(local_ref)


def build_hello(image: Image, digest: str, scratch: Path) -> None:
    publish(build_hello_locally(digest, scratch, shutil.which("musl-gcc") or "gcc"), image)


def build_hello_locally(digest: str, scratch: Path, compiler: str, arch: str | None = None) -> str:
    """hello.c compiled by `compiler` into the recipe's image, for `arch`
    (linux/ARCH; by default this machine's), on bring-up's engine; return
    the image's local name."""
    suffix = f"-{arch}" if arch else ""
    context = scratch / f"hello-world{suffix}"
    shutil.copytree(RECIPES / "hello-world", context)
    run([compiler, "-static", "-Os", "-s", "-o", str(context / "hello"), str(context / "hello.c")],
        f"compiling hello-world{' for ' + arch if arch else ''}")
    local = f"intro-to-docker-build/hello-world:{digest}{suffix}"
    DOCKER.run("build", "--quiet", *(["--platform", f"linux/{arch}"] if arch else []),
               "--label", f"{RECIPE_LABEL}={digest}", "-t", local, str(context),
               what=f"building hello-world{' for ' + arch if arch else ''}")
    return local


def rootfs_tarballs(digest: str, arch: str) -> tuple[Path, Path]:
    """Where the python stand-ins' root file systems of one recipe and CPU go:
    (full tarball, stripped tarball)."""
    name = f"python-{{}}-{digest}" + ("" if arch == host.debian_arch() else f"-{arch}")
    return paths.ROOTFS / f"{name.format('full')}.tar", paths.ROOTFS / f"{name.format('slim')}.tar"


def rootfs_recipe() -> tuple[str, str, list[str]]:
    """(Debian release, mirror, packages) of the python stand-ins' root file
    systems, and the keyring every package is checked against."""
    if not host.is_root():
        raise BringupError("building the python stand-ins needs root (`sudo make images`)")
    if not host.DEBIAN_KEYRING.is_file():
        raise BringupError(f"{host.DEBIAN_KEYRING} is missing: `apt-get install debian-archive-keyring`; "
                           "the stand-ins are only built from packages whose signatures check out")
    release = (RECIPES / "python/suite").read_text().strip()  # the official images' Debian release
    mirror = host.debian_mirror(host.codename())  # the same mirror serves every release
    packages = [line.strip() for line in (RECIPES / "python/packages.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return release, mirror, packages


def debootstrap_rootfs(digest: str, scratch: Path, private: Sequence[str]) -> tuple[Path, Path]:
    """Root file systems for the python stand-ins, built once per recipe:
    returns (full tarball, stripped tarball)."""
    full, slim = rootfs_tarballs(digest, host.debian_arch())
    if full.exists() and slim.exists():
        return full, slim
    release, mirror, packages = rootfs_recipe()
    if not shutil.which("debootstrap"):
        raise BringupError("building the python stand-ins needs debootstrap (`sudo apt-get install debootstrap`)")
    root = scratch / "rootfs"
    with step(f"debootstrap {release} with {', '.join(packages)} (a minute or two)"):
        # Every package checked against the distribution's keys, whatever the mirror serves.
        result = subprocess.run(["debootstrap", "--variant=minbase", f"--keyring={host.DEBIAN_KEYRING}",
                                 "--force-check-gpg", f"--include={','.join(packages)}",
                                 release, str(root), mirror], capture_output=True, text=True)
        if result.returncode:
            raise BringupError(f"debootstrap failed ({result.returncode}):\n{result.stdout[-1500:]}"
                               f"{result.stderr[-1500:]}")
    return finish_rootfs(root, full, slim, private)


def finish_rootfs(root: Path, full: Path, slim: Path, private: Sequence[str]) -> tuple[Path, Path]:
    """Make a bootstrapped root file system the official images' like, and pack it twice."""
    _make_pip_like_official(root, private)
    _tar(root, full)
    _strip(root)
    _tar(root, slim)
    return full, slim


def _make_pip_like_official(root: Path, private: Sequence[str]) -> None:
    # The official images have no PEP 668 marker, so `pip install` works as root.
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    _trust_private_certificates(root, private)
    for leftover in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for path in (root / leftover).glob("*"):
            if path.is_file():
                path.unlink()


PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def private_certificates(host_bundle: str, distribution_bundle: str) -> list[str]:
    """The certificates this machine trusts beyond the distribution's bundle:
    a private CA, such as a TLS-intercepting proxy's. Both are PEM texts."""
    known = {"".join(cert.split()) for cert in PEM.findall(distribution_bundle)}
    return [cert for cert in PEM.findall(host_bundle) if "".join(cert.split()) not in known]


def host_private_certificates() -> list[str]:
    """What this machine's bundle adds to the certificates its distribution
    ships (/usr/share/ca-certificates): its own private CAs."""
    if not host.HOST_CA_BUNDLE.exists():
        return []
    shipped = "\n".join(path.read_text(errors="replace")
                        for path in sorted(host.DISTRIBUTION_CERTIFICATES.rglob("*.crt")))
    return private_certificates(host.HOST_CA_BUNDLE.read_text(errors="replace"), shipped)


def _trust_private_certificates(root: Path, extra: Sequence[str]) -> None:
    """The image trusts the distribution's bundle, plus only those private
    certificates without which pip cannot reach the package index from here.
    Images built while there are any are labelled, and never served to a room."""
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    if not extra or not bundle.exists():
        return
    text = "\n".join(extra) + "\n"
    # Under /usr/local/share too, so a later update-ca-certificates keeps them.
    local = root / "usr/local/share/ca-certificates/host-private-ca.crt"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    with bundle.open("a") as stream:
        stream.write(text)
    say(f"    this machine trusts {len(extra)} certificate(s) beyond Debian's bundle (a TLS-intercepting "
        "proxy?): the stand-ins trust them too, for pip, and are labelled as not for a room")


def _strip(root: Path) -> None:
    """Make the small image small: no docs, manuals or translations, and, like
    Alpine, no bash (`sh` is the shell there)."""
    for folder in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                   "usr/share/lintian", "var/cache/debconf", "var/lib/apt/lists"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir(parents=True, exist_ok=True)
    for bash in ("usr/bin/bash", "bin/bash"):
        if (root / bash).is_file() and not (root / bash).is_symlink():
            (root / bash).unlink()
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _tar(root: Path, target: Path) -> None:
    partial = target.with_suffix(".partial")
    with step(f"packing {target.name}"):
        with tarfile.open(partial, "w") as archive:
            archive.add(root, arcname=".")
        partial.rename(target)  # only a finished tarball gets the trusted name


def build_python(images: Iterable[tuple[Image, Path]], digest: str, scratch: Path, private: Sequence[str]) -> None:
    """`private`: this machine's private certificates, which the recipe's
    root file systems trust (they are part of its digest)."""
    label = ["--label", f"{PRIVATE_CA_LABEL}=yes"] if private else []
    for image, tarball in images:
        base = f"intro-to-docker-build/python-rootfs:{image.tag}-{digest}"
        with tarball.open("rb") as stream:
            DOCKER.run("import", "-", base, what=f"importing {tarball.name}", stdin=stream)
        local = f"intro-to-docker-build/python:{image.tag}-{digest}"
        DOCKER.run("build", "--build-arg", f"BASE={base}", "--label", f"{RECIPE_LABEL}={digest}", *label,
                   "-f", str(RECIPES / f"python/Dockerfile.{image.tag}"), "-t", local, str(scratch),
                   what=f"building python:{image.tag}")
        check_python_version(local)
        publish(local, image)
        DOCKER.remove_image(base)


def check_python_version(reference: str) -> None:
    """A stand-in published as python:3.13-... must run Python 3.13."""
    result = DOCKER.output("run", "--rm", reference, "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    version = result.stdout.strip()
    if version != PINNED_PYTHON:
        raise BringupError(f"the python stand-in runs Python {version or '(none: ' + result.stderr.strip() + ')'}, "
                           f"but pages pin python:{PINNED_PYTHON}-alpine: change PINNED_PYTHON in "
                           f"bringup/images.py and the pages together")


def build_workshop_image(image: Image, digest: str) -> None:
    local = f"intro-to-docker-build/workshop:{digest}"
    # --pull: the base as the mirror has it now, not an older local copy of the tag.
    DOCKER.run("build", "--quiet", "--pull", "--label", f"{RECIPE_LABEL}={digest}", "-t", local,
               str(REPO_ROOT / "examples"),
               what=f"building {image.hub_ref}")
    publish(local, image)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses, for recipes that install
    packages at build time; empty: the base image's own sources."""
    return host.debian_mirror(host.codename()) if host.has_apt() else ""


def build_registry(image: Image, digest: str, mirror: str) -> None:
    """registry:2 from Debian's docker-registry package, on the python:alpine stand-in."""
    local = f"intro-to-docker-build/registry:{digest}"
    DOCKER.run("build", "--quiet", "--pull", "--build-arg", f"BASE={pinned(PYTHON_ALPINE)}",
               "--build-arg", f"APT_MIRROR={mirror}", "--label", f"{RECIPE_LABEL}={digest}", "-t", local,
               str(RECIPES / "registry"), what=f"building {image.hub_ref}")
    publish(local, image)


def copy_from_hub(image: Image) -> None:
    """The real image, for every CPU Docker Hub has it for: its index and
    manifests copied as they are (same digests)."""
    copy_all_platforms(f"docker.io/{image.repository}:{image.tag}", image)


def copy_all_platforms(source: str, image: Image, plain_http_source: bool = False) -> None:
    """Copy `source` (a reference a registry serves) into the mirror as image,
    every platform of it, with skopeo (Debian's): the docker CLI pulls one."""
    # The writer's credential from its client configuration (a file of ours), never on a command line.
    run(["skopeo", "copy", "--all", "--quiet", "--retry-times", "2",
         *(["--src-tls-verify=false"] if plain_http_source else []),
         "--dest-tls-verify=false", "--dest-authfile", str(writer().client_config / "config.json"),
         f"docker://{source}", f"docker://{image.mirror_ref}"], f"copying {source} into the mirror")
    record_push(image)


def local_label(reference: str) -> str | None:
    """The recipe label of a local image of the engine bring-up uses, or None."""
    return DOCKER.label(reference, RECIPE_LABEL)


def sandbox_digest(sandbox: SandboxEngine, python_digest: str, arch: str, mirror: str) -> str:
    """The recipe hash of one sandbox image: the recipe's files, its base, the
    machine, the Debian mirror and the release its engine comes from."""
    return recipe_hash(sandbox_image.recipe_files(), python_digest, arch, mirror, sandbox.suite)


def sandbox_build_argv(sandbox: SandboxEngine, digest: str, mirror: str, base: str) -> list[str]:
    """`base`: the python image by digest (pinned). The harness's own build
    command, with this project's labels."""
    return sandbox_image.build_argv(sandbox.reference, base, suite=sandbox.suite, apt_mirror=mirror,
                                    label_namespace=DOCTEST_IDENTITY.label_namespace,
                                    labels={RECIPE_LABEL: digest}, pull=True, quiet=True,
                                    docker=DOCKER.cli.prefix)


SANDBOX_ROLE_LABEL = DOCTEST_IDENTITY.role_label  # set by sandbox_build_argv


def sandbox_builds(python_digest: str, arch: str, sandboxes: Iterable[SandboxEngine] = SANDBOX_ENGINES
                   ) -> list[Callable[[], None]]:
    """One build for each engine of the doc tests' matrix (SANDBOX_ENGINES),
    on this engine (never pushed), to run when its recipe changed."""
    mirror = apt_mirror()
    return [functools.partial(ensure_sandbox_image, sandbox, sandbox_digest(sandbox, python_digest, arch, mirror),
                              mirror) for sandbox in sandboxes]


def run_at_once(builds: Sequence[Callable[[], None]]) -> None:
    """Each build in a thread of its own (they wait on the network, apt and
    the engine more than on this machine's cores: 68 s one after the other
    on an empty cache); every one runs to its end, then the first failure is
    raised and the others are said."""
    if not builds:
        return
    with ThreadPoolExecutor(max_workers=len(builds)) as pool:
        futures = [pool.submit(build) for build in builds]
    errors = [error for error in (future.exception() for future in futures) if error is not None]
    for later in errors[1:]:  # said here, since only the first is raised
        say(f"    also failed: {later}")
    if errors:
        raise errors[0]


def remove_replaced_sandboxes() -> None:
    """Sandbox images a rebuild replaced while a doc-test run still had a
    sandbox on them (so their removal failed then): untagged and labelled as
    ours, each removed once nothing uses it (never forced)."""
    listed = DOCKER.output("images", "--quiet", "--no-trunc", "--filter", "dangling=true",
                           "--filter", f"label={SANDBOX_ROLE_LABEL}")
    for image in listed.stdout.split() if listed.returncode == 0 else []:
        DOCKER.remove_image(image)


def ensure_sandbox_image(sandbox: SandboxEngine, digest: str, mirror: str) -> None:
    """One sandbox image, built on this engine (never pushed): a private
    engine per test worker runs from it."""
    reference = sandbox.reference
    if local_label(reference) == digest:
        say(f"    {reference} ({sandbox.engine}): built (recipe {digest})")
        return
    previous = DOCKER.image_id(reference)
    with step(f"building the doc tests' sandbox image {reference} ({sandbox.engine}, Debian {sandbox.suite})"):
        # The harness's whole command line (sandbox_image.build_argv), so run, not DOCKER.run;
        # DOCKER's prefix and environment still choose the engine.
        run(sandbox_build_argv(sandbox, digest, mirror, pinned(PYTHON_LATEST)),
            f"building the sandbox image {reference}", env=DOCKER.cli.environment())
    current = DOCKER.image_id(reference)
    if previous and previous != current:  # the build we replaced, now untagged: ours, not left behind
        DOCKER.remove_image(previous)


def ensure_images(then: Iterable[Callable[[], None]] = ()) -> None:
    """Every image the pages pull, in the mirror, built at most once per recipe;
    then each of `then` (more images, pushed through the same writer).
    One run at a time: a second waits for the first (which may push the same
    images), and only then is a writer still running one a killed run left."""
    paths.ensure()
    with paths.open_log(paths.RUN / "images.lock") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("    another `make images` is running on this machine: waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _ensure_images()
            for more in then:
                more()
        finally:
            stop_writer()


def _ensure_images() -> None:
    paths.ensure()
    arch = host.debian_arch()
    release = host.codename()
    online = hub_reachable()
    say(f"    Docker Hub is {'reachable: copying the real images' if online else 'unreachable: using offline stand-ins'}")
    # This machine's private certificates go into the stand-ins: part of their recipe.
    private = host_private_certificates()
    python_digest = recipe_hash(PYTHON_LATEST.inputs + [Path(__file__)], arch, release, "".join(private))
    hello_digest = recipe_hash(HELLO.inputs + [Path(__file__)], arch)
    wanted_python = [(PYTHON_LATEST, "full"), (PYTHON_ALPINE, "slim")]
    with scratch_folder() as scratch:
        if online:
            for image in (tagged for public in PUBLIC_IMAGES for tagged in map(public.with_tag, public.tags)):
                with step(f"copying {image.hub_ref} into the mirror"):
                    copy_from_hub(image)
        else:
            if cached(HELLO, hello_digest):
                say(f"    {HELLO.hub_ref}: in the mirror (recipe {hello_digest})")
            else:
                with step(f"building the {HELLO.hub_ref} stand-in"):
                    build_hello(HELLO, hello_digest, scratch)
            todo = [image for image, _ in wanted_python if not cached(image, python_digest)]
            for image, _ in wanted_python:
                if image not in todo:
                    say(f"    {image.hub_ref}: in the mirror (recipe {python_digest})")
            if todo:
                with step(f"building the {', '.join(i.hub_ref for i in todo)} stand-ins"):
                    tarballs = dict(zip(("full", "slim"), debootstrap_rootfs(python_digest, scratch, private)))
                    build_python([(i, tarballs[kind]) for i, kind in wanted_python if i in todo],
                                 python_digest, scratch, private)
        ensure_after_python(online, arch, python_digest if not online else "hub")
    remove_replaced_sandboxes()


def ensure_after_python(online: bool, arch: str, python_digest: str) -> None:
    """What is built on the python images, at once: the registry stand-in
    (offline), the workshop image and the sandbox images."""
    base_digest = (registry.image_labels(PYTHON_ALPINE.repository, PYTHON_ALPINE.tag) or {}).get(RECIPE_LABEL, "hub")
    builds: list[Callable[[], None]] = []
    if not online:
        mirror = apt_mirror()
        registry_digest = recipe_hash(REGISTRY.inputs, base_digest, arch, mirror)
        if cached(REGISTRY, registry_digest):
            say(f"    {REGISTRY.hub_ref}: in the mirror (recipe {registry_digest})")
        else:
            builds.append(functools.partial(_in_step, f"building the {REGISTRY.hub_ref} stand-in",
                                            build_registry, REGISTRY, registry_digest, mirror))
    workshop = workshop_image()
    workshop_digest = recipe_hash(workshop.inputs, base_digest, arch)
    if cached(workshop, workshop_digest):
        say(f"    {workshop.hub_ref}: in the mirror (recipe {workshop_digest})")
    else:
        builds.append(functools.partial(_in_step, f"building the workshop image {workshop.hub_ref}",
                                        build_workshop_image, workshop, workshop_digest))
    run_at_once(builds + sandbox_builds(python_digest, arch))


def _in_step(what: str, build: Callable[..., None], *args: object) -> None:
    with step(what):
        build(*args)
