"""The site's static files: diagrams up to date, small, described; one image name."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

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
    # `yourname/jam-server` is the reader's own copy, in the sharing chapter.
    assert used - {"yourname/jam-server"} == {name}


def relative_luminance(colour):
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground, background):
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on_backgrounds(svg):
    """(text, its colour, the fill of the last shape drawn under it) for each
    text of a diagram. Diagrams carry their own light panel, so this holds in
    both of the site's palettes."""
    shapes, found = [], []
    for element in ElementTree.parse(svg).getroot().iter():
        tag = element.tag.removeprefix(SVG)
        if tag == "rect" and element.get("fill", "none") != "none":
            x, y = float(element.get("x", 0)), float(element.get("y", 0))
            shapes.append((x, y, x + float(element.get("width")), y + float(element.get("height")),
                           element.get("fill")))
        elif tag == "text":
            x, y = float(element.get("x")), float(element.get("y"))
            under = [fill for x1, y1, x2, y2, fill in shapes if x1 <= x <= x2 and y1 <= y <= y2]
            found.append((element.text, element.get("fill"), under[-1] if under else "#ffffff"))
    return found


def test_contrast_is_measured_as_wcag_defines_it():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54  # the lightest grey that passes on white


@pytest.mark.parametrize("svg", MEDIA, ids=[p.name for p in MEDIA])
def test_diagram_text_has_four_and_a_half_to_one_contrast(svg):
    texts = text_on_backgrounds(svg)
    assert texts, f"{svg.name}: no text found"
    weak = [f"{text!r} {colour} on {background}: {contrast(colour, background):.2f}:1"
            for text, colour, background in texts if contrast(colour, background) < 4.5]
    assert not weak, f"{svg.name}: text below 4.5:1 against its panel:\n  " + "\n  ".join(weak)


def test_the_search_override_differs_from_the_theme_only_by_the_dialog_name():
    import material
    theme = (Path(material.__file__).parent / "templates" / "partials" / "search.html").read_text().splitlines()
    ours = (ROOT / "overrides" / "partials" / "search.html").read_text().splitlines()
    theme = [line for line in theme if line not in ("{#-", "  This file was automatically generated - do not edit", "-#}")]
    differing = [(a, b) for a, b in zip(theme, ours[1:]) if a != b]
    assert len(ours) - 1 == len(theme) and len(differing) == 1, differing
    assert 'role="dialog" aria-label=' in differing[0][1]


def test_a_low_contrast_diagram_is_named(tmp_path):
    svg = tmp_path / "pale.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="100" height="50" '
                   'fill="#f8fafc"/><text x="50" y="25" fill="#aab4c0">faint</text></svg>')
    (text, colour, background), = text_on_backgrounds(svg)
    assert (text, background) == ("faint", "#f8fafc") and contrast(colour, background) < 4.5
