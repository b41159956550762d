"""How long `examples/check.py` takes on a busy engine. Prints the figure
quoted in README.md.

    .venv/bin/python benchmarks/check.py [--containers 200] [--tags 100] [--runs 5]

On a private, throwaway engine (a sandbox like the doc tests', removed at
the end with everything in it), it creates CONTAINERS containers from
`hello-world` (created, never started) and TAGS tags of that image, copies
the workshop's files in, and times `python3 examples/check.py CHAPTER`
inside the sandbox, as an attendee runs it in a terminal (the docker
listings and the comparison; not `docker exec`'s own start). Nothing on the
engine of this machine is touched but the sandbox container and its
network, which the run records and removes.
"""
import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bringup import paths  # noqa: E402
from doctester.docker import ownership  # noqa: E402
from doctester.docker.identity import Identity  # noqa: E402
from doctester.docker.ownership import DEFAULT_STATE  # noqa: E402
from doctester.docker.sandbox import Limits, Sandbox  # noqa: E402
from doctester.docker.workspace import SandboxWorkspace  # noqa: E402

# This project's sandbox image, labels and hostname, as its pytest.ini sets them.
PROJECT = Identity.from_ini(ROOT / "pytest.ini")
IMAGE = PROJECT.sandbox_image

FILL = r"""
set -e
docker pull -q hello-world >/dev/null
seq "$1" | xargs -P 8 -I{} docker create --name "bench-{}" hello-world >/dev/null
seq "$2" | xargs -P 8 -I{} docker tag hello-world "bench/image:{}"
echo "$(docker ps -aq | wc -l) containers, $(docker images -q | wc -l) image rows"
"""

# Timed inside the sandbox, as the attendee's terminal would run it.
TIME = r"""
cd "$1" && python3 - "$2" "$3" <<'EOF'
import subprocess, sys, time
times = []
for _ in range(int(sys.argv[2])):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "examples/check.py", sys.argv[1]], capture_output=True, text=True)
    times.append(time.monotonic() - start)
    if done.returncode not in (0, 1):
        sys.exit(f"check.py exited {done.returncode}: {done.stdout}{done.stderr}")
print(" ".join(f"{t:.3f}" for t in times))
print(done.stdout.count("\n"), "lines of output")
EOF
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chapter", default="dockerfile")
    args = parser.parse_args()
    run = ownership.Run(DEFAULT_STATE, label=PROJECT.run_label)
    try:
        sandbox = Sandbox(run, "check-bench", IMAGE, Limits.for_machine(1), paths.REGISTRY_DATA, hostname=PROJECT.hostname)
        sandbox.start()
        filled = sandbox.run_script(FILL, str(args.containers), str(args.tags), timeout=1200)
        print(f"engine: {filled.stdout.strip()} (Engine {sandbox.docker.versions()['version']})")
        workspace = SandboxWorkspace(sandbox, ROOT / "examples", ("__pycache__", "jams.json"), "intro-to-docker")
        timed = sandbox.run_script(TIME, str(workspace.workdir), args.chapter, str(args.runs), timeout=600)
        times = [float(t) for t in timed.stdout.split("\n")[0].split()]
        print(f"check.py {args.chapter}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
              f"max {max(times):.2f} s over {len(times)} runs ({timed.stdout.splitlines()[1]})")
    finally:
        problems = run.release()
        if problems:
            print("removing the sandbox: " + "; ".join(problems), file=sys.stderr)


if __name__ == "__main__":
    main()
