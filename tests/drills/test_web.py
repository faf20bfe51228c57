"""Drill `web`: one app server and one media server stop, the site still answers.

From the client (the visitor), probe loops ask the www and media VIPs for /health through the
directors (chapter 04). Then nginx stops on the first app server and the first media server
(in the mini profile that is one host carrying both: one stop takes out one member of each
pool). The directors' health checks drop the dead members from IPVS within a few seconds;
after that grace period the site must answer at least 95% of the requests, and the outage (the
longest stretch without any successful answer) is recorded. nginx is started again whatever
happens. Result: .lab/drills/web.json.
"""

from __future__ import annotations

import time

import pytest

from webfarm import os as osdata
from webfarm.drills import DrillResult, Probe, Sample, outage
from webfarm.labtest import current_lab, remote, remote_root

pytestmark = pytest.mark.lab


DURATION_S = 60  # each probe loop's length
INTERVAL_S = 0.2
BASELINE_S = 8  # probing before anything breaks
BROKEN_S = 30  # how long the servers stay down
# A dead real server leaves IPVS after chapter 04's HTTP_GET gives up on it: the next poll
# (delay_loop 2 s), then the first try and its 2 retries. nginx stopped refuses at once, so
# that is ~2 + 2 * 1 (delay_before_retry) = 4 s; a server that hangs costs connect_timeout
# (2 s) per try: 2 + 3 * 2 + 2 * 1 = 10 s at worst. The grace covers the worst case.
GRACE_S = 12
MIN_SUCCESS = 0.95


def _ratio(samples: list[Sample]) -> float:
    return sum(s.ok for s in samples) / len(samples) if samples else 0.0


def test_web_drill() -> None:
    lab = current_lab()
    client = remote(lab.hosts_with("client")[0].name)
    victims = list(dict.fromkeys([lab.hosts_with("app")[0].name,
                                  lab.hosts_with("media")[0].name]))
    probes = {}
    for vip in [*lab.vips_served_by("app"), *lab.vips_served_by("media")]:
        probes[vip.name] = Probe(
            client, "http", f"http://{vip.address}/health", duration=DURATION_S,
            interval=INTERVAL_S, extra=f"-H 'Host: {vip.name}.{lab.domain}'",
            name=f"drill-web-{vip.name}")
    for p in probes.values():
        p.start()
    stopped_at = 0.0
    try:
        time.sleep(BASELINE_S)
        stopped_at = float(client.check_output("date +%s.%N"))
        for name in victims:
            svc = osdata.get(lab.hosts[name].os.family).services["nginx"]
            remote_root(name).check_output(f"systemctl stop {svc}")
        time.sleep(BROKEN_S)
    finally:
        for name in victims:
            svc = osdata.get(lab.hosts[name].os.family).services["nginx"]
            remote_root(name).run(f"systemctl start {svc}")

    details: dict[str, object] = {"stopped": victims, "grace_s": GRACE_S}
    passed = True
    requests = failed = 0
    worst = 0.0
    for vip_name, p in probes.items():
        samples = p.stop_and_read()
        settled = [s for s in samples
                   if stopped_at + GRACE_S <= s.t <= stopped_at + BROKEN_S]
        baseline = [s for s in samples if s.t < stopped_at]
        ratio = _ratio(settled)
        vip_outage = outage(samples)
        ok = bool(samples) and bool(settled) and _ratio(baseline) >= MIN_SUCCESS \
            and ratio >= MIN_SUCCESS
        details[vip_name] = {"samples": len(samples), "settled": len(settled),
                             "success_after_grace": round(ratio, 3),
                             "baseline_success": round(_ratio(baseline), 3),
                             "outage_s": vip_outage}
        passed = passed and ok
        requests += len(samples)
        failed += sum(not s.ok for s in samples)
        worst = max(worst, vip_outage)
    DrillResult("web", passed, worst, requests, failed, details).save()
    assert passed, f"the site did not keep answering with {victims} down: {details}"
