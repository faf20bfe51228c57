"""The figures of drill ``scale`` (tests/drills/test_scale.py), computed from its probe log.

The drill asks the www VIP for /health from the client, every 0.2 s, while an app server is
added (``invoke scale app N+1``) and later removed (``invoke scale app N``); each answer names
the server that gave it. The milestones of both scales are read on the client's clock (the
probe's), so every figure below is a difference of two times on one clock:

- ``failed_requests``: answers other than 200 (a visitor's error page, or no answer within the
  probe's timeout, TIMEOUT_S). Must be 0.
- ``slow_requests``, ``slowest_s``: answers that took longer than SLOW_S, and the slowest.
  Reported, not judged: under TCG a guest busy with the scale's own work (a boot, chapter
  runs, ssh sessions ending) answers late now and then; the drill is about errors.
- ``serving_s``: from the moment every chapter ran on the new host (``new-hosts-built``: the
  balancers do not know it yet) until the first answer it gave through the VIP. What it
  covers: the balancers' own chapter runs (the pools learn of it) and the directors' first
  health check. ``serving_from_start_s`` is the same counted from the start of the scale.
- ``new_share``: the part of the answers the new server gave between the end of the scale out
  and the start of the scale in (with N+1 equal servers, about 1/(N+1)).
- ``served_after_drain``: answers the departing server gave more than DRAIN_SLACK_S after
  its drain ended. Must be 0.
- ``scale_out_s``, ``scale_in_s``: each ``invoke scale`` from start to end.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from webfarm.drills import Sample, Served, outage

DRAIN_SLACK_S = 2.0  # a request in flight when the drain ended may still be answered
TIMEOUT_S = 5.0  # a visitor's patience: no 200 within it is a failed request
SLOW_S = 1.0  # a slower answer is counted (slow_requests), not failed
SERVE_GRACE_S = 30.0  # the new server answers at most this long after the scale out ended


def _first(samples: list[Served], server: str, after: float | None = None) -> float | None:
    return next((s.t for s in samples if s.ok and s.server == server
                 and (after is None or s.t >= after)), None)


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def figures(samples: list[Served], new: str, marks: dict[str, float]) -> dict[str, Any]:
    """The drill's numbers; ``marks``: milestone -> time on the client's clock, named
    ``out-EVENT`` and ``in-EVENT`` after webfarm.scale's events (plus out-start, in-start)."""
    first = _first(samples, new, marks.get("out-start"))
    out_done, in_start = marks.get("out-done"), marks.get("in-start")
    between = [s for s in samples if s.ok and out_done is not None and in_start is not None
               and out_done <= s.t <= in_start]
    drained = marks.get("in-drained")
    late = [s for s in samples if s.ok and s.server == new and drained is not None
            and s.t > drained + DRAIN_SLACK_S]
    return {
        "requests": len(samples),
        "failed_requests": sum(not s.ok for s in samples),
        "slow_requests": sum(s.ok and (s.seconds or 0) > SLOW_S for s in samples),
        "slowest_s": max((s.seconds for s in samples if s.ok and s.seconds is not None),
                         default=None),
        "outage_s": outage([Sample(s.t, s.ok) for s in samples]),
        "serving_s": _delta(first, marks.get("out-new-hosts-built")),
        "serving_from_start_s": _delta(first, marks.get("out-start")),
        "serving_after_scale_s": _delta(first, out_done),
        "new_share": round(sum(s.server == new for s in between) / len(between), 3)
        if between else None,
        "served_after_drain": len(late),
        "scale_out_s": _delta(out_done, marks.get("out-start")),
        "scale_in_s": _delta(marks.get("in-done"), in_start),
        "served_by": dict(Counter(s.server for s in samples if s.ok)),
    }


def verdict(fig: dict[str, Any]) -> list[str]:
    """What failed, in words (empty: the drill passed)."""
    bad = []
    if not fig["requests"]:
        bad.append("the probe logged no request")
    if fig["failed_requests"]:
        bad.append(f"{fig['failed_requests']} request(s) failed")
    if fig["serving_s"] is None:
        bad.append("the new server never answered through the VIP")
    elif fig["serving_after_scale_s"] is not None and \
            fig["serving_after_scale_s"] > SERVE_GRACE_S:
        bad.append(f"the new server answered {fig['serving_after_scale_s']} s after the scale "
                   f"out ended (at most {SERVE_GRACE_S:g} s)")
    if fig["served_after_drain"]:
        bad.append(f"the departing server answered {fig['served_after_drain']} request(s) "
                   "after its drain")
    return bad
