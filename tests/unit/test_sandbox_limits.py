"""The sandbox's limits, as computed from the machine and the settings."""
import pytest

from doctester.docker.dockerstate import EngineError
from doctester.docker.sandbox import GIB, Limits, hardening_flags, parse_size


def test_all_sandboxes_together_fit_in_four_fifths_of_the_memory():
    limits = Limits.for_machine(3, total=24 * GIB)
    assert limits.memory == 6 * GIB  # 19.2 GiB / 3, rounded down to whole GiB
    assert limits.memory * 3 <= 0.8 * 24 * GIB


def test_a_small_machine_still_gets_two_gib_a_sandbox():
    assert Limits.for_machine(9, total=8 * GIB).memory == 2 * GIB


def test_a_set_memory_limit_wins():
    assert Limits.for_machine(3, memory=parse_size("1536m"), total=24 * GIB).memory == 1536 << 20


@pytest.mark.parametrize("text, size", [("6g", 6 * GIB), ("512M", 512 << 20), ("2048", 2048), ("", None)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["six", "6x", "g"])
def test_a_size_that_is_not_one_is_an_error_naming_the_setting(text):
    with pytest.raises(EngineError, match="doc_sandbox_memory"):
        parse_size(text)


@pytest.mark.parametrize("pids", [0, 63, 4097, 100000])
def test_the_process_limit_is_at_most_4096(pids):
    with pytest.raises(EngineError, match="doc_sandbox_pids"):
        Limits.for_machine(1, pids=pids, total=8 * GIB)


def test_the_flags_bound_memory_swap_pids_and_cpu_and_every_write():
    limits = Limits(memory=3 * GIB, pids=4096, cpu_shares=512)
    flags = hardening_flags(limits)
    assert ["--memory", str(3 * GIB)] == flags[flags.index("--memory"):flags.index("--memory") + 2]
    assert flags[flags.index("--memory-swap") + 1] == str(3 * GIB)  # no swap beyond the limit
    assert flags[flags.index("--pids-limit") + 1] == "4096"
    assert "--read-only" in flags
    assert ["--cap-drop", "ALL"] == flags[flags.index("--cap-drop"):flags.index("--cap-drop") + 2]
    added = {f.split("=", 1)[1] for f in flags if f.startswith("--cap-add=")}
    assert added == {"SETUID", "SETGID", "SYS_ADMIN", "DAC_OVERRIDE"}
    assert "--privileged" not in flags
    tmpfs = [flags[i + 1] for i, f in enumerate(flags) if f == "--tmpfs"]
    assert all("size=" in mount for mount in tmpfs), tmpfs
    uid = int(flags[flags.index("--user") + 1].split(":")[0])
    assert 65000 <= uid <= 65533  # Debian's reserved, never allocated range, below the namespace's 65536
