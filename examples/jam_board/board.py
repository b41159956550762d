"""The jam board: a web page that lists the jams of the jam API.

    python board.py                      # serve the page on 127.0.0.1:8080
    python board.py --host 0.0.0.0       # what a container needs
    python board.py --once               # print the jams once and exit

The API's address comes from --api, else from JAM_API, else http://localhost:8000;
the page's title from BOARD_TITLE. When the API is down or slow the page answers
503 with what went wrong, and --once exits with 1 and says it on stderr.

The page is a WSGI application served by waitress (requirements.txt), a server
built for real traffic: silent connections are closed, and requests addressed
to a name other than localhost, 127.0.0.1 or [::1] (or one given with
--allow-host or BOARD_ALLOWED_HOSTS) are refused, so a web page cannot reach
the board through a name of its own (DNS rebinding). The rest is Python's
standard library, and --once needs nothing else.
"""
import argparse
import html
import json
import os
import re
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_API = "http://localhost:8000"
DEFAULT_TITLE = "Jams on the board"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# Sent with every answer: the page loads nothing from anywhere, runs no script,
# and no other site may show it in a frame (clickjacking); browsers must not
# guess a type other than the one we send.
SECURITY_HEADERS = [
    ("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]
# Limits of the server, each one a visitor cannot wait out or outgrow.
SERVER_SETTINGS = {
    "threads": 4,                          # pages built at once; the rest wait their turn
    "connection_limit": 100,               # open connections at once
    "channel_timeout": 30,                 # seconds a connection may stay silent
    "cleanup_interval": 5,                 # how often silent connections are looked for
    "max_request_header_size": 16 * 1024,  # bytes of request line and headers
    "max_request_body_size": 1024,         # bytes; the board reads no bodies
}
# The API is a neighbour (a container on the same network, or this machine):
# a proxy set for the internet must not stand between them.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ApiUnavailable(Exception):
    """The jam API did not give a usable list of jams; the message says why."""


def fetch_jams(api, timeout):
    url = api.rstrip("/") + "/jam"
    try:
        with DIRECT.open(url, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise ApiUnavailable(f"the jam API at {api} answered {error.code} {error.reason}") from None
    except (TimeoutError, socket.timeout):
        raise ApiUnavailable(f"the jam API at {api} did not answer within {timeout:g} s") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise ApiUnavailable(f"the jam API at {api} did not answer within {timeout:g} s") from None
        if isinstance(error.reason, socket.gaierror):  # worded differently by each C library
            host = urllib.parse.urlsplit(url).hostname
            raise ApiUnavailable(f"the jam API at {api} is not reachable (no host is called {host})") from None
        reason = getattr(error.reason, "strerror", None) or error.reason
        raise ApiUnavailable(f"the jam API at {api} is not reachable ({reason})") from None
    except (ValueError, OSError) as error:
        raise ApiUnavailable(f"the jam API at {api} sent no valid answer ({error})") from None
    jams = body.get("data") if isinstance(body, dict) else None
    if not isinstance(jams, list):
        raise ApiUnavailable(f"the jam API at {api} sent no list of jams")
    return [str(jam) for jam in jams]


def render(title, jams):
    items = "".join(f"<li>{html.escape(jam)}</li>\n" for jam in jams)
    return (f"<!doctype html>\n<title>{html.escape(title)}</title>\n<h1>{html.escape(title)}</h1>\n"
            f"<ul>\n{items}</ul>\n")


def host_name(header):
    """The name a Host header addresses, lowercased, without its port:
    'LocalHost:8080' is 'localhost', '[::1]:8080' is '[::1]'; '' if malformed."""
    match = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]]+?)\.?(?::\d{1,5})?", header.strip().lower())
    return match[1] if match else ""


def allowed_host_names(names):
    """Names as given on the command line ('::1' or 'Board.local.'), in the form host_name() gives."""
    allowed = []
    for name in names:
        name = name.strip().lower().rstrip(".")
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"  # an IPv6 address, bracketed as in a Host header
        if name and name not in allowed:
            allowed.append(name)
    return tuple(allowed)


def printable(text):
    """Text for a log line: control characters escaped, so a request cannot
    forge a line of its own or send escape sequences to the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def make_app(api, title, timeout, allowed_hosts=LOOPBACK_HOSTS):
    """The board as a WSGI application."""
    allowed_hosts = allowed_host_names(allowed_hosts)

    def answer(environ):
        header = environ.get("HTTP_HOST", "")
        if host_name(header) not in allowed_hosts:
            asked = f"not to {printable(header[:100])!r}" if header else "not to a request without a Host header"
            return (421, f"this board answers requests addressed to {', '.join(allowed_hosts)}, {asked} "
                         "(add a name with --allow-host NAME or BOARD_ALLOWED_HOSTS=NAME)\n", "text/plain")
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return 405, f"{environ['REQUEST_METHOD']} is not allowed: the board is read-only\n", "text/plain"
        path = environ.get("PATH_INFO", "")
        if path == "/health":
            return 200, "ok\n", "text/plain"
        if path != "/":
            return 404, "no such page\n", "text/plain"
        try:
            return 200, render(title, fetch_jams(api, timeout)), "text/html"
        except ApiUnavailable as error:
            return 503, f"{error}\n", "text/plain"

    def app(environ, start_response):
        status, text, kind = answer(environ)
        body = text.encode("utf-8")
        headers = [("Content-Type", f"{kind}; charset=utf-8"), ("Content-Length", str(len(body))),
                   *SECURITY_HEADERS]
        if status == 405:
            headers.append(("Allow", "GET, HEAD"))
        start_response(f"{status} {STATUS_REASONS[status]}", headers)
        query = f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else ""
        line = f'{environ.get("REMOTE_ADDR", "-")} "{environ["REQUEST_METHOD"]} {environ.get("PATH_INFO", "")}{query}"'
        print(f"{printable(line)} {status}", file=sys.stderr, flush=True)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return app


STATUS_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 421: "Misdirected Request",
                  503: "Service Unavailable"}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python board.py", description="Serve a page listing the jams.")
    parser.add_argument("--api", default=os.environ.get("JAM_API", DEFAULT_API),
                        help="the jam API's address (default: $JAM_API, else %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for the API on each request (default: %(default)s)")
    parser.add_argument("--once", action="store_true", help="print the jams once and exit")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="one more name requests may be addressed to, besides localhost, 127.0.0.1 and [::1] "
                             "(repeatable; also $BOARD_ALLOWED_HOSTS, comma-separated)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, not {args.port}")
    if args.timeout <= 0:
        parser.error("--timeout must be more than 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    title = os.environ.get("BOARD_TITLE", DEFAULT_TITLE)
    if args.once:
        try:
            jams = fetch_jams(args.api, args.timeout)
        except ApiUnavailable as error:
            print(f"board.py: {error}", file=sys.stderr)
            return 1
        print("\n".join(jams))
        return 0
    extra = [name for name in os.environ.get("BOARD_ALLOWED_HOSTS", "").split(",") if name.strip()]
    app = make_app(args.api, title, args.timeout, LOOPBACK_HOSTS + tuple(extra + args.allow_host))
    try:
        from waitress.server import create_server
    except ImportError:
        print("board.py: the board is served by waitress, which is not installed: "
              "pip install -r requirements.txt", file=sys.stderr)
        return 1
    try:
        server = create_server(app, host=args.host, port=args.port, **SERVER_SETTINGS)
    except OSError as error:
        print(f"board.py: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    # As a container's first process, Python would ignore `docker stop`'s SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Jam board on http://{args.host}:{args.port}, listing the jams of {args.api}", flush=True)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
