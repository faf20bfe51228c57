"""``invoke scale`` without a VM (webfarm.scale): which chapters re-run where (computed from
the render of the lab before and after), the order of the runs, the drain plan of a scale in
and its execution against a fake shell, and which count a resumed scale starts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from webfarm import chapters, labedit, render, scale, topology
from webfarm import secrets as lab_secrets
from webfarm.args import UserError
from webfarm.state import State
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests/fixtures/lab.yml"
TEXT = LAB_FILE.read_text(encoding="utf-8")
OUT = Path("/nonexistent/hosts")  # renders stay in memory: nothing is written


def lab(profile: str, **counts: int) -> Lab:
    text = TEXT
    for role, n in counts.items():
        text = labedit.set_count(text, profile, role, n)
    return topology.parse(text, "lab.yml", profile)


def files(lab_: Lab) -> dict[str, dict[Path, str]]:
    return render.lab_files(lab_, lab_secrets.redacted(), State(), OUT)


def plan(profile: str, role: str, before: int, after: int) -> tuple[scale.Plan, Lab, Lab]:
    old, new = lab(profile, **{role: before}), lab(profile, **{role: after})
    return scale.make_plan(old, new, role, files(old), files(new), OUT), old, new


# -- what changed ------------------------------------------------------------------------------


def test_chapter_changes_compares_each_chapters_files() -> None:
    a, b = OUT / "h1", OUT / "h2"
    old = {"h1": {a / "env.sh": "E", a / "files/01-base/hosts": "x", a / "files/04-lvs/k": "1"},
           "h2": {b / "env.sh": "E", b / "files/02-dns/z": "1"},
           "gone": {OUT / "gone/env.sh": "E"}}
    new = {"h1": {a / "env.sh": "E", a / "files/01-base/hosts": "y", a / "files/04-lvs/k": "1",
                  a / "files/08-monitor/new": "n"},
           "h2": {b / "env.sh": "E", b / "files/02-dns/z": "1"},
           "h3": {OUT / "h3/env.sh": "E"}}
    assert scale.chapter_changes(old, new, OUT) == {"h1": {"01-base", "08-monitor"}}


def test_a_changed_env_sh_counts_for_every_chapter_of_the_host() -> None:
    a = OUT / "h1"
    old = {"h1": {a / "env.sh": "E1", a / "files/01-base/x": "1"}}
    new = {"h1": {a / "env.sh": "E2", a / "files/01-base/x": "1"}}
    assert scale.chapter_changes(old, new, OUT) == {"h1": {"01-base", "*"}}


# --8<-- [start:mini-plan]
def test_scale_app_out_in_mini() -> None:
    p, _, _ = plan("mini", "app", 2, 3)
    assert (p.added, p.removed, p.old_count, p.new_count, p.out) == (["app3"], [], 2, 3, True)
    assert p.changed == {
        "01-base": ["lb1", "lb2", "app1", "app2", "db1", "db2", "mon1", "client1"],  # hosts
        "02-dns": ["lb1", "lb2"],  # the zone, on the name servers (the directors in mini)
        "04-lvs": ["lb1", "lb2"],  # the IPVS pools
        "05-db": ["db1", "db2"],  # the app user's grant from app3's address
        "06-dblb": ["db1", "db2"],  # HAProxy lets app3 in
        "08-monitor": ["lb1", "lb2", "mon1"],  # Nagios objects, the directors' IPVS check
    }
    assert p.deferred == ["lb1", "lb2"]  # they hold www and media, whose pools app3 joins
# --8<-- [end:mini-plan]


def test_the_balancers_learn_of_a_new_server_only_once_it_is_complete() -> None:
    p, _, new = plan("mini", "app", 2, 3)
    # the directors wait from their pool chapter (04) on, the monitor from chapter 08 on
    assert p.late == {"lb1": 4, "lb2": 4, "mon1": 8}
    passes = scale.runs(p, new)
    # while app3 boots: what the hosts that stay need nothing from app3 for
    assert [(r.chapter, r.new, r.rerun) for r in passes.early] == [
        ("01-base", (), ("lb1", "lb2", "app1", "app2", "db1", "db2", "mon1", "client1")),
        ("02-dns", (), ("lb1", "lb2")),  # the zone has app3 before app3 asks for it
        ("05-db", (), ("db1", "db2")),  # the grant is there before chapter 07 on app3
        ("06-dblb", (), ("db1", "db2")),
    ]
    assert [(r.chapter, r.new, r.rerun) for r in passes.new] == [
        ("01-base", ("app3",), ()), ("02-dns", ("app3",), ()), ("03-web", ("app3",), ()),
        ("07-app", ("app3",), ()), ("08-monitor", ("app3",), ())]
    assert [(r.chapter, r.new, r.rerun) for r in passes.late] == [
        ("04-lvs", (), ("lb1", "lb2")), ("08-monitor", (), ("lb1", "lb2", "mon1"))]


def test_every_changed_run_is_in_exactly_one_pass() -> None:
    for profile, role, a, b in (("mini", "app", 2, 4), ("full", "app", 2, 3),
                                ("full", "db_sql", 2, 3), ("full", "media", 2, 3)):
        p, _, new = plan(profile, role, a, b)
        passes = scale.runs(p, new)
        pairs = [(r.chapter, h) for r in passes.early + passes.late for h in r.rerun]
        assert sorted(pairs) == sorted((c, h) for c, hs in p.changed.items() for h in hs)
        assert all(not r.rerun for r in passes.new)
        assert all(not r.new for r in passes.early + passes.late)


def test_the_plan_follows_the_profile_not_a_list() -> None:
    """The same scale in the full profile touches other hosts: the zone lives on ns1/ns2,
    the DB balancers are dblb1/dblb2, every Galera node gets the grant."""
    p, _, _ = plan("full", "app", 2, 3)
    assert p.changed["02-dns"] == ["ns1", "ns2"]
    assert p.changed["04-lvs"] == ["lb1", "lb2"]
    assert p.changed["05-db"] == ["data1", "data2", "sql1", "sql2"]
    assert p.changed["06-dblb"] == ["dblb1", "dblb2"]
    assert p.deferred == ["lb1", "lb2"]


def test_a_new_galera_node_defers_the_db_balancers() -> None:
    p, _, new = plan("full", "db_sql", 2, 3)
    assert p.added == ["sql3"] and p.deferred == ["dblb1", "dblb2"]
    assert "mgm1" in p.changed["05-db"]  # garbd: 5 nodes are odd, the arbitrator goes
    passes = scale.runs(p, new)
    assert p.late["dblb1"] == p.late["dblb2"] == 6
    assert ("06-dblb", (), ("dblb1", "dblb2")) in [(r.chapter, r.new, r.rerun)
                                                   for r in passes.late]
    assert all(chapters.get(r.chapter).number < 6 for r in passes.early if "dblb1" in r.hosts)
    assert all("dblb1" not in r.hosts for r in passes.new)
    # garbd stops only once the new node is in: its host's DB chapter is a late run
    assert p.late["mgm1"] == 5
    assert ("05-db", (), ("mgm1",)) in [(r.chapter, r.new, r.rerun) for r in passes.late]
    assert all("mgm1" not in r.hosts for r in passes.early if r.chapter == "05-db")


def test_a_new_galera_node_in_mini() -> None:
    """db3 (dblb, db_data, db_sql like db1): the nodes that stay rewrite their node list
    while it boots; the DB balancers wait from 06, the arbitrator's host (mon1) from 05."""
    p, _, new = plan("mini", "db_data", 2, 3)
    assert p.added == ["db3"]
    assert p.late == {"db1": 6, "db2": 6, "mon1": 5}
    passes = scale.runs(p, new)
    early = [(r.chapter, r.rerun) for r in passes.early]
    assert ("05-db", ("db1", "db2")) in early
    assert [r.chapter for r in passes.new] == ["01-base", "02-dns", "05-db", "06-dblb",
                                               "08-monitor"]
    assert [(r.chapter, r.rerun) for r in passes.late] == [
        ("05-db", ("mon1",)), ("06-dblb", ("db1", "db2")), ("08-monitor", ("mon1",))]


def test_adding_app_servers_keeps_the_arbitrator_early() -> None:
    p, _, _ = plan("mini", "app", 2, 3)
    assert "mon1" in p.late and p.late["mon1"] == 8  # the monitor only


def test_scale_in_reruns_the_changed_chapters_on_the_hosts_that_stay() -> None:
    p, _, new = plan("mini", "app", 3, 2)
    assert (p.added, p.removed, p.out, p.deferred) == ([], ["app3"], False, [])
    passes = scale.runs(p, new)
    assert passes.new == passes.late == [] and p.late == {}
    assert all(not r.new and "app3" not in r.rerun for r in passes.early)
    assert ("04-lvs", (), ("lb1", "lb2")) in [(r.chapter, r.new, r.rerun) for r in passes.early]


def test_nothing_changes_when_the_count_does_not() -> None:
    p, _, new = plan("mini", "app", 2, 2)
    assert (p.added, p.removed, p.changed) == ([], [], {})
    assert scale.runs(p, new) == scale.Passes([], [], [])


# -- draining ----------------------------------------------------------------------------------


def test_drain_plan_of_an_app_server() -> None:
    old = lab("mini", app=3)
    steps = scale.drain_plan(old, ["app3"])
    assert [(s.kind, s.host, s.detail.get("service")) for s in steps] == [
        ("ipvs-weight-0", "lb1", "192.168.56.10:80"), ("ipvs-weight-0", "lb2", "192.168.56.10:80"),
        ("ipvs-wait", "lb1", "192.168.56.10:80"), ("ipvs-wait", "lb2", "192.168.56.10:80"),
        ("ipvs-weight-0", "lb1", "192.168.56.11:80"), ("ipvs-weight-0", "lb2", "192.168.56.11:80"),
        ("ipvs-wait", "lb1", "192.168.56.11:80"), ("ipvs-wait", "lb2", "192.168.56.11:80")]
    assert {s.detail["real"] for s in steps} == {"192.168.56.43:80"}


def test_drain_plan_of_a_db_node_that_is_also_a_balancer() -> None:
    """mini's db3 holds the db VIP (dblb), serves SQL and is a Galera node: its VIP moves
    first, then the balancers that stay drain it, then it leaves the cluster."""
    old = lab("mini", db_sql=3)
    steps = scale.drain_plan(old, ["db3"])
    assert [(s.kind, s.host) for s in steps] == [
        ("keepalived-stop", "db3"),
        ("haproxy-drain", "db1"), ("haproxy-drain", "db2"),
        ("haproxy-wait", "db1"), ("haproxy-wait", "db2"),
        ("haproxy-maint", "db1"), ("haproxy-maint", "db2"),
        ("galera-leave", "db3")]
    assert steps[1].detail == {"backend": "db_write_nodes"}
    assert all(s.target == "db3" for s in steps)


def test_the_last_host_drains_first() -> None:
    old = lab("mini", app=4)
    targets = [s.target for s in scale.drain_plan(old, ["app3", "app4"])]
    assert targets.index("app4") < targets.index("app3")


IPVS = """IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.56.10:80 wrr
  -> 192.168.56.41:80             Route   1      3          7
  -> 192.168.56.43:80             Route   0      {n}          12
"""
STAT = ("# pxname,svname,qcur,qmax,scur,smax\n"
        "db_write_nodes,db1,0,0,4,9\ndb_write_nodes,db3,0,0,{w},3\n"
        "db_read_nodes,db3,0,0,{r},3\ndb_read_nodes,BACKEND,0,0,9,9\n")


def test_parsers() -> None:
    assert scale.active_connections(IPVS.format(n=2), "192.168.56.43:80") == 2
    assert scale.active_connections(IPVS.format(n=0), "192.168.56.41:80") == 3
    assert scale.active_connections(IPVS.format(n=0), "192.168.56.44:80") is None
    assert scale.sessions(STAT.format(w=1, r=2), "db3") == 3
    assert scale.sessions(STAT.format(w=0, r=0), "db3") == 0


def test_haproxy_command_quotes_its_arguments() -> None:
    cmd = scale.haproxy_command("/run/haproxy/admin.sock", "set server b/db3 state drain")
    assert cmd.startswith("python3 -c ")
    assert cmd.endswith("/run/haproxy/admin.sock 'set server b/db3 state drain'")


class FakeShell:
    """Answers by the first matching word of the command; records every call."""

    def __init__(self, answers: dict[str, list[tuple[int, str]]]) -> None:
        self.answers, self.calls = answers, []  # type: ignore[var-annotated]

    def __call__(self, host: str, command: str) -> tuple[int, str]:
        self.calls.append((host, command))
        for word, replies in self.answers.items():
            if word in command:
                return replies.pop(0) if len(replies) > 1 else replies[0]
        return 0, ""


def test_run_drain_waits_for_the_connections_to_end() -> None:
    old = lab("mini", app=3)
    steps = [s for s in scale.drain_plan(old, ["app3"]) if "56.10" in s.detail["service"]]
    shell = FakeShell({"ipvsadm -L": [(0, IPVS.format(n=1)), (0, IPVS.format(n=0))]})
    done = scale.run_drain(old, steps, shell, wait_s=10)
    assert [c for c in shell.calls if "-w 0" in c[1]] == [
        ("lb1", "ipvsadm -e -t 192.168.56.10:80 -r 192.168.56.43:80 -g -w 0"),
        ("lb2", "ipvsadm -e -t 192.168.56.10:80 -r 192.168.56.43:80 -g -w 0")]
    assert sum("ipvsadm -L" in c for _, c in shell.calls) == 3  # busy, then quiet twice
    assert any("no active connection: done" in d for d in done)


def test_run_drain_skips_what_is_gone_already() -> None:
    old = lab("mini", db_sql=3)
    shell = FakeShell({"systemctl stop": [(255, "ssh: connect to host db3: No route")],
                       "state drain": [(0, "No such server.\n")],
                       "state maint": [(0, "No such server.\n")],
                       "show stat": [(0, STAT.format(w=0, r=0))]})
    done = scale.run_drain(old, scale.drain_plan(old, ["db3"]), shell, wait_s=5)
    assert done[0].endswith("skipped (db3 cannot be reached: gone already)")
    assert sum("skipped (not in the pool)" in d for d in done) == 4
    assert done[-1].startswith("db3: stop mariadb") and "skipped" in done[-1]


def test_run_drain_stops_on_a_real_failure() -> None:
    old = lab("mini", db_sql=3)
    shell = FakeShell({"systemctl stop": [(1, "Failed to stop keepalived.service")]})
    with pytest.raises(scale.DrainError, match=r"stop keepalived .*failed \(exit 1\)"):
        scale.run_drain(old, scale.drain_plan(old, ["db3"]), shell, wait_s=5)


def test_a_wait_that_runs_out_goes_on_and_says_so() -> None:
    old = lab("mini", app=3)
    steps = [s for s in scale.drain_plan(old, ["app3"]) if s.kind == "ipvs-wait"][:1]
    shell = FakeShell({"ipvsadm -L": [(0, IPVS.format(n=5))]})
    done = scale.run_drain(old, steps, shell, wait_s=0)
    assert done == ["lb1: wait until 192.168.56.43:80 has no active connection: still busy "
                    "after 0 s, going on"]


# -- resuming ----------------------------------------------------------------------------------


def test_before_count() -> None:
    P = scale.Pending
    assert scale.before_count(2, 3, "app", "mini", None) == 2
    assert scale.before_count(3, 3, "app", "mini", P("mini", "app", 2, 3)) == 2  # resume out
    assert scale.before_count(2, 2, "app", "mini", P("mini", "app", 3, 2)) == 3  # resume in
    assert scale.before_count(3, 2, "app", "mini", P("mini", "app", 2, 3)) == 3  # undo out
    with pytest.raises(UserError, match="run `invoke scale app 2` to finish it"):
        scale.before_count(2, 3, "app", "mini", P("mini", "app", 3, 2))  # no undo of an in
    with pytest.raises(UserError, match="or `invoke scale app 2` to undo it"):
        scale.before_count(3, 4, "app", "mini", P("mini", "app", 2, 3))
    with pytest.raises(UserError, match="a scale of app in profile mini"):
        scale.before_count(2, 3, "db_sql", "mini", P("mini", "app", 2, 3))


def test_pending_round_trip_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    assert scale.pending(path) is None
    scale.Pending("mini", "app", 2, 3).save(path)
    assert scale.pending(path) == scale.Pending("mini", "app", 2, 3)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match="is damaged"):
        scale.pending(path)


# -- the generated Vagrantfile -------------------------------------------------------------------


def test_vagrantfile_for_a_text_is_the_generators_for_that_file(tmp_path: Path) -> None:
    grown = labedit.set_count(TEXT, "mini", "app", 3)
    path = tmp_path / "lab.yml"
    path.write_text(grown, encoding="utf-8")
    assert scale.vagrantfile_for(grown, path) == render.vagrantfile(path)
    data = render.embedded_data(scale.vagrantfile_for(grown, path))
    assert "app3" in [h["name"] for h in data["profiles"]["mini"]]


def test_ndb_db_tiers_are_not_scaled_live() -> None:
    text = TEXT.replace("db_engine: auto", "db_engine: ndb").replace("os: debian12",
                                                                    "os: almalinux9")
    ndb = topology.parse(text, "lab.yml", "full")
    with pytest.raises(UserError, match="NDB Cluster nodes"):
        scale.check_request(ndb, "db_data", 4)
    scale.check_request(ndb, "app", 3)  # the web tier scales on any engine


def test_a_director_that_does_not_answer_stops_the_drain() -> None:
    old = lab("mini", app=3)
    shell = FakeShell({"ipvsadm -e": [(255, "ssh: connect to host lb1: Connection refused")]})
    with pytest.raises(scale.DrainError, match="lb1 did not answer"):
        scale.run_drain(old, scale.drain_plan(old, ["app3"]), shell, wait_s=0)


# -- the whole command against fakes (no VM): what is called, in which order -------------------


class Fakes:
    """Stands in for Vagrant, the runner and the lab's shell; records what happens."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from webfarm import diagram, preflight, runner, vagrant

        self.tmp, self.calls = tmp, []  # type: ignore[var-annotated]
        self.lab_file = tmp / "lab.yml"
        self.lab_file.write_text(TEXT, encoding="utf-8")
        self.vagrantfile = tmp / "Vagrantfile"
        self.running: set[str] = set(lab("mini").hosts)
        self.fail_chapter = ""
        monkeypatch.setattr(scale, "SCALE_FILE", tmp / "scale.json")
        monkeypatch.setattr(scale, "REPORT_FILE", tmp / "scale-report.json")
        monkeypatch.setattr(render, "VAGRANTFILE", self.vagrantfile)
        monkeypatch.setattr(render, "HOSTS_DIR", tmp / "hosts")
        monkeypatch.setattr(lab_secrets, "load", lambda *a, **k: lab_secrets.redacted())
        monkeypatch.setattr(diagram, "committed", lambda *_a: {})
        monkeypatch.setattr(preflight, "preflight", lambda *a: self.calls.append("preflight"))
        monkeypatch.setattr(preflight, "isolate_management_network", lambda *a: "isolated")
        monkeypatch.setattr(vagrant, "status", self.status)
        monkeypatch.setattr(vagrant, "up", self.up)
        monkeypatch.setattr(vagrant, "destroy", self.destroy)
        monkeypatch.setattr(vagrant, "write_ssh_config", lambda *a: None)
        monkeypatch.setattr(runner, "run_chapter", self.run_chapter)
        monkeypatch.setattr(scale, "ssh_shell", lambda: FakeShell({"ipvsadm -L": [(0, "")]}))

    def status(self, lab_: Lab) -> list[object]:
        from webfarm.vagrant import VMState

        return [VMState(h, "running" if h in self.running else "not_created", "libvirt")
                for h in lab_.hosts]

    def up(self, lab_: Lab, hosts: list[str], provider: str) -> None:
        self.calls.append(f"up {' '.join(hosts)}")
        self.running |= set(hosts)

    def destroy(self, lab_: Lab, hosts: list[str]) -> None:
        names = [h["name"] for h in render.embedded_data(
            self.vagrantfile.read_text())["profiles"]["mini"]]
        assert set(hosts) <= set(names), "the Vagrantfile must still define what is destroyed"
        self.calls.append(f"destroy {' '.join(hosts)}")
        self.running -= set(hosts)

    def run_chapter(self, lab_: Lab, ch: object, st: object, only: set[str]) -> object:
        from webfarm.runner import ChapterFailed, ChapterRun, HostRun

        slug = ch.slug  # type: ignore[attr-defined]
        if slug == self.fail_chapter:
            self.fail_chapter = ""
            raise ChapterFailed(f"chapter {slug} failed on {sorted(only)[0]}")
        self.calls.append(f"{slug} {' '.join(sorted(only))}")
        return ChapterRun(ch, [HostRun(h, True, 1.0, 0, self.tmp / "log") for h in only],  # type: ignore[arg-type]
                          1.0)

    def scale(self, count: int, **kw: object) -> scale.Report:
        events: list[str] = []
        job = scale.Scale("app", count, profile="mini", check=False, log=lambda _m: None,
                          lab_file=self.lab_file, on_event=events.append, **kw)  # type: ignore[arg-type]
        report = job.run()
        self.calls.append(f"events {' '.join(events)}")
        return report


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    return Fakes(tmp_path, monkeypatch)


def test_scale_out_then_in_against_fakes(fakes: Fakes) -> None:
    out = fakes.scale(3)
    assert out.added == ["app3"] and out.error is None
    assert fakes.calls[0] == "preflight"
    chapters_run = [c for c in fakes.calls if c[:2].isdigit()]
    assert chapters_run[0] == "01-base app1 app2 client1 db1 db2 lb1 lb2 mon1"  # while app3 boots
    assert fakes.calls.index("up app3") < fakes.calls.index("01-base app3")
    assert chapters_run[-2:] == ["04-lvs lb1 lb2", "08-monitor lb1 lb2 mon1"]  # the pools last
    assert fakes.calls[-1] == "events vms-up new-hosts-built pools-updated done"
    assert labedit.count(fakes.lab_file.read_text(), "mini", "app") == 3
    assert "app3" in fakes.vagrantfile.read_text()
    assert not scale.SCALE_FILE.exists() and scale.REPORT_FILE.exists()

    fakes.calls.clear()
    back = fakes.scale(2)
    assert back.removed == ["app3"]
    assert back.drained[0].startswith("lb1: IPVS weight 0 for 192.168.56.43:80")
    assert fakes.calls[-2:] == ["destroy app3", "events drained pools-updated destroyed done"]
    assert "04-lvs lb1 lb2" in fakes.calls
    assert fakes.lab_file.read_text() == TEXT  # the same bytes as before the round trip
    assert "app3" not in fakes.vagrantfile.read_text()


def test_a_failed_scale_out_resumes_with_the_same_plan(fakes: Fakes) -> None:
    fakes.fail_chapter = "07-app"
    with pytest.raises(UserError, match=r"stopped there .*it resumes"):
        fakes.scale(3)
    assert scale.pending() == scale.Pending("mini", "app", 2, 3)
    assert labedit.count(fakes.lab_file.read_text(), "mini", "app") == 3
    fakes.calls.clear()
    again = fakes.scale(3)  # lab.yml says 3 already: the saved "before" (2) gives the plan
    assert again.added == ["app3"] and not scale.SCALE_FILE.exists()
    assert "07-app app3" in fakes.calls and "04-lvs lb1 lb2" in fakes.calls


def test_a_failure_while_the_new_vm_boots_waits_for_the_boot_then_resumes(
        fakes: Fakes) -> None:
    fakes.fail_chapter = "05-db"  # on db1/db2, in the early pass, while app3 boots
    with pytest.raises(UserError, match=r"(?s)chapter 05-db failed .*stopped there"):
        fakes.scale(3)
    assert "up app3" in fakes.calls  # the boot ran to its end, not left behind
    assert not any(c.endswith(" app3") and c[:2].isdigit() for c in fakes.calls)
    fakes.calls.clear()
    assert fakes.scale(3).added == ["app3"] and not scale.SCALE_FILE.exists()
    assert "05-db db1 db2" in fakes.calls and "08-monitor lb1 lb2 mon1" in fakes.calls


def test_a_failed_scale_out_can_be_undone(fakes: Fakes) -> None:
    fakes.fail_chapter = "03-web"
    with pytest.raises(UserError):
        fakes.scale(3)
    fakes.calls.clear()
    undone = fakes.scale(2)
    assert undone.removed == ["app3"] and "destroy app3" in fakes.calls
    assert fakes.lab_file.read_text() == TEXT and not scale.SCALE_FILE.exists()


def test_a_refusal_changes_nothing(fakes: Fakes) -> None:
    with pytest.raises(UserError, match="has only 7 free"):
        fakes.scale(12)
    fakes.running.discard("lb2")
    with pytest.raises(UserError, match="lb2 of profile mini not running"):
        fakes.scale(3)
    assert fakes.calls == [] and fakes.lab_file.read_text() == TEXT
    assert not scale.SCALE_FILE.exists()


def test_the_same_count_does_nothing(fakes: Fakes) -> None:
    report = fakes.scale(2)
    assert (report.added, report.removed, report.runs) == ([], [], [])
    assert fakes.calls == ["events "]
