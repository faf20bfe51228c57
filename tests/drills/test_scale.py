"""Drill `scale`: an app server is added, then removed, while a visitor keeps asking.

From the client, a probe loop asks the www VIP for /health every 0.2 s (bounded: it ends by
itself after PROBE_MAX_S, and is stopped as soon as the drill is done); each answer names the
app server that gave it. Meanwhile the drill runs, in this process, what `invoke scale app
N+1` runs (webfarm.scale, without the chapter checks: the drill measures what a visitor
sees), waits SETTLE_S while the new server takes its share, then `invoke scale app N`
(drain, re-run, destroy), and probes AFTER_S more. Each milestone of both scales is read on
the client's clock, the probe's. Figures and their meaning: webfarm/scaledrill.py.

Asserted: no request failed, the new server answered through the VIP (within SERVE_GRACE_S
of the end of the scale out) and none after its drain. A failure midway leaves the lab
for `invoke scale app N` (the drill tries it itself before it ends). The lab.yml count goes
back to N, so lab.yml, the Vagrantfile and the diagrams end as they began.
Result: .lab/drills/scale.json.

Not in `invoke drill all` nor `invoke e2e` (Chapter.on_demand_drills): it boots a VM and runs
every chapter on it, minutes under TCG. Run it with `invoke drill scale`.
"""

from __future__ import annotations

import time

import pytest

from webfarm import scale, scaledrill
from webfarm.drills import DrillResult, Probe
from webfarm.labtest import current_lab, remote

pytestmark = pytest.mark.lab

NAME = "scale"
ROLE = "app"
PROBE_MAX_S = 7200  # the probe's own bound; stopped at the end of the drill
INTERVAL_S = 0.2
BASELINE_S = 10  # probing before the scale out
SETTLE_S = 30  # probing between the scale out and the scale in
AFTER_S = 15  # probing after the scale in


def test_scale_drill() -> None:
    lab = current_lab()
    before = len(lab.hosts_with(ROLE))
    client = remote(lab.hosts_with("client")[0].name)
    vip = lab.vips_served_by(ROLE)[0]
    probe = Probe(client, "http-served", f"http://{vip.address}/health", duration=PROBE_MAX_S,
                  interval=INTERVAL_S, extra=f"-H 'Host: {vip.name}.{lab.domain}'",
                  name="drill-scale", timeout=scaledrill.TIMEOUT_S)
    marks: dict[str, float] = {}
    details: dict[str, object] = {"role": ROLE, "before": before, "vip": vip.name}

    def now() -> float:
        return float(client.check_output("date +%s.%N"))

    def on(prefix: str):  # type: ignore[no-untyped-def]
        def event(name: str) -> None:
            marks[f"{prefix}-{name}"] = now()
        return event

    new = ""
    error = ""
    probe.start()
    try:
        time.sleep(BASELINE_S)
        marks["out-start"] = now()
        grown = scale.Scale(ROLE, before + 1, profile=lab.profile, check=False,
                            on_event=on("out"), log=print).run()
        new = grown.added[0] if grown.added else ""
        details["out_runs"] = grown.runs
        time.sleep(SETTLE_S)
        marks["in-start"] = now()
        shrunk = scale.Scale(ROLE, before, profile=lab.profile, check=False,
                             on_event=on("in"), log=print).run()
        details["in_runs"] = shrunk.runs
        details["drained"] = shrunk.drained
        time.sleep(AFTER_S)
    except Exception as err:  # record it, put the lab back, report below
        error = f"{type(err).__name__}: {err}"[:2000]
    finally:
        samples = probe.stop_and_read_served(early=True)
        if len(current_count()) != before:
            try:
                scale.Scale(ROLE, before, profile=lab.profile, check=False, log=print).run()
            except Exception as err:
                error += f"; putting the lab back (invoke scale {ROLE} {before}) failed: {err}"
    fig = scaledrill.figures(samples, new, marks)
    problems = ([error] if error else []) + scaledrill.verdict(fig)
    details |= {k: v for k, v in fig.items() if k not in ("requests", "outage_s")}
    details |= {"new_host": new, "marks": {k: round(v - marks.get("out-start", v), 1)
                                           for k, v in marks.items()},
                "problems": problems}
    DrillResult(NAME, not problems, fig["outage_s"], fig["requests"], fig["failed_requests"],
                details).save()
    assert not problems, "; ".join(problems)


def current_count() -> list[str]:
    """The tier's hosts as lab.yml says now (not the cached model of the start)."""
    from webfarm import paths, topology

    return [h.name for h in topology.load(paths.LAB_FILE, current_lab().profile)
            .hosts_with(ROLE)]
