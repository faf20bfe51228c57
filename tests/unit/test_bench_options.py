"""invoke bench's options, its refusals, and what it does without a lab: the generator only,
the other parts recorded as needing a lab (an earlier measurement kept)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webfarm import bench, benchdb, benchweb
from webfarm.args import UserError
from webfarm.state import State


@pytest.mark.parametrize(("values", "parts"), [
    (None, ["generator", "p5", "p3", "db", "p4"]),
    ([], ["generator", "p5", "p3", "db", "p4"]),
    (["db,p3"], ["p3", "db"]),
    (["p4", "p3", "p4"], ["p3", "p4"]),
    ("P2", ["up-again"]),
    (["p4-sweep", " generator "], ["generator", "sweep"]),
    (["p1"], ["serial"]),
    (["serial", "generator"], ["generator", "serial"]),
])
def test_parts(values: Any, parts: list[str]) -> None:
    assert bench.parse_parts(values) == parts


@pytest.mark.parametrize(("values", "says"), [
    (["p9"], "'p9' is not a part"),
    (["p3,,db"], "empty part name"),
    ([""], "empty part name"),
    (["rm -rf /"], "is not a part"),
])
def test_refusals_name_the_option_and_the_fix(values: list[str], says: str) -> None:
    with pytest.raises(UserError) as info:
        bench.parse_parts(values)
    text = str(info.value)
    assert "--part" in text and says in text and "Fix:" in text


@pytest.fixture
def no_lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    results = tmp_path / "bench" / "results.json"
    monkeypatch.setattr(bench, "RESULTS", results)
    monkeypatch.setattr("webfarm.benchlab.LOG_DIR", tmp_path / "logs")
    monkeypatch.setattr(bench.lab_state, "load", lambda *a, **k: State())
    monkeypatch.setattr(bench, "generator", lambda profile: {"method": "stub",
                                                             "figures": {"validate_ms": 1.0}})
    monkeypatch.setattr(bench, "_give_back", lambda files: None)

    def no_entry(*a: Any, **k: Any) -> None:
        raise AssertionError("no lab is up: nothing may enter a namespace or touch a VM")

    monkeypatch.setattr("webfarm.livelab.live_lab", no_entry)
    monkeypatch.setattr("webfarm.benchdocs.write_snapshot", no_entry)
    return results


def test_without_a_lab_only_the_generator_runs(no_lab: Path, capsys: Any) -> None:
    no_lab.parent.mkdir(parents=True)
    no_lab.write_text(json.dumps({"parts": {"p3": {"status": "measured", "configs": []}}}))
    bench.main(None, None)
    err = capsys.readouterr().err
    assert "no lab is up" in err and "p5, p3, db, p4 need a live lab" in err
    parts = json.loads(no_lab.read_text())["parts"]
    assert parts["generator"]["status"] == "measured"
    assert parts["p3"]["status"] == "measured"  # the earlier measurement is kept
    assert parts["db"] == {"status": "not measured",
                           "reason": "needs a live lab; none was up when invoke bench ran"}
    assert parts["sweep"]["status"] == "not measured" and "opt-in" in parts["sweep"]["reason"]
    assert json.loads(no_lab.read_text())["profile"] == "mini"


def test_serial_without_a_lab_is_not_measured_and_enters_nothing(no_lab: Path) -> None:
    bench.main(["serial"], None)
    part = json.loads(no_lab.read_text())["parts"]["serial"]
    assert part["status"] == "not measured" and "needs a live lab" in part["reason"]


def _report(serial: bool, up: float, seconds: list[float], **extra: Any) -> dict[str, Any]:
    return {"profile": "mini", "serial": serial, "fresh": True, "seconds": {"up": up},
            "chapters": [{"number": n, "provision_seconds": s}
                         for n, s in enumerate(seconds, 1)], **extra}


def test_p1_compares_a_serial_e2e_report_with_the_parallel_snapshot(labs: dict) -> None:
    from webfarm import benchup

    out = benchup.serial(labs["mini"], _report(True, 800.0, [500.0, 200.0]),
                         _report(False, 546.0, [399.0, 142.0], date="2026-11-28"))
    assert (out["serial_total_s"], out["parallel_total_s"]) == (1500.0, 1087.0)
    assert out["ratio"] == round(1500 / 1087, 3) and out["chapters_s"] == {1: 500.0, 2: 200.0}
    assert out["parallel_date"] == "2026-11-28"


@pytest.mark.parametrize(("mine", "theirs", "says"), [
    (_report(False, 1, [1]), _report(False, 1, [1]), "brought up tier-parallel"),
    (None, _report(False, 1, [1]), "brought up tier-parallel"),
    (_report(True, 1, [1], fresh=False), _report(False, 1, [1]), "not a fresh mini lab"),
    (_report(True, 1, [1]), None, "no tier-parallel e2e snapshot"),
    (_report(True, 1, [1]), _report(True, 1, [1]), "no tier-parallel e2e snapshot"),
    (_report(True, 1, [None]), _report(False, 1, [1]), "failed midway"),  # type: ignore[list-item]
])
def test_p1_refuses_what_it_cannot_compare(labs: dict, mine: Any, theirs: Any,
                                           says: str) -> None:
    from webfarm import benchup

    with pytest.raises(benchup.SerialError, match=says) as info:
        benchup.serial(labs["mini"], mine, theirs)
    assert "Fix:" in str(info.value)


def test_p3_commands(labs: dict) -> None:
    p = benchweb.plan(labs["mini"])
    assert p.client == "client1" and list(p.servers.values()) == ["app1", "app2"]
    cmd = p.wrk_command()
    assert cmd.startswith("timeout -k 5 50 wrk -t1 -c8 -d20s --latency")
    assert f"Host: www.{labs['mini'].domain}" in cmd and cmd.endswith(benchweb.URL_PATH)
    first = next(iter(p.servers))
    assert p.weight_command(first, 0) == (f"ipvsadm -e -t {p.service} -r {first}:80 -g -w 0")


def test_db_password_never_on_a_command_line(labs: dict) -> None:
    p = benchdb.plan(labs["mini"])
    assert p.candidates[:2] == ["app1", "app2"] and p.nodes == ["db1", "db2"]
    script = benchdb.slap_script(p)
    assert "password" not in script and "umask 077" in script
    assert 'trap \'rm -rf "$d"\' EXIT' in script and "--defaults-extra-file" in script
    assert script.index("--defaults-extra-file") < script.index("--host")
    assert "--no-drop" in script and "--create=" not in script and "auto-generate" not in script
    assert benchdb.option_file("webfarm", "s3cr-t_X") == (
        "[client]\nuser=webfarm\npassword=s3cr-t_X\n")
    with pytest.raises(UserError, match="escape"):
        benchdb.option_file("webfarm", "a\nb")
    cmd = benchdb.socket_command("/run/haproxy/admin.sock", "disable server db_read_nodes/db2")
    assert cmd.startswith("python3 -c ") and "'disable server db_read_nodes/db2'" in cmd
