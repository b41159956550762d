"""python -m doctester reap: remove what killed doc-test runs left behind
(their sandboxes and networks on the outer engine, and their folders)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .docker.engines import recover_existing
from .docker.identity import DEFAULT_LABEL_NAMESPACE, ini_settings, run_label
from .docker.ownership import DEFAULT_STATE, reap


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m doctester", description=__doc__)
    parser.add_argument("command", choices=["reap"])
    parser.add_argument("--ini", help="the pytest ini file the runs were configured by (pytest.ini, tox.ini, "
                                      "setup.cfg): its doc_state_dir and doc_label_namespace are the defaults")
    parser.add_argument("--state-dir", help=f"the doc_state_dir ini value (default {DEFAULT_STATE})")
    parser.add_argument("--label-namespace", help="the doc_label_namespace ini value: only objects labelled "
                                                  f"with it are removed (default {DEFAULT_LABEL_NAMESPACE})")
    args = parser.parse_args(argv)
    settings = ini_settings(args.ini) if args.ini else {}
    if args.ini and not Path(args.ini).is_file():
        parser.error(f"--ini {args.ini}: no such file")
    state_dir = args.state_dir or settings.get("state_dir") or str(DEFAULT_STATE)
    namespace = args.label_namespace or settings.get("label_namespace") or DEFAULT_LABEL_NAMESPACE
    reaped, problems = reap(Path(state_dir).expanduser(), recover_existing, label=run_label(namespace))
    print(f"reaped: {', '.join(reaped)}" if reaped else "no killed doc-test run left anything")
    for problem in problems:
        print(f"doctester: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
