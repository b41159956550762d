"""Where bring-up keeps its state: one cache folder, outside the checkout, so a
fresh clone (CI) reuses what an earlier run built on the same machine."""
import os
from pathlib import Path

CACHE = Path(os.environ.get("INTRO_DOCKER_CACHE") or Path.home() / ".cache" / "intro-to-docker")
RUN = CACHE / "run"            # pid files, logs and configs of the services we start
REGISTRY_DATA = CACHE / "registry"
ROOTFS = CACHE / "rootfs"      # finished root file system tarballs, named by recipe hash
WORK = CACHE / "work"          # scratch space for builds in progress; never trusted
DOCKER_DATA = CACHE / "docker"  # the data root of a dockerd bring-up starts: never a system engine's


def ensure():
    for folder in (RUN, REGISTRY_DATA, ROOTFS, WORK):
        folder.mkdir(parents=True, exist_ok=True)
