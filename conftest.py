# The private engines pull through the mirror that bring-up fills (served to
# them read-only); its folder is bring-up's to name.
import os

from bringup import paths

os.environ.setdefault("DOCTEST_MIRROR_STORAGE", str(paths.REGISTRY_DATA))
