"""Serve the built site with the headers that keep its pages to themselves:

    python serve.py PORT FOLDER

Python's http.server with, on every answer, a Content-Security-Policy that
lets a page load only this site's own files (no outside origin) and be framed
by no other page, X-Content-Type-Options: nosniff and X-Frame-Options: DENY.
The theme puts a few small scripts inline in each page; the policy allows
exactly those, by their SHA-256, read from the site's pages at start.
"""
import argparse
import base64
import functools
import hashlib
import re
import signal
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(folder):
    """The CSP sources ('sha256-...') of every inline script of the site's pages."""
    found = set()
    for page in Path(folder).rglob("*.html"):
        for script in INLINE_SCRIPT.findall(page.read_text(encoding="utf-8", errors="replace")):
            digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
            found.add(f"'sha256-{digest}'")
    return sorted(found)


def content_security_policy(folder):
    scripts = " ".join(["'self'", *inline_script_hashes(folder)])
    # Styles: the theme's own files, and the style attributes its script sets.
    # Images: the theme draws its icons from data: URLs in its stylesheet.
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'")


def security_headers(folder):
    return [("Content-Security-Policy", content_security_policy(folder)),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer")]


class SiteHandler(SimpleHTTPRequestHandler):
    timeout = 30  # seconds a connection may stay silent before it is closed
    headers_to_add = ()

    def end_headers(self):
        for name, value in self.headers_to_add:
            self.send_header(name, value)
        super().end_headers()


def handler_for(folder):
    handler = type("Handler", (SiteHandler,), {"headers_to_add": security_headers(folder)})
    return functools.partial(handler, directory=str(folder))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="serve.py", description="Serve the built site with security headers.")
    parser.add_argument("port", type=int)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.folder / "index.html").is_file():
        print(f"serve.py: {args.folder} holds no built site (no index.html)", file=sys.stderr)
        return 1
    try:
        server = ThreadingHTTPServer((args.bind, args.port), handler_for(args.folder))
    except OSError as error:
        print(f"serve.py: cannot listen on {args.bind}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `docker stop` stops it at once
    print(f"Serving {args.folder} on http://{args.bind}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
