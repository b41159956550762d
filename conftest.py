# The doc-test harness: `python -m pytest docs/` runs every page's blocks.
import os

from bringup import paths

pytest_plugins = ["doctester.plugin"]

# The private engines pull through the mirror bring-up fills (served to them read-only).
os.environ.setdefault("DOCTEST_MIRROR_STORAGE", str(paths.REGISTRY_DATA))
