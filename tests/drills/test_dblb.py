"""Drill `dblb`: the MASTER DB balancer loses its DB link while an app keeps writing.

The writer (webfarm/dbdrill.py) runs on the first app server and writes through the db VIP's
write port, one autocommit INSERT at a time, reconnecting after any error. After SETTLE_S the
MASTER balancer's DB interface goes down (`ip link set IFACE down`): what the network sees
when the machine loses power. A dead-man switch brings the link back after HOLD_S even if this
test dies; the drill brings it up itself too, in a finally block. testinfra reaches the host
through Vagrant's management NIC (eth0), which stays up.

- keepalived on the BACKUP stops hearing adverts and takes the VIP (3 x advert_int + skew
  from the last advert heard: 2.6-3.6 s with advert_int 1); its HAProxy sends the writes on
  (its health checks of the cut-off node fail after inter 1 s x fall 2, so the next node in
  the write pool takes them).
- When the balancer is also a Galera node (the mini profile: db1 is balancer and node), it is
  partitioned from the cluster: the other node and garbd keep quorum (2 of 3 votes) and evict
  it; the cut-off node must leave the primary component and refuse writes, or the cluster has
  a split brain. The drill reads wsrep_cluster_status on its local socket during the hold (it
  must stop being Primary: after evs.inactive_timeout, 15 s, hence HOLD_S well above it) and
  tries one INSERT there, which must be refused.
- After the link returns the node rejoins (IST) and the VIP comes back (preemption: the
  MASTER has the higher priority). rejoin_s runs from the link coming up until the VIP is
  back, the node (when it is one) is Synced with its health agent answering 200, and HAProxy
  on the MASTER has every node UP in both pools; the failback's own outage is reported too.

Once every node is Synced again, the run's rows are read on every node. Asserted: the VIP
moved, writes went on through the backup, no acknowledged write is missing anywhere, at least
MIN_ACKED were acknowledged, the outage stays under LIMITS_S["outage"], no split brain, the
VIP came back and the farm is whole within LIMITS_S["rejoin"]. Goals are reported beside.
Result: .lab/drills/dblb.json (the writer's log next to it), written even when it fails.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from webfarm import dbdrill, dblb, dbplan
from webfarm.dbdrill import Writer, seconds_until
from webfarm.labtest import current_lab, holds_vip, remote, remote_root
from webfarm.topology import Lab

pytestmark = pytest.mark.lab

NAME = "dblb"
GOALS_S = {"outage": 8.0, "vip": 4.0, "rejoin": 60.0}  # VRRP <= 3.6 s; eviction 5 s; IST
LIMITS_S = {"outage": 30.0, "vip": 15.0, "rejoin": 180.0}  # asserted (TCG labs are slow)
MIN_ACKED = dbdrill.MIN_ACKED
WRITER_S = 100  # the writer's length ...
MAX_WRITES = 5000  # ... and its most attempts
SETTLE_S = 10  # writing before the link goes down
HOLD_S = 35  # how long the link stays down (> Galera's evs.inactive_timeout, 15 s)
ISOLATED_MARGIN_S = 8  # stop waiting for non-Primary this long before the link returns
VIP_WAIT_S = 30  # longest wait for the VIP to move (either way)
REJOIN_WAIT_S = 240  # longest wait for the farm to be whole again
SYNC_WAIT_S = 180  # longest wait for every node to be Synced (before and after)
PIDFILE = "/run/webfarm-drill-dblb.pid"


def scenario(lab: Lab, password: str, result: dict[str, Any]) -> None:
    v = dblb.vip(lab)
    master_host = lab.primary(dblb.ROLE)
    master, backup = master_host.name, lab.peers(master_host, dblb.ROLE)[0].name
    iface = master_host.interface(v.network)
    is_node = dbplan.is_node(lab, master_host)
    app = lab.hosts_with("app")[0].name
    nodes = dbplan.nodes(lab)
    result |= {"master": master, "backup": backup, "vip": str(v.address), "interface": iface,
               "master_is_node": is_node, "writer_host": app, "hold_s": HOLD_S,
               "goals_s": GOALS_S, "limits_s": LIMITS_S}

    def steady() -> bool:
        return holds_vip(master, v) and not any(
            holds_vip(p.name, v) for p in lab.peers(master_host, dblb.ROLE))

    def whole() -> bool:
        """VIP on the MASTER alone, the cut-off node back, every node UP on its HAProxy."""
        if not steady():
            return False
        if is_node and not dbdrill.node_back(lab, master_host, master_host, remote_root):
            return False
        rows = dbdrill.haproxy_stats(remote_root(master), dbdrill.stats_url(lab, master_host))
        names = [n.name for n in nodes]
        return all(dbdrill.up_everywhere(rows, n, names) for n in names)

    ready = seconds_until(lambda: dbdrill.all_synced(lab, remote_root) and whole(),
                          SYNC_WAIT_S, 3, "every node Synced, the VIP on the MASTER alone")
    if ready is None:
        result["statuses_before"] = dbdrill.statuses(lab, remote_root)
        raise AssertionError(f"before the drill: not every node is Synced and UP, or "
                             f"{v.name} is not on {master} alone")

    run = dbdrill.new_run_id(NAME)
    result["run"] = run
    writer = Writer(remote(app), dbdrill.writer_config(lab, run, WRITER_S, MAX_WRITES),
                    password, NAME)
    result["_writer"] = writer
    writer.start()
    writer.wait_for_first_write()
    time.sleep(SETTLE_S)

    root = remote_root(master)
    t_fail = t_restore = dbdrill.clock(remote(app))
    try:
        t_fail = dbdrill.clock(remote(app))
        root.check_output(dbdrill.deadman(
            PIDFILE, f"ip link set {iface} down; sleep {HOLD_S}; ip link set {iface} up"))
        hold_end = time.monotonic() + HOLD_S
        result["vip_moved_after_s"] = seconds_until(lambda: holds_vip(backup, v), VIP_WAIT_S,
                                                    0.25, f"{v.name} on {backup}")
        if is_node:
            def status() -> str | None:
                return dbdrill.node_status(root).get("wsrep_cluster_status")

            result["cut_off_status"] = status()
            result["non_primary_after_s"] = seconds_until(
                lambda: status() not in (None, "Primary"),
                hold_end - ISOLATED_MARGIN_S - time.monotonic(), 1,
                f"{master} to leave the primary component")
            result["cut_off_status"] = status()
            if result["non_primary_after_s"] is not None:
                tried = root.run(dbdrill.isolated_write_command(f"{run}-isolated",
                                                                dbplan.DATABASE))
                result["isolated_write_refused"] = tried.rc != 0
                result["isolated_write_answer"] = (tried.stderr or tried.stdout).strip()[:200]
        time.sleep(max(0.0, hold_end - time.monotonic()))
    finally:
        root.run(f"ip link set {iface} up")  # first: nothing may stop the restore
        t_restore = dbdrill.clock(remote(app))
        root.run(dbdrill.disarm(PIDFILE))
        result["vip_back_on_master_after_s"] = seconds_until(steady, VIP_WAIT_S, 0.5,
                                                             f"{v.name} back on {master}")
        result["rejoin_s"] = seconds_until(whole, REJOIN_WAIT_S, 2, "the farm whole again")

    log = writer.stop_and_read()
    present = dbdrill.settle_and_read(lab, remote_root, writer, NAME, run, result,
                                      SYNC_WAIT_S)
    if is_node:
        isolated = dbdrill.read_present(lab, remote_root, f"{run}-isolated")
        result["split_brain_rows"] = sum(len(s) for s in isolated.values())
    result |= dbdrill.analyse(log, present, t_fail, t_restore, master if is_node else "")
    moved = result["vip_moved_after_s"]
    result["written_after_vip_moved"] = sum(
        a.ok for a in log.attempts
        if t_fail + (moved if moved is not None else HOLD_S) < a.t < t_restore)
    result["met_goal"] = result["outage_s"] <= GOALS_S["outage"]


def check(r: dict[str, Any]) -> list[str]:
    problems = dbdrill.write_problems(r, LIMITS_S, GOALS_S)
    if r["vip_moved_after_s"] is None:
        problems.append(f"the db VIP never appeared on the backup {r['backup']}")
    elif r["vip_moved_after_s"] > LIMITS_S["vip"]:
        problems.append(f"the VIP moved after {r['vip_moved_after_s']} s, more than "
                        f"{LIMITS_S['vip']} s (goal {GOALS_S['vip']} s)")
    if r["written_after_vip_moved"] <= 0:
        problems.append(f"no write was acknowledged through the backup {r['backup']} while "
                        f"{r['master']} was cut off: {r['writes_by_node']['during']}")
    if r["master_is_node"]:
        if r.get("non_primary_after_s") is None:
            problems.append(f"{r['master']} stayed {r.get('cut_off_status')} while cut off "
                            f"from the cluster (it should be non-Primary)")
        elif not r.get("isolated_write_refused"):
            problems.append(f"split brain: {r['master']} accepted a write while cut off "
                            f"({r.get('isolated_write_answer')})")
        if r.get("split_brain_rows"):
            problems.append(f"split brain: the write tried on the cut-off {r['master']} is "
                            f"in the cluster ({r['split_brain_rows']} rows)")
    if r["vip_back_on_master_after_s"] is None:
        problems.append(f"the VIP did not return to {r['master']} after the link came back")
    if r["rejoin_s"] is None or r["rejoin_s"] > LIMITS_S["rejoin"]:
        problems.append(f"the farm was not whole again within {LIMITS_S['rejoin']} s "
                        f"(measured {r['rejoin_s']})")
    return problems


def test_dblb_failover(secrets: dict[str, str]) -> None:
    lab = current_lab()
    if lab.engine != dbplan.GALERA:
        pytest.skip(f"the dblb drill's checks read Galera's status; this lab runs {lab.engine}")
    problems = dbdrill.run_drill(
        NAME, lambda result: scenario(lab, secrets["db_app_password"], result), check)
    assert not problems, "\n".join(problems)
