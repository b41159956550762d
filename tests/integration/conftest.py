import subprocess

import docker
import pytest

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


def sh(*argv, check=True, timeout=300, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
