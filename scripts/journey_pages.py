"""Print the pages an attendee follows, in the site's nav order: every
section but the reference pages (looked up, not read through). Also the one
walk of the site's nav that the tests and benchmarks use."""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOOKED_UP = {"Reference"}


def nav_pages(leave_out=()):
    """The pages of the site's nav, in order, as paths under docs/; the
    sections titled in `leave_out` left out."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def walk(items):
        for item in items:
            for title, value in item.items():
                if title in leave_out:
                    continue
                yield from walk(value) if isinstance(value, list) else [value]
    return list(walk(config["nav"]))


def journey_pages():
    return [f"docs/{page}" for page in nav_pages(leave_out=LOOKED_UP)]


if __name__ == "__main__":
    sys.stdout.write(" ".join(journey_pages()) + "\n")
