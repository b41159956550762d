"""The site as a container: built with the multi-stage site-image/Dockerfile,
served on a loopback port, its pages fetched."""
import time
import urllib.request
import uuid

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import sh


def pins(path):
    return {line.split("==")[0].lower(): line.split("==")[1] for line in path.read_text().split()
            if "==" in line and not line.startswith("#")}


def test_site_image_pins_agree_with_the_project():
    project, image = pins(ROOT / "requirements.txt"), pins(ROOT / "site-image" / "requirements.txt")
    assert image and all(project.get(name) == version for name, version in image.items())


@pytest.fixture(scope="module")
def served_site(client):
    tag, name = f"intro-to-docker-test/site:{uuid.uuid4().hex[:8]}", f"site-test-{uuid.uuid4().hex[:6]}"
    sh("docker", "build", "-q", "-f", "site-image/Dockerfile", "-t", tag, ".", cwd=ROOT, timeout=900)
    try:
        sh("docker", "run", "-d", "--name", name, "-p", "127.0.0.1:0:80", tag)
        port = int(sh("docker", "port", name, "80/tcp").stdout.split(":")[-1])
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        yield base, client.images.get(tag)
    finally:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "rmi", "-f", tag, check=False)


@pytest.mark.parametrize("path, text", [
    ("/", "Intro to Docker"),
    ("/first-container/", "Images and containers"),
    ("/dockerfile/", "ENTRYPOINT"),
    ("/media/containers.svg", "<svg"),
    ("/search/search_index.json", "bind mount"),
])
def test_served_site_has_the_pages(served_site, path, text):
    base, _ = served_site
    with urllib.request.urlopen(base + path, timeout=10) as response:
        assert response.status == 200
        assert text in response.read().decode()


def test_site_image_serves_as_a_user_without_rights(served_site):
    _, image = served_site
    assert image.attrs["Config"]["User"] == "65534:65534"
    running = sh("docker", "ps", "-q", "--filter", f"ancestor={image.id}").stdout.split()
    assert running, "the site container is not running"
    assert sh("docker", "exec", running[0], "id", "-u").stdout.strip() == "65534"


def test_site_image_is_the_small_final_stage(served_site):
    _, image = served_site
    assert image.attrs["Config"]["Cmd"][:2] == ["python", "/srv/serve.py"]
    assert not any("mkdocs" in (layer.get("CreatedBy") or "") for layer in image.history())


def test_site_image_sends_the_security_headers(served_site):
    base, _ = served_site
    for path in ("/", "/compose/", "/media/containers.svg"):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, policy
        assert "'sha256-" in policy, "the theme's inline scripts are allowed by hash"
        assert "http" not in policy and "*" not in policy, "no outside origin is allowed"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
