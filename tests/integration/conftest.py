import subprocess

import docker
import pytest


@pytest.fixture(scope="session")
def client():
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as error:  # one clear reason instead of one error per test
        pytest.exit(f"integration tests need a Docker daemon (run `make engine`; run outside make, "
                    f"they need DOCKER_HOST as `make engine` prints it): {error}", returncode=1)
    return client


def sh(*argv, check=True, timeout=300, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
