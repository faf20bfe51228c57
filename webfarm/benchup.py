"""The bring-up figures of ``invoke bench``, both opt-in (they take long under TCG):

- **P2** ``--part up-again``: every chapter run again on the complete lab (webfarm.session, as
  ``invoke up`` runs them, without the checks), against the first run's figures in the last
  ``invoke e2e`` report of the profile: seconds per chapter, the ratio, and whether every host
  reported ``changed=0`` (idempotence). The VMs are up already, so no ``vagrant up``.
- **P1** ``--part serial``: a naive serial bring-up against the tier-parallel one. The serial
  bring-up is ``invoke e2e --serial`` (inside the lab's namespace, like every e2e run: one
  ``vagrant up`` per VM, then each chapter host by host, webfarm.runner with one host at a
  time); this part reads its report (``.lab/e2e/report.json``, which must say serial and
  fresh) and compares its ``vagrant up`` + provisioning seconds with those of the committed
  tier-parallel e2e snapshot of the same profile (``docs/assets/e2e-report.json``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from webfarm import chapters, runner, session
from webfarm.benchlab import BenchError
from webfarm.topology import Lab


def first_run(report: dict[str, Any] | None, profile: str) -> dict[int, dict[str, Any]]:
    """{chapter number: its summary} of the e2e report, when it ran ``profile``."""
    if not report or report.get("profile") != profile:
        return {}
    return {int(c["number"]): c for c in report.get("chapters") or []
            if isinstance(c, dict) and "number" in c}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(first: dict[int, dict[str, Any]], again: list[dict[str, Any]]) -> dict[str, Any]:
    """Per chapter: the first run's and this run's provisioning seconds, their ratio, the
    changes per host; the totals over the chapters both runs have."""
    rows = []
    for s in again:
        f = first.get(int(s["number"]), {})
        rows.append({"number": s["number"], "title": s.get("title"),
                     "first_s": f.get("provision_seconds"),
                     "again_s": s.get("provision_seconds"),
                     "ratio": _ratio(s.get("provision_seconds"), f.get("provision_seconds")),
                     "changes": s.get("changes", {}),
                     "all_zero": all(v == 0 for v in (s.get("changes") or {}).values())})
    both = [r for r in rows if r["first_s"] is not None and r["again_s"] is not None]
    first_total = round(sum(r["first_s"] for r in both), 1) if both else None
    again_total = round(sum(r["again_s"] for r in both), 1) if both else None
    return {"chapters": rows, "first_total_s": first_total, "again_total_s": again_total,
            "ratio": _ratio(again_total, first_total),
            "idempotent": all(r["all_zero"] for r in rows) and bool(rows)}


def up_again(lab: Lab, report: dict[str, Any] | None,
             progress: Callable[[str], None]) -> dict[str, Any]:
    first = first_run(report, lab.profile)
    numbers = sorted(first) or [c.number for c in chapters.CHAPTERS]
    progress(f"every chapter again on the complete lab: {', '.join(map(str, numbers))}")
    start = time.monotonic()
    summaries = session.run_chapters(lab, numbers, check=False)
    out = compare(first, summaries)
    out |= {"seconds": round(time.monotonic() - start, 1),
            "method": ("every chapter run again (webfarm.session, checks off) on the lab that "
                       "is up; first run = the provisioning seconds of the last invoke e2e "
                       "report of this profile" if first else
                       "every chapter run again; no e2e report of this profile to compare")}
    return out


@contextlib.contextmanager
def one_host_at_a_time() -> Iterator[None]:
    """webfarm.runner provisions (and syncs) one host at a time inside this block."""
    saved = runner.PARALLEL
    runner.PARALLEL = 1
    try:
        yield
    finally:
        runner.PARALLEL = saved


class SerialError(BenchError):
    """P1 has no serial run to read (the message says how to make one)."""


SERIAL_FIX = ("Fix: invoke e2e-down, then invoke e2e --serial --no-drills --keep (a fresh lab, "
              "brought up one VM and one host at a time), then invoke bench --part serial")


def bring_up_s(report: dict[str, Any]) -> float | None:
    """``vagrant up`` + every chapter's provisioning seconds of an e2e report (no checks)."""
    up = (report.get("seconds") or {}).get("up")
    chapters_s = [c.get("provision_seconds") for c in report.get("chapters") or []]
    if up is None or not chapters_s or any(s is None for s in chapters_s):
        return None
    return round(float(up) + sum(float(s) for s in chapters_s), 1)


def serial(lab: Lab, report: dict[str, Any] | None,
           parallel: dict[str, Any] | None) -> dict[str, Any]:
    """P1 from two e2e reports of ``lab.profile``: ``report`` (this lab's, brought up by
    ``invoke e2e --serial``) and ``parallel`` (the committed tier-parallel snapshot)."""
    if not report or not report.get("serial"):
        raise SerialError("--part serial reads the report of a serial bring-up, but the lab "
                          "that is up was brought up tier-parallel (its e2e report does not "
                          f"say serial). {SERIAL_FIX}")
    if report.get("profile") != lab.profile or not report.get("fresh"):
        raise SerialError(f"the serial e2e report is of profile {report.get('profile')} "
                          f"(fresh: {report.get('fresh')}), not a fresh {lab.profile} lab. "
                          f"{SERIAL_FIX}")
    if not parallel or parallel.get("serial") or parallel.get("profile") != lab.profile:
        raise SerialError("no tier-parallel e2e snapshot of profile "
                          f"{lab.profile} (docs/assets/e2e-report.json) to compare with. Fix: "
                          "commit the snapshot of an ordinary invoke e2e run first")
    mine, theirs = bring_up_s(report), bring_up_s(parallel)
    if mine is None or theirs is None:
        raise SerialError("an e2e report lacks its vagrant up or a chapter's provisioning "
                          f"seconds (a run that failed midway?). {SERIAL_FIX}")
    numbers = sorted({int(c["number"]) for c in report.get("chapters") or []})
    per = {int(c["number"]): c.get("provision_seconds") for c in report["chapters"]}
    par = {int(c["number"]): c.get("provision_seconds") for c in parallel["chapters"]}
    return {"method": ("invoke e2e --serial: one vagrant up per VM, then every chapter one "
                       "host at a time, on a fresh lab; tier-parallel: the committed e2e "
                       "snapshot of the same profile (vagrant up 4 VMs at a time, hosts of a "
                       "tier 4 at a time). Both: vagrant up + provisioning seconds, checks "
                       "and drills left out"),
            "serial_date": report.get("date"), "parallel_date": parallel.get("date"),
            "parallel_commit": parallel.get("commit"),
            "boot_s": (report.get("boot") or {}).get("vm_seconds", {}),
            "up_s": (report.get("seconds") or {}).get("up"),
            "parallel_up_s": (parallel.get("seconds") or {}).get("up"),
            "chapters_s": {n: per.get(n) for n in numbers},
            "parallel_chapters_s": {n: par.get(n) for n in numbers},
            "serial_total_s": mine, "parallel_total_s": theirs, "ratio": _ratio(mine, theirs)}
