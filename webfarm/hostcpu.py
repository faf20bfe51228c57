"""What the workstation spends on the lab while a benchmark runs: host CPU (``/proc/stat``),
each VM's CPU (its qemu process: utime + stime in ``/proc/PID/stat``) and RSS.

Take a :func:`snapshot` before and after a run; :func:`delta` gives

- ``host_busy_pct``: the share of all host cores that was busy (100 = every core, all the
  time), and ``host_cores_busy`` the same in cores (2.0 = both cores of a 2-core machine);
- ``vms``: per VM, the percentage of one host core its qemu process used (TCG: the guest's
  vCPU is a host thread, so a 1-vCPU guest tops out near 100).

qemu processes are found by their ``-name guest=LAB_HOST`` argument (vagrant-libvirt names a
domain ``LAB_HOST``). ``ip netns exec`` keeps the PID namespace, so this works inside the
lab's network namespace as outside it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def host_jiffies(stat_text: str) -> tuple[int, int]:
    """(busy, total) jiffies of all cores from ``/proc/stat``'s ``cpu`` line. Idle and iowait
    are not busy; guest and guest_nice are already inside user and nice, so left out of the
    total."""
    for line in stat_text.splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            values = [int(x) for x in f[1:]]
            values += [0] * (10 - len(values))
            user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
            total = user + nice + system + idle + iowait + irq + softirq + steal
            return total - idle - iowait, total
    raise ValueError("no 'cpu' line in /proc/stat")


def process_ticks(stat_text: str) -> int:
    """utime + stime (clock ticks) from ``/proc/PID/stat``; the command name (field 2) may
    hold spaces and parentheses, so fields are counted after its last ``)``."""
    rest = stat_text.rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of the line


def guest_name(cmdline: list[bytes]) -> str | None:
    """The libvirt domain name of a qemu command line (``-name guest=NAME,...``)."""
    for i, arg in enumerate(cmdline):
        if arg == b"-name" and i + 1 < len(cmdline):
            value = cmdline[i + 1].decode(errors="replace")
            return value.split("guest=", 1)[-1].split(",", 1)[0]
    return None


def qemu_pids(lab_name: str, hosts: list[str], proc: Path = PROC) -> dict[str, int]:
    """{host: PID of its qemu process} for the lab's VMs that run now."""
    wanted = {f"{lab_name}_{h}": h for h in hosts}
    out: dict[str, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmd or b"qemu-system" not in cmd[0]:
            continue
        name = guest_name(cmd)
        if name in wanted:
            out[wanted[name]] = int(entry.name)
    return out


def rss_mb(status_text: str) -> int | None:
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return None


@dataclass
class Snapshot:
    t: float  # time.monotonic()
    host_busy: int
    host_total: int
    vm_ticks: dict[str, int] = field(default_factory=dict)
    vm_rss_mb: dict[str, int] = field(default_factory=dict)


def snapshot(pids: dict[str, int], proc: Path = PROC) -> Snapshot:
    busy, total = host_jiffies((proc / "stat").read_text())
    snap = Snapshot(time.monotonic(), busy, total)
    for host, pid in pids.items():
        try:
            snap.vm_ticks[host] = process_ticks((proc / str(pid) / "stat").read_text())
            rss = rss_mb((proc / str(pid) / "status").read_text())
        except (OSError, IndexError, ValueError):
            continue  # the VM stopped meanwhile: no figure rather than a wrong one
        if rss is not None:
            snap.vm_rss_mb[host] = rss
    return snap


def delta(a: Snapshot, b: Snapshot, cores: int, ticks: int) -> dict[str, object]:
    """CPU use between two snapshots (see the module docstring)."""
    wall = max(b.t - a.t, 1e-9)
    total = b.host_total - a.host_total
    busy_share = (b.host_busy - a.host_busy) / total if total > 0 else 0.0
    vms = {h: round(100.0 * (b.vm_ticks[h] - a.vm_ticks[h]) / ticks / wall, 1)
           for h in b.vm_ticks if h in a.vm_ticks}
    return {"seconds": round(wall, 2), "host_cores": cores,
            "host_busy_pct": round(100.0 * busy_share, 1),
            "host_cores_busy": round(busy_share * cores, 2), "vms_pct_of_one_core": vms}


class CpuMeter:
    """``with CpuMeter(lab_name, hosts) as m: ...`` then ``m.result``: CPU use over the block
    (empty ``vms_pct_of_one_core`` when no qemu process of the lab was found)."""

    def __init__(self, lab_name: str, hosts: list[str]) -> None:
        self.pids = qemu_pids(lab_name, hosts)
        self.result: dict[str, object] = {}
        self._start: Snapshot | None = None

    def __enter__(self) -> CpuMeter:
        self._start = snapshot(self.pids)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is not None:
            self.result = delta(self._start, snapshot(self.pids), os.cpu_count() or 1,
                                clock_ticks())
