"""P4's arithmetic: the VRRP bound, merged probe samples, false failovers, the sweep's pick;
and the in-memory advert_int override the sweep renders chapter 04 with."""

from __future__ import annotations

from pathlib import Path

import pytest

from webfarm import benchvrrp as bv
from webfarm import render
from webfarm import secrets as lab_secrets
from webfarm.benchparse import Transition
from webfarm.drills import Sample, outage
from webfarm.state import State


def test_vrrpv2_bound_at_one_second() -> None:
    # RFC 3768: skew = (256 - priority) / 256 s, whatever the advert interval
    assert bv.skew_s(100, 1.0, 2) == pytest.approx(0.609375)
    assert bv.master_down_s(100, 1.0, 2) == pytest.approx(3.609375)
    assert bv.master_down_s(100, 2.0, 2) == pytest.approx(6.609375)


def test_vrrpv3_skew_scales_with_the_interval() -> None:
    # RFC 5798: skew = (256 - priority) x advert_int / 256
    assert bv.skew_s(100, 0.5, 3) == pytest.approx(0.3046875)
    assert bv.master_down_s(100, 0.5, 3) == pytest.approx(1.8046875)
    assert bv.master_down_s(100, 0.25, 3) == pytest.approx(0.90234375)


def test_bounds_of_the_lab(labs: dict) -> None:
    b = bv.bounds(labs["mini"])
    assert b == {"advert_int_s": 1.0, "vrrp_version": 2, "backup_priority": 100,
                 "skew_s": 0.609, "crash_bound_s": 3.609, "clean_bound_s": 0.609}
    sub = bv.bounds(bv.with_advert(labs["mini"], 0.5))
    assert (sub["vrrp_version"], sub["crash_bound_s"]) == (3, 1.805)


def test_merged_probe_loops_and_their_resolution() -> None:
    a = [Sample(0.0, True), Sample(0.3, False), Sample(0.6, True)]
    b = [Sample(0.1, True), Sample(0.4, False), Sample(0.7, True)]
    m = bv.merged([a, b])
    assert [s.t for s in m] == [0.0, 0.1, 0.3, 0.4, 0.6, 0.7]
    assert outage(m) == pytest.approx(0.5)  # last answer 0.1, next 0.6
    assert bv.resolution_s(m) == pytest.approx(0.1)
    assert bv.resolution_s([]) is None


def test_false_failovers_count_moves_of_the_vip() -> None:
    seen = {"lb1": [Transition(1.0, "VI_FRONT", "BACKUP"), Transition(5.0, "VI_FRONT",
                                                                     "MASTER")],
            "lb2": [Transition(1.1, "VI_FRONT", "MASTER"), Transition(5.1, "VI_FRONT",
                                                                     "BACKUP")]}
    assert bv.failovers(seen, "lb1") == 2
    assert bv.failovers({"lb1": [], "lb2": []}, "lb1") == 0


def test_kind_summary_against_the_bound() -> None:
    runs = [{"outage_s": 3.2, "failed_requests": 30}, {"outage_s": 4.3, "failed_requests": 41},
            {"outage_s": None}]
    s = bv.kind_summary(runs, 3.609)
    assert s["outage_s"] == {"n": 2, "min": 3.2, "median": 3.75, "max": 4.3}
    assert s["within_bound"] == 1 and s["failed_requests"] == 71


def _setting(advert: float, median: float | None, failovers: int) -> dict:
    return {"advert_int_s": advert, "quiet": {"failovers": failovers, "seconds": 60},
            "crash": {"outage_s": {"median": median}}}


def test_recommend_the_fastest_calm_setting() -> None:
    rec = bv.recommend([_setting(1.0, 3.9, 0), _setting(0.5, 2.1, 0), _setting(0.25, 1.2, 3)])
    assert rec is not None and rec["advert_int_s"] == 0.5
    assert "2.1" in rec["why"]
    assert bv.recommend([_setting(0.25, 1.2, 3)]) is None
    assert bv.recommend([_setting(1.0, None, 0)]) is None


def test_plan_and_commands(labs: dict) -> None:
    p = bv.plan(labs["mini"])
    assert (p.master, p.backup, p.client) == ("lb1", "lb2", "client1")
    crash = p.fail_command("crash")
    assert f"ip link set {p.iface} down; sleep {bv.HOLD_S}; ip link set {p.iface} up" in crash
    assert crash.startswith("setsid nohup") and crash.endswith("&")
    assert p.fail_command("clean") == f"systemctl stop {p.keepalived}"
    assert p.restore_command("clean") == f"systemctl start {p.keepalived}"


def test_the_sweep_override_reaches_keepalived_conf(labs: dict, tmp_path: Path) -> None:
    lab = bv.with_advert(labs["mini"], 0.25)
    assert labs["mini"].vrrp.advert_int == 1.0  # the model itself is untouched
    render.render_lab(lab, lab_secrets.redacted(), State(), tmp_path)
    conf = (tmp_path / "lb1" / "files" / "04-lvs" / "keepalived.conf").read_text()
    assert "version 3" in conf and "advert_int 0.25" in conf and "auth_pass" not in conf
