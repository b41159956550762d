"""The jam REST API: Flask with Flask-RESTful, every answer JSON."""
import json
import re
import sys
import time
import unicodedata

from flask import Flask, g, request
from flask_restful import Api, Resource
from werkzeug.exceptions import HTTPException

from store import DEFAULT_MAX_JAMS, Conflict, Full, JamStore, NotFound

MAX_NAME_LENGTH = 200
MAX_BODY_BYTES = 16 * 1024

# The names a request may be addressed to (its Host header, port aside). A web
# page you visit can point a name of its own at 127.0.0.1 (DNS rebinding) and
# then read and change your jams through your browser; such a request carries
# that name, so answering only these refuses it.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# The names the workshop gives this server's container, by which other
# containers call it: the Compose service `api`, and `jams`, `jams-a` and
# `jams-b` of the networks chapter. Add yours with --allow-host.
CONTAINER_HOSTS = ("api", "jams", "jams-a", "jams-b")
DEFAULT_ALLOWED_HOSTS = LOOPBACK_HOSTS + CONTAINER_HOSTS


class BadRequest(Exception):
    pass


def error(status, message):
    return {"error": message}, status


def json_error(status, message):
    """An error answered outside a resource, formatted as Flask-RESTful formats the rest."""
    body = json.dumps({"error": message}, ensure_ascii=False) + "\n"
    return Flask.response_class(body, status=status, mimetype="application/json")


def name_from_body():
    """The `name` of a JSON body {"name": "..."}; anything else is a BadRequest."""
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest('the body must be JSON, like {"name": "peach"}, '
                         "sent with Content-Type: application/json")
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object, like {"name": "peach"}')
    unknown = sorted(set(body) - {"name"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}; only \"name\" is accepted")
    if "name" not in body:
        raise BadRequest('the field "name" is missing')
    name = body["name"]
    if not isinstance(name, str):
        raise BadRequest(f'"name" must be a string, not {type(name).__name__}')
    if not name.strip():
        raise BadRequest('"name" must not be empty')
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f'"name" is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed')
    if "/" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise BadRequest('"name" must not contain "/" or control characters')
    invisible = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) == "Cf"})
    if invisible:
        # Bidi overrides and zero-width characters make two names look alike, or
        # one read backwards: refuse them rather than show a lie.
        raise BadRequest(f'"name" must not contain invisible format characters ({", ".join(invisible)})')
    return name


def host_name(header):
    """The name a Host header addresses, lowercased, without its port:
    'LocalHost:8000' is 'localhost', '[::1]:8000' is '[::1]'; '' if malformed."""
    match = re.fullmatch(r"(\[[0-9a-f:.]+\]|[^:\[\]]+?)\.?(?::\d{1,5})?", header.strip().lower())
    return match[1] if match else ""


def allowed_host_names(names):
    """Names as given on the command line ('::1' or 'Jams.local.'), in the form host_name() gives."""
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


class JamList(Resource):
    def get(self):
        return {"data": g.store.all()}

    def post(self):
        name = name_from_body()
        try:
            return {"data": g.store.add(name)}, 201
        except Conflict:
            return error(409, f"there is already a jam called {name!r}")
        except Full:
            return error(507, f"the database holds its maximum of {g.store.max_jams} jams; delete one first")


class Jam(Resource):
    def get(self, name):
        try:
            return {"data": g.store.get(name)}
        except NotFound:
            return error(404, f"no jam called {name!r}")

    def put(self, name):
        new_name = name_from_body()
        try:
            return {"data": g.store.rename(name, new_name)}
        except NotFound:
            return error(404, f"no jam called {name!r}")
        except Conflict:
            return error(409, f"there is already a jam called {new_name!r}")

    def delete(self, name):
        try:
            g.store.delete(name)
        except NotFound:
            return error(404, f"no jam called {name!r}")
        return {"data": name}


class Health(Resource):
    def get(self):
        g.store.all()
        return {"status": "ok"}


class JsonErrorsApi(Api):
    """Flask-RESTful's Api, with every HTTP error answered as {"error": ...}."""

    def handle_error(self, e):
        if isinstance(e, BadRequest):
            return json_error(400, str(e))
        if isinstance(e, HTTPException):
            return json_error(e.code, _describe(e))
        raise e


def _describe(e):
    if e.code == 413:
        return f"the body is larger than {MAX_BODY_BYTES} bytes"
    if e.code == 405:
        return f"{request.method} is not allowed on {request.path}"
    if e.code == 404:
        return f"no such endpoint: {request.path}"
    return e.description


def create_app(database, max_jams=DEFAULT_MAX_JAMS, allowed_hosts=DEFAULT_ALLOWED_HOSTS):
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["RESTFUL_JSON"] = {"ensure_ascii": False}  # unicode names, kept as sent
    store = JamStore(database, max_jams)
    allowed_hosts = allowed_host_names(allowed_hosts)

    @app.before_request
    def check_host():
        g.started = time.monotonic()
        header = request.headers.get("Host", "")
        if host_name(header) not in allowed_hosts:
            asked = f"not to {printable(header[:100])!r}" if header else "not to a request without a Host header"
            return json_error(421, f"this server answers requests addressed to {', '.join(allowed_hosts)}, "
                                   f"{asked} (add a name with --allow-host NAME or JAM_ALLOWED_HOSTS=NAME)")

    @app.before_request
    def attach_store():
        g.store = store

    @app.after_request
    def log_request(response):
        took = (time.monotonic() - g.get("started", time.monotonic())) * 1000
        line = f'{request.remote_addr} "{request.method} {request.full_path.rstrip("?")}"'
        print(f"{printable(line)} {response.status_code} {took:.1f}ms", file=sys.stdout, flush=True)
        return response

    for code in (400, 404, 405, 413, 500):
        app.register_error_handler(code, lambda e: json_error(e.code, _describe(e)))

    api = JsonErrorsApi(app, catch_all_404s=True)
    api.add_resource(JamList, "/jam")
    api.add_resource(Jam, "/jam/<string:name>")
    api.add_resource(Health, "/health")
    return app
