"""Decisions of bringup.emulation and bringup.multiarch, without Docker."""
import pytest

from bringup import emulation, multiarch
from bringup.progress import BringupError

DEBIAN_LINE = (r":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:"
               r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"
               "/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF")


@pytest.fixture
def qemu_root(tmp_path):
    """Where qemu-user-static's files are unpacked (bringup.multiarch.unpack_qemu)."""
    (tmp_path / "usr/lib/binfmt.d").mkdir(parents=True)
    return tmp_path


def test_the_handler_is_the_line_qemu_user_static_ships_with_its_unpacked_interpreter(qemu_root):
    (qemu_root / "usr/lib/binfmt.d/qemu-aarch64.conf").write_text(DEBIAN_LINE + "\n")
    line = emulation.handler_line("arm64", qemu_root)
    assert line == DEBIAN_LINE.replace(":/usr/libexec/", f":{qemu_root}/usr/libexec/")


def test_a_missing_handler_says_the_package_is_not_unpacked(qemu_root):
    with pytest.raises(emulation.EmulationError, match="qemu-user-static's files are not unpacked"):
        emulation.handler_line("arm64", qemu_root)


def test_a_handler_without_the_fix_binary_flag_is_refused(qemu_root):
    # Without F the kernel looks the interpreter up at each exec, inside a chroot too: it is not there.
    (qemu_root / "usr/lib/binfmt.d/qemu-aarch64.conf").write_text(DEBIAN_LINE.removesuffix("OPF") + "OP\n")
    with pytest.raises(emulation.EmulationError, match="F flag"):
        emulation.handler_line("arm64", qemu_root)


def test_an_unknown_cpu_is_refused(qemu_root):
    with pytest.raises(emulation.EmulationError, match="no QEMU emulation known for the 'mips'"):
        emulation.handler_line("mips", qemu_root)


@pytest.mark.parametrize("release, supported", [("6.6.30", False), ("6.7.0", True), ("6.18.44-fc-v669", True),
                                                ("5.15.0-91-generic", False), ("7.0", True), ("unknown", False)])
def test_only_a_kernel_with_binfmt_misc_per_user_namespace_is_used(release, supported):
    assert emulation.kernel_supported(release) is supported


def test_an_unknown_choice_is_refused_with_the_choices():
    with pytest.raises(BringupError, match="choose one of none, hello-world, all"):
        multiarch.ensure("everything")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(multiarch.images, "hub_reachable", lambda: False)


def test_the_default_goes_on_for_one_cpu_when_this_machine_cannot_build_for_two(monkeypatch, capsys, offline):
    monkeypatch.setattr(multiarch, "why_not", lambda arch: "no QEMU here")
    multiarch.ensure(multiarch.DEFAULT)
    assert "images for this machine's CPU only: no QEMU here" in capsys.readouterr().out


def test_asking_for_all_where_it_cannot_be_done_is_an_error_that_says_how_to_go_on(monkeypatch, offline):
    monkeypatch.setattr(multiarch, "why_not", lambda arch: "no QEMU here")
    with pytest.raises(BringupError, match="no QEMU here; `MULTIARCH=none`"):
        multiarch.ensure("all")


def test_none_builds_nothing_and_checks_nothing(monkeypatch):
    monkeypatch.setattr(multiarch, "why_not", lambda arch: pytest.fail("checked"))
    multiarch.ensure("none")


def test_each_cpus_image_has_a_tag_of_its_own():
    image = multiarch.images.Image("library/python", "alpine", aliases=("3.13-alpine",))
    assert multiarch.platform_image(image, "arm64").tag == "alpine--arm64"


def test_with_docker_hub_the_default_builds_nothing_its_hello_world_has_every_cpu(monkeypatch):
    monkeypatch.setattr(multiarch.images, "hub_reachable", lambda: True)
    monkeypatch.setattr(multiarch, "why_not", lambda arch: pytest.fail("checked"))
    multiarch.ensure(multiarch.DEFAULT)
