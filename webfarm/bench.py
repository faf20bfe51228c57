"""``invoke bench``: speed and memory figures with their goals, written to .lab/bench.json.

Two parts: the generator (validate + render, measured here, no VM) and the lab itself (the
figures of the last ``invoke e2e`` run, compared with the goals: profile up in <= 10 min,
<= 0.6 GB host RAM per idle VM, director failover <= 4 s crash / <= 1 s clean stop).
Goals are reported, never asserted by a timed test.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from webfarm import paths, render, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State

OUT = paths.BENCH_FILE
GOALS = {"up_s": 600.0, "idle_vm_rss_mb": 614.0, "director_crash_outage_s": 4.0}


def _time(func: Callable[[], Any], repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        runs.append(time.perf_counter() - t)
    return round(statistics.median(runs) * 1000, 2)


def generator(profile: str) -> dict[str, float]:
    lab = topology.load(paths.LAB_FILE, profile)
    secrets = lab_secrets.redacted()
    with tempfile.TemporaryDirectory() as tmp:
        return {
            "validate_ms": _time(lambda: topology.load(paths.LAB_FILE, profile)),
            "vagrantfile_ms": _time(render.vagrantfile),
            "render_hosts_ms": _time(lambda: render.render_lab(lab, secrets, State(),
                                                                Path(tmp))),
        }


def lab_figures(report_path: Path = paths.E2E_REPORT) -> dict[str, Any]:
    if not report_path.exists():
        return {"note": "no e2e report yet: run invoke e2e first"}
    report = json.loads(report_path.read_text(encoding="utf-8"))
    rss = report.get("vm_rss_idle_mb") or report.get("vm_rss_mb") or {}
    idle = max(rss.values()) if rss else None
    directors = next((d for d in report.get("drills", []) if d["name"] == "directors"), None)
    figures = {
        "profile": report.get("profile"),
        "box_s": report.get("seconds", {}).get("box"),
        "up_s": report.get("seconds", {}).get("up"),
        "total_s": report.get("seconds", {}).get("total"),
        "chapter_s": {c["number"]: c.get("seconds") for c in report.get("chapters", [])},
        "peak_host_ram_mb": report.get("host_ram_mb", {}).get("peak"),
        "idle_vm_rss_mb": idle,
        "director_crash_outage_s": directors.get("outage_s") if directors else None,
    }
    figures["goals"] = {
        k: {"goal": g, "measured": figures.get(k),
            "met": figures.get(k) is not None and figures[k] <= g}
        for k, g in GOALS.items()
    }
    return figures


def main(profile: str = "mini") -> None:
    result = {"generator": generator(profile), "lab": lab_figures(),
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"webfarm bench ({OUT})")
    table.add_column("measure")
    table.add_column("value")
    for k, v in result["generator"].items():
        table.add_row(f"generator {k}", str(v))
    for k, v in result["lab"].get("goals", {}).items():
        table.add_row(f"lab {k} (goal {v['goal']})", f"{v['measured']} "
                      + ("ok" if v["met"] else "not met"))
    Console().print(table)
