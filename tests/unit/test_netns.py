"""webfarm.netns without root side effects: the QEMU TCG wrapper (run against a fake QEMU), the
qemu.conf edit (on a copy), and the namespace lifecycle's refusals and no-op paths."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from webfarm import netns
from webfarm.netns import LabNamespace, NamespaceError

WRAPPER = netns.qemu_wrapper_path()


@pytest.fixture
def fake_qemu(tmp_path: Path) -> Path:
    """A 'QEMU' that prints its arguments, one per line."""
    f = tmp_path / "fake-qemu"
    f.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', encoding="utf-8")
    f.chmod(0o755)
    return f


def wrap(fake_qemu: Path, *args: str, **env: str) -> list[str]:
    full_env = {
        "PATH": os.environ["PATH"],
        "WEBFARM_QEMU_BIN": str(fake_qemu),
        "WEBFARM_TCG_TB_SIZE_FILE": "/nonexistent",
        **env,
    }
    res = subprocess.run(
        [str(WRAPPER), *args], capture_output=True, text=True, env=full_env, check=True
    )
    return res.stdout.splitlines()


# -- the wrapper ----------------------------------------------------------------------------------


def test_wrapper_is_executable() -> None:
    assert WRAPPER.is_file() and os.access(WRAPPER, os.X_OK)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # what libvirt 9 passes for <domain type='qemu'>
        (["-machine", "pc-i440fx-7.2,usb=off", "-accel", "tcg"],
         ["-machine", "pc-i440fx-7.2,usb=off", "-accel", "tcg,tb-size=128"]),
        (["-accel", "tcg,thread=single"], ["-accel", "tcg,thread=single,tb-size=128"]),
        (["--accel", "tcg"], ["--accel", "tcg,tb-size=128"]),
        # older form: accel in -machine (moved out: QEMU refuses both at once)
        (["-machine", "pc,accel=tcg,usb=off", "-m", "512"],
         ["-machine", "pc,usb=off", "-m", "512", "-accel", "tcg,tb-size=128"]),
        (["-M", "accel=tcg"], ["-accel", "tcg,tb-size=128"]),
        # left alone: an explicit tb-size, KVM, accelerator lists (capability probes)
        (["-accel", "tcg,tb-size=64"], ["-accel", "tcg,tb-size=64"]),
        (["-accel", "kvm"], ["-accel", "kvm"]),
        (["-machine", "none,accel=kvm:tcg"], ["-machine", "none,accel=kvm:tcg"]),
        (["-S", "-no-user-config", "-nodefaults", "-nographic", "-qmp", "unix:/x,server=on"],
         ["-S", "-no-user-config", "-nodefaults", "-nographic", "-qmp", "unix:/x,server=on"]),
        (["-help"], ["-help"]),
        ([], []),
        (["-accel"], ["-accel"]),
    ],
)  # fmt: skip
def test_wrapper_rewrites_only_tcg(fake_qemu: Path, given: list[str], expected: list[str]) -> None:
    assert wrap(fake_qemu, *given) == expected


def test_wrapper_keeps_odd_arguments_intact(fake_qemu: Path) -> None:
    args = ["-name", "guest=lab_lb1,debug-threads=on", "-append", "a  b\tc", "", "-accel", "tcg"]
    out = wrap(fake_qemu, *args)
    assert out[:5] == args[:5] and out[-1] == "tcg,tb-size=128"


def test_wrapper_size_from_env_then_file(fake_qemu: Path, tmp_path: Path) -> None:
    assert wrap(fake_qemu, "-accel", "tcg", WEBFARM_TCG_TB_SIZE="256")[-1] == "tcg,tb-size=256"
    f = tmp_path / "tb"
    f.write_text("96\n", encoding="utf-8")
    assert wrap(fake_qemu, "-accel", "tcg", WEBFARM_TCG_TB_SIZE_FILE=str(f))[-1] == (
        "tcg,tb-size=96"
    )
    # the environment wins over the file
    assert wrap(
        fake_qemu, "-accel", "tcg", WEBFARM_TCG_TB_SIZE="32", WEBFARM_TCG_TB_SIZE_FILE=str(f)
    )[-1] == ("tcg,tb-size=32")


def test_wrapper_rejects_a_bad_size(fake_qemu: Path) -> None:
    res = subprocess.run(
        [str(WRAPPER), "-accel", "tcg"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"], "WEBFARM_QEMU_BIN": str(fake_qemu),
             "WEBFARM_TCG_TB_SIZE": "lots"},
    )  # fmt: skip
    assert res.returncode == 1 and "positive number of MiB" in res.stderr


def test_write_tb_size(tmp_path: Path, fake_qemu: Path) -> None:
    f = tmp_path / "etc" / "tb"
    netns.write_tb_size(200, f)
    assert wrap(fake_qemu, "-accel", "tcg", WEBFARM_TCG_TB_SIZE_FILE=str(f))[-1].endswith("=200")
    with pytest.raises(ValueError):
        netns.write_tb_size(0, f)


# -- qemu.conf -------------------------------------------------------------------------------------

DEBIAN_QEMU_CONF = """\
# The user for QEMU processes run by the system instance.
#user = "libvirt-qemu"

# The group for QEMU processes run by the system instance.
#group = "libvirt-qemu"
#dynamic_ownership = 1
"""


def test_qemu_conf_root_is_idempotent_with_backup(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(DEBIAN_QEMU_CONF, encoding="utf-8")
    assert netns.ensure_qemu_conf_root(conf) is True
    text = conf.read_text(encoding="utf-8")
    assert 'user = "root"' in text.splitlines() and 'group = "root"' in text.splitlines()
    assert '#user = "libvirt-qemu"' in text  # comments kept
    backup = tmp_path / "qemu.conf.webfarm-bak"
    assert backup.read_text(encoding="utf-8") == DEBIAN_QEMU_CONF
    assert netns.ensure_qemu_conf_root(conf) is False
    assert conf.read_text(encoding="utf-8") == text


def test_qemu_conf_other_user_replaced_backup_kept(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text('user = "libvirt-qemu"\ngroup = "kvm"\nvnc_listen = "0.0.0.0"\n', "utf-8")
    (tmp_path / "qemu.conf.webfarm-bak").write_text("first backup\n", encoding="utf-8")
    assert netns.ensure_qemu_conf_root(conf)
    lines = conf.read_text(encoding="utf-8").splitlines()
    assert [ln for ln in lines if ln.startswith(("user", "group"))] == [
        'user = "root"',
        'group = "root"',
    ]
    assert 'vnc_listen = "0.0.0.0"' in lines
    assert (tmp_path / "qemu.conf.webfarm-bak").read_text(encoding="utf-8") == "first backup\n"


# -- namespace lifecycle (no root side effects) ---------------------------------------------------


class RecordingSh:
    """Stands in for netns._sh: records each host command (argv) instead of running it."""

    def __init__(self, ran: list[list[str]]) -> None:
        self.ran = ran

    def Command(self, name: str):  # type: ignore[no-untyped-def]  # sh's name
        return lambda *args, **options: self.ran.append([name, *args])


@pytest.fixture(autouse=True)
def private_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "STATE_DIR", tmp_path / "run")


def test_exec_prefix() -> None:
    assert LabNamespace("lab42").exec_prefix() == ["ip", "netns", "exec", "lab42"]


def test_stop_without_start_is_a_no_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "NETNS_DIR", tmp_path)  # the namespace does not exist
    killed: list[list[int]] = []
    monkeypatch.setattr(
        LabNamespace, "_kill", staticmethod(lambda pids, grace=0: killed.append(pids))
    )
    ns = LabNamespace("webfarm-unit-test")
    ns.stop()
    ns.stop()  # twice is fine
    assert all(p == [] for p in killed)


def test_stop_never_kills_a_reused_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "NETNS_DIR", tmp_path)
    killed: list[int] = []
    monkeypatch.setattr(
        LabNamespace, "_kill", staticmethod(lambda pids, grace=0: killed.extend(pids))
    )
    ns = LabNamespace("webfarm-unit-test", pids={"libvirtd": os.getpid()})  # pid is not libvirtd
    ns.stop()
    assert killed == []
    assert ns.pids == {}


def test_start_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    undone: list[bool] = []
    monkeypatch.setattr(LabNamespace, "_undo_partial_start", lambda self: undone.append(True))
    with pytest.raises(NamespaceError, match="need root"):
        LabNamespace("webfarm-unit-test").start()
    assert undone == [True]  # partial start is undone


def test_refused_start_leaves_a_running_lab_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second `invoke e2e` while a kept lab runs in the namespace: refused, and neither the
    kept lab's libvirtd, its QEMUs nor the namespace are touched (they once were)."""
    monkeypatch.setattr(netns, "NETNS_DIR", tmp_path)
    (tmp_path / "webfarm-unit-test").touch()  # the namespace exists
    comms = {501: "libvirtd", 502: "virtlogd", 503: "qemu-system-x86", 504: "dnsmasq"}
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda t: f"/usr/sbin/{t}")
    monkeypatch.setattr(netns, "_all_pids", lambda: list(comms))
    monkeypatch.setattr(netns, "process_comm", comms.get)
    monkeypatch.setattr(netns, "_netns_inode", lambda pid: 7)
    monkeypatch.setattr(LabNamespace, "_ns_inode", lambda self: 7)  # they live in it
    monkeypatch.setattr(LabNamespace, "namespace_pids", lambda self: list(comms))
    monkeypatch.setattr(netns, "_alive", lambda pid: True)
    killed: list[int] = []
    monkeypatch.setattr(LabNamespace, "_kill",
                        staticmethod(lambda pids, grace=0: killed.extend(pids)))
    ran: list[list[str]] = []
    monkeypatch.setattr(netns, "_sh", RecordingSh(ran))
    keeper = LabNamespace("webfarm-unit-test", owner_dir="/srv/first-checkout")
    keeper.state_file().parent.mkdir(parents=True, exist_ok=True)
    keeper.state_file().write_text('{"owner": "/srv/first-checkout", "pids": {"libvirtd": 501}}',
                                   encoding="utf-8")
    with pytest.raises(NamespaceError) as info:
        LabNamespace("webfarm-unit-test", owner_dir="/srv/second").start()
    assert "in use by the checkout /srv/first-checkout" in str(info.value)
    assert "untouched" in str(info.value)
    assert killed == [] and ran == []
    assert keeper.state_file().exists()


class FakeLibvirt:
    """virsh inventory and removals, for the leftover/record logic."""

    def __init__(self, domains: set[str], volumes: set[str]) -> None:
        self.inv = {"domains": set(domains), "volumes": set(volumes), "networks": set(),
                    "pools": {"default"}}
        self.calls: list[tuple[str, ...]] = []

    def virsh(self, *args: str, check: bool = True) -> str:
        self.calls.append(args)
        if args[0] == "undefine":
            self.inv["domains"].discard(args[1])
        if args[0] == "vol-delete":
            self.inv["volumes"].discard(f"{args[3]}\t{args[1]}")
        return ""


@pytest.fixture
def fake_libvirt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeLibvirt:
    fake = FakeLibvirt({"webfarm_lb1", "someone_elses_vm"},
                       {"default\twebfarm_lb1.img", "default\tother.img"})
    monkeypatch.setattr(netns, "RECORD_DIR", tmp_path / "lib")
    monkeypatch.setattr(LabNamespace, "_inventory",
                        lambda self: {k: set(v) for k, v in fake.inv.items()})
    monkeypatch.setattr(LabNamespace, "virsh", lambda self, *a, check=True: fake.virsh(*a))
    monkeypatch.setattr(LabNamespace, "_libvirtd_answers", lambda self: True)
    return fake


def test_leftovers_of_a_killed_run_are_removed_and_nothing_else(
        fake_libvirt: FakeLibvirt) -> None:
    ns = LabNamespace("webfarm-unit-test")
    ns._write_record({"domains": {"webfarm_lb1", "gone_already"},
                      "volumes": {"default\twebfarm_lb1.img"}, "networks": set(), "pools": set()})
    removed = ns._remove_leftovers()
    assert removed == {"domains": ["webfarm_lb1"], "volumes": ["default\twebfarm_lb1.img"]}
    assert fake_libvirt.inv["domains"] == {"someone_elses_vm"}
    assert fake_libvirt.inv["volumes"] == {"default\tother.img"}
    assert not ns.record_file().exists()  # nothing left to remember


def test_record_created_keeps_what_appeared_since_start(fake_libvirt: FakeLibvirt) -> None:
    ns = LabNamespace("webfarm-unit-test", _before={k: set(v) for k, v in fake_libvirt.inv.items()})
    fake_libvirt.inv["domains"].add("webfarm_app1")
    fake_libvirt.inv["volumes"].add("default\twebfarm_app1.img")
    created = ns.record_created()
    assert created["domains"] == {"webfarm_app1"}
    fake_libvirt.inv["domains"].add("webfarm_app2")
    ns.record_created()
    record = ns._read_record()
    assert record["domains"] == {"webfarm_app1", "webfarm_app2"}  # merged, never shrinks
    assert "someone_elses_vm" not in record["domains"]


def test_start_refuses_a_foreign_libvirtd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda t: f"/usr/sbin/{t}")
    monkeypatch.setattr(netns, "_all_pids", lambda: [4242, 4243])
    monkeypatch.setattr(netns, "process_comm", lambda pid: {4242: "libvirtd", 4243: "bash"}[pid])
    monkeypatch.setattr(netns, "_netns_inode", lambda pid: 1)  # the host's namespace
    monkeypatch.setattr(LabNamespace, "stop", lambda self, **kw: None)
    ran: list[list[str]] = []
    monkeypatch.setattr(netns, "_sh", RecordingSh(ran))
    with pytest.raises(NamespaceError) as info:
        LabNamespace("webfarm-unit-test").start()
    msg = str(info.value)
    assert "libvirtd (pid 4242)" in msg and "not stopped" in msg
    assert ran == []  # refused before creating anything


def test_start_reports_missing_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda t: None if t == "virsh" else t)
    monkeypatch.setattr(LabNamespace, "stop", lambda self, **kw: None)
    with pytest.raises(NamespaceError, match=r"virsh \(apt-get install libvirt-clients\)"):
        LabNamespace("webfarm-unit-test").start()


def test_context_manager_stops_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(LabNamespace, "_start", lambda self: events.append("start"))
    monkeypatch.setattr(LabNamespace, "stop", lambda self, **kw: events.append("stop"))
    with pytest.raises(KeyboardInterrupt), LabNamespace("webfarm-unit-test"):
        raise KeyboardInterrupt
    assert events == ["start", "stop"]


def test_stop_adopts_recorded_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "NETNS_DIR", tmp_path)
    ns = LabNamespace("webfarm-unit-test")
    ns.state_file().parent.mkdir(parents=True)
    ns.state_file().write_text(
        '{"pids": {"libvirtd": 999999999}, "before": {"domains": ["old"]}}', encoding="utf-8"
    )
    killed: list[int] = []
    monkeypatch.setattr(
        LabNamespace, "_kill", staticmethod(lambda pids, grace=0: killed.extend(pids))
    )
    ns.stop()
    assert killed == []  # recorded PID is gone: nothing to kill, nothing else touched
    assert not ns.state_file().exists()
