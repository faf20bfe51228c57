"""Drill `scale-db`: a Galera node is added, then removed, while an app keeps writing.

The writer of the DB drills (webfarm/dbdrill.py) runs on the first app server, through the
db VIP's write port, one autocommit INSERT every PAUSE_S. Meanwhile the drill runs what
`invoke scale db_sql N+1` runs (webfarm.scale, without the chapter checks): a new VM, every
chapter on it (it joins the cluster by a state transfer from a donor), then the DB balancers
add it to their pools and the arbitrator goes (the node count is odd now). Once it is a full
member (Synced, its health agent answers 200, HAProxy on the MASTER DB balancer has it UP in
every pool) the drill reads the run's rows on it: every write acknowledged so far must be
there. After SETTLE_S, `invoke scale db_sql N` drains it (HAProxy drain, then maint), stops
its MariaDB (it leaves the cluster cleanly), re-runs the chapters that change (the arbitrator
comes back) and destroys the VM. The writer stops AFTER_S later.

Asserted: no acknowledged write is missing on any node (the new one while it was in, every
node at the end), at least MIN_ACKED writes were acknowledged, the writer's longest stretch
without a successful write stays under LIMITS_S["outage"] (the goal, no gap at all beyond a
write's own time, is reported beside it), the new node became a full member, the nodes that
stayed were never restarted. The lab.yml count goes back to N, so lab.yml, the Vagrantfile
and the diagrams end as they began.
Result: .lab/drills/scale-db.json (the writer's log next to it), written even when it fails.

Not in `invoke drill all` nor `invoke e2e` (Chapter.on_demand_drills): it boots a VM and runs
every chapter on it, minutes under TCG. Run it with `invoke drill scale-db`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from webfarm import dbdrill, dblb, dbplan, paths, scale, topology
from webfarm import os as osdata
from webfarm.dbdrill import Writer, seconds_until
from webfarm.labtest import current_lab, remote, remote_root
from webfarm.topology import Lab

pytestmark = pytest.mark.lab

NAME = "scale-db"
ROLE = "db_sql"  # a Galera node in every profile (with NDB a scale is refused)
GOALS_S = {"outage": 3.0}  # a write's own time under TCG, plus a reconnect: no visible gap
LIMITS_S = {"outage": 30.0}  # asserted (a state transfer may hold the donor's writes)
WRITER_MAX_S = 5400  # the writer's own bound; stopped by the drill when it is done
MAX_WRITES = 100_000
PAUSE_S = 0.2  # between two writes: about 5 a second, some thousands in the whole drill
BASELINE_S = 15  # writing before the scale out
SETTLE_S = 30  # writing with the bigger cluster
AFTER_S = 15  # writing after the scale in
SYNC_WAIT_S = 300  # longest wait for every node to be Synced / the new one a full member


def uptimes(lab: Lab) -> dict[str, str]:
    """When MariaDB last started on each node (systemd's timestamp): a node restarted by the
    scale shows a later one."""
    out = {}
    for n in dbplan.nodes(lab):
        svc = osdata.get(n.os.family).services["mariadb"]
        out[n.name] = str(remote_root(n.name).run(
            f"systemctl show -p ActiveEnterTimestampMonotonic --value {svc}").stdout).strip()
    return out


def scenario(lab: Lab, password: str, result: dict[str, Any]) -> None:
    before = len(lab.hosts_with(ROLE))
    balancer = lab.primary(dblb.ROLE)
    app = lab.hosts_with("app")[0].name
    result |= {"role": ROLE, "before": before, "balancer": balancer.name, "writer_host": app,
               "goals_s": GOALS_S, "limits_s": LIMITS_S}

    dbdrill.require_whole(lab, balancer, remote_root, result, SYNC_WAIT_S)
    started_before = uptimes(lab)

    run = dbdrill.new_run_id(NAME)
    result["run"] = run
    cfg = dataclasses.replace(dbdrill.writer_config(lab, run, WRITER_MAX_S, MAX_WRITES),
                              pause_s=PAUSE_S)
    writer_host = remote(app)
    writer = Writer(writer_host, cfg, password, NAME)
    result["_writer"] = writer
    writer.start()
    writer.wait_for_first_write()
    time.sleep(BASELINE_S)

    marks: dict[str, float] = {}

    def on(prefix: str):  # type: ignore[no-untyped-def]
        def event(name: str) -> None:
            marks[f"{prefix}-{name}"] = dbdrill.clock(writer_host)
        return event

    marks["out-start"] = dbdrill.clock(writer_host)
    grown = scale.Scale(ROLE, before + 1, profile=lab.profile, check=False,
                        on_event=on("out"), log=print).run()
    result["out_runs"] = grown.runs
    if not grown.added:
        raise AssertionError(f"invoke scale {ROLE} {before + 1} added no host")
    new_name = grown.added[0]
    result["new_host"] = new_name
    big = topology.load(paths.LAB_FILE, lab.profile)
    new = big.hosts[new_name]
    big_balancer = big.primary(dblb.ROLE)
    result["member_after_s"] = seconds_until(
        lambda: dbdrill.node_back(big, new, big_balancer, remote_root), SYNC_WAIT_S, 3,
        f"{new_name} Synced and UP in HAProxy")
    result["arbitrator_after_out"] = dbplan.arbitrator(big) is not None
    time.sleep(SETTLE_S)
    # every write acknowledged so far is on the new node (read after the log: wsrep_sync_wait
    # makes the read wait until the node applied what the cluster committed)
    mid = writer.read()
    on_new = dbdrill.read_present(big, remote_root, run).get(new_name, set())
    result["acked_before_in"] = len(mid.acked)
    result["missing_on_new_node"] = sorted(mid.acked - on_new)[:20]
    result["statuses_big"] = dbdrill.statuses(big, remote_root)

    marks["in-start"] = dbdrill.clock(writer_host)
    shrunk = scale.Scale(ROLE, before, profile=lab.profile, check=False, on_event=on("in"),
                         log=print).run()
    result["in_runs"] = shrunk.runs
    result["drained"] = shrunk.drained
    time.sleep(AFTER_S)

    log = writer.stop_now_and_read()
    present = dbdrill.settle_and_read(lab, remote_root, writer, NAME, run, result,
                                      SYNC_WAIT_S)
    # phases: before the new node, while the cluster was bigger, after it left
    result |= dbdrill.analyse(log, present, marks["out-start"],
                              marks.get("in-done", marks["in-start"]))
    result["restarted"] = sorted(n for n, t in uptimes(lab).items()
                                 if t != started_before.get(n))
    result["marks"] = {k: round(v - marks["out-start"], 1) for k, v in marks.items()}
    result["scale_out_s"] = result["marks"].get("out-done")
    result["scale_in_s"] = (round(marks["in-done"] - marks["in-start"], 1)
                            if "in-done" in marks else None)
    result["met_goal"] = result["outage_s"] <= GOALS_S["outage"]


def check(r: dict[str, Any]) -> list[str]:
    problems = dbdrill.write_problems(r, LIMITS_S, GOALS_S)
    if r.get("member_after_s") is None:
        problems.append(f"{r.get('new_host')} did not become a full member (Synced, health "
                        f"200, UP in HAProxy) within {SYNC_WAIT_S} s")
    if r.get("missing_on_new_node"):
        problems.append(f"acknowledged writes missing on {r['new_host']}: "
                        f"{r['missing_on_new_node']}")
    if r.get("restarted"):
        problems.append(f"MariaDB was restarted on nodes that stayed: {r['restarted']}")
    return problems


def test_scale_db(secrets: dict[str, str]) -> None:
    lab = current_lab()
    if lab.engine != dbplan.GALERA:
        pytest.skip(f"scaling live is for Galera (NDB adds node groups); this lab runs "
                    f"{lab.engine}")
    before = len(lab.hosts_with(ROLE))
    try:
        problems = dbdrill.run_drill(
            NAME, lambda result: scenario(lab, secrets["db_app_password"], result), check)
    finally:
        now = len(topology.load(paths.LAB_FILE, lab.profile).hosts_with(ROLE))
        if now != before:  # put the lab back, as the app drill does
            scale.Scale(ROLE, before, profile=lab.profile, check=False, log=print).run()
    assert not problems, "\n".join(problems)
