"""Start the jam REST server: python main.py [DATABASE] [--host H] [--port P]."""
import argparse
import logging
import os
import signal
import sys

from store import DEFAULT_MAX_JAMS, StoreError

DEFAULT_DATABASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jams.json")


def main(argv=None):
    parser = argparse.ArgumentParser(description="A small REST API of jams, kept in a JSON file.")
    parser.add_argument("database", nargs="?", default=DEFAULT_DATABASE,
                        help="the JSON file to read and write (default: jams.json next to main.py)")
    # Loopback unless told otherwise: on a laptop at a hackathon, 0.0.0.0 would
    # offer this unauthenticated API to everyone on the venue's Wi-Fi. The
    # image passes --host 0.0.0.0, since in a container only that is reachable.
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    parser.add_argument("--max-jams", type=int, default=DEFAULT_MAX_JAMS,
                        help=f"how many jams the database may hold (default: {DEFAULT_MAX_JAMS})")
    args = parser.parse_args(argv)

    from app import create_app  # after parsing, so --help works without Flask
    try:
        app = create_app(args.database, max_jams=args.max_jams)
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # As a container's first process, Python would ignore `docker stop`'s SIGTERM
    # (PID 1 gets no default handlers) and be killed 10 s later: exit cleanly instead.
    # Writes are atomic, so stopping between two requests loses nothing.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # we log one line per request ourselves
    print(f"Serving the jam API on http://{args.host}:{args.port} "
          f"with the database {os.path.abspath(args.database)}", flush=True)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
