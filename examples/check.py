"""Is your Docker where a chapter of the workshop leaves it? Standard library only.

    python3 examples/check.py dockerfile        (Windows: py examples/check.py dockerfile)
    python3 examples/check.py dockerfile --try-it   (after the chapter's Try it)
    python3 examples/check.py dockerfile --share https://192.168.1.20:8700 --as seat-7 --ca ca.crt

With --share (the room's address, which the organizers give; or the
WORKSHOP_ROOM variable, which a seat sets), the result is also sent to the
room's board, after it is printed here: the chapter, the name given with
--as (or WORKSHOP_SEAT), and the names of what is off, such as "port 8000
busy". Nothing else is sent, and only to a private or loopback address.
Over https, --ca names the room's certificate file (ca.crt, the one the
organizers hand out for the mirror; WORKSHOP_ROOM_CA in a seat): then that
certificate alone is trusted.

Compares your containers, images, volumes and networks, and the files in
your workshop folder (the folder that holds this `examples/`), with what the
workshop's tests saw after that chapter (`check-record.json`, next to this
file, written by running every page in order on a real engine). It only
reads: it runs `docker ps`, `docker image ls`, `docker volume ls` and
`docker network ls`, and changes nothing. Objects the workshop does not
name (your own projects) are left out of the comparison.

Prints one line per thing that matches and one per thing that does not,
with the command that fixes it. Exits 0 when all matches, 1 when something
is off, and 2 when it cannot check (no `docker` command, an engine that does
not answer, an unknown chapter, a record it cannot read).
"""
import concurrent.futures
import difflib
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

FORMAT = 2                 # the newest record layout this program reads (2: Try it entries)
RECORD = Path(__file__).resolve().parent / "check-record.json"
WORKSHOP = Path(__file__).resolve().parent.parent
TIMEOUT = 30               # seconds each docker command may take
SKIPPED_FOLDERS = {".git", "__pycache__", ".pytest_cache", "node_modules", ".venv", "venv"}
RANDOM_NAME = re.compile(r"^[a-z]+_[a-z]+\d*$")          # names Docker picks
IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")
PICKED_PORT = re.compile(r"^(?:3[2-9]\d{3}|[4-6]\d{4})$")  # host ports Docker picks


SKIPPED_TRY_IT = "not there, but only a Try it makes it: fine"
SHARE_TIMEOUT = 2          # seconds the room's board may take, after the answer is printed
SEAT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,23}")
# The room's addresses, spelled out (what ipaddress calls private differs
# between Python versions): the private ranges, shared address space,
# link-local and loopback; the room's certificate authority signs for these
# same ranges alone (bringup/roomca.py, held equal by a unit test).
ROOM_NETWORKS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8",
    "fc00::/7", "fe80::/10", "::1/128")]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """A board that answers with a redirect is not followed anywhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


# The room's board is a neighbour on the LAN: a proxy set for the internet
# must not stand between them, nor see what is sent, and no redirect may
# lead what is sent elsewhere.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


class CannotCheck(Exception):
    """The check cannot run; the message says what to do (exit 2)."""


# --- Reading the attendee's Docker ------------------------------------------

LISTINGS = {
    "containers": ["ps", "-a"],
    "images": ["image", "ls"],
    "volumes": ["volume", "ls"],
    "networks": ["network", "ls"],
}


def docker_json(args, run=subprocess.run):
    """The objects `docker ARGS --format '{{json .}}'` lists, one dict a line."""
    try:
        result = run(["docker", *args, "--format", "{{json .}}"], capture_output=True, text=True,
                     encoding="utf-8", errors="replace", timeout=TIMEOUT)
    except FileNotFoundError:
        raise CannotCheck("there is no `docker` command here: install Docker (Docker Desktop on macOS "
                          "and Windows), open a new terminal, and run the check again") from None
    except subprocess.TimeoutExpired:
        raise CannotCheck(f"Docker did not answer within {TIMEOUT} s: start (or restart) Docker Desktop "
                          "or the Docker service, then run the check again") from None
    if result.returncode:
        message = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise CannotCheck(f"Docker's engine does not answer ({message}): start Docker Desktop or the "
                          "Docker service, wait until `docker ps` works, then run the check again")
    objects = []
    for line in result.stdout.splitlines():
        line = line.strip()
        if line:
            try:
                objects.append(json.loads(line))
            except ValueError:
                raise CannotCheck(f"`docker {' '.join(args)}` printed something that is not JSON ({line[:60]}): "
                                  "this check needs a Docker CLI of version 26 or later") from None
    return objects


def ports_of(text):
    """`docker ps` PORTS text -> sorted published ports, `HOST:PORT->PORT/PROTO`,
    with IPv6's any-address folded into 0.0.0.0 and ports Docker picked as `*`."""
    found = set()
    for entry in (text or "").split(","):
        entry = entry.strip()
        if "->" not in entry:
            continue  # exposed, not published
        host, _, inside = entry.partition("->")
        address, _, port = host.rpartition(":")
        if address in ("::", "[::]", ""):
            address = "0.0.0.0"
        if PICKED_PORT.match(port):
            port = "*"
        found.add(f"{address}:{port}->{inside}")
    return sorted(found)


def read_docker(run=subprocess.run):
    """What the attendee's engine holds, in the record's terms."""
    with concurrent.futures.ThreadPoolExecutor(len(LISTINGS)) as pool:
        futures = {kind: pool.submit(docker_json, args, run) for kind, args in LISTINGS.items()}
        listed = {kind: future.result() for kind, future in futures.items()}
    containers = []
    for c in listed["containers"]:
        name = (c.get("Names") or "").split(",")[0]
        containers.append({"name": name, "image": c.get("Image", ""), "state": (c.get("State") or "").lower(),
                           "ports": ports_of(c.get("Ports"))})
    images = {f"{i.get('Repository')}:{i.get('Tag')}" for i in listed["images"]
              if "<none>" not in (i.get("Repository"), i.get("Tag"))}
    volumes = {v.get("Name") for v in listed["volumes"]}
    networks = {n.get("Name") for n in listed["networks"]} - {"bridge", "host", "none"}
    return {"containers": containers, "images": images, "volumes": volumes, "networks": networks}


def read_files(folder=WORKSHOP, depth=4):
    """Every file under the workshop folder (relative, with `/`), a few levels deep."""
    found = set()
    for current, folders, files in os.walk(folder):
        relative = Path(current).relative_to(folder)
        folders[:] = [] if len(relative.parts) >= depth else \
            sorted(f for f in folders if f not in SKIPPED_FOLDERS)
        found.update((relative / name).as_posix() for name in files)
    return found


# --- The record -------------------------------------------------------------

def load_record(path=RECORD):
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CannotCheck(f"cannot read {Path(path).name} ({type(error).__name__}): download the workshop's "
                          "files again (intro-to-docker.zip on the site) and unpack them over yours") from None
    version = record.get("format") if isinstance(record, dict) else None
    if not isinstance(version, int):
        raise CannotCheck(f"{Path(path).name} is not a check record: download the workshop's files again")
    if version > FORMAT:
        raise CannotCheck(f"{Path(path).name} is from a newer site (format {version}; this check.py reads "
                          f"{FORMAT} and older): download the workshop's files again, check.py included")
    return record


def chapter_names(record, step=None):
    return ", ".join(c["name"] for c in record["chapters"] if c.get("step") == step)


def chapter_of(record, name, step=None):
    """The record's entry for a chapter's end, or for a step within it (`try-it`)."""
    for chapter in record["chapters"]:
        if chapter["name"] == name and chapter.get("step") == step:
            return chapter
    if not any(c["name"] == name for c in record["chapters"]):
        raise CannotCheck(f"there is no chapter {name!r}; the chapters are: {chapter_names(record)}")
    python = "py" if os.name == "nt" else "python3"
    raise CannotCheck(f"the Try it of {name!r} leaves nothing the check can see: check the chapter instead, "
                      f"`{python} examples/check.py {name}`. Chapters with a Try it check: "
                      f"{chapter_names(record, 'try-it')}")


# --- The comparison ---------------------------------------------------------

def title(record, name):
    for chapter in record["chapters"]:
        if chapter["name"] == name and not chapter.get("step"):
            return f"'{chapter['title']}'"
    return f"'{name}'"


def how_made(record, made_by, kind, name):
    """The step that makes an object again, as a hint."""
    if not made_by:
        origin = record.get("named", {}).get(kind + "s", {}).get(with_latest(name) if kind == "image" else name)
        return f"make it as {title(record, origin)} does" if origin else "make it as the chapter does"
    command, chapter = made_by["command"], title(record, made_by["chapter"])
    if re.match(r"docker compose\b", command):
        # Compose builds its own images, which no registry has.
        return f"`{command}` in the folder of the Compose file, as {chapter} does"
    if kind == "image" and re.match(r"docker (run|create|pull)\b", command):
        return f"`docker pull {name}`"
    if re.match(r"docker (build|buildx build)\b", command):
        return f"`{command}` in the folder {chapter} builds in"
    if re.match(r"docker commit\b", command):
        return f"redo the `docker commit` step of {chapter}"  # it names a container that is gone by now
    return f"`{command}` (a step of {chapter})"


def free_port(container, origin):
    """How to free a port a container holds: the workshop's are removed; a
    Compose project's go down together; one of the reader's own is only stopped."""
    compose = re.fullmatch(r"(.+)-[a-z0-9_-]+-\d+", container["name"])
    if origin is not None and compose:
        return f"`docker compose -p {compose.group(1)} down` (its containers and network)"
    if origin is not None:
        return f"`docker rm -f {container['name']}`"
    return f"`docker stop {container['name']}` (not the workshop's: it is kept, stopped)"


def compare(record, chapter, found, files):
    """[(ok, text, item)] for one chapter: `found` as read_docker returns it,
    `files` as read_files does. `item` names what is off in a few words that
    are the same on every laptop ("port 8000 busy"), for the room's view;
    None when nothing is."""
    return (compare_containers(record, chapter, found) + compare_other_containers(record, chapter, found)
            + compare_images(record, chapter, found) + compare_volumes_and_networks(record, chapter, found)
            + compare_files(record, chapter, files))


def compare_containers(record, chapter, found):
    """The chapter's containers, each against the attendee's of that name."""
    by_name = {c["name"]: c for c in found["containers"]}
    results = []
    for expected in chapter["containers"]:
        name = expected.get("name")
        if not name:
            continue  # a container Docker named: the workshop never refers to it
        results.append(compare_container(record, expected, by_name.get(name)))
    return results


def compare_container(record, expected, mine):
    """(ok, text, item) for one of the chapter's containers; `mine` is the
    attendee's container of that name, or None."""
    name = expected["name"]
    fix = how_made(record, expected.get("made_by"), "container", name)
    if mine is None and expected.get("optional"):
        return True, f"container {name}: {SKIPPED_TRY_IT}", None
    if mine is None:
        return False, f"container `{name}` is missing: {fix}", f"container {name} missing"
    if expected["image"] and not IMAGE_ID.match(expected["image"]) and mine["image"] != expected["image"]:
        return (False, f"container `{name}` runs image `{mine['image']}`, the chapter's runs "
                       f"`{expected['image']}`: `docker rm -f {name}`, then {fix}",
                f"container {name} runs another image")
    if mine["state"] != expected["state"]:
        return compare_state(name, expected["state"], mine["state"])
    if not ports_match(expected["ports"], mine["ports"]):
        return (False, f"container `{name}` publishes {' '.join(mine['ports']) or 'no port'}, the "
                       f"chapter's publishes {' '.join(expected['ports']) or 'none'}: "
                       f"`docker rm -f {name}`, then {fix}",
                f"container {name} on other ports")
    return True, f"container {name} ({expected['image']}, {expected['state']}" + \
        (f", {' '.join(expected['ports'])})" if expected["ports"] else ")"), None


def compare_state(name, expected, mine):
    """(ok, text, item) for a container whose state is not the chapter's."""
    if expected == "running":
        fix = f"`docker start {name}`"
    elif mine == "running":
        fix = f"`docker stop {name}`"
    else:
        fix = None  # stopped either way: nothing a later step trips over
    return (fix is None, f"container `{name}` is {mine}, the chapter leaves it {expected}: {fix or 'nothing to do'}",
            None if fix is None else f"container {name} {mine}")


def compare_other_containers(record, chapter, found):
    """The attendee's containers the chapter does not leave: off when one
    holds a port the workshop publishes, or has a name a step gives."""
    named = record.get("named", {})
    expected_names = {c.get("name") for c in chapter["containers"]}
    workshop_ports = record.get("ports", {})
    results = []
    for mine in found["containers"]:
        if mine["name"] in expected_names:
            continue
        held = [p for p in mine["ports"] if mine["state"] == "running" and host_port(p) in workshop_ports]
        origin = named.get("containers", {}).get(mine["name"])
        if origin is None:
            origin = named.get("images", {}).get(with_latest(mine["image"]))
            what = f"a container of `{mine['image']}`" + (f" from {title(record, origin)}" if origin else "")
        else:
            what = f"a container from {title(record, origin)}"
        if held:
            port = host_port(held[0])
            results.append((False, f"port {port} is held by `{mine['name']}`, {what}: {free_port(mine, origin)}",
                            f"port {port} busy"))
        elif mine["name"] in named.get("containers", {}):
            results.append((False, f"container `{mine['name']}` ({what}) is still there, and a step names a "
                                   f"container so: `docker rm -f {mine['name']}`",
                            f"container {mine['name']} left over"))
    return results


def compare_images(record, chapter, found):
    """The chapter's image tags: there, skipped with a Try it, mistyped or missing."""
    typos = mistyped(chapter, found["images"])
    results = []
    for image in chapter["images"]:
        tag = image["tag"]
        if tag in found["images"]:
            results.append((True, f"image {tag}", None))
        elif image.get("optional"):
            results.append((True, f"image {tag}: {SKIPPED_TRY_IT}", None))
        elif tag in typos:
            results.append((False, f"image `{tag}` is missing, and `{typos[tag]}` looks like a mistyped tag of it: "
                                   f"`docker tag {short(typos[tag])} {short(tag)}`", f"image {short(tag)} mistyped"))
        else:
            results.append((False, f"image `{short(tag)}` is missing: "
                                   f"{how_made(record, image.get('made_by'), 'image', short(tag))}",
                            f"image {short(tag)} missing"))
    return results


def compare_volumes_and_networks(record, chapter, found):
    """The chapter's volumes and networks, then the attendee's that a step
    would make afresh (which fails while they are there)."""
    named = record.get("named", {})
    results = []
    for kind, remove in (("volumes", "docker volume rm"), ("networks", "docker network rm")):
        singular = kind[:-1]
        wanted = {o["name"]: o for o in chapter[kind]}
        for name, expected in sorted(wanted.items()):
            if name in found[kind]:
                results.append((True, f"{singular} {name}", None))
            elif expected.get("optional"):
                results.append((True, f"{singular} {name}: {SKIPPED_TRY_IT}", None))
            else:
                results.append((False, f"{singular} `{name}` is missing: "
                                       f"{how_made(record, expected.get('made_by'), singular, name)}",
                                f"{singular} {name} missing"))
        for name in sorted(found[kind] - set(wanted)):
            origin = named.get(kind, {}).get(name)
            if origin is not None:
                results.append((False, f"{singular} `{name}` from {title(record, origin)} is still there, and "
                                       f"a step makes it afresh: `{remove} {name}`", f"{singular} {name} left over"))
    return results


def compare_files(record, chapter, files):
    """The chapter's files in the workshop folder: there, skipped with a Try
    it, written in another folder, or missing."""
    results = []
    for file in chapter["files"]:
        path = file["path"]
        if path in files:
            results.append((True, f"file {path}", None))
            continue
        if file.get("optional"):
            results.append((True, f"file {path}: {SKIPPED_TRY_IT}", None))
            continue
        elsewhere = sorted(f for f in files if f.endswith("/" + path))
        if elsewhere:
            where = elsewhere[0][:-len(path)].rstrip("/")
            results.append((False, f"file `{path}` is in `{where}/` instead of the workshop folder: the step "
                                   f"ran in another folder; move `{where}/{path.split('/')[0]}` up into "
                                   f"{WORKSHOP.name}", f"file {path} in another folder"))
        else:
            results.append((False, f"file `{path}` is missing from your workshop folder: write it as "
                                   f"{title(record, file.get('chapter', chapter['name']))} shows",
                            f"file {path} missing"))
    return results


def mistyped(chapter, tags):
    """{missing tag: the attendee's tag that is most likely it, mistyped}; each
    of their tags stands for one missing tag at most, the nearest."""
    wanted = {i["tag"] for i in chapter["images"]}
    missing = sorted(wanted - tags)
    found = {}
    for candidate in sorted(tags - wanted):
        scored = [(difflib.SequenceMatcher(None, short(candidate), short(tag)).ratio(), tag) for tag in missing]
        if scored:
            ratio, tag = max(scored)
            if ratio >= 0.8 and ratio > found.get(tag, (0, None))[0]:
                found[tag] = (ratio, candidate)
    return {tag: candidate for tag, (ratio, candidate) in found.items()}


def ports_match(expected, mine):
    """Published ports alike, a port Docker picked (`*`) matching any it picked."""
    def inside(port):
        return port.split("->")[1]
    expected, mine = sorted(expected, key=inside), sorted(mine, key=inside)
    return len(expected) == len(mine) and all(
        e == m or (inside(e) == inside(m) and host_port(e) == "*" == host_port(m)) for e, m in zip(expected, mine))


def host_port(published):
    return published.split("->")[0].rsplit(":", 1)[-1]


def with_latest(reference):
    return reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest"


def short(tag):
    return tag[:-len(":latest")] if tag.endswith(":latest") else tag


# --- Sharing with the room ------------------------------------------------

def room_address(text):
    """The board's base URL, if it is in the room: http(s) to a private,
    link-local or loopback IP address. Anything else is refused."""
    parts = urllib.parse.urlsplit(text)
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        raise CannotCheck(f"--share takes the room's address as the organizers give it, such as "
                          f"https://192.168.1.20:8700 (an IP address), not {text!r}") from None
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        raise CannotCheck(f"--share takes an http:// or https:// address such as https://192.168.1.20:8700, "
                          f"not {text!r}")
    if not any(address in network for network in ROOM_NETWORKS):
        raise CannotCheck(f"{address} is not an address in the room (a private or loopback one): the check "
                          "shares only with the room's own board")
    return f"{parts.scheme}://{parts.netloc}"


def seat_name(text):
    if not text or not SEAT_NAME.fullmatch(text):
        raise CannotCheck("with --share, give a seat number or a name you pick, letters, digits, - and _ "
                          "(up to 24): --as seat-7")
    return text


def room_opener(cafile):
    """DIRECT, trusting for https only the room's certificate in `cafile`."""
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError, ValueError) as error:
        raise CannotCheck(f"--ca {cafile}: not a certificate file this check can read ({error}); give the "
                          "ca.crt the organizers handed out") from None
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect(),
                                       urllib.request.HTTPSHandler(context=context))


def share(room, name, chapter, step, results, opener=DIRECT, timeout=SHARE_TIMEOUT):
    """Send the result to the room's board; returns one line saying how it went."""
    body = json.dumps({"name": name, "chapter": chapter["name"], "step": step,
                       "ok": sum(1 for ok, _, _ in results if ok),
                       "off": [item for ok, _, item in results if not ok][:50]}).encode()
    request = urllib.request.Request(room + "/api/checks", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=timeout):
            return f"Shared with the room's board as {name}."
    except urllib.error.HTTPError as error:  # a redirect too: NoRedirect leaves it as an error
        return f"Not shared: the room's board answered {error.code} {error.reason} (the answer above stands)."
    except urllib.error.URLError as error:
        if not isinstance(error.reason, ssl.SSLCertVerificationError):
            return f"Not shared: the room's board at {room} did not answer (the answer above stands)."
        return (f"Not shared: {room} showed a certificate this laptop does not trust; add --ca with the room's "
                "certificate file (ca.crt) the organizers gave you (the answer above stands).")
    except (OSError, ValueError):  # refused, unreachable, timed out
        return f"Not shared: the room's board at {room} did not answer (the answer above stands)."


def parse_arguments(argv, environ):
    """(chapter name, step, room or None, seat name or None, room CA file or
    None) from the command line and a seat's variables."""
    words, step = [], None
    given = {"--share": environ.get("WORKSHOP_ROOM"), "--as": environ.get("WORKSHOP_SEAT"),
             "--ca": environ.get("WORKSHOP_ROOM_CA")}
    argv = list(argv)
    while argv:
        word = argv.pop(0)
        if word == "--try-it":
            step = "try-it"
        elif word in given and argv:
            given[word] = argv.pop(0)
        else:
            words.append(word)
    room = given["--share"]
    if not room:
        return words, step, None, None, None
    room = room_address(room)
    if given["--ca"] and not room.startswith("https://"):
        raise CannotCheck(f"--ca is for a room served over https://; {room} would be sent unencrypted: "
                          "use the https:// address the organizers give")
    return words, step, room, seat_name(given["--as"]), given["--ca"]


# --- The program ------------------------------------------------------------

def main(argv=None, run=subprocess.run, record_path=RECORD, folder=WORKSHOP, out=print, environ=os.environ,
         opener=DIRECT):
    argv = sys.argv[1:] if argv is None else argv
    try:
        record = load_record(record_path)
        words, step, room, name, cafile = parse_arguments(argv, environ)
        if cafile:
            opener = room_opener(cafile)
        if len(words) != 1 or words[0].startswith("-"):
            python = "py" if os.name == "nt" else "python3"
            raise CannotCheck(f"name one chapter: `{python} examples/check.py CHAPTER` (add --try-it after its "
                              f"Try it), one of: {chapter_names(record)}")
        chapter = chapter_of(record, words[0], step)
        results = compare(record, chapter, read_docker(run), read_files(folder))
    except CannotCheck as error:
        out(f"check.py: {error}")
        return 2
    out(f"Your Docker against '{chapter['title']}'" + (", after its Try it:" if step else ":"))
    for ok, text, _ in results:
        out(f"  {'ok ' if ok else 'OFF'}  {text}")
    off = sum(1 for ok, _, _ in results if not ok)
    if off:
        out(f"{off} thing{'s' if off > 1 else ''} to put right (see OFF above), then run the check again.")
    else:
        out("All as the Try it leaves it: on with the chapter." if step else
            "All as the chapter leaves it: on to the next one.")
    if room:
        out(share(room, name, chapter, step, results, opener))
    return 1 if off else 0


if __name__ == "__main__":
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(2)
