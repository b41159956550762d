"""Report on a running jam server container, through the Docker SDK for Python.

    python3 -m venv .venv
    .venv/bin/python -m pip install docker
    .venv/bin/python jam_status.py [CONTAINER]      # default: jams

(On Windows: `py -m venv .venv`, and `.venv/Scripts/python` for the venv's Python.)

Prints the container's state, its health and how many jams it holds. Exits 0
when the server answers, and 1 with one line on stderr when Docker is not
reachable, the container does not exist or is not running, or the jam API
does not answer within a few seconds.
"""
import argparse
import json
import sys

import docker
from docker.errors import DockerException, NotFound

# Run inside the container, so it works however (or whether) ports are published.
ASK_THE_API = ("import urllib.request, sys; "
               "sys.stdout.write(urllib.request.urlopen('http://localhost:8000/jam', timeout={timeout}).read().decode())")


class Unavailable(Exception):
    """Why there is nothing to report; one line."""


def status(client, name, timeout):
    try:
        container = client.containers.get(name)
    except NotFound:
        raise Unavailable(f"no container is called {name} (docker ps -a lists them)") from None
    if container.status != "running":
        raise Unavailable(f"the container {name} is {container.status}, not running (docker start {name})")
    exit_code, output = container.exec_run(["python", "-c", ASK_THE_API.format(timeout=timeout)])
    if exit_code != 0:
        last = output.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise Unavailable(f"the jam API in {name} did not answer within {timeout} s: {last[0]}")
    try:
        jams = json.loads(output)["data"]
    except (ValueError, KeyError, TypeError):
        raise Unavailable(f"the jam API in {name} sent no list of jams") from None
    return container.status, container.health, len(jams)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jam_status.py", description="Report on a jam server container.")
    parser.add_argument("container", nargs="?", default="jams", help="its name or ID (default: %(default)s)")
    parser.add_argument("--timeout", type=int, default=5, help="seconds the API may take (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as error:
        print(f"jam_status.py: cannot reach Docker ({error})", file=sys.stderr)
        return 1
    try:
        state, health, count = status(client, args.container, args.timeout)
    except Unavailable as error:
        print(f"jam_status.py: {error}", file=sys.stderr)
        return 1
    except DockerException as error:
        print(f"jam_status.py: Docker refused: {error}", file=sys.stderr)
        return 1
    print(f"{args.container}: {state}, health {health}, {count} jams")
    return 0


if __name__ == "__main__":
    sys.exit(main())
