"""``invoke bench --part p5``: host RAM per VM of the profile that is up.

- now: each VM's qemu process RSS (``/proc/PID/status`` VmRSS), read on the workstation
  while the lab is idle (no load part runs at the same time), and the host's RAM in use
  (MemTotal - MemAvailable);
- from the last ``invoke e2e`` report, when there is one for this profile: each VM's RSS right
  after boot and after the chapters, and the host's peak during that run (sampled every
  second).

A profile that is not up is not measured (the page says so): only one lab runs here at a time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webfarm import paths
from webfarm.benchparse import summary
from webfarm.hostcpu import qemu_pids, rss_mb
from webfarm.topology import Lab


def used_mb(meminfo: str) -> int:
    info: dict[str, int] = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        if rest.split():
            info[key] = int(rest.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) // 1024


def by_host(figures: dict[str, Any]) -> dict[str, Any]:
    """Figures keyed by libvirt domain (``webfarm_lb1``: the e2e report's keys) keyed by host
    name instead (``lb1``); a host name has no underscore, so the last part is the host."""
    return {str(k).rsplit("_", 1)[-1]: v for k, v in figures.items()}


def from_report(report: dict[str, Any] | None, profile: str) -> dict[str, Any]:
    """The e2e report's memory figures for ``profile`` (empty when it measured another)."""
    if not report or report.get("profile") != profile:
        return {}
    return {"vm_rss_boot_mb": by_host(report.get("vm_rss_idle_mb") or {}),
            "vm_rss_after_chapters_mb": by_host(report.get("vm_rss_mb") or {}),
            "host_peak_mb": (report.get("host_ram_mb") or {}).get("peak"),
            "host_baseline_mb": (report.get("host_ram_mb") or {}).get("baseline")}


def load_report(path: Path = paths.E2E_REPORT) -> dict[str, Any] | None:
    """The lab's e2e report; its ``date`` is when it was written (the report itself has none:
    only the docs snapshot gets one), so a bench part can say when its run was."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    data.setdefault("date", written.isoformat(timespec="seconds"))
    return data


def run(lab: Lab, proc: Path = Path("/proc"), report: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    pids = qemu_pids(lab.name, list(lab.hosts), proc)
    now: dict[str, int] = {}
    for host, pid in pids.items():
        try:
            value = rss_mb((proc / str(pid) / "status").read_text())
        except OSError:
            continue
        if value is not None:
            now[host] = value
    e2e = from_report(report if report is not None else load_report(), lab.profile)
    return {
        "method": ("RSS of each VM's qemu process (/proc/PID/status VmRSS) on the workstation, "
                   "lab idle; host RAM in use = MemTotal - MemAvailable; boot, after-chapters "
                   "and peak figures from the last invoke e2e report of this profile"),
        "profile": lab.profile,
        "vms_found": sorted(now), "vms_missing": [h for h in lab.hosts if h not in now],
        "vm_rss_now_mb": now, "vm_rss_now_summary_mb": summary(now.values()),
        "vm_rss_now_total_mb": sum(now.values()),
        "host_used_now_mb": used_mb((proc / "meminfo").read_text()),
        "guest_ram_configured_mb": {h.name: h.memory for h in lab.hosts.values()},
        "e2e": e2e,
    }
