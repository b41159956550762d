# The doc-test harness: `python -m pytest docs/` runs every page's blocks.
pytest_plugins = ["doctester.plugin"]
