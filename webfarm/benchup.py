"""The bring-up figures of ``invoke bench``, both opt-in (they take long under TCG):

- **P2** ``--part up-again``: every chapter run again on the complete lab (webfarm.session, as
  ``invoke up`` runs them, without the checks), against the first run's figures in the last
  ``invoke e2e`` report of the profile: seconds per chapter, the ratio, and whether every host
  reported ``changed=0`` (idempotence). The VMs are up already, so no ``vagrant up``.
- **P1** ``--part serial``: a naive serial bring-up of a *fresh* lab (no VM of the profile
  may exist: ``invoke bench`` never destroys one): one ``vagrant up`` per VM, then each
  chapter host by host (webfarm.runner with one host at a time), against the tier-parallel
  figures of the last e2e report (its ``vagrant up`` and chapters' provisioning seconds).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from webfarm import chapters, runner, session
from webfarm import state as lab_state
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


def serial(lab: Lab, report: dict[str, Any] | None, provider: str,
           progress: Callable[[str], None]) -> dict[str, Any]:
    from webfarm import vagrant

    existing = [s.name for s in vagrant.status(lab) if s.state != "not_created"]
    if existing:
        raise BenchError(f"--part serial needs a fresh lab, but VMs of profile {lab.profile} "
                         f"exist ({', '.join(existing)}); invoke bench never destroys one. "
                         "Fix: measure it on a separate checkout with no lab up")
    boot: dict[str, float] = {}
    start = time.monotonic()
    for name in lab.hosts:
        progress(f"vagrant up {name} (one VM at a time)")
        t = time.monotonic()
        vagrant.up(lab, [name], provider=provider, batch=1)
        boot[name] = round(time.monotonic() - t, 1)
    up_s = round(time.monotonic() - start, 1)
    st = lab_state.load()
    st.profile = lab.profile
    st.save()
    vagrant.write_ssh_config(lab)
    per_chapter: dict[int, float] = {}
    with one_host_at_a_time():
        for ch in chapters.CHAPTERS:
            progress(f"chapter {ch.tag}, host by host")
            per_chapter[ch.number] = round(runner.run_chapter(lab, ch, st).seconds, 1)
    serial_total = round(up_s + sum(per_chapter.values()), 1)
    first = first_run(report, lab.profile)
    parallel_up = ((report or {}).get("seconds") or {}).get("up") if first else None
    parallel_total = (round(parallel_up + sum(c.get("provision_seconds") or 0
                                              for c in first.values()), 1)
                      if parallel_up is not None else None)
    return {"method": ("one vagrant up per VM, then every chapter one host at a time, on a "
                       "fresh lab; tier-parallel = vagrant up + provisioning seconds of the "
                       "last invoke e2e report of this profile"),
            "boot_s": boot, "up_s": up_s, "chapters_s": per_chapter,
            "serial_total_s": serial_total, "parallel_total_s": parallel_total,
            "ratio": _ratio(serial_total, parallel_total)}
