"""Drill `nagios`: does the monitor see a failure, say so, and see the end of it?

- **web**: nginx stops on the first app server. Nagios must mark that server's "HTTP www"
  CRITICAL as a *hard* state (after its retries) and write a PROBLEM notification, while the
  www VIP's own "HTTP" service stays OK (the directors dropped the dead server from IPVS).
  nginx starts again: the service must turn OK and a RECOVERY notification be written.
- **director**: keepalived stops on the MASTER director (a clean stop: it hands the VIP over
  with a priority-0 advert; a `kill -9` would leave the VIP on both directors). Nagios must
  mark that director's "keepalived" CRITICAL (hard) while, re-checked at once, the www VIP's
  "VIP holder" says the backup holds it and the VIP's "HTTP" stays OK. keepalived starts
  again: the service turns OK.

Nothing is forced while a failure is being detected: ``detect_s`` is what Nagios's own
schedule gives (check_interval + retries, webfarm/monitor.py TIMING), measured on the
monitor's clock from the moment of the stop to Nagios's ``last_hard_state_change``;
``notify_s`` to the notification line. Services and VIPs are restored whatever happens.
Result: .lab/drills/nagios.json.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from webfarm import monitor, nagioslive
from webfarm import os as osdata
from webfarm.drills import DrillResult
from webfarm.labtest import current_lab, holds_vip, remote, remote_root
from webfarm.nagiosstatus import NagiosStatus, ServiceStatus
from webfarm.topology import Lab

pytestmark = pytest.mark.lab

T = monitor.TIMING
# the worst case of Nagios's schedule: a check just missed, then every retry; plus the
# checks' own run time and status.dat's update interval on a loaded TCG monitor
DETECT_LIMIT_S = T["check_interval"] + (T["max_check_attempts"] - 1) * T["retry_interval"] + 40
RECOVER_LIMIT_S = T["check_interval"] + 40
ROUND_S = 300
POLL_S = 2.0


def run(host: str, command: str) -> str:
    return str(remote(host).check_output(command))


def monitor_clock(lab: Lab) -> int:
    mon = monitor.monitor(lab)
    assert mon is not None
    return int(run(mon.name, "date +%s"))


def read(lab: Lab) -> NagiosStatus:
    st = nagioslive.status(run, lab)
    assert st is not None, "Nagios has no status file"
    return st


def wait_service(lab: Lab, host: str, description: str, state: str, since: int,
                 timeout: float, hard: bool = True) -> ServiceStatus | None:
    """The service once Nagios has it in ``state`` (hard, when asked) through a change at or
    after ``since`` (monitor clock); None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc = read(lab).service(host, description)
        if (svc is not None and svc.state == state and (svc.hard or not hard)
                and svc.last_check >= since
                and (not hard or svc.last_hard_state_change >= since)):
            return svc
        time.sleep(POLL_S)
    return None


def wait_notification(lab: Lab, kind: str, host: str, service: str, since: int,
                      timeout: float) -> nagioslive.Notification | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in nagioslive.notifications(run, lab):
            when = datetime.strptime(n.when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if (n.kind == kind and n.host == host and n.service == service
                    and when.timestamp() >= since):
                return n
        time.sleep(POLL_S)
    return None


def _epoch(n: nagioslive.Notification) -> int:
    return int(datetime.strptime(n.when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def baseline(lab: Lab, hosts: list[str]) -> None:
    """Every service of ``hosts`` OK in a fresh forced round before anything breaks."""
    since = nagioslive.force_round(run, lab, hosts)
    rnd = nagioslive.wait_round(run, lab, since, ROUND_S, hosts=hosts)
    bad = [f"{s.host}/{s.description}: {s.state} {s.output}" for s in rnd.status.services
           if s.host in hosts and s.state != "OK"]
    assert not bad, "not OK before the drill:\n" + "\n".join(bad)


def web_scenario(lab: Lab) -> dict[str, Any]:
    victim = lab.hosts_with("app")[0]
    vip = lab.vips_served_by("app")[0]
    vip_host = monitor.vip_host_name(lab, vip)
    service = f"HTTP {vip.name}"
    nginx = osdata.get(victim.os.family).services["nginx"]
    baseline(lab, [victim.name, vip_host])
    r: dict[str, Any] = {"host": victim.name, "service": service}
    t0 = monitor_clock(lab)
    try:
        remote_root(victim.name).check_output(f"systemctl stop {nginx}")
        svc = wait_service(lab, victim.name, service, "CRITICAL", t0, DETECT_LIMIT_S)
        r["detected"] = svc is not None
        r["detect_s"] = (svc.last_hard_state_change - t0) if svc else None
        r["output"] = svc.output if svc else None
        note = wait_notification(lab, "PROBLEM", victim.name, service, t0, 60)
        r["notified"] = note is not None
        r["notify_s"] = (_epoch(note) - t0) if note else None
        vip_svc = read(lab).service(vip_host, "HTTP")
        r["vip_http_while_down"] = vip_svc.state if vip_svc else None
    finally:
        t1 = monitor_clock(lab)
        remote_root(victim.name).run(f"systemctl start {nginx}")
    ok = wait_service(lab, victim.name, service, "OK", t1, RECOVER_LIMIT_S, hard=False)
    r["recovered"] = ok is not None
    r["recover_s"] = (ok.last_check - t1) if ok else None
    note = wait_notification(lab, "RECOVERY", victim.name, service, t1, 60)
    r["recovery_notified"] = note is not None
    return r


def director_scenario(lab: Lab) -> dict[str, Any]:
    master = lab.primary("director")
    backup = lab.peers(master, "director")[0]
    vip = next(v for v in lab.vips_held_by("director") if v.pool == "app")
    vip_host = monitor.vip_host_name(lab, vip)
    keepalived = osdata.get(master.os.family).services["keepalived"]
    baseline(lab, [master.name, vip_host])
    assert holds_vip(master.name, vip), f"{vip.name} is not on {master.name} before the drill"
    r: dict[str, Any] = {"master": master.name, "backup": backup.name, "vip": vip.name}
    t0 = monitor_clock(lab)
    try:
        remote_root(master.name).check_output(f"systemctl stop {keepalived}")
        svc = wait_service(lab, master.name, "keepalived", "CRITICAL", t0, DETECT_LIMIT_S)
        r["detected"] = svc is not None
        r["detect_s"] = (svc.last_hard_state_change - t0) if svc else None
        note = wait_notification(lab, "PROBLEM", master.name, "keepalived", t0, 60)
        r["notified"] = note is not None
        r["notify_s"] = (_epoch(note) - t0) if note else None
        # what Nagios says about the VIP now, from a fresh check
        since = nagioslive.force_round(run, lab, [vip_host])
        rnd = nagioslive.wait_round(run, lab, since, 120, hosts=[vip_host])
        holder = rnd.status.service(vip_host, "VIP holder")
        http = rnd.status.service(vip_host, "HTTP")
        r["vip_holder"] = f"{holder.state} {holder.output}" if holder else None
        r["vip_holder_ok_on_backup"] = bool(holder and holder.state == "OK"
                                            and f"is on {backup.name}" in holder.output)
        r["vip_http"] = http.state if http else None
    finally:
        t1 = monitor_clock(lab)
        remote_root(master.name).run(f"systemctl start {keepalived}")
    ok = wait_service(lab, master.name, "keepalived", "OK", t1, RECOVER_LIMIT_S, hard=False)
    r["recovered"] = ok is not None
    r["recover_s"] = (ok.last_check - t1) if ok else None
    return r


def problems_of(web: dict[str, Any], director: dict[str, Any]) -> list[str]:
    out = []
    for name, r in (("web", web), ("director", director)):
        if not r.get("detected"):
            out.append(f"{name}: Nagios did not mark the failure CRITICAL (hard) within "
                       f"{DETECT_LIMIT_S} s")
        if not r.get("notified"):
            out.append(f"{name}: no PROBLEM notification was written")
        if not r.get("recovered"):
            out.append(f"{name}: the service did not turn OK within {RECOVER_LIMIT_S} s")
    if web.get("vip_http_while_down") != "OK":
        out.append(f"web: the VIP's HTTP check was {web.get('vip_http_while_down')} while one "
                   "app server was down (the directors should have routed around it)")
    if not web.get("recovery_notified"):
        out.append("web: no RECOVERY notification was written")
    if not director.get("vip_holder_ok_on_backup"):
        out.append(f"director: VIP holder said {director.get('vip_holder')!r}, not OK on "
                   f"{director.get('backup')}")
    if director.get("vip_http") != "OK":
        out.append(f"director: the VIP's HTTP check was {director.get('vip_http')}")
    return out


def test_nagios_drill() -> None:
    lab = current_lab()
    results: dict[str, dict[str, Any]] = {"web": {}, "director": {}}
    problems: list[str] = []
    try:
        results["web"] = web_scenario(lab)
        results["director"] = director_scenario(lab)
        problems = problems_of(results["web"], results["director"])
    except Exception as err:  # still record what was measured
        problems.append(f"drill aborted: {err}")
        raise
    finally:
        detect = [r.get("detect_s") for r in results.values() if r.get("detect_s") is not None]
        DrillResult(
            name="nagios", passed=not problems, outage_s=None,
            details={"detect_s": max(detect) if detect else None,
                     "detect_limit_s": DETECT_LIMIT_S, "timing": dict(T), **results,
                     "problems": problems},
        ).save()
    assert not problems, "\n".join(problems)
