"""The engine, the mirror and the stand-in images, on the real daemon."""
import sys
import urllib.error
import urllib.request
import uuid

import docker.errors
import pytest

from bringup import images, paths, registry
from bringup.progress import BringupError
from tests.conftest import ROOT
from tests.integration.conftest import sh


def test_a_second_engine_bringup_reuses_the_running_engine(client):
    # How long it takes: benchmarks/bringup.py.
    result = sh(sys.executable, "-m", "bringup", "engine", cwd=ROOT)
    assert "engine ready (reuse the reachable daemon)" in result.stdout


def test_daemon_uses_the_mirror(client):
    mirrors = client.info()["RegistryConfig"]["Mirrors"]
    assert registry.MIRROR_URL + "/" in mirrors or registry.MIRROR_URL in mirrors


def test_registry_refuses_a_second_start_on_its_busy_port(client):
    with pytest.raises(BringupError, match="is busy"):
        registry.ensure_running(name="second-registry")


def upload(url, headers=None):
    """The first request of a push; the status the registry answers."""
    request = urllib.request.Request(f"{url}/v2/library/python/blobs/uploads/", method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


WRITER_URL = f"http://{registry.LOOPBACK}:{registry.WRITER_PORT}"


def test_the_mirror_engines_read_refuses_a_push(client):
    # Debian's distribution answers a write in read-only mode with 405.
    assert upload(registry.MIRROR_URL) == 405


def test_the_writer_runs_only_for_a_push_and_wants_its_password(client):
    assert not registry.answers(WRITER_URL)
    with registry.Writer() as writer:
        assert upload(WRITER_URL) == 401
        assert upload(WRITER_URL, {"Authorization": "Basic YnJpbmd1cDp3cm9uZw=="}) == 401  # bringup:wrong
        assert upload(WRITER_URL, writer.authorization()) == 202
        client_config = writer.client_config
        assert (client_config / "config.json").is_file()
    assert not registry.answers(WRITER_URL)
    assert not client_config.exists() and not (paths.RUN / f"{registry.WRITER}.htpasswd").exists()


def test_hello_world_prints_the_welcome_text(client):
    result = sh("docker", "run", "--rm", "hello-world")
    assert "Hello from Docker!" in result.stdout
    assert "What just happened" in result.stdout
    image = client.images.get("hello-world")
    assert image.attrs["Config"]["Cmd"] == ["/hello"]
    assert image.attrs["Size"] < 100_000


def test_pull_goes_through_the_mirror(client):
    try:
        client.images.remove("python:alpine")  # the pull must fetch it
    except docker.errors.ImageNotFound:
        pass
    result = sh("docker", "pull", "python:alpine")
    assert "alpine: Pulling from library/python" in result.stdout
    assert "Status: Downloaded newer image for python:alpine" in result.stdout
    pulled = client.images.get("python:alpine").labels.get(images.RECIPE_LABEL)
    in_mirror = registry.image_labels("library/python", "alpine").get(images.RECIPE_LABEL)
    assert pulled == in_mirror


@pytest.mark.parametrize("image", ["python", "python:alpine"])
def test_python_images_have_python_pip_and_sh(client, image):
    result = sh("docker", "run", "--rm", image, "sh", "-c",
                "python --version && python3 --version && pip --version && "
                "test ! -e /usr/lib/python3*/EXTERNALLY-MANAGED && echo ok")
    assert result.stdout.strip().endswith("ok")
    cmd = client.images.get(image).attrs["Config"]["Cmd"]
    assert cmd and cmd[0].startswith("python")


@pytest.mark.parametrize("image", ["python", "python:alpine", "python:3.13-alpine"])
def test_a_stand_in_trusts_only_what_it_must_and_says_so(client, image):
    """Debian's bundle, plus this machine's private certificates when it has
    any, each of them in the host's bundle; the label tells a room mirror."""
    if registry.image_labels("library/python", "alpine").get(images.RECIPE_LABEL) is None:
        pytest.skip("the python images are Docker Hub's own here, not stand-ins")
    sh("docker", "pull", "-q", image)  # as the mirror has it now
    added = sh("docker", "run", "--rm", image, "cat", "/usr/local/share/ca-certificates/host-private-ca.crt",
               check=False)
    labelled = client.images.get(image).labels.get(images.PRIVATE_CA_LABEL) == "yes"
    assert labelled == (added.returncode == 0)
    if labelled:
        private = images.host_private_certificates()
        assert images.PEM.findall(added.stdout) == private
        image_bundle = sh("docker", "run", "--rm", image, "cat", "/etc/ssl/certs/ca-certificates.crt").stdout
        assert images.private_certificates("\n".join(private), image_bundle) == []
    else:
        assert images.host_private_certificates() == [], "this machine has private CAs the stand-in lacks"
    assert not sh("docker", "run", "--rm", image, "sh", "-c", "ls /usr/local/share/ca-certificates/",
                  ).stdout.count("host-ca-bundle"), "the host's whole bundle is no longer copied"


def test_only_the_big_python_image_has_bash_and_it_is_bigger(client):
    assert sh("docker", "run", "--rm", "python", "bash", "-c", "echo $BASH_VERSION").stdout.strip()
    assert sh("docker", "run", "--rm", "python:alpine", "bash", check=False).returncode != 0
    latest = client.images.get("python").attrs["Size"]
    alpine = client.images.get("python:alpine").attrs["Size"]
    assert latest > 3 * alpine


def test_pip_install_inside_a_build(client, tmp_path):
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM python:alpine\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\n"
        'CMD ["python", "-c", "import six; print(six.__version__)"]\n')
    tag = f"intro-to-docker-test/pip:{uuid.uuid4().hex[:8]}"
    sh("docker", "build", "-q", "-t", tag, str(tmp_path))
    try:
        assert sh("docker", "run", "--rm", tag).stdout.strip() == "1.17.0"
    finally:
        sh("docker", "rmi", tag)

