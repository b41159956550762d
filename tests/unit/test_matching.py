"""Normalizing what varies in Docker output, and binding what the page shows:
the core's rules, and the Docker profile's on top."""
import pytest

from doctester.core.matching import CORE_RULES, Bindings, Normalizer, Rules
from doctester.core.matching import clean as core_clean
from doctester.core.matching import compare as core_compare
from doctester.docker import plugin as docker_profile
from doctester.docker.rules import is_interactive

DOCKER = Rules.of(docker_profile.pytest_doctester_normalizers())  # what the plugin builds


def compare(expected, actual, bindings):
    return core_compare(expected, actual, bindings, DOCKER)


def clean(text):
    return core_clean(text, DOCKER)


def matches(expected, actual):
    return compare(expected.splitlines(), actual, Bindings()).matched


@pytest.mark.parametrize("shown, real", [
    ("e3b0c44298fc", "7a1c2d3e4f50"),
    ("Digest: sha256:" + "a" * 64, "Digest: sha256:" + "0" * 64),
    ("python  latest  25429fbb4a39  2 days ago  866MB", "python  latest  19520387de90  1 second ago  687MB"),
    ("Up 3 seconds", "Up About a minute"),
    ("Exited (0) 2 minutes ago", "Exited (0) Less than a second ago"),
    ("0.0.0.0:49153->8000/tcp", "0.0.0.0:32768->8000/tcp"),
    ("#5 DONE 0.1s", "#5 DONE 12.4s"),
    ("#8 [4/5] RUN pip install -r requirements.txt", "#7 [4/5] RUN pip install -r requirements.txt"),
    ('"GET /jam" 200 0.4ms', '"GET /jam" 200 12.0ms'),
    ("cool_napier", "festive_hopper"),
    ("a  b", "a       b"),
])
def test_what_varies_is_normalized(shown, real):
    assert matches(shown, real)


@pytest.mark.parametrize("shown, real", [
    ("Exited (0) 2 minutes ago", "Exited (1) 2 minutes ago"),
    ("0.0.0.0:8000->8000/tcp", "0.0.0.0:8001->8000/tcp"),
    ("hello", "hullo"),
    ("python  latest", "python  alpine"),
])
def test_everything_else_must_match(shown, real):
    assert not matches(shown, real)


def test_layer_progress_lines_fold_into_one():
    real = "abc: x\n" if False else ("latest: Pulling from library/python\n"
                                     "0123456789ab: Pulling fs layer\n0123456789ab: Download complete\n"
                                     "0123456789ab: Pull complete\nStatus: Downloaded")
    shown = "latest: Pulling from library/python\ne3b0c44298fc: Already exists\nStatus: Downloaded"
    assert matches(shown, real)


def test_ellipsis_matches_any_lines_including_none():
    assert matches("first\n...\nlast", "first\na\nb\nlast")
    assert matches("first\n...\nlast", "first\nlast")
    assert not matches("first\n...\nlast", "first\na")


def test_colours_and_carriage_returns_are_dropped():
    assert clean("\x1b[1mbold\x1b[0m\r\nnext\r\n\n") == ["bold", "next"]


def test_bindings_map_real_values_back_and_resolve_prefixes():
    bindings = Bindings()
    outcome = compare(["e3b0c44298fc   cool_napier"], "7a1c2d3e4f50   festive_hopper\n", bindings)
    assert outcome.matched
    assert bindings.real_for("e3b0c44298fc") == "7a1c2d3e4f50"
    assert bindings.real_for("e3") == "7a1c2d3e4f50"
    assert bindings.real_for("cool_napier") == "festive_hopper"
    assert bindings.real_for("ff") is None
    assert bindings.to_shown("removed 7a1c2d3e4f50") == "removed e3b0c44298fc"


def test_diff_is_unified():
    outcome = compare(["a", "b"], "a\nc\n", Bindings())
    assert not outcome.matched
    assert "-b\n+c" in outcome.diff()


@pytest.mark.parametrize("command, interactive", [
    ("docker run -it python bash", True),
    ("docker run -dit python bash", False),
    ("docker run --name x -p 8000:8000 -it py", True),
    ("docker run python -it", False),
    ("docker attach abc", True),
    ("docker exec -it x sh", True),
    ("docker start -ai x", True),
    ("docker ps", False),
])
def test_interactive_commands_are_recognized(command, interactive):
    assert is_interactive(command) is interactive


def test_curl_progress_meter_is_dropped():
    meter = ("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
             "                                 Dload  Upload   Total   Spent    Left  Speed\n"
             "\n\r  0     0    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
             "\r100    60  100    60    0     0  27485      0 --:--:-- --:--:-- --:--:-- 30000\n"
             '{"data": 1}\n')
    assert clean(meter) == ['{"data": 1}']


def test_curl_8_22_progress_meter_is_dropped_too():
    """Newer curl leaves the time columns blank and writes speeds like 196.6k."""
    meter = ("  % Total    % Received % Xferd  Average Speed  Time    Time    Time   Current\n"
             "                                 Dload  Upload  Total   Spent   Left   Speed\n"
             "\r  0      0   0      0   0      0      0      0                              0"
             "\r100    369 100    369   0      0 196.6k      0                              0\n"
             '{"data": 1}\n')
    assert clean(meter) == ['{"data": 1}']
    assert clean("1 2 3 4 5 6 7 8 9\n") == ["1 2 3 4 5 6 7 8 9"]  # numbers a page prints stay


# Engine 26.1's CLI, as pages show it, and what Engine 28.5's prints instead.
@pytest.mark.parametrize("shown, real", [
    ("0.0.0.0:8000->8000/tcp, :::8000->8000/tcp", "0.0.0.0:8000->8000/tcp, [::]:8000->8000/tcp"),
    ("0.0.0.0:8000->8000/tcp, [::]:8000->8000/tcp", "0.0.0.0:8000->8000/tcp, :::8000->8000/tcp"),
    ("docker: Error response from daemon: driver failed programming external connectivity on endpoint second "
     "(" + "8c" * 32 + "): Bind for 0.0.0.0:8000 failed: port is already allocated",
     "docker: Error response from daemon: failed to set up container networking: driver failed programming "
     "external connectivity on endpoint second (" + "ae" * 32 + "): Bind for :::8000 failed: port is already "
     "allocated"),
    ("<missing>      10 seconds ago   EXPOSE map[8000/tcp:{}]                         0B        buildkit.dockerfile.v0",
     "<missing>      8 seconds ago    EXPOSE [8000/tcp]                               0B        buildkit.dockerfile.v0"),
])
def test_engine_28_wording_matches_engine_26_pages(shown, real):
    assert matches(shown, real)


@pytest.mark.parametrize("shown, real", [
    ("0.0.0.0:8000->8000/tcp, :::8000->8000/tcp", "0.0.0.0:8000->8000/tcp, [::]:8001->8000/tcp"),
    ("0.0.0.0:8000->8000/tcp, :::8000->8000/tcp", "0.0.0.0:8000->8000/tcp, [::1]:8000->8000/tcp"),
    ("<missing>  10 seconds ago  EXPOSE map[8000/tcp:{}]  0B", "<missing>  8 seconds ago  EXPOSE [8001/tcp]  0B"),
    ("docker: Error response from daemon: driver failed programming external connectivity",
     "docker: Error response from daemon: failed to set up container storage: driver failed programming "
     "external connectivity"),
])
def test_engine_28_wording_still_checks_what_it_says(shown, real):
    assert not matches(shown, real)


def test_the_run_error_wording_of_cli_27_and_later_is_a_declared_variant():
    shown = ["docker: Error response from daemon: invalid mount config for type \"bind\": invalid mount path: "
             "'hello/main.py' mount path must be absolute.", "See 'docker run --help'."]
    cli_28 = ("docker: Error response from daemon: invalid mount config for type \"bind\": invalid mount path: "
              "'hello/main.py' mount path must be absolute\n\nRun 'docker run --help' for more information\n")
    cli_26 = "\n".join(shown) + "\n"
    declared = DOCKER.declaring(["run-error-wording"])
    assert not compare(shown, cli_28, Bindings()).matched
    assert core_compare(shown, cli_28, Bindings(), declared).matched
    assert core_compare(shown, cli_26, Bindings(), declared).matched
    assert not core_compare(shown, cli_28.replace("absolute", "relative"), Bindings(), declared).matched
    # Outside the variant, blank lines stay lines of their own.
    assert clean("a\n\nb\n") == ["a", "", "b"]


@pytest.mark.parametrize("shown, real, same", [
    ("Docker version 27.3.1, build ce12230", "Docker version 28.2.2, build e6534b4", True),
    ("Python 3.13.1", "Python 3.11.2", True),
    ("listening on 127.0.0.1:8000", "listening on 127.0.0.2:8000", False),
])
def test_versions_vary_but_addresses_do_not(shown, real, same):
    assert matches(shown, real) is same


@pytest.mark.parametrize("key, code", [("ctrl-p", "\x10"), ("ctrl-q", "\x11"), ("CTRL-X", "\x18"),
                                       ("enter", "\r"), ("x", "x")])
def test_keys_a_reader_presses(key, code):
    from doctester.core.terminal import key_code
    assert key_code(key) == code


def test_unknown_key_is_an_error():
    from doctester.core.terminal import SessionError, key_code
    with pytest.raises(SessionError, match="unknown key 'hyper-x'"):
        key_code("hyper-x")


@pytest.mark.parametrize("raw", [
    "platform.system()\r\n'Linux'\r\n>>> ",  # the classic REPL echoes the line
    "\x1b[?25l\x1b[19D\n\r\x1b[?2004l\x1b[?1l\x1b>'Linux'\r\n\x1b[?2004h\x1b[?1h\x1b=\x1b[?25l\x1b[1A\n"
    "\x1b[1;35m>>> \x1b[0m\x1b[4D\x1b[?12l\x1b[?25h\x1b[4C",  # Python 3.13's REPL edits the line
])
def test_repl_output_without_echo_or_prompt(raw):
    from doctester.core.terminal import repl_output
    assert clean(repl_output(raw)) == ["'Linux'"]


def test_to_shown_rewrites_whole_words_once():
    bindings = Bindings()
    bindings.bind("3905e7ccc583", "121132b2dce9")
    bindings.bind("e3", "e7")  # a short prefix bound earlier on the page
    assert bindings.to_shown("No such image: 121132b2dce9") == "No such image: 3905e7ccc583"
    assert bindings.to_shown("e7\ndeleted e7 and 3905e7ccc583x") == "e3\ndeleted e7 and 3905e7ccc583x"


def test_a_short_prefix_is_written_back_only_as_a_whole_line():
    bindings = Bindings()
    bindings.bind("e3", "10")  # `docker rm e3` typed on an earlier page, really `docker rm 10`
    assert bindings.to_shown("10") == "e3"  # Docker echoes what it removed
    assert bindings.to_shown("RUN /bin/sh -c mkdir /data && chown 10001:10…") == \
        "RUN /bin/sh -c mkdir /data && chown 10001:10…"


def test_the_core_alone_knows_generic_fields_but_not_dockers():
    assert core_compare(["built in 2.1s, 12MB, 2026-01-02T03:04:05Z"], "built in 0.4s, 7.5MB, 2026-11-29T20:11:47Z",
                        Bindings()).matched
    assert not core_compare(["e3b0c44298fc"], "7a1c2d3e4f50", Bindings()).matched
    assert core_clean("0123456789ab: Pull complete") == ["0123456789ab: Pull complete"]  # no fold
    with pytest.raises(ValueError, match="normalizer names used twice: id"):
        Rules([Normalizer("id", "a", "a"), Normalizer("id", "b", "b")])
    assert [n.name for n in CORE_RULES.normalizers] == ["timestamp", "age", "size", "seconds", "version"]


PULLED = ["Using default tag: latest", "latest: Pulling from library/python", "e3b0c44298fc: Pull complete",
          "Digest: sha256:" + "a" * 64, "Status: Downloaded newer image for python:latest"]
PRESENT = "Using default tag: latest\nlatest: Pulling from library/python\nDigest: sha256:" + "b" * 64 + \
    "\nStatus: Image is up to date for python:latest\n"


def test_a_declared_variant_is_accepted_only_where_declared():
    assert DOCKER.variant_names == ["classic-store-wording", "pulled-or-present", "run-error-wording"]
    assert not compare(PULLED, PRESENT, Bindings()).matched
    declared = DOCKER.declaring(["pulled-or-present"])
    assert core_compare(PULLED, PRESENT, Bindings(), declared).matched
    assert core_compare(PULLED, PRESENT.replace("up to date", "on fire"), Bindings(), declared).matched is False


def test_the_classic_store_wording_of_a_refused_rmi_is_a_declared_variant():
    shown = ["Error response from daemon: conflict: unable to delete hello-world:latest (must be forced) - "
             "container 0d2c4b6a8e1f is using its referenced image 74cc54e27dc4"]
    classic = ('Error response from daemon: conflict: unable to remove repository reference "hello-world" '
               "(must force) - container 1a2b3c4d5e6f is using its referenced image 8e9f0a1b2c3d\n")
    assert not compare(shown, classic, Bindings()).matched
    assert core_compare(shown, classic, Bindings(), DOCKER.declaring(["classic-store-wording"])).matched


def test_pulled_or_present_lets_a_run_of_a_present_image_skip_the_download():
    shown = ["Unable to find image 'hello-world:latest' locally", "latest: Pulling from library/hello-world",
             "e3b0c44298fc: Pull complete", "Digest: sha256:" + "a" * 64,
             "Status: Downloaded newer image for hello-world:latest", "", "Hello from Docker!"]
    declared = DOCKER.declaring(["pulled-or-present"])
    assert core_compare(shown, "\nHello from Docker!\n", Bindings(), declared).matched
    assert not compare(shown, "\nHello from Docker!\n", Bindings()).matched
    assert not core_compare(shown, "\nHello from Podman!\n", Bindings(), declared).matched


def test_a_pushed_manifests_size_varies_but_the_tag_does_not():
    shown = ["1.0: digest: sha256:" + "a" * 64 + " size: 1995"]
    assert matches(shown[0], "1.0: digest: sha256:" + "b" * 64 + " size: 1154")
    assert not matches(shown[0], "1.1: digest: sha256:" + "b" * 64 + " size: 1154")


def test_a_build_step_number_varies_but_its_step_does_not():
    assert not matches("#8 [4/5] RUN pip install -r requirements.txt", "#8 [3/5] COPY requirements.txt .")
    assert not matches("#8 CACHED", "#8 DONE 0.1s")
