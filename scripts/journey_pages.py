"""Print the pages an attendee follows, in the site's nav order: every
section but the reference pages (looked up, not read through)."""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOOKED_UP = {"Reference"}


def journey_pages():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def walk(items):
        for item in items:
            for title, value in item.items():
                if title in LOOKED_UP:
                    continue
                yield from walk(value) if isinstance(value, list) else [value]
    return [f"docs/{page}" for page in walk(config["nav"])]


if __name__ == "__main__":
    sys.stdout.write(" ".join(journey_pages()) + "\n")
