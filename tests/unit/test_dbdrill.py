"""The DB drills' offline parts (webfarm/dbdrill.py): the writer's PHP and how it is put on the
app server, its log, the verdict (acknowledged, lost, outage), Galera status and HAProxy's
stats CSV, and the dead-man switch. The PHP runs for real when php is installed."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from webfarm import dbdrill, dblb, dbplan, topology
from webfarm.dbdrill import Attempt, WriterConfig, WriterLog
from webfarm.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php CLI not installed")


def cfg(**kw: object) -> WriterConfig:
    base: dict[str, object] = {"host": "db.example", "port": 3306, "user": "webfarm",
                               "database": "webfarm", "run": "db-node-1", "duration_s": 90,
                               "max_writes": 5000}
    return WriterConfig(**{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture
def tmp_in_tmp() -> Iterator[Path]:
    """A folder under /tmp (launch_command accepts no other place)."""
    folder = Path(tempfile.mkdtemp(prefix="dbdrill-test-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# -- the writer ---------------------------------------------------------------------------------


@needs_php
def test_writer_script_is_valid_php(tmp_path: Path) -> None:
    script = tmp_path / "writer.php"
    script.write_text(dbdrill.writer_script(cfg()), encoding="utf-8")
    run = subprocess.run([PHP, "-l", str(script)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_writer_script_carries_the_config_and_no_secret() -> None:
    text = dbdrill.writer_script(cfg(host="10.9.8.7", port=3310, duration_s=61.5,
                                     max_writes=777, pause_s=0.08))
    assert "const DSN = 'mysql:host=10.9.8.7;port=3310;dbname=webfarm;charset=utf8mb4';" in text
    assert "const RUN = 'db-node-1';" in text
    assert "const DURATION_S = 61.5;" in text
    assert "const MAX_WRITES = 777;" in text
    assert "const PAUSE_US = 80000;" in text
    assert "const CONNECT_TIMEOUT_S = 1;" in text
    assert dbdrill.CREATE_TABLE in text
    assert text.startswith("<?php\n") and "--8<--" not in text  # nothing printed before it
    assert "@" + "DSN@" not in text and "password" not in text.split("PASSWORD_FILE = ")[0]


@needs_php
@pytest.mark.parametrize("value", ["plain", "it's", "back\\slash", "both \\' and '\\", "$x {y}"])
def test_php_string_round_trips(value: str) -> None:
    code = f"echo {dbdrill.php_string(value)};"
    run = subprocess.run([PHP, "-r", code], capture_output=True, text=True, timeout=60,
                         check=True)
    assert run.stdout == value


def _php_has_pdo_mysql() -> bool:
    if PHP is None:
        return False
    code = "exit(in_array('mysql', PDO::getAvailableDrivers(), true) ? 0 : 1);"
    return subprocess.run([PHP, "-r", code], capture_output=True, timeout=60,
                          check=False).returncode == 0


@pytest.mark.skipif(not _php_has_pdo_mysql(), reason="php without PDO mysql")
def test_writer_logs_every_failed_attempt_and_ends(tmp_path: Path) -> None:
    """No server on the port: every attempt fails at once (connection refused), each is
    logged with its seq, the writer stops at max_writes, says done and removes the password
    file."""
    config = cfg(host="127.0.0.1", port=9, duration_s=20, max_writes=3, pause_s=0.01)
    (tmp_path / "writer.php").write_text(dbdrill.writer_script(config), encoding="utf-8")
    (tmp_path / "password").write_text("secret\n", encoding="utf-8")
    start = time.time()
    run = subprocess.run([PHP, "writer.php"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, check=False)
    log = dbdrill.parse_log(run.stdout)
    assert run.returncode == 0, run.stderr
    assert log.run == "db-node-1" and log.done and log.other_lines == 0
    assert [(a.seq, a.ok) for a in log.attempts] == [(1, False), (2, False), (3, False)]
    assert all(a.error.startswith("SQLSTATE[HY000] [2002]") for a in log.attempts)
    assert all(start - 1 < a.t < time.time() + 1 for a in log.attempts)
    assert not (tmp_path / "password").exists()


@pytest.mark.skipif(not _php_has_pdo_mysql(), reason="php without PDO mysql")
def test_writer_ends_at_its_stop_file(tmp_path: Path) -> None:
    """With no server, each attempt fails at once; the writer would go on for 60 s but
    ends within about a second of the stop file appearing, and says done."""
    config = cfg(host="127.0.0.1", port=9, duration_s=60, max_writes=100000, pause_s=0.05)
    (tmp_path / "writer.php").write_text(dbdrill.writer_script(config), encoding="utf-8")
    (tmp_path / "password").write_text("secret\n", encoding="utf-8")
    proc = subprocess.Popen([PHP, "writer.php"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        (tmp_path / config.stop_file).touch()
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = dbdrill.parse_log(out)
    assert proc.returncode == 0, err
    assert log.done and log.attempts
    assert time.monotonic() - stopped < 10


@needs_php
def test_writer_without_password_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "writer.php").write_text(dbdrill.writer_script(cfg()), encoding="utf-8")
    run = subprocess.run([PHP, "writer.php"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, check=False)
    log = dbdrill.parse_log(run.stdout)
    assert run.returncode == 1
    assert log.done and log.attempts == [] and log.other_lines == 1
    assert "cannot read password" in run.stdout


def test_launch_puts_script_and_password_verbatim(tmp_in_tmp: Path) -> None:
    """The launch shell, run by a real shell with a stand-in php: writer.php is the script
    byte for byte, the password file holds the password (hostile characters and all), both
    mode 0600, and the stand-in got the read timeout and ran detached."""
    bin_dir = tmp_in_tmp / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "php"
    fake.write_text('#!/bin/sh\necho "$@" > args\necho done\n', encoding="utf-8")
    fake.chmod(0o755)
    folder = str(tmp_in_tmp / "run")
    password = "p'a\"s$s `w` \\o\\rd EOF"
    config = cfg()
    command = dbdrill.launch_command(config, password, folder)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().isdigit()
    run_dir = Path(folder)
    wait_until(lambda: (run_dir / "args").exists(), 10, 0.1, "the stand-in php")
    assert (run_dir / "writer.php").read_text(encoding="utf-8") == \
        dbdrill.writer_script(config)
    assert (run_dir / "password").read_text(encoding="utf-8") == password + "\n"
    for name in ("writer.php", "password"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    assert (run_dir / "args").read_text(encoding="utf-8").split() == [
        "-d", "mysqlnd.net_read_timeout=2", "writer.php"]
    wait_until(lambda: "done" in (run_dir / "writer.log").read_text(encoding="utf-8"), 10,
               0.1, "the log")


@pytest.mark.parametrize("password", ["", "two\nlines", "cr\r"])
def test_launch_refuses_a_password_that_breaks_the_heredoc(password: str) -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        dbdrill.launch_command(cfg(), password, "/tmp/x")


@pytest.mark.parametrize("folder", ["/home/vagrant/x", "/tmp/a b", "/tmp/$(reboot)", "tmp/x"])
def test_launch_refuses_odd_folders(folder: str) -> None:
    with pytest.raises(ValueError, match="plain path under /tmp"):
        dbdrill.launch_command(cfg(), "pw", folder)


@pytest.mark.parametrize("run", ["", "a'b", "a b", "x;DROP", "-lead", "a" * 65, "é"])
def test_bad_run_ids_are_refused(run: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        dbdrill.check_run_id(run)
    with pytest.raises(ValueError, match="run id"):
        cfg(run=run)


def test_new_run_ids_differ_and_are_valid() -> None:
    a, b = dbdrill.new_run_id("db-node"), dbdrill.new_run_id("db-node")
    assert a != b and a.startswith("db-node-")
    assert dbdrill.check_run_id(a) == a


def test_writer_config_aims_at_the_write_port() -> None:
    lab = topology.load(FIXTURE, "mini")
    c = dbdrill.writer_config(lab, "r1", 60, 100)
    v = dblb.vip(lab)
    assert (c.host, c.port) == (str(v.address), v.port)
    assert (c.user, c.database) == (dbplan.APP_USER, dbplan.DATABASE)


# -- the log ------------------------------------------------------------------------------------


LOG = """\
100.000000 start db-node-1
100.100000 ok 1 db1.webfarm.test
100.200000 ok 2 db1
PHP Warning:  PDO::prepare(): MySQL server has gone away in writer.php on line 60
100.300000 fail 3 SQLSTATE[HY000]: General error: 2006 MySQL server has gone away
100.400000 fail 0 cannot read password
104.300000 fail 4 SQLSTATE[HY000] [2002] Connection timed out
105.000000 ok 5 db2
105.100000 ok
106.000000 ok 6 db2
done
"""


def test_parse_log() -> None:
    log = dbdrill.parse_log(LOG)
    assert log.run == "db-node-1" and log.started_at == 100.0 and log.done
    assert [(a.seq, a.ok, a.node) for a in log.attempts] == [
        (1, True, "db1.webfarm.test"), (2, True, "db1"), (3, False, ""), (4, False, ""),
        (5, True, "db2"), (6, True, "db2")]
    assert log.attempts[2].error == "SQLSTATE[HY000]: General error: 2006 MySQL server has " \
                                    "gone away"
    assert log.other_lines == 3  # the PHP warning, seq 0, the cut line
    assert log.acked == {1, 2, 5, 6} and log.failures == 2


def test_parse_log_without_done_and_empty() -> None:
    assert not dbdrill.parse_log(LOG.replace("done\n", "")).done
    empty = dbdrill.parse_log("")
    assert empty.attempts == [] and not empty.done and empty.acked == set()


def test_parse_seqs_and_status() -> None:
    assert dbdrill.parse_seqs("1\n2\n\n10\n") == {1, 2, 10}
    status = dbdrill.parse_status("wsrep_cluster_size\t3\nWSREP_CLUSTER_STATUS\tPrimary\n"
                                  "wsrep_local_state_comment\tSynced\nwsrep_ready\tON\n")
    assert status["wsrep_cluster_status"] == "Primary"
    assert dbdrill.is_synced(status, 3)
    assert not dbdrill.is_synced(status, 4)  # the arbitrator (or a node) is missing
    assert not dbdrill.is_synced({**status, "wsrep_local_state_comment": "Donor/Desynced"}, 3)
    assert not dbdrill.is_synced({**status, "wsrep_cluster_status": "non-Primary"}, 3)
    assert not dbdrill.is_synced({}, 3)


# -- the verdict --------------------------------------------------------------------------------


def attempts(*rows: tuple[float, int, bool, str]) -> WriterLog:
    return WriterLog([Attempt(t, seq, ok, node) for t, seq, ok, node in rows], run="r",
                     done=True)


RUN = attempts(
    (0.0, 1, True, "db1"), (1.0, 2, True, "db1.lab"), (2.0, 3, True, "db1"),
    (3.0, 4, False, ""), (5.0, 5, False, ""), (9.5, 6, True, "db2"),  # 7.5 s outage
    (10.0, 7, True, "db2"), (20.0, 8, True, "db2"), (21.0, 9, False, ""),  # restore at 20.5
    (23.5, 10, True, "db1"), (24.0, 11, True, "db1"))


def test_lost_writes_per_node() -> None:
    acked = RUN.acked
    present = {"db1": acked - {7}, "db2": set(acked)}
    assert dbdrill.lost_writes(acked, present) == {"db1": [7]}
    assert dbdrill.lost_writes(acked, {"db1": acked, "db2": acked | {4}}) == {}


def test_analyse_counts_lost_and_unacked() -> None:
    acked = RUN.acked
    present = {"db1": (acked - {7, 10}) | {5}, "db2": acked | {5, 9}}
    r = dbdrill.analyse(RUN, present, t_fail=2.5, t_restore=20.5, victim="db1")
    assert r["attempts"] == 11 and r["failures"] == 3 and r["acked_writes"] == 8
    assert r["lost_writes"] == 2 and r["lost_by_node"] == {"db1": [7, 10]}
    assert r["unacked_but_present"] == 2  # 5 and 9 committed though the client saw an error
    assert r["present_never_attempted"] == 0
    assert r["rows_by_node"] == {"db1": 7, "db2": 10}
    assert r["outage_s"] == 7.5  # from seq 3 (2.0) to seq 6 (9.5)
    assert r["failback_outage_s"] == 3.5  # from seq 8 (20.0) to seq 10 (23.5)
    assert r["writes_by_node"] == {"before": {"db1": 3}, "during": {"db2": 3},
                                   "after": {"db1": 2}}
    assert r["written_elsewhere_during"] == 3
    assert r["writer_done"] is True


def test_analyse_clean_run() -> None:
    present = {"db1": RUN.acked, "db2": RUN.acked}
    r = dbdrill.analyse(RUN, present, t_fail=2.5, t_restore=20.5, victim="db2")
    assert r["lost_writes"] == 0 and r["lost_by_node"] == {}
    assert r["written_elsewhere_during"] == 0  # during the failure only db2 (the victim) wrote


def test_a_write_never_attempted_is_reported() -> None:
    r = dbdrill.analyse(RUN, {"db1": RUN.acked | {99}}, 2.5, 20.5)
    assert r["present_never_attempted"] == 1 and r["unacked_but_present"] == 1


def test_an_outage_still_running_at_the_end_counts_to_the_last_attempt() -> None:
    log = attempts((0.0, 1, True, "db1"), (1.0, 2, False, ""), (6.0, 3, False, ""))
    r = dbdrill.analyse(log, {"db1": {1}}, 0.5, 100.0)
    assert r["outage_s"] == 6.0 and r["failback_outage_s"] == 0.0


# -- HAProxy's stats CSV (as HAProxy 2.6 writes it, columns after check_code cut) --------------

STATS = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,\
wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle
stats,FRONTEND,,,1,1,9987,1,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,
stats,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,0,0,0,,0,5,,,1,2,0,
db_write,FRONTEND,,,0,0,9987,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,
db_write,db1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,4,1,
db_write,db2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP 1/2,1,0,1,1,1,5,0,,1,4,2,
db_write,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,1,1,1,,0,5,0,,1,4,0,
db_read,FRONTEND,,,0,0,9987,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,5,0,
db_read,db1,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,6,1,
db_read,db2,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,2,1,2,2,,1,6,2,
db_read,BACKEND,0,0,0,0,1,0,0,0,0,0,,0,0,0,0,UP,1,1,0,,0,5,0,,1,6,0,
"""


def test_parse_stats_csv() -> None:
    rows = dbdrill.parse_stats_csv(STATS)
    assert len(rows) == 10
    assert dbdrill.server_states(rows, "db1") == {"db_write": "UP", "db_read": "UP"}
    assert dbdrill.server_states(rows, "db2") == {"db_write": "UP 1/2", "db_read": "DOWN"}
    assert dbdrill.parse_stats_csv("") == []
    assert dbdrill.parse_stats_csv("<html>503</html>") == []


def test_up_everywhere_means_every_pool_that_lists_a_node() -> None:
    rows = dbdrill.parse_stats_csv(STATS)
    nodes = ["db1", "db2"]
    assert dbdrill.up_everywhere(rows, "db1", nodes)
    assert not dbdrill.up_everywhere(rows, "db2", nodes)  # DOWN in db_read
    gone = [r for r in rows if not (r["pxname"] == "db_read" and r["svname"] == "db1")]
    assert not dbdrill.up_everywhere(gone, "db1", nodes)  # missing from a pool is not UP
    maint = [{**r, "status": "MAINT"} if r["svname"] == "db1" else r for r in rows]
    assert not dbdrill.up_everywhere(maint, "db1", nodes)
    assert not dbdrill.up_everywhere([], "db1", nodes)


# -- the live helpers, with a stand-in for testinfra -------------------------------------------


class FakeHost:
    """Answers commands by the first matching word, records what it was asked."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers, self.asked = answers, []

    def run(self, command: str, *args: str) -> SimpleNamespace:
        self.asked.append(command)
        for key, (rc, out) in self.answers.items():
            if key in command:
                return SimpleNamespace(rc=rc, stdout=out, stderr="")
        return SimpleNamespace(rc=0, stdout="", stderr="")


def test_node_status_health_and_stats_through_a_host() -> None:
    host = FakeHost({"SHOW GLOBAL STATUS": (0, "wsrep_ready\tON\n"),
                     "9200": (0, "200"), ";csv": (0, STATS)})
    assert dbdrill.node_status(host) == {"wsrep_ready": "ON"}
    assert dbdrill.health_code(host, "http://node:9200/") == "200"
    assert len(dbdrill.haproxy_stats(host, "http://lb:8404/")) == 10
    assert "'http://lb:8404/;csv'" in host.asked[-1]
    down = FakeHost({"SHOW GLOBAL STATUS": (1, "ERROR 2002"), "curl": (0, "")})
    assert dbdrill.node_status(down) == {}
    assert dbdrill.health_code(down, "http://node:9200/") == "000"


def test_writer_start_wait_and_kill() -> None:
    host = FakeHost({"setsid nohup timeout": (0, "4242\n"),
                     "cat /tmp/webfarm-dbdrill-t/writer.log": (0, LOG)})
    w = dbdrill.Writer(host, cfg(), "pw", "t")
    w.start()
    assert w.pid == 4242
    assert w.wait_for_first_write(timeout=1).acked == {1, 2, 5, 6}
    assert w.stop_and_read().done and w.last_text == LOG
    kills = [c for c in host.asked if "kill 4242" in c]
    assert kills and "/proc/4242/cmdline" in kills[0]


def test_writer_stopped_now_gets_its_stop_file() -> None:
    host = FakeHost({"setsid nohup timeout": (0, "4242\n"),
                     "cat /tmp/webfarm-dbdrill-t/writer.log": (0, LOG)})
    w = dbdrill.Writer(host, cfg(), "pw", "t")
    w.start()
    assert w.stop_now_and_read(grace=1).done
    assert "touch /tmp/webfarm-dbdrill-t/stop" in host.asked


def test_writer_that_never_writes_says_why() -> None:
    host = FakeHost({"setsid": (0, "7\n"), "tail -n 5": (0, "1.0 fail 1 refused\n"),
                     "writer.err": (0, "PHP Fatal error: boom")})
    w = dbdrill.Writer(host, cfg(), "pw", "t")
    w.start()
    with pytest.raises(RuntimeError, match=r"no write succeeded.*refused.*boom"):
        w.wait_for_first_write(timeout=0)


def test_writer_that_does_not_start_is_an_error() -> None:
    w = dbdrill.Writer(FakeHost({"setsid": (1, "")}), cfg(), "pw", "t")
    with pytest.raises(RuntimeError, match="did not start"):
        w.start()


def test_read_present_asks_every_node_and_fails_loudly() -> None:
    lab = topology.load(FIXTURE, "mini")
    hosts = {n.name: FakeHost({"SELECT seq": (0, "1\n2\n")}) for n in dbplan.nodes(lab)}
    present = dbdrill.read_present(lab, hosts.__getitem__, "r1")
    assert present == {n.name: {1, 2} for n in dbplan.nodes(lab)}
    for h in hosts.values():
        words = shlex.split(h.asked[0])
        assert words[:5] == ["timeout", "90", "mariadb", "-N", "-B"]
        assert "run = 'r1'" in words[-1] and "wsrep_sync_wait = 1" in words[-1]
    broken = FakeHost({"SELECT seq": (1, "")})
    with pytest.raises(RuntimeError, match="reading the drill's rows"):
        dbdrill.read_present(lab, lambda _name: broken, "r1")


# -- the dead-man switch, run for real ----------------------------------------------------------


def test_deadman_runs_detached_and_disarm_ends_it(tmp_in_tmp: Path) -> None:
    pidfile, marker = tmp_in_tmp / "switch.pid", tmp_in_tmp / "restored"
    subprocess.run(["sh", "-c", dbdrill.deadman(str(pidfile), f"sleep 30; touch {marker}")],
                   check=True, timeout=10)
    pid = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, 0.05,
                         "the switch's PID"))
    assert Path(f"/proc/{pid}").exists()
    subprocess.run(["sh", "-c", dbdrill.disarm(str(pidfile))], check=True, timeout=10)
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or
               "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], 10, 0.05,
               "the switch to end")
    assert not pidfile.exists() and not marker.exists()


def test_deadman_that_runs_out_restores_and_cleans_up(tmp_in_tmp: Path) -> None:
    pidfile, marker = tmp_in_tmp / "switch.pid", tmp_in_tmp / "restored"
    subprocess.run(["sh", "-c", dbdrill.deadman(str(pidfile), f"sleep 0.2; touch {marker}")],
                   check=True, timeout=10)
    wait_until(lambda: marker.exists() and not pidfile.exists(), 10, 0.05, "the restore")
    subprocess.run(["sh", "-c", dbdrill.disarm(str(pidfile))], check=True, timeout=10)


# -- what both drills check and how they record it ---------------------------------------------


def _result(**kw):
    base = {"lost_writes": 0, "lost_by_node": {}, "acked_writes": 500, "first_errors": [],
            "outage_s": 5.0, "writer_done": True}
    return {**base, **kw}


def test_write_problems_name_each_failure():
    limits, goals = {"outage": 30.0}, {"outage": 8.0}
    assert dbdrill.write_problems(_result(), limits, goals) == []
    problems = dbdrill.write_problems(
        _result(lost_writes=2, lost_by_node={"db2": [7, 9]}, acked_writes=10, outage_s=31.5,
                writer_done=False), limits, goals)
    assert len(problems) == 4
    assert "2 acknowledged writes are missing" in problems[0] and "[7, 9]" in problems[0]
    assert f">= {dbdrill.MIN_ACKED}" in problems[1]
    assert "31.5 s exceeds 30.0 s (goal 8.0 s)" in problems[2]
    assert "no 'done' line" in problems[3]


def test_run_drill_saves_what_was_measured_even_when_it_aborts(monkeypatch):
    from webfarm import drills

    saved = []
    monkeypatch.setattr(drills.DrillResult, "save", lambda self, *a, **k: saved.append(self))

    class FakeWriter:
        killed = False

        def kill(self):
            FakeWriter.killed = True

    def scenario(result):
        result.update(outage_s=4.2, attempts=300, failures=3, _writer=FakeWriter())
        raise RuntimeError("link stayed down")

    with pytest.raises(RuntimeError):
        dbdrill.run_drill("db-node", scenario, lambda r: [])
    (res,) = saved
    assert FakeWriter.killed, "a writer still running is stopped"
    assert (res.name, res.passed, res.outage_s, res.requests, res.failed_requests) == (
        "db-node", False, 4.2, 300, 3)
    assert res.details["problems"] == ["drill aborted: link stayed down"]
    assert "_writer" not in res.details

    saved.clear()
    problems = dbdrill.run_drill("dblb", lambda r: r.update(outage_s=1.0),
                                 lambda r: ["too slow"])
    assert problems == ["too slow"] and saved[0].passed is False
    assert dbdrill.run_drill("dblb", lambda r: None, lambda r: []) == []
    assert saved[-1].passed is True


def test_settle_and_read_keeps_the_log_waits_for_synced_and_reads_every_node(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbdrill.paths, "DRILLS_DIR", tmp_path / "drills")
    lab = topology.load(FIXTURE, "mini")
    size = dbplan.cluster_size(lab)
    synced = (f"wsrep_local_state_comment\tSynced\nwsrep_cluster_status\tPrimary\n"
              f"wsrep_cluster_size\t{size}\nwsrep_ready\tON\n")
    hosts = {n.name: FakeHost({"SHOW GLOBAL STATUS": (0, synced), "SELECT seq": (0, "1\n2\n")})
             for n in dbplan.nodes(lab)}
    writer = dbdrill.Writer(FakeHost({}), cfg(), "pw", "t")
    writer.last_text = LOG
    result: dict[str, object] = {}
    present = dbdrill.settle_and_read(lab, hosts.__getitem__, writer, "db-node", "r1", result,
                                      sync_wait=5)
    assert present == {n.name: {1, 2} for n in dbplan.nodes(lab)}
    assert (tmp_path / "drills/db-node-writer.log").read_text(encoding="utf-8") == LOG
    assert result["synced_after_s"] is not None

    joining = {n.name: FakeHost({"SHOW GLOBAL STATUS": (0, synced.replace("Synced", "Joiner"))})
               for n in dbplan.nodes(lab)}
    result = {}
    with pytest.raises(AssertionError, match="not every node is Synced again"):
        dbdrill.settle_and_read(lab, joining.__getitem__, writer, "db-node", "r1", result,
                                sync_wait=0)
    assert result["synced_after_s"] is None and set(result["statuses_after"]) == set(joining)
    assert not any("SELECT seq" in c for h in joining.values() for c in h.asked)


def test_require_whole_refuses_a_cluster_that_is_not() -> None:
    lab = topology.load(FIXTURE, "mini")
    balancer = lab.primary(dblb.ROLE)
    joining = "wsrep_local_state_comment\tJoiner\nwsrep_cluster_status\tPrimary\n"
    hosts = {h.name: FakeHost({"SHOW GLOBAL STATUS": (0, joining)}) for h in lab.hosts.values()}
    result: dict[str, object] = {}
    with pytest.raises(AssertionError, match="before the drill"):
        dbdrill.require_whole(lab, balancer, hosts.__getitem__, result, wait=0)
    assert set(result["statuses_before"]) == {n.name for n in dbplan.nodes(lab)}
