"""The lock files of the jam server and the board: every requirement pinned
exactly, with the SHA-256 of its files, so `pip install --require-hashes`
(as their images run it) accepts them. tests/integration/test_rest_requirements.py
installs the server's for real."""
import re

from tests.conftest import ROOT

REQUIREMENTS = ROOT / "examples" / "rest_server" / "requirements.txt"
BOARD_REQUIREMENTS = ROOT / "examples" / "jam_board" / "requirements.txt"


def requirements(path):
    """The requirements of a file, one per logical line (continuations joined)."""
    text = path.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_requirement_is_pinned_and_hashed():
    for path in (REQUIREMENTS, BOARD_REQUIREMENTS):
        lines = requirements(path)
        assert lines, path
        for line in lines:
            assert re.match(r"[A-Za-z0-9_.-]+==[\w.]+(\s*;[^-]+)?\s+--hash=sha256:[0-9a-f]{64}", line), \
                f"{path}: {line[:60]} is not pinned exactly with its hashes"
    board_pins = {line.split(" ")[0] for line in requirements(BOARD_REQUIREMENTS)}
    assert board_pins <= {line.split(" ")[0] for line in requirements(REQUIREMENTS)}, "one waitress for both"


def test_the_images_install_with_require_hashes():
    for dockerfile in (ROOT / "examples" / "Dockerfile", ROOT / "examples" / "jam_board" / "Dockerfile"):
        installs = [line for line in dockerfile.read_text().splitlines() if "pip install" in line]
        assert installs and all("--require-hashes" in line for line in installs), dockerfile
