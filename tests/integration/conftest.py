import subprocess
from pathlib import Path

import docker
import pytest
from xdist.scheduler import LoadScopeScheduling

from doctester.docker.identity import Identity
from tests.conftest import missing


@pytest.fixture(scope="session")
def client(pytestconfig):
    """The Docker engine the tests work on. Every test that needs an engine
    asks for it (directly or through a fixture): without one it is skipped
    with the reason, and `make integration` (`--require docker`) stops."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure to reach it is the same reason
        missing(pytestconfig, "docker", f"no Docker engine answers (run `make engine`; run outside make, "
                                        f"the tests need DOCKER_HOST as `make engine` prints it): {error}")
    return client


@pytest.fixture(scope="session")
def identity(pytestconfig):
    """This project's names for its doc tests' sandboxes (pytest.ini: the
    image, the labels, the hostname): a test that starts a sandbox itself
    labels it as the runs do, so reaping finds it."""
    return Identity(pytestconfig.getini("doc_label_namespace"), pytestconfig.getini("doc_sandbox_image"),
                    pytestconfig.getini("doc_sandbox_hostname"))


def sh(*argv, check=True, timeout=300, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


# `make integration` runs on three workers (`--dist loadscope`), in these
# units. The modules that make objects of their own on the outer engine
# (images, containers, volumes, networks a user could have), compare or
# watch all of it, or push through the mirror's one writer, run one after
# another on one worker; the other tests only start sandboxes, labelled
# with a live run's id, which they leave out (doc_runs.daemon_state). A module whose tests share a module fixture (an
# engine, an installed copy, one file on this machine) is one unit; other
# tests go one at a time, each with all its parameters.
OUTER_ENGINE = {"test_bringup_engine.py", "test_multiarch.py", "test_private_engines.py", "test_rest_image.py",
                "test_seats_reaped.py", "test_site_image.py"}
ONE_UNIT = {"test_check_real.py", "test_seats.py", "test_escapes.py", "test_installed_elsewhere.py", "test_room_mirror.py",
            "test_swarm_seats.py", "test_zensical.py"}


class IntegrationUnits(LoadScopeScheduling):
    def _split_scope(self, nodeid):
        module = nodeid.split("::", 1)[0]
        if Path(module).name in OUTER_ENGINE:
            return "the outer engine"
        return module if Path(module).name in ONE_UNIT else nodeid.split("[", 1)[0]


@pytest.hookimpl(optionalhook=True)  # xdist's hook: without xdist (`-p no:xdist`) the tests run in one process
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadscope":
        return IntegrationUnits(config, log)
    return None
