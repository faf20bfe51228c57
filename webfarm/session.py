"""Running chapters and their checks on a lab that is up: the orchestration shared by
``invoke up``/``invoke chapter`` (webfarm.cli) and ``invoke e2e`` (webfarm.e2e).

Presentation stays in the callers; this returns what happened (one summary per chapter, with
the changes each host made) and raises :class:`webfarm.runner.ChapterFailed` on a failure.
"""

from __future__ import annotations

import time
from typing import Any

from webfarm import chapters, checks, runner
from webfarm import state as lab_state
from webfarm.topology import Lab


def run_chapters(lab: Lab, numbers: list[int], check: bool = True) -> list[dict[str, Any]]:
    """Run chapters in order, each followed by its checks; one summary per chapter:
    number, title, seconds, changes per host, checks passed/failed/skipped."""
    from webfarm.vagrant import write_ssh_config

    st = lab_state.load()
    write_ssh_config(lab)
    summaries = []
    for n in numbers:
        ch = chapters.get(n)
        start = time.monotonic()
        run = runner.run_chapter(lab, ch, st)
        summary: dict[str, Any] = {
            "number": ch.number, "title": ch.title,
            "changes": {h.host: h.changed for h in run.hosts},
            "provision_seconds": round(run.seconds, 1),
            "checks_passed": 0, "checks_failed": 0}
        if check:
            if not checks.chapter_tests(ch):
                raise runner.ChapterFailed(f"chapter {ch.tag} has no checks in tests/chapters/",
                                           summary)
            res = checks.run_chapter_checks(lab, ch)
            summary |= {"checks_passed": res.passed, "checks_failed": res.failed,
                        "checks_skipped": res.skipped}
            if not res.ok:
                summary["seconds"] = round(time.monotonic() - start, 1)
                raise runner.ChapterFailed(
                    f"chapter {ch.tag}: {res.failed} check(s) failed, {res.passed} passed "
                    f"(report: {res.junit}). Fix the cause and run `invoke chapter {ch.number}` "
                    "again.", summary)
        summary["seconds"] = round(time.monotonic() - start, 1)
        summaries.append(summary)
    return summaries
