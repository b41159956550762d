"""The site's static files: diagrams up to date, small, described; one image name."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest
import yaml

from tests.conftest import ROOT

MEDIA = sorted((ROOT / "docs" / "media").glob("*.svg"))
SVG = "{http://www.w3.org/2000/svg}"


def test_diagrams_are_what_the_script_draws():
    result = subprocess.run([sys.executable, "scripts/diagrams.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("svg", MEDIA, ids=[p.name for p in MEDIA])
def test_each_diagram_is_small_and_described(svg):
    assert svg.stat().st_size < 20_000
    root = ElementTree.parse(svg).getroot()
    assert root.find(f"{SVG}title").text.strip()
    assert root.find(f"{SVG}desc").text.strip()


def test_every_diagram_is_used_with_alt_text():
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for svg in MEDIA:
        uses = re.findall(rf"!\[([^\]]*)\]\(media/{re.escape(svg.name)}\)", pages)
        assert uses and all(alt.strip() for alt in uses), f"{svg.name} is unused or has no alt text"


def test_pages_use_the_workshop_image_name_defined_once():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    name = config["extra"]["workshop_image"]
    texts = [p.read_text() for p in (ROOT / "docs").glob("*.md")] + [(ROOT / "examples/README.md").read_text()]
    used = {m for text in texts for m in re.findall(r"\b[\w-]+/jam-server\b", text)}
    assert used == {name}
