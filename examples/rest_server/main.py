"""Start the jam REST server: python main.py [DATABASE] [--host H] [--port P].

The API is served by waitress, a web server built for real traffic: it reads
each request in full before a worker thread handles it, closes a connection
that stays silent, and caps how many are open at once. Flask's own server is
for development only.
"""
import argparse
import os
import signal
import sys

from store import DEFAULT_MAX_JAMS, StoreError

# Limits of the server, each one a request cannot wait out or outgrow.
SERVER_SETTINGS = {
    "threads": 4,                          # requests handled at once; the rest wait their turn
    "connection_limit": 100,               # open connections at once
    "channel_timeout": 30,                 # seconds a connection may stay silent
    "cleanup_interval": 5,                 # how often silent connections are looked for
    "max_request_header_size": 16 * 1024,  # bytes of request line and headers
    "max_request_body_size": 1024 * 1024,  # bytes; the app itself allows 16 KiB and says so
}

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
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="one more name requests may be addressed to, besides localhost, 127.0.0.1, "
                             "[::1] and the workshop's container names (repeatable; also $JAM_ALLOWED_HOSTS, "
                             "comma-separated)")
    args = parser.parse_args(argv)

    from app import DEFAULT_ALLOWED_HOSTS, create_app  # after parsing, so --help works without Flask
    extra = [name for name in os.environ.get("JAM_ALLOWED_HOSTS", "").split(",") if name.strip()]
    try:
        app = create_app(args.database, max_jams=args.max_jams,
                         allowed_hosts=DEFAULT_ALLOWED_HOSTS + tuple(extra + args.allow_host))
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from waitress.server import create_server
    try:
        server = create_server(app, host=args.host, port=args.port, **SERVER_SETTINGS)
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    # As a container's first process, Python would ignore `docker stop`'s SIGTERM
    # (PID 1 gets no default handlers) and be killed 10 s later: exit cleanly instead.
    # Writes are atomic, so stopping between two requests loses nothing.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Serving the jam API on http://{args.host}:{args.port} "
          f"with the database {os.path.abspath(args.database)}", flush=True)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
