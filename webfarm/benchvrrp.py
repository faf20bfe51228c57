"""``invoke bench --part p4`` (and ``--part sweep``): what a visitor sees when the MASTER
director fails, against what VRRP promises, and how often the pair fails over by itself.

**The bound.** A BACKUP takes over when it has heard no advert for the master-down interval,
``3 x advert_int + skew``, with ``skew = (256 - priority) / 256`` s in VRRPv2 and
``(256 - priority) x advert_int / 256`` in VRRPv3 (RFC 3768, RFC 5798); ``priority`` is the
BACKUP's. A crash therefore costs at most that long (less the time since the last advert),
plus the gratuitous ARP and the probe's own resolution. A clean stop sends a priority-0
advert: the BACKUP takes over after ``skew`` alone.

**The measurement** (per repeat, as the ``directors`` drill does it): :data:`PROBES` probe
loops on the client, started a fraction of :data:`INTERVAL` apart, each asking the www VIP
every :data:`INTERVAL` s with a new connection (1 s timeout); their samples merged give the
client-seen outage: the longest stretch without a successful answer (webfarm.drills.outage),
with a resolution of about INTERVAL / PROBES plus one request's time (measured:
``resolution_s``). The loops are the drills' ``http-fast`` probe, one Python process each:
the drills' curl loop forks curl, date and sleep per request, which under TCG samples only
every 1.5-2 s per loop and made a clean takeover (0.2-0.6 s) look like 1.6-3.6 s of outage.

- crash: the MASTER's front link goes down (what the network sees when a machine loses
  power; ``kill -9 keepalived`` would leave the VIP configured on it), with a dead-man switch
  on the director that brings the link back after :data:`HOLD_S` s even if this process dies;
- clean: ``systemctl stop keepalived`` on the MASTER, started again after HOLD_S.

**False failovers**: the VRRP state changes in both directors' journals over a quiet period
(no fault injected): every time a BACKUP entered MASTER, or the MASTER left it.

**The sweep** (``--part sweep``, opt-in, ~25 min under TCG): the same at other
``vrrp.advert_int`` values (:data:`SWEEP`: VRRPv2 at 1 s, VRRPv3 below). No template or
script changes: chapter 04 is run on the directors (webfarm.runner, as ``invoke chapter 4``
does) with the lab model's ``vrrp.advert_int`` replaced in memory, which is what the
renderer reads; lab.yml's own value is put back the same way in a ``finally`` block.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webfarm import chapters, status, vrrp
from webfarm import os as osdata
from webfarm import state as lab_state
from webfarm.benchlab import BenchError, ProbeHost, Shell
from webfarm.benchparse import Transition, parse_transitions, summary
from webfarm.drills import Probe, Sample, outage
from webfarm.topology import Lab, Vip, Vrrp
from webfarm.wait import WaitTimeout, wait_until

ROLE = "director"
REPEATS = 3
QUIET_S = 120  # the quiet period at the lab's own setting
SWEEP = (1.0, 0.5, 0.25)  # vrrp.advert_int values of the sweep (s)
SWEEP_REPEATS = 2
SWEEP_QUIET_S = 60
PROBES = 3  # parallel probe loops on the client
INTERVAL = 0.1  # s between one loop's requests
SETTLE_S = 5.0  # probing before the failure
HOLD_S = 12  # how long the failure lasts
PROBE_S = 40  # each probe loop's length (bounded)
STEADY_TIMEOUT_S = 90  # for the VIP to be on the MASTER alone (preemption after a restore)
GOALS_S = {"crash": 4.0, "clean": 1.0}  # the drill's aims, reported, never asserted


# ---------------------------------------------------------------------------------------------
# The bound (pure)


def skew_s(priority: int, advert: float, version: int) -> float:
    """VRRP skew time of a BACKUP with ``priority``."""
    share = (256 - priority) / 256
    return share if version == 2 else share * advert


def master_down_s(priority: int, advert: float, version: int) -> float:
    """How long a BACKUP waits without adverts before it takes over."""
    return 3 * advert + skew_s(priority, advert, version)


def bounds(lab: Lab) -> dict[str, Any]:
    """The VRRP figures of the lab's director pair: advert_int, version, the BACKUP's
    priority, skew, the crash bound (master-down interval) and the clean-stop bound."""
    directors = lab.hosts_with(ROLE)
    if len(directors) < 2:
        raise BenchError(f"profile {lab.profile} has {len(directors)} director(s): no pair "
                         "to fail over. Fix: use mini or full")
    prio = lab.priority(directors[1], ROLE)
    advert, version = float(lab.vrrp.advert_int), vrrp.version(lab)
    return {"advert_int_s": advert, "vrrp_version": version, "backup_priority": prio,
            "skew_s": round(skew_s(prio, advert, version), 3),
            "crash_bound_s": round(master_down_s(prio, advert, version), 3),
            "clean_bound_s": round(skew_s(prio, advert, version), 3)}


def merged(sample_lists: list[list[Sample]]) -> list[Sample]:
    return sorted((s for samples in sample_lists for s in samples), key=lambda s: s.t)


def resolution_s(samples: list[Sample]) -> float | None:
    """The median time between two consecutive answers of the merged probe loops."""
    gaps = [b.t - a.t for a, b in itertools.pairwise(samples) if b.t > a.t]
    return round(statistics.median(gaps), 3) if gaps else None


def failovers(transitions: dict[str, list[Transition]], master: str) -> int:
    """State changes that moved (or would move) the VIPs: a BACKUP entering MASTER, or the
    MASTER entering BACKUP or FAULT."""
    n = 0
    for host, seen in transitions.items():
        for t in seen:
            if host == master:
                n += t.state in ("BACKUP", "FAULT")
            else:
                n += t.state == "MASTER"
    return n


def kind_summary(runs: list[dict[str, Any]], bound: float) -> dict[str, Any]:
    good = [r["outage_s"] for r in runs if r.get("outage_s") is not None]
    return {"outage_s": summary(good), "bound_s": bound,
            "within_bound": sum(1 for x in good if x <= bound),
            "failed_requests": sum(r.get("failed_requests", 0) for r in runs)}


def recommend(settings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """From a sweep: the setting with the shortest median crash outage among those with no
    false failover over their quiet period (ties: the longer advert_int, the calmer)."""
    calm = [s for s in settings if s.get("quiet", {}).get("failovers") == 0
            and (s.get("crash", {}).get("outage_s") or {}).get("median") is not None]
    if not calm:
        return None
    best = min(calm, key=lambda s: (s["crash"]["outage_s"]["median"], -s["advert_int_s"]))
    return {"advert_int_s": best["advert_int_s"],
            "why": (f"shortest median crash outage ({best['crash']['outage_s']['median']} s) "
                    f"with no false failover in {best['quiet']['seconds']} s quiet")}


# ---------------------------------------------------------------------------------------------
# On the lab


@dataclass(frozen=True)
class Plan:
    vip: Vip
    master: str
    backup: str
    iface: str
    keepalived: str  # its systemd unit
    client: str
    domain: str

    @property
    def url(self) -> str:
        return f"http://{self.vip.address}:{self.vip.port}/health"

    @property
    def host_name(self) -> str:
        return f"{self.vip.name}.{self.domain}"

    def fail_command(self, kind: str) -> str:
        if kind == "crash":  # the dead-man switch: the link comes back after HOLD_S anyway
            return (f"setsid nohup sh -c 'ip link set {self.iface} down; sleep {HOLD_S}; "
                    f"ip link set {self.iface} up' >/dev/null 2>&1 </dev/null &")
        return f"systemctl stop {self.keepalived}"

    def restore_command(self, kind: str) -> str:
        return (f"ip link set {self.iface} up" if kind == "crash"
                else f"systemctl start {self.keepalived}")


def plan(lab: Lab) -> Plan:
    vips = [v for v in lab.vips_held_by(ROLE) if v.pool == "app"]
    clients = [h.name for h in lab.hosts_with("client")]
    if not vips or not clients:
        raise BenchError(f"profile {lab.profile} has no app VIP on the directors or no client."
                         " Fix: use mini or full")
    v = vips[0]
    master = lab.primary(ROLE)
    backup = lab.peers(master, ROLE)[0]
    return Plan(v, master.name, backup.name, master.interface(v.network),
                osdata.get(master.os.family).services["keepalived"], clients[0], lab.domain)


def _holds(shell: Shell, lab: Lab, host: str, v: Vip) -> bool:
    return status.holds(lambda h, c: shell.run(h, c, 30, check=False).stdout, lab.hosts[host],
                        v)


def steady(shell: Shell, lab: Lab, p: Plan) -> bool:
    return _holds(shell, lab, p.master, p.vip) and not _holds(shell, lab, p.backup, p.vip)


def seconds_until(predicate: Callable[[], bool], timeout: float) -> float | None:
    start = time.monotonic()
    try:
        wait_until(predicate, timeout, 0.25, "a VIP move")
    except WaitTimeout:
        return None
    return round(time.monotonic() - start, 2)


def wait_steady(shell: Shell, lab: Lab, p: Plan) -> None:
    if seconds_until(lambda: steady(shell, lab, p), STEADY_TIMEOUT_S) is None:
        raise BenchError(f"the {p.vip.name} VIP is not on {p.master} alone after "
                         f"{STEADY_TIMEOUT_S} s. Fix: invoke status; invoke check 4")


def scenario(shell: Shell, lab: Lab, p: Plan, kind: str) -> dict[str, Any]:
    """One failure of the MASTER (``crash`` or ``clean``), restored whatever happens."""
    wait_steady(shell, lab, p)
    client = ProbeHost(shell, p.client)
    probes = [Probe(client, "http-fast", p.url, duration=PROBE_S, interval=INTERVAL,
                    extra=p.host_name, name=f"bench-p4-{i}") for i in range(PROBES)]
    for pr in probes:
        pr.start()
        time.sleep(INTERVAL / PROBES)
    result: dict[str, Any] = {"kind": kind}
    try:
        time.sleep(SETTLE_S)
        t_fail = shell.clock(p.client)
        shell.root(p.master, p.fail_command(kind), 60)
        result["vip_moved_after_s"] = seconds_until(
            lambda: _holds(shell, lab, p.backup, p.vip), HOLD_S + 10)
        time.sleep(max(0.0, t_fail + HOLD_S - shell.clock(p.client) - 1))
    finally:
        t_restore = shell.clock(p.client)
        shell.root(p.master, p.restore_command(kind), 60, check=False)
    result["vip_back_after_s"] = seconds_until(lambda: steady(shell, lab, p),
                                               STEADY_TIMEOUT_S)
    samples = merged([pr.stop_and_read() for pr in probes])
    during = [s for s in samples if s.t < t_restore]
    after = [s for s in samples if s.t >= t_restore]
    if during and after:
        after = [during[-1], *after]
    result |= {"outage_s": outage(during) if during else None,
               "failback_outage_s": outage(after) if after else None,
               "requests": len(samples), "failed_requests": sum(not s.ok for s in samples),
               "resolution_s": resolution_s(samples)}
    return result


def transitions(shell: Shell, lab: Lab, p: Plan, since: dict[str, float],
                until: dict[str, float]) -> dict[str, list[Transition]]:
    out = {}
    for host in (p.master, p.backup):
        text = shell.root(host, f"journalctl -u {p.keepalived} -o short-unix --no-pager "
                          f"--since @{since[host]:.0f} --until @{until[host] + 1:.0f}",
                          60).stdout
        out[host] = parse_transitions(text)
    return out


def quiet(shell: Shell, lab: Lab, p: Plan, seconds: int) -> dict[str, Any]:
    """VRRP state changes of both directors over ``seconds`` without a fault."""
    wait_steady(shell, lab, p)
    since = {h: shell.clock(h) for h in (p.master, p.backup)}
    time.sleep(seconds)
    until = {h: shell.clock(h) for h in (p.master, p.backup)}
    seen = transitions(shell, lab, p, since, until)
    return {"seconds": seconds, "failovers": failovers(seen, p.master),
            "transitions": {h: [dataclasses.asdict(t) for t in ts] for h, ts in seen.items()}}


def setting(shell: Shell, lab: Lab, p: Plan, repeats: int, quiet_s: int,
            progress: Callable[[str], None]) -> dict[str, Any]:
    """Everything at the lab's current advert_int: quiet period, crashes, clean stops."""
    b = bounds(lab)
    out: dict[str, Any] = dict(b)
    progress(f"advert_int {b['advert_int_s']} s: {quiet_s} s quiet period")
    out["quiet"] = quiet(shell, lab, p, quiet_s)
    for kind in ("crash", "clean"):
        runs = []
        for i in range(repeats):
            progress(f"advert_int {b['advert_int_s']} s: {kind} {i + 1}/{repeats}")
            runs.append(scenario(shell, lab, p, kind))
        out[kind] = {"runs": runs, "goal_s": GOALS_S[kind],
                     **kind_summary(runs, b[f"{kind}_bound_s"])}
    return out


def method(p: Plan, repeats: int, quiet_s: int) -> str:
    return (f"{PROBES} Python probe loops on {p.client} (a new connection every {INTERVAL} s, "
            "1 s timeout) "
            f"against the {p.vip.name} VIP; the MASTER {p.master} fails for {HOLD_S} s: crash "
            f"= its front link down, clean = systemctl stop {p.keepalived}; {repeats} repeats "
            f"each; false failovers = VRRP state changes in both journals over {quiet_s} s "
            "without a fault")


def run(lab: Lab, shell: Shell, progress: Callable[[str], None], repeats: int = REPEATS,
        quiet_s: int = QUIET_S) -> dict[str, Any]:
    """At the lab's own vrrp.advert_int."""
    p = plan(lab)
    out = {"method": method(p, repeats, quiet_s), "master": p.master, "backup": p.backup,
           "vip": p.vip.name, "repeats": repeats,
           **setting(shell, lab, p, repeats, quiet_s, progress)}
    wait_steady(shell, lab, p)
    return out


def with_advert(lab: Lab, advert: float) -> Lab:
    """The lab model with another vrrp.advert_int (what the renderer reads)."""
    return dataclasses.replace(lab, vrrp=Vrrp(float(advert), lab.vrrp.unicast))


def apply(lab: Lab) -> None:
    """Render and run chapter 04 on the directors for this lab model (webfarm.runner)."""
    from webfarm import runner

    runner.run_chapter(lab, chapters.get("04-lvs"), lab_state.load())


def sweep(lab: Lab, shell: Shell, progress: Callable[[str], None],
          values: tuple[float, ...] = SWEEP, repeats: int = SWEEP_REPEATS,
          quiet_s: int = SWEEP_QUIET_S) -> dict[str, Any]:
    p = plan(lab)
    settings: list[dict[str, Any]] = []
    changed = False
    try:
        for advert in values:
            current = with_advert(lab, advert)
            if advert != lab.vrrp.advert_int or changed:
                progress(f"chapter 04 on the directors with vrrp.advert_int {advert}")
                apply(current)
                changed = advert != lab.vrrp.advert_int
            settings.append(setting(shell, current, p, repeats, quiet_s, progress))
    finally:
        if changed:
            progress(f"chapter 04 on the directors with lab.yml's vrrp.advert_int "
                     f"{lab.vrrp.advert_int}")
            apply(lab)
    wait_steady(shell, lab, p)
    return {"method": method(p, repeats, quiet_s) + "; each setting applied by chapter 04 "
            "with the lab model's vrrp.advert_int replaced in memory, lab.yml's restored after",
            "values": list(values), "settings": settings, "recommended": recommend(settings),
            "restored_advert_int_s": float(lab.vrrp.advert_int)}
