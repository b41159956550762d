"""The site also builds with Zensical (pinned), Material for MkDocs' successor,
from the same mkdocs.yml: every page of the nav, with its diagrams and code."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.journey_pages import nav_pages
from tests.conftest import ROOT

ZENSICAL = Path(sys.executable).parent / "zensical"




@pytest.fixture(scope="module")
def zensical_site():
    # Zensical reads mkdocs.yml; a copy beside it only redirects the output
    # (to a relative folder: Zensical 0.0.40 stops on an absolute site_dir).
    out = Path("build") / "zensical-site"
    config = ROOT / ".zensical-check.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text() + f"\nsite_dir: {out}\n")
    try:
        result = subprocess.run([str(ZENSICAL), "build", "--clean", "-f", str(config)], cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
    finally:
        config.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    yield ROOT / out
    shutil.rmtree(ROOT / out, ignore_errors=True)


@pytest.fixture(scope="module")
def mkdocs_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("mkdocs-site")
    subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--quiet", "--site-dir", str(out)],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    return out


@pytest.mark.parametrize("page", nav_pages())
def test_every_nav_page_is_built_with_its_diagrams_and_code(zensical_site, mkdocs_site, page):
    built = "index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html"
    html = (zensical_site / built).read_text()
    source = (ROOT / "docs" / page).read_text()
    assert "<h1" in html
    for diagram in re.findall(r"\]\(media/([\w-]+\.svg)\)", source):
        assert f"media/{diagram}" in html and (zensical_site / "media" / diagram).stat().st_size > 0
    assert html.count("<pre") == (mkdocs_site / built).read_text().count("<pre"), \
        "Zensical and MkDocs built a different number of code blocks"
    assert "--8&lt;--" not in html and "--8<--" not in html, "a snippet was not included"
