"""examples/compose.yaml: what the Compose chapter says about it stays true."""
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "examples" / "compose.yaml"


def services():
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def test_every_published_port_is_bound_to_this_computer_only():
    # On a venue's Wi-Fi, a port published on every address lets anyone in the room edit the jams.
    ports = [port for service in services().values() for port in service.get("ports", [])]
    assert ports, "the chapter publishes the API and the board"
    for port in ports:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), port


def test_the_board_waits_for_a_healthy_api_and_reaches_it_by_name():
    board, api = services()["board"], services()["api"]
    assert board["depends_on"]["api"]["condition"] == "service_healthy"
    assert "healthcheck" in api
    assert board["environment"]["JAM_API"] == "http://api:8000"
    assert board["environment"]["BOARD_TITLE"] == "Jams at the hackathon"  # the Try it edits this line
