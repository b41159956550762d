"""The Docker profile's known engine faults (doctester.docker.rules.KNOWN_FAULTS):
the message an engine really printed is one, near misses are not."""
from doctester.docker.rules import known_fault

# As Engine 28.5 with the containerd store printed it in a journey (BuildKit's exporter).
REAL = ('#10 unpacking to docker.io/library/jams:ordered done\n'
        '#10 ERROR: failed to prepare extraction snapshot "extract-713557991-hBWE sha256:9e48574407b3b21e247a43d5'
        '5ff8271b71d37c3a606fc3404025453818f841d8": parent snapshot sha256:17502def5101303c1f22f012e099e8526ad0'
        '1234567890abcdef1234567890ab does not exist: not found\n')


def test_the_parent_snapshot_fault_is_known_and_names_its_report():
    assert "moby/buildkit#6521" in known_fault(REAL)


def test_other_failures_are_not_known_faults():
    assert known_fault("ERROR: failed to solve: process \"/bin/sh -c pip install\" did not complete") is None
    assert known_fault("parent snapshot sha256:abc does not exist") is None  # not the extraction step
    assert known_fault("") is None
