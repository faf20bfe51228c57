"""Drill `db-node`: the node taking the writes dies hard while an app keeps writing.

The writer (webfarm/dbdrill.py) runs on the first app server and writes through the db VIP's
write port, one autocommit INSERT at a time, reconnecting after any error. After SETTLE_S the
node HAProxy sends the writes to (dblb.writer: the first node) is killed with SIGKILL
(`systemctl kill -s KILL mariadb`): no clean shutdown, no goodbye to the cluster. Then:

- HAProxy's health checks (inter 1 s, fall 2) mark it down and `on-marked-down
  shutdown-sessions` cuts the writer's connection; its next connection goes to a backup node.
- Galera keeps quorum (2 of 3 votes in the mini profile: the other node and garbd) once the
  dead node is evicted (evs.suspect_timeout, 5 s); commits may wait until then.

**The node is kept down for HOLD_S.** Debian's mariadb.service restarts a process killed by a
signal (Restart=on-abort) after a few seconds; the drill runs `systemctl stop` right after the
kill, which cancels that restart, so the outage and the rejoin are measured apart. A dead-man
switch started before the kill runs `systemctl start` after DEADMAN_S whatever happens to this
test; normally the drill starts the node itself after HOLD_S (`systemctl start --no-block`) and
ends the switch. rejoin_s runs from that start until the node is Synced, its health agent
answers 200 and HAProxy on the MASTER balancer has it UP in both pools.

Once every node is Synced again, the run's rows are read on every node's local socket.
Asserted: no acknowledged write is missing anywhere, at least MIN_ACKED writes were
acknowledged, writes went on through another node while the victim was down, the outage
(longest stretch without a successful write) stays under LIMITS_S["outage"] and the node
rejoins within LIMITS_S["rejoin"]. The goals a KVM lab reaches are reported beside them.
Result: .lab/drills/db-node.json (the writer's log next to it), written even when it fails.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from webfarm import dbdrill, dblb, dbplan
from webfarm import os as osdata
from webfarm.dbdrill import Writer, seconds_until
from webfarm.labtest import current_lab, remote, remote_root
from webfarm.topology import Lab

pytestmark = pytest.mark.lab

NAME = "db-node"
GOALS_S = {"outage": 8.0, "rejoin": 60.0}  # KVM: eviction (5 s) + HAProxy (2 s); IST rejoin
LIMITS_S = {"outage": 30.0, "rejoin": 180.0}  # asserted (TCG-emulated labs are slow)
MIN_ACKED = dbdrill.MIN_ACKED
WRITER_S = 100  # the writer's length ...
MAX_WRITES = 5000  # ... and its most attempts
SETTLE_S = 10  # writing before the kill
HOLD_S = 25  # how long the node stays down
DEADMAN_S = HOLD_S + 90  # the switch starts mariadb after this if the drill has not
DOWN_WAIT_S = 30  # longest wait for HAProxy to mark the node down
REJOIN_WAIT_S = 240  # longest wait for the node to be back everywhere
SYNC_WAIT_S = 180  # longest wait for every node to be Synced (before and after)
PIDFILE = "/run/webfarm-drill-db-node.pid"


def scenario(lab: Lab, password: str, result: dict[str, Any]) -> None:
    victim = dblb.writer(lab)
    balancer = lab.primary(dblb.ROLE)
    app = lab.hosts_with("app")[0].name
    svc = osdata.get(victim.os.family).services["mariadb"]
    names = [n.name for n in dbplan.nodes(lab)]
    result |= {"victim": victim.name, "balancer": balancer.name, "writer_host": app,
               "hold_s": HOLD_S, "goals_s": GOALS_S, "limits_s": LIMITS_S,
               "kept_down": "systemctl stop after the SIGKILL cancels Restart=on-abort; "
                            "the drill starts the node after hold_s"}

    def back() -> bool:
        return dbdrill.node_back(lab, victim, balancer, remote_root)

    dbdrill.require_whole(lab, balancer, remote_root, result, SYNC_WAIT_S)

    run = dbdrill.new_run_id(NAME)
    result["run"] = run
    writer = Writer(remote(app), dbdrill.writer_config(lab, run, WRITER_S, MAX_WRITES),
                    password, NAME)
    result["_writer"] = writer
    writer.start()
    writer.wait_for_first_write()
    time.sleep(SETTLE_S)

    root = remote_root(victim.name)
    t_fail = t_restore = dbdrill.clock(remote(app))
    try:
        root.check_output(dbdrill.deadman(PIDFILE, f"sleep {DEADMAN_S}; "
                                                   f"systemctl start --no-block {svc}"))
        t_fail = dbdrill.clock(remote(app))
        mono_fail = time.monotonic()
        root.check_output(f"systemctl kill -s KILL {svc}; systemctl stop {svc}")
        result["after_kill"] = root.run(
            f"systemctl show -p ActiveState -p Result -p ExecMainStatus {svc}").stdout.split()
        result["down_confirmed"] = root.run(f"systemctl is-active {svc}").stdout.strip() in (
            "inactive", "failed")
        result["marked_down_after_s"] = seconds_until(
            lambda: not any(s.startswith("UP") for s in dbdrill.server_states(
                dbdrill.haproxy_stats(remote_root(balancer.name),
                                      dbdrill.stats_url(lab, balancer)), victim.name).values()),
            DOWN_WAIT_S, 0.5, f"HAProxy to mark {victim.name} down")
        time.sleep(max(0.0, mono_fail + HOLD_S - time.monotonic()))
    finally:
        root.run(f"systemctl start --no-block {svc}")  # first: nothing may stop the restore
        t_restore = dbdrill.clock(remote(app))
        result["rejoin_s"] = seconds_until(back, REJOIN_WAIT_S, 2,
                                           f"{victim.name} back in the cluster and HAProxy")
        root.run(dbdrill.disarm(PIDFILE))

    log = writer.stop_and_read()
    present = dbdrill.settle_and_read(lab, remote_root, writer, NAME, run, result,
                                      SYNC_WAIT_S)
    result |= dbdrill.analyse(log, present, t_fail, t_restore, victim.name)
    result["nodes"] = names
    result["met_goal"] = result["outage_s"] <= GOALS_S["outage"]


def check(r: dict[str, Any]) -> list[str]:
    problems = dbdrill.write_problems(r, LIMITS_S, GOALS_S)
    victim = r["victim"]
    if not r.get("down_confirmed"):
        problems.append(f"mariadb on {victim} was still active after the kill: {r['after_kill']}")
    if not r["writes_by_node"]["before"].get(victim):
        problems.append(f"the writes did not go to {victim} before the kill: "
                        f"{r['writes_by_node']['before']}")
    if r["written_elsewhere_during"] <= 0:
        problems.append(f"no write went to another node while {victim} was down: "
                        f"{r['writes_by_node']['during']}")
    if r["rejoin_s"] is None or r["rejoin_s"] > LIMITS_S["rejoin"]:
        problems.append(f"{victim} did not rejoin within {LIMITS_S['rejoin']} s "
                        f"(measured {r['rejoin_s']})")
    return problems


def test_db_node_failover(secrets: dict[str, str]) -> None:
    lab = current_lab()
    if lab.engine != dbplan.GALERA:
        pytest.skip(f"the db-node drill measures Galera; this lab runs {lab.engine}")
    problems = dbdrill.run_drill(
        NAME, lambda result: scenario(lab, secrets["db_app_password"], result), check)
    assert not problems, "\n".join(problems)
