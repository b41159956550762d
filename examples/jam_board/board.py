"""The jam board: a web page that lists the jams of the jam API. Standard library only.

    python board.py                      # serve the page on 127.0.0.1:8080
    python board.py --host 0.0.0.0       # what a container needs
    python board.py --once               # print the jams once and exit

The API's address comes from --api, else from JAM_API, else http://localhost:8000;
the page's title from BOARD_TITLE. When the API is down or slow the page answers
503 with what went wrong, and --once exits with 1 and says it on stderr.
"""
import argparse
import html
import json
import os
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_API = "http://localhost:8000"
DEFAULT_TITLE = "Jams on the board"
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


def handler_for(api, title, timeout):
    class BoardHandler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                return self.reply(200, "ok\n", "text/plain")
            if self.path != "/":
                return self.reply(404, "no such page\n", "text/plain")
            try:
                page = render(title, fetch_jams(api, timeout))
            except ApiUnavailable as error:
                return self.reply(503, f"{error}\n", "text/plain")
            self.reply(200, page, "text/html")

        def reply(self, status, text, kind):
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return BoardHandler


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python board.py", description="Serve a page listing the jams.")
    parser.add_argument("--api", default=os.environ.get("JAM_API", DEFAULT_API),
                        help="the jam API's address (default: $JAM_API, else %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=3.0,
                        help="seconds to wait for the API on each request (default: %(default)s)")
    parser.add_argument("--once", action="store_true", help="print the jams once and exit")
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
    try:
        server = ThreadingHTTPServer((args.host, args.port), handler_for(args.api, title, args.timeout))
    except OSError as error:
        print(f"board.py: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    # As a container's first process, Python would ignore `docker stop`'s SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Jam board on http://{args.host}:{args.port}, listing the jams of {args.api}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
