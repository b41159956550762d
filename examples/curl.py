"""A tiny curl for attendees without one (Windows): standard library only.

    python3 curl.py METHOD URL [BODY...]
    python3 curl.py -i GET localhost:8000/jam
    python3 curl.py POST localhost:8000/jam name=peach

A body is `key=value` words (each a string field of one JSON object), so no
shell needs quotes inside quotes: PowerShell 5.1 strips inner double quotes
from a native program's arguments, which breaks `'{"name": "peach"}'`. One
word that starts with `{` is taken as JSON as it is, as curl's -d is.

Prints the response body (with -i, the status line first). Exits 0 on a 2xx
answer, 22 on any other HTTP status, 6 when the host name does not resolve,
7 when nothing listens at the address, and 3 on a malformed URL, as curl
does (curl's 22 needs its -f flag).
"""
import argparse
import json
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="curl.py", description="Send one HTTP request.")
    parser.add_argument("-i", "--include", action="store_true", help="print the status line first")
    parser.add_argument("method", type=str.upper, choices=METHODS, metavar="METHOD",
                        help=f"one of {', '.join(METHODS)}")
    parser.add_argument("url", help="e.g. localhost:8000/jam (http:// is assumed)")
    parser.add_argument("body", nargs="*", help='key=value fields of a JSON object (name=peach), '
                                                'or one JSON text ({"name": "peach"})')
    return parser.parse_args(argv)


def json_body(words):
    """The request's JSON text from the words after the URL, or None."""
    if not words:
        return None
    if len(words) == 1 and words[0].lstrip().startswith(("{", "[")):
        try:
            json.loads(words[0])
        except ValueError as error:
            raise ValueError(f"the body is not valid JSON ({error}): {words[0]}") from None
        return words[0]
    fields = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise ValueError(f"a body word must be key=value, not {word!r}")
        fields[key] = value
    return json.dumps(fields, ensure_ascii=False)


def build_request(method, url, body):
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    data, headers = None, {"Accept": "application/json"}
    if parts.hostname == "localhost":
        # Ports the pages publish listen on 127.0.0.1 only. Python would try
        # ::1 first, and Windows takes about 2 s to refuse that before it
        # falls back; curl tries both at once. Same machine, same server.
        headers["Host"] = parts.netloc
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace("localhost", "127.0.0.1", 1)))
    body = json_body(body or [])
    if body is not None:
        data, headers["Content-Type"] = body.encode("utf-8"), "application/json"
    return urllib.request.Request(url, data=data, method=method, headers=headers)


def main(argv=None):
    args = parse_args(argv)
    try:
        request = build_request(args.method, args.url, args.body)
    except ValueError as error:
        print(f"curl.py: {error}", file=sys.stderr)
        return 3
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, reason, payload = response.status, response.reason, response.read()
    except urllib.error.HTTPError as error:
        status, reason, payload = error.code, error.reason, error.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, socket.gaierror):  # its wording depends on the C library: say it as curl does
            print(f"curl.py: could not resolve host: {request.host.split(':')[0]}", file=sys.stderr)
            return 6
        print(f"curl.py: cannot connect to {request.full_url}: {reason}", file=sys.stderr)
        return 7
    if args.include:
        print(f"HTTP {status} {reason}")
    text = payload.decode("utf-8", errors="replace")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0 if 200 <= status < 300 else 22


if __name__ == "__main__":
    sys.exit(main())
