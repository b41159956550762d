"""python -m doctester reap: remove what killed doc-test runs left behind
(their sandboxes and networks on the outer engine, and their folders)."""
import argparse
import sys
from pathlib import Path

from .docker.engines import recover_existing
from .docker.ownership import DEFAULT_STATE, reap


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m doctester", description=__doc__)
    parser.add_argument("command", choices=["reap"])
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE), help="the doc_state_dir ini value")
    args = parser.parse_args(argv)
    reaped, problems = reap(Path(args.state_dir).expanduser(), recover_existing)
    print(f"reaped: {', '.join(reaped)}" if reaped else "no killed doc-test run left anything")
    for problem in problems:
        print(f"doctester: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
