"""CPU and RAM figures of invoke bench: /proc/stat and qemu process deltas, on a fake /proc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webfarm import benchmem, hostcpu
from webfarm.hostcpu import Snapshot

STAT_A = "cpu  1000 0 500 8000 100 0 0 0 0 0\ncpu0 500 0 250 4000 50 0 0 0 0 0\n"
STAT_B = "cpu  1600 0 700 8400 100 0 0 0 300 0\ncpu0 800 0 350 4200 50 0 0 0 150 0\n"


def qemu_stat(pid: int, utime: int, stime: int) -> str:
    fields = ["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", str(utime), str(stime)]
    return f"{pid} (qemu-system-x86) " + " ".join(fields) + " 0 0 20 0 4\n"


def fake_proc(tmp_path: Path, stat: str, vms: dict[str, tuple[int, int, int, int]]) -> Path:
    """vms: {domain: (pid, utime, stime, rss_kb)}; plus an unrelated process."""
    (tmp_path / "stat").write_text(stat)
    (tmp_path / "meminfo").write_text("MemTotal: 24000000 kB\nMemFree: 1000 kB\n"
                                      "MemAvailable: 20000000 kB\n")
    for domain, (pid, ut, st, rss) in vms.items():
        d = tmp_path / str(pid)
        d.mkdir(exist_ok=True)
        (d / "cmdline").write_bytes(b"\0".join([b"/usr/bin/qemu-system-x86_64", b"-name",
                                                f"guest={domain},debug-threads=on".encode(),
                                                b"-m", b"512"]))
        (d / "stat").write_text(qemu_stat(pid, ut, st))
        (d / "status").write_text(f"Name:\tqemu\nVmRSS:\t{rss} kB\n")
    other = tmp_path / "7"
    other.mkdir(exist_ok=True)
    (other / "cmdline").write_bytes(b"bash\0-c\0true")
    (tmp_path / "self").mkdir(exist_ok=True)
    return tmp_path


def test_host_jiffies_leave_idle_iowait_and_guest_out() -> None:
    assert hostcpu.host_jiffies(STAT_A) == (1500, 9600)
    assert hostcpu.host_jiffies(STAT_B) == (2300, 10800)  # guest (300) is inside user already
    with pytest.raises(ValueError):
        hostcpu.host_jiffies("intr 1 2 3\n")


def test_process_ticks_with_a_name_holding_spaces_and_parens() -> None:
    text = "42 (qemu (x) 1) S 1 1 1 0 -1 0 0 0 0 0 250 50 0 0 20 0 4\n"
    assert hostcpu.process_ticks(text) == 300


def test_delta_math() -> None:
    a = Snapshot(t=100.0, host_busy=1500, host_total=9600, vm_ticks={"app1": 1000, "lb1": 10})
    b = Snapshot(t=110.0, host_busy=2300, host_total=10800, vm_ticks={"app1": 1900, "lb1": 20})
    d = hostcpu.delta(a, b, cores=2, ticks=100)
    assert d["seconds"] == 10.0
    assert d["host_busy_pct"] == pytest.approx(66.7)  # 800 of 1200 jiffies
    assert d["host_cores_busy"] == pytest.approx(1.33)
    assert d["vms_pct_of_one_core"] == {"app1": 90.0, "lb1": 1.0}


def test_a_vm_that_appeared_meanwhile_has_no_figure() -> None:
    a = Snapshot(0.0, 0, 100, {"app1": 0})
    b = Snapshot(1.0, 50, 200, {"app1": 100, "app2": 100})
    assert hostcpu.delta(a, b, 2, 100)["vms_pct_of_one_core"] == {"app1": 100.0}


def test_qemu_processes_by_domain_name(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, STAT_A, {"webfarm_app1": (101, 5, 5, 512000),
                                        "webfarm_lb1": (102, 1, 1, 400000),
                                        "other_app1": (103, 1, 1, 1000)})
    assert hostcpu.qemu_pids("webfarm", ["app1", "lb1", "db1"], proc) == {"app1": 101, "lb1": 102}
    snap = hostcpu.snapshot({"app1": 101, "gone": 999}, proc)
    assert snap.vm_ticks == {"app1": 10} and snap.vm_rss_mb == {"app1": 500}
    assert (snap.host_busy, snap.host_total) == (1500, 9600)


def test_p5_ram_now_and_from_the_e2e_report(tmp_path: Path, labs: dict) -> None:
    lab = labs["mini"]
    proc = fake_proc(tmp_path, STAT_A, {"webfarm_app1": (101, 5, 5, 512000),
                                        "webfarm_lb1": (102, 1, 1, 409600)})
    report = {"profile": "mini", "vm_rss_idle_mb": {"app1": 450}, "vm_rss_mb": {"app1": 560},
              "host_ram_mb": {"peak": 6500, "baseline": 900}}
    out = benchmem.run(lab, proc, report)
    assert out["vm_rss_now_mb"] == {"app1": 500, "lb1": 400}
    assert out["vm_rss_now_total_mb"] == 900
    assert "app2" in out["vms_missing"]
    assert out["host_used_now_mb"] == (24000000 - 20000000) // 1024
    assert out["e2e"]["host_peak_mb"] == 6500 and out["e2e"]["vm_rss_boot_mb"] == {"app1": 450}
    assert benchmem.run(lab, proc, {**report, "profile": "full"})["e2e"] == {}


def test_load_report_dates_a_report_by_when_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"profile": "mini"}', encoding="utf-8")
    os.utime(path, (1_800_000_000, 1_800_000_000))
    assert benchmem.load_report(path) == {"profile": "mini", "date": "2027-01-15T08:00:00+00:00"}
    path.write_text('{"date": "2026-01-01T00:00:00+00:00"}', encoding="utf-8")
    assert benchmem.load_report(path) == {"date": "2026-01-01T00:00:00+00:00"}  # kept
    path.write_text("[1]", encoding="utf-8")
    assert benchmem.load_report(path) is None
    assert benchmem.load_report(tmp_path / "missing.json") is None
