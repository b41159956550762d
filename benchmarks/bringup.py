"""Bring-up times: warm (everything cached and running) and cold.

    .venv/bin/python benchmarks/bringup.py          # warm: `make engine` and `make engine images` with all up
    .venv/bin/python benchmarks/bringup.py --cold   # cold: see below

Cold stops what `make engine` started, points bring-up at an empty cache
folder (no registry data, no root file systems) and prunes the engine's build
cache, so every image is built from Debian packages again; it then puts the
normal cache back. What it does not redo is installing the Debian packages
themselves, which a fresh machine also needs: their time is printed apart,
from a dry run of apt. The daemon's own image store is emptied of nothing.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bringup(*commands, env=None):
    start = time.monotonic()
    for command in commands:
        result = subprocess.run([sys.executable, "-m", "bringup", command], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"`bringup {command}` failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    bringup("engine", "images")  # make sure all is up before measuring
    if not args.cold:
        runs = [bringup("engine") for _ in range(3)]
        print(f"second `make engine` (engine running, reused): "
              f"{min(runs):.2f} s best, {max(runs):.2f} s worst of 3 (goal: under 2 s)")
        runs = [bringup("engine", "images") for _ in range(3)]
        print(f"warm bring-up (make engine images, all cached and running): "
              f"{min(runs):.2f} s best, {max(runs):.2f} s worst of 3")
        return
    bringup("engine-stop")
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, INTRO_DOCKER_CACHE=cache)
        try:
            took = bringup("engine", "images", env=env)
        finally:
            bringup("engine-stop", env=env)
    bringup("engine")
    print(f"cold bring-up (engine stopped, empty cache, no build cache): {took:.1f} s")


if __name__ == "__main__":
    main()
