"""webfarm.boxes without building anything: tool checks, the inputs-hash skip logic, parsing of
``vagrant box list``, the builder seam. A fake build script stands in for build-box.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from webfarm import boxes
from webfarm import vagrant as lab_vagrant
from webfarm.boxes import BoxBuild, BoxError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_script(tmp_path: Path) -> Path:
    """A stand-in for build-box.sh: logs steps like it, writes the box, records its calls."""
    script = tmp_path / "fake-build.sh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        'echo "[build-box 00:00:00] debootstrap bookworm (minbase)"\n'
        'echo "$*" >>"$(dirname "$0")/calls"\n'
        'echo "MIRROR=${MIRROR:-} PACKAGES_FILE=${PACKAGES_FILE:-}" >>"$(dirname "$0")/calls"\n'
        '[[ -z ${FAIL:-} ]] || { echo "E: mirror unreachable"; exit 3; }\n'
        'echo box >"$1"\n',
        encoding="utf-8",
    )
    return script


@pytest.fixture
def as_root_with_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes.os, "geteuid", lambda: 0)
    monkeypatch.setattr(boxes.shutil, "which", lambda tool: f"/usr/bin/{tool}")


def calls(script: Path) -> list[str]:
    f = script.parent / "calls"
    return f.read_text(encoding="utf-8").splitlines() if f.exists() else []


# -- host tools ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "package"),
    [
        ("debootstrap", "debootstrap"),
        ("sfdisk", "fdisk"),
        ("qemu-img", "qemu-utils"),
        ("dpkg-scanpackages", "dpkg-dev"),
        ("vagrant", "vagrant"),
    ],
)
def test_missing_tool_names_its_package(
    monkeypatch: pytest.MonkeyPatch, tool: str, package: str
) -> None:
    monkeypatch.setattr(boxes.shutil, "which", lambda t: None if t == tool else f"/usr/bin/{t}")
    with pytest.raises(BoxError) as info:
        boxes.check_host_tools("debian12")
    msg = str(info.value)
    assert f"{tool} not found" in msg
    assert f"apt-get install {package}" in msg


def test_several_missing_tools_one_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes.shutil, "which", lambda t: None)
    with pytest.raises(BoxError) as info:
        boxes.check_host_tools("debian12")
    msg = str(info.value)
    assert msg.count("apt-get install") == 1
    assert "debootstrap" in msg and "qemu-utils" in msg


def test_all_tools_present_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes.shutil, "which", lambda t: f"/usr/bin/{t}")
    boxes.check_host_tools("debian12")
    boxes.check_host_tools("almalinux9")


def test_el9_needs_packer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes.shutil, "which", lambda t: None if t == "packer" else t)
    with pytest.raises(BoxError, match="apt-get install packer"):
        boxes.check_host_tools("rocky9")


def test_unknown_os_is_refused() -> None:
    with pytest.raises(BoxError, match=r"unknown OS 'plan9'.*debian12"):
        boxes.check_host_tools("plan9")


# -- package list ----------------------------------------------------------------------------------


def test_read_package_list_skips_comments(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("# comment\nnginx  # web\n\n  bind9 bind9-utils\n#haproxy\n", encoding="utf-8")
    assert boxes.read_package_list(f) == ["nginx", "bind9", "bind9-utils"]


def test_missing_package_list_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(BoxError, match=r"nope\.txt"):
        boxes.read_package_list(tmp_path / "nope.txt")


def test_default_package_list_covers_the_chapters() -> None:
    pkgs = boxes.read_package_list()
    for needed in [
        "chrony", "bind9", "nginx", "php-fpm", "keepalived", "ipvsadm", "haproxy",
        "mariadb-server", "galera-4", "galera-arbitrator-4", "nagios4", "nagios-nrpe-server",
        "wrk", "jq", "tcpdump",
    ]:  # fmt: skip
        assert needed in pkgs
    assert len(pkgs) == len(set(pkgs)), "duplicate names in packages.txt"


# -- inputs hash and skip ------------------------------------------------------------------------


def test_digest_depends_on_every_input(fake_script: Path, tmp_path: Path) -> None:
    base = BoxBuild(fake_script, ("nginx",), None)
    assert base.digest() == BoxBuild(fake_script, ("nginx",), None).digest()
    assert base.digest() != BoxBuild(fake_script, ("nginx", "jq"), None).digest()
    assert base.digest() != BoxBuild(fake_script, ("nginx",), "http://m/debian").digest()
    other = tmp_path / "other.sh"
    other.write_text(fake_script.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    assert base.digest() != BoxBuild(other, ("nginx",), None).digest()


@pytest.mark.usefixtures("as_root_with_tools")
def test_build_then_skip_then_rebuild(fake_script: Path, tmp_path: Path) -> None:
    box = tmp_path / "boxes" / "debian12.box"
    log = tmp_path / "logs" / "box.log"

    def build(packages: list[str], mirror: str | None = None, force: bool = False) -> Path:
        return boxes.build_debian12(
            box, packages=packages, mirror=mirror, force=force, log=log, script=fake_script
        )

    assert build(["nginx", "jq"]) == box
    assert box.read_text(encoding="utf-8") == "box\n"
    assert boxes.inputs_file(box).name == "debian12.box.sha256-inputs"
    assert len(calls(fake_script)) == 2
    # the script gets the box path and the packages; the list file is not read twice
    assert calls(fake_script)[0] == f"{box} nginx jq"
    assert calls(fake_script)[1] == "MIRROR= PACKAGES_FILE=none"
    assert "[build-box" in log.read_text(encoding="utf-8")

    build(["nginx", "jq"])  # unchanged inputs: skipped
    assert len(calls(fake_script)) == 2

    build(["nginx", "jq"], force=True)  # forced
    assert len(calls(fake_script)) == 4

    build(["nginx"])  # other packages
    assert len(calls(fake_script)) == 6

    build(["nginx"], mirror="http://mirror.example/debian")  # other mirror
    assert calls(fake_script)[-1] == "MIRROR=http://mirror.example/debian PACKAGES_FILE=none"

    box.unlink()  # box gone, stamp left: rebuilt
    build(["nginx"], mirror="http://mirror.example/debian")
    assert len(calls(fake_script)) == 10


@pytest.mark.usefixtures("as_root_with_tools")
def test_failed_build_says_where_and_is_not_current(
    fake_script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = tmp_path / "debian12.box"
    log = tmp_path / "box.log"
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(BoxError) as info:
        boxes.build_debian12(
            box, packages=["nginx"], mirror=None, force=False, log=log, script=fake_script
        )
    msg = str(info.value)
    assert "exit 3" in msg and str(log) in msg and "mirror unreachable" in msg
    assert not boxes.inputs_file(box).exists()
    assert not boxes.box_is_current(box, BoxBuild(fake_script, ("nginx",), None))


def test_build_needs_root(
    fake_script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boxes.shutil, "which", lambda t: f"/usr/bin/{t}")
    monkeypatch.setattr(boxes.os, "geteuid", lambda: 1000)
    with pytest.raises(BoxError, match="needs root: run as root or sudo"):
        boxes.build_debian12(
            tmp_path / "b.box", packages=[], mirror=None, force=False,
            log=tmp_path / "l", script=fake_script,
        )  # fmt: skip


def test_skip_does_not_need_root_or_tools(
    fake_script: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = tmp_path / "debian12.box"
    box.write_text("box\n", encoding="utf-8")
    boxes.inputs_file(box).write_text(
        BoxBuild(fake_script, ("nginx",), None).digest() + "\n", encoding="utf-8"
    )
    monkeypatch.setattr(boxes.shutil, "which", lambda t: None)
    monkeypatch.setattr(boxes.os, "geteuid", lambda: 1000)
    got = boxes.build_debian12(
        box, packages=["nginx"], mirror=None, force=False, log=tmp_path / "l", script=fake_script
    )
    assert got == box
    assert calls(fake_script) == []


# -- vagrant box list / add -----------------------------------------------------------------------

BOX_LIST = """\
1732560000,,ui,info,webfarm/debian12 (libvirt%!(VAGRANT_COMMA) 0)
1732560000,,box-name,webfarm/debian12
1732560000,,box-provider,libvirt
1732560000,,box-version,0
1732560000,,ui,info,generic/alma9 (virtualbox%!(VAGRANT_COMMA) 4.3.12)
1732560000,,box-name,generic/alma9
1732560000,,box-provider,virtualbox
1732560000,,box-version,4.3.12
"""


class FakeVagrant(lab_vagrant.LabVagrant):
    """python-vagrant (its real parser) over canned ``vagrant box list`` output."""

    def __init__(self, output: str) -> None:
        super().__init__(Path("."), None)
        self.output = output

    def _run_vagrant_command(self, args: list[str | None]) -> str:
        assert args[:2] == ["box", "list"]
        return self.output


def parse_box_list(output: str) -> set[tuple[str, str]]:
    return {(b.name, b.provider) for b in FakeVagrant(output).box_list()}


def test_parse_box_list() -> None:
    assert parse_box_list(BOX_LIST) == {
        ("webfarm/debian12", "libvirt"),
        ("generic/alma9", "virtualbox"),
    }
    empty = "1732560000,,ui,info,There are no installed boxes! Use `vagrant box add` to add some."
    assert parse_box_list(empty) == set()


def test_box_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boxes, "_client", lambda: FakeVagrant(BOX_LIST))
    assert boxes.box_added("webfarm/debian12")
    assert not boxes.box_added("webfarm/debian12", "virtualbox")
    assert boxes.box_added("generic/alma9", provider="virtualbox")
    assert not boxes.box_added("webfarm/rocky9")


def test_add_box_runs_vagrant_box_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, ...]] = []

    def fake(*args: str) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(boxes, "_vagrant", fake)
    monkeypatch.setattr(boxes, "_client", lambda: FakeVagrant(""))
    box = tmp_path / "d.box"
    box.write_text("x", encoding="utf-8")
    boxes.add_box("webfarm/debian12", box)
    assert seen[-1] == ("box", "add", "--force", "--name", "webfarm/debian12", str(box))


def test_add_box_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BoxError, match="no such box file"):
        boxes.add_box("webfarm/debian12", tmp_path / "none.box")


# -- builders -------------------------------------------------------------------------------


@pytest.mark.parametrize("os_name", ["almalinux9", "rocky9", "centos-stream9"])
def test_el9_box_goes_through_packer_checks(os_name: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from webfarm import packer

    assert os_name in boxes.BUILDERS
    monkeypatch.setattr(boxes, "box_added", lambda name, provider="libvirt": False)

    def too_old(provider: str) -> None:
        raise packer.PackerError("Packer 1.6.6 is too old: install Packer >= 1.7")

    monkeypatch.setattr(packer, "check_host", too_old)
    with pytest.raises(packer.PackerError, match=r"1\.7"):
        boxes.ensure_box(os_name, f"webfarm/{os_name}", provider="virtualbox")


def test_el9_box_present_is_not_rebuilt(monkeypatch: pytest.MonkeyPatch) -> None:
    from webfarm import packer

    monkeypatch.setattr(boxes, "box_added", lambda name, provider="libvirt": True)
    monkeypatch.setattr(packer, "check_host", lambda provider: pytest.fail("must not build"))
    boxes.ensure_box("almalinux9", "webfarm/almalinux9")


def test_unknown_os_box() -> None:
    with pytest.raises(BoxError, match="unknown OS 'debian11'"):
        boxes.ensure_box("debian11", "webfarm/debian11")


def test_build_script_refuses_non_root_or_bad_args() -> None:
    res = subprocess.run(
        ["bash", str(boxes.DEBIAN12_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2 and "Usage: build-box.sh OUTPUT.box" in res.stdout
