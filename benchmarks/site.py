"""Site figures: `mkdocs build --strict` wall time, first-load weight of the
home page and of the heaviest page (everything the page loads, gzip-compressed
as a static host sends it), and the size of the site image.

    .venv/bin/python benchmarks/site.py [--no-image]

The weight counts what a first visit downloads: the HTML, its stylesheets,
scripts, images (the SVG diagrams) and, since search loads at start, the
search index. Fonts are system fonts, so there are none.
"""
import argparse
import gzip
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSET = re.compile(r'(?:href|src)="([^"#?]+\.(?:css|js|svg|png|json))"')


def gzipped(path):
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def first_load(site, page):
    html = site / page
    total, seen = gzipped(html), set()
    for reference in ASSET.findall(html.read_text()):
        if reference.startswith("http"):
            continue
        asset = (html.parent / reference).resolve()
        if asset.exists() and asset not in seen and "favicon" not in asset.name:
            seen.add(asset)
            total += gzipped(asset)
    index = site / "search" / "search_index.json"
    return total + (gzipped(index) if index.exists() else 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-image", action="store_true", help="skip building the site image")
    args = parser.parse_args()
    mkdocs = Path(sys.executable).parent / "mkdocs"
    with tempfile.TemporaryDirectory() as out:
        site = Path(out)
        runs = []
        for _ in range(3):
            start = time.monotonic()
            subprocess.run([str(mkdocs), "build", "--strict", "--quiet", "--site-dir", out], cwd=ROOT,
                           check=True, capture_output=True)
            runs.append(time.monotonic() - start)
        print(f"mkdocs build --strict: {min(runs):.2f} s best of 3")
        pages = sorted(p.relative_to(site) for p in site.rglob("index.html"))
        weights = {str(p): first_load(site, p) for p in pages}
        heaviest = max(weights, key=weights.get)
        print(f"first load, gzip: home page {weights['index.html'] / 1024:.0f} KB, "
              f"heaviest page ({heaviest}) {weights[heaviest] / 1024:.0f} KB (goal 200 KB)")
    if not args.no_image:
        tag = f"intro-to-docker-bench/site:{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "build", "-q", "-f", "site-image/Dockerfile", "-t", tag, "."], cwd=ROOT,
                       check=True, capture_output=True)
        size = int(subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], check=True,
                                  capture_output=True, text=True).stdout)
        subprocess.run(["docker", "rmi", tag], capture_output=True)
        print(f"site image: {size / 1e6:.0f} MB (on the python:alpine stand-in)")


if __name__ == "__main__":
    main()
