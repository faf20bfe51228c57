"""Chapter 05-db without a VM: render every host of both profiles (Galera on Debian 12), of an
odd-node Galera variant, of Galera on EL9 and of MySQL NDB Cluster on EL9 (the engine this lab
never runs), and check the result:

- the Galera node config parses (configparser, as MariaDB's option files are ini-like) and
  says what the lab model says: the DB address for every socket, every node in the cluster
  address, Galera's mandatory settings;
- exactly one bootstrap node, garbd exactly when the number of nodes is even;
- users.sql: the app user only from the app clients, no root from anywhere but localhost;
- the health agent: its units pass ``systemd-analyze verify`` (structural checks where the
  tool is missing), its script passes shellcheck and, run here with a stand-in SQL client,
  answers 200 only for a Synced, Primary, ready, writable node;
- NDB: config.ini's structure, node ids and hosts; my.cnf's connect string and address.

No ndb tool exists on this machine (nor in CI): the NDB files are checked by structure only.
"""

from __future__ import annotations

import configparser
import copy
import dataclasses
import ipaddress
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from webfarm import dbplan, render, topology
from webfarm import os as osdata
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests/fixtures/lab.yml"  # never the user-editable lab.yml
RAW = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
SECRETS = {name: f"test-{name.replace('_', '-')}" for name in lab_secrets.GENERATORS}
CHAPTER = "05-db"
DB_ROLES = ("db_mgmt", "db_data", "db_sql")


def _el9(raw: dict) -> None:
    raw["lab"]["os"] = "almalinux9"


def _third_data_node(raw: dict) -> None:
    """The full profile with five Galera nodes (a third data node): no arbitrator needed."""
    raw["profiles"]["full"]["hosts"]["data3"] = {"roles": ["db_data"],
                                                 "networks": {"db": "192.168.57.53"}}


# name -> (profile, change to the lab.yml data, engine it must resolve to)
VARIANTS: dict[str, tuple[str, object, str]] = {
    "mini": ("mini", None, "galera"),
    "full": ("full", None, "galera"),
    "full-odd": ("full", _third_data_node, "galera"),
    "mini-el9-galera": ("mini", lambda raw: (_el9(raw), raw["lab"].update(db_engine="galera")),
                        "galera"),
    "mini-el9-ndb": ("mini", lambda raw: (_el9(raw), raw["lab"].update(db_engine="ndb")), "ndb"),
    "full-el9-ndb": ("full", lambda raw: (_el9(raw), raw["lab"].update(db_engine="ndb")), "ndb"),
}
GALERA = [v for v, (_, _, e) in VARIANTS.items() if e == "galera"]
NDB = [v for v, (_, _, e) in VARIANTS.items() if e == "ndb"]


@dataclasses.dataclass
class Rendered:
    lab: Lab
    root: Path  # .../HOST/files for each host under it

    def files(self, host: Host | str) -> Path:
        name = host if isinstance(host, str) else host.name
        return self.root / name / "files" / CHAPTER

    def text(self, host: Host | str, name: str) -> str:
        return (self.files(host) / name).read_text(encoding="utf-8")

    def os(self, host: Host) -> osdata.OSFamily:
        return osdata.get(host.os.family)


def build(variant: str) -> Lab:
    profile, change, engine = VARIANTS[variant]
    raw = copy.deepcopy(RAW)
    if callable(change):
        change(raw)
    lab = topology.build(raw, "lab.yml", profile)
    assert lab.engine == engine, f"{variant}: engine {lab.engine}, want {engine}"
    return lab


def render_lab(lab: Lab, out: Path, secrets: dict[str, str] = SECRETS) -> Rendered:
    for host in lab.hosts.values():
        render.render_host(lab, host, secrets, State(profile=lab.profile), out)
    return Rendered(lab, out)


@pytest.fixture(params=list(VARIANTS))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_lab(build(request.param), tmp_path / "render")


@pytest.fixture(params=GALERA)
def galera(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_lab(build(request.param), tmp_path / "render")


@pytest.fixture(params=NDB)
def ndb(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_lab(build(request.param), tmp_path / "render")


def db_hosts(lab: Lab) -> list[Host]:
    return [h for h in lab.hosts.values() if set(DB_ROLES) & set(h.roles)]


def tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (ROOT / ".venv/bin" / name, Path("/usr/sbin") / name, Path("/sbin") / name)
         if os.access(p, os.X_OK)), None)


def read_env(path: Path) -> dict[str, str]:
    """The variables a rendered shell file sets, as bash sees them after sourcing it."""
    out = subprocess.run(
        ["bash", "-c", 'set -eu; before=$(compgen -v); source "$1"; '
         'comm -13 <(echo "$before" | sort) <(compgen -v | sort) | '
         'while read -r v; do printf "%s=%s\\n" "$v" "${!v}"; done', "_", str(path)],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, f"{path} is not valid shell: {out.stderr}"
    return dict(line.split("=", 1) for line in out.stdout.splitlines()
                if re.match(r"^DB_[A-Z_]+=", line) or re.match(r"^GALERA_[A-Z_]+=", line)
                or line.startswith("WORK_DIR="))


def parse_cnf(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(allow_no_value=True, strict=False, interpolation=None,
                                   comment_prefixes=("#", ";"), inline_comment_prefixes=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keep the option names
    cp.read_string(text)
    return cp


def unquote(value: str | None) -> str:
    value = (value or "").strip()
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == '"' else value


def provider_options(value: str) -> dict[str, str]:
    return dict(part.strip().split("=", 1) for part in unquote(value).split(";") if part.strip())


def ini_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """config.ini as it is: repeated sections ([ndbd] per data node) kept in order."""
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if m := re.fullmatch(r"\[([a-z_ ]+)\]", line):
            sections.append((m[1], {}))
            continue
        key, sep, value = line.partition("=")
        assert sep and sections, f"config.ini: {raw!r} is neither a section nor KEY = VALUE"
        sections[-1][1][key.strip()] = value.strip()
    return sections


# ---------------------------------------------------------------------------------------------
# Which hosts get which files; db.env


def test_only_db_hosts_get_the_chapter_files(case: Rendered) -> None:
    for host in case.lab.hosts.values():
        has = case.files(host).is_dir()
        assert has == bool(set(DB_ROLES) & set(host.roles)), host.name
        if not has:
            continue
        assert (case.files(host) / "db.env").is_file()
        node_files = ("90-webfarm-galera.cnf", "users.sql", "webfarm-dbcheck",
                      "webfarm-dbcheck.socket", "webfarm-dbcheck.service", "dbcheck.cnf")
        for name in node_files:
            assert (case.files(host) / name).exists() == bool(
                {"db_data", "db_sql"} & set(host.roles)), (host.name, name)
        assert (case.files(host) / "garb").exists() == host.has_role("db_mgmt")


def test_db_env_says_what_dbplan_decided(case: Rendered) -> None:
    lab = case.lab
    bootstraps = []
    for host in db_hosts(lab):
        env = read_env(case.files(host) / "db.env")
        assert env["DB_ENGINE"] == lab.engine
        assert env["DB_ADDRESS"] == str(dbplan.address(host))
        assert env["DB_IS_NODE"] == ("1" if dbplan.is_node(lab, host) else "0")
        assert env["DB_NODES"].split() == [str(dbplan.address(h)) for h in dbplan.nodes(lab)]
        assert env["DB_PEERS"].split() == [str(dbplan.address(h)) for h in dbplan.nodes(lab)
                                           if h.name != host.name]
        assert env["DB_CLUSTER_SIZE"] == str(dbplan.cluster_size(lab))
        assert env["DB_FIREWALL_PORTS"].split() == dbplan.firewall_ports(lab, host)
        assert env["DB_HEALTH_PORT"] == str(dbplan.HEALTH_PORT)
        assert env["DB_ARBITRATOR"] == ("1" if dbplan.arbitrator(lab) == host else "0")
        if env["DB_BOOTSTRAP"] == "1":
            bootstraps.append(host.name)
        if lab.engine == "ndb":
            kinds = {n.kind for n in dbplan.ndb_nodes(lab) if n.host == host}
            assert env["DB_NDB_MGMT"] == ("1" if "ndb_mgmd" in kinds else "0")
            assert env["DB_NDB_DATA"] == ("1" if "ndbd" in kinds else "0")
            assert env["DB_NDB_SQL"] == ("1" if "mysqld" in kinds else "0")
        else:
            assert env["DB_NDB_MGMT"] == env["DB_NDB_DATA"] == env["DB_NDB_SQL"] == "0"
    if lab.engine == "galera":
        assert bootstraps == [dbplan.bootstrap_node(lab).name], "exactly one bootstrap node"
        assert bootstraps == [dbplan.nodes(lab)[0].name]
    else:
        assert bootstraps == [], "NDB has no bootstrap node (ndb_mgmd starts first)"


# ---------------------------------------------------------------------------------------------
# The Galera node


def test_galera_config_parses_and_matches_the_model(galera: Rendered) -> None:
    lab = galera.lab
    nodes = dbplan.nodes(lab)
    assert len(nodes) >= 2
    for host in nodes:
        osf = galera.os(host)
        cnf = parse_cnf(galera.text(host, "90-webfarm-galera.cnf"))
        assert cnf.sections() == ["mysqld"], "one [mysqld] section (read after 50-server.cnf)"
        m = cnf["mysqld"]
        addr = str(dbplan.address(host))
        assert m["bind-address"] == addr
        assert m["port"] == str(dbplan.SQL_PORT)
        assert m["wsrep_on"] == "ON"
        assert m["wsrep_provider"] == osf.paths["galera_provider"]
        assert m["wsrep_cluster_name"] == lab.name
        cluster = m["wsrep_cluster_address"]
        assert cluster.startswith("gcomm://")
        assert cluster.removeprefix("gcomm://").split(",") == [str(dbplan.address(h))
                                                               for h in nodes]
        assert cluster == dbplan.cluster_address(lab)
        assert m["wsrep_node_name"] == host.name
        assert m["wsrep_node_address"] == addr
        assert m["wsrep_node_incoming_address"] == f"{addr}:{dbplan.SQL_PORT}"
        assert m["wsrep_sst_method"] == "rsync"
        assert m["wsrep_sst_receive_address"] == f"{addr}:{dbplan.GALERA_PORTS['sst']}"
        assert m["binlog_format"].upper() == "ROW"
        assert m["default_storage_engine"] == "InnoDB"
        assert m["innodb_autoinc_lock_mode"] == "2"
        assert m["innodb_buffer_pool_size"] == f"{dbplan.buffer_pool_mb(host)}M"
        opts = provider_options(m["wsrep_provider_options"])
        assert opts["gmcast.listen_addr"] == f"tcp://{addr}:{dbplan.GALERA_PORTS['group']}"
        assert opts["ist.recv_addr"] == f"{addr}:{dbplan.GALERA_PORTS['ist']}"
        for key, value in dbplan.GALERA_TIMINGS.items():
            assert opts[key] == value, key


def test_every_db_socket_is_on_the_db_address_only(case: Rendered) -> None:
    """No rendered file of the chapter names a front address, a wildcard address, or another
    host's address as a place to listen."""
    lab = case.lab
    for host in db_hosts(lab):
        addr = str(dbplan.address(host))
        for path in sorted(case.files(host).iterdir()):
            text = path.read_text(encoding="utf-8")
            assert "0.0.0.0" not in text and "[::]" not in text, f"{host.name}: {path.name}"
            if host.on("front"):
                assert str(host.addresses["front"]) not in text, f"{host.name}: {path.name}"
        for name, pattern in (
            ("90-webfarm-galera.cnf", r"(?m)^(?:bind-address|wsrep_node_address)\s*=\s*(\S+)"),
            ("90-webfarm-galera.cnf", r"(?:listen_addr=tcp://|recv_addr=)([\d.]+)"),
            ("90-webfarm-galera.cnf", r"(?m)^wsrep_sst_receive_address\s*=\s*([\d.]+)"),
            ("webfarm-dbcheck.socket", r"(?m)^ListenStream=([\d.]+):"),
            ("ndb-my.cnf", r"(?m)^bind-address\s*=\s*(\S+)"),
            ("garb", r"listen_addr=tcp://([\d.]+)"),
        ):
            if (case.files(host) / name).exists():
                for found in re.findall(pattern, case.text(host, name)):
                    assert found == addr, f"{host.name} {name}: listens on {found}, not {addr}"


def test_mariadb_unit_drop_in_keeps_a_node_trying(galera: Rendered) -> None:
    for host in dbplan.nodes(galera.lab):
        cnf = parse_cnf(galera.text(host, "mariadb-webfarm.conf"))
        assert cnf["Service"]["Restart"] == "on-failure"
        assert int(cnf["Service"]["RestartSec"].rstrip("s")) >= 5


# ---------------------------------------------------------------------------------------------
# The arbitrator


def test_garbd_exactly_when_the_node_count_is_even(case: Rendered) -> None:
    lab = case.lab
    arbiter = dbplan.arbitrator(lab)
    even = lab.engine == "galera" and len(dbplan.nodes(lab)) % 2 == 0
    assert (arbiter is not None) == even
    assert dbplan.cluster_size(lab) == (len(dbplan.nodes(lab)) + 1 if even
                                        else len(dbplan.nodes(lab)))
    if lab.profile == "mini" and lab.engine == "galera":
        assert arbiter is not None and arbiter.name == "mon1"
    if lab.profile == "full" and lab.engine == "galera" and len(dbplan.nodes(lab)) == 4:
        assert arbiter is not None and arbiter.name == "mgm1"
    for host in lab.hosts_with("db_mgmt"):
        env = read_env(case.files(host) / "garb")
        if host == arbiter:
            nodes = env["GALERA_NODES"].split()
            assert nodes == [f"{dbplan.address(h)}:{dbplan.GALERA_PORTS['group']}"
                             for h in dbplan.nodes(lab)]
            assert env["GALERA_GROUP"] == lab.name
            opts = provider_options(env["GALERA_OPTIONS"])
            assert opts["gmcast.listen_addr"] == \
                f"tcp://{dbplan.address(host)}:{dbplan.GALERA_PORTS['group']}"
            assert "'" not in env["GALERA_OPTIONS"], "garb-systemd wraps it in single quotes"
            assert env["WORK_DIR"]
        else:
            assert "GALERA_NODES" not in env, f"{host.name} must not run garbd"


# ---------------------------------------------------------------------------------------------
# Users


GRANT = re.compile(r"GRANT (.+?) ON (\S+) TO '([^']*)'@'([^']*)'")
CREATE = re.compile(r"CREATE USER IF NOT EXISTS '([^']*)'@'([^']*)' IDENTIFIED BY '([^']*)'")


def test_users_sql_grants_the_app_only_from_app_clients(case: Rendered) -> None:
    lab = case.lab
    app = {str(a) for a in dbplan.app_clients(lab)}
    monitor = {"localhost"} | {str(a) for a in dbplan.monitor_logins(lab)}
    for host in db_hosts(lab):
        if not (case.files(host) / "users.sql").exists():
            continue
        sql = case.text(host, "users.sql")
        assert f"CREATE DATABASE IF NOT EXISTS {dbplan.DATABASE}" in sql
        grants = GRANT.findall(sql)
        created = CREATE.findall(sql)
        assert {h for _, _, u, h in grants if u == dbplan.APP_USER} == app
        assert {h for u, h, _ in created if u == dbplan.APP_USER} == app
        assert {h for _, _, u, h in grants if u == dbplan.MONITOR_USER} == monitor
        for privileges, scope, user, _ in grants:
            if user == dbplan.APP_USER:
                assert (privileges, scope) == ("ALL PRIVILEGES", f"{dbplan.DATABASE}.*")
            else:
                assert user == dbplan.MONITOR_USER
                assert "ALL" not in privileges and "SUPER" not in privileges
                assert scope == "*.*"
        passwords = {u: p for u, _, p in created}
        assert passwords[dbplan.APP_USER] == SECRETS["db_app_password"]
        assert passwords[dbplan.MONITOR_USER] == SECRETS["db_monitor_password"]
        # nobody else: no root at all in the grants, and root from anywhere but localhost
        # is dropped
        assert not re.search(r"'root'@'%'\s+IDENTIFIED", sql)
        assert all(u in (dbplan.APP_USER, dbplan.MONITOR_USER) for u, _, _ in created)
        if lab.engine == "galera":
            assert "User = ''" in sql and "User = 'root' AND Host <> 'localhost'" in sql
            assert "DROP USER" in sql and "mysql.global_priv" in sql
            assert "DELETE FROM mysql." not in sql, "direct edits of mysql.* do not replicate"
        else:
            assert "DROP USER IF EXISTS ''@'localhost'" in sql and "'root'@'%'" in sql


def test_users_sql_is_the_same_on_every_galera_node(galera: Rendered) -> None:
    texts = {galera.text(h, "users.sql") for h in dbplan.nodes(galera.lab)}
    assert len(texts) == 1, "the bootstrap node applies it; every node must agree"


def test_docs_render_with_redacted_secrets(tmp_path: Path) -> None:
    lab = build("full")
    rendered = render_lab(lab, tmp_path, lab_secrets.redacted())
    host = dbplan.bootstrap_node(lab)
    users = rendered.text(host, "users.sql")
    assert "<db_app_password from .lab/secrets.yml>" in users
    assert "<db_monitor_password from .lab/secrets.yml>" in rendered.text(host, "dbcheck.cnf")
    for value in SECRETS.values():
        assert value not in users


# ---------------------------------------------------------------------------------------------
# The health agent


def test_health_agent_units(case: Rendered, tmp_path: Path) -> None:
    lab = case.lab
    for host in db_hosts(lab):
        files = case.files(host)
        if not (files / "webfarm-dbcheck.socket").exists():
            continue
        sock = parse_cnf((files / "webfarm-dbcheck.socket").read_text(encoding="utf-8"))
        assert sock["Socket"]["ListenStream"] == f"{dbplan.address(host)}:{dbplan.HEALTH_PORT}"
        assert sock["Socket"]["Accept"] == "no"  # one agent process keeps its client
        assert sock["Socket"]["FreeBind"] == "yes"
        assert sock["Install"]["WantedBy"] == "sockets.target"
        svc = parse_cnf((files / "webfarm-dbcheck.service").read_text(encoding="utf-8"))
        s = svc["Service"]
        assert s["ExecStart"] == "/usr/local/libexec/webfarm-dbcheck"
        assert svc["Unit"]["Requires"] == "webfarm-dbcheck.socket"
        assert s["User"] == dbplan.HEALTH_USER != "root"
        assert s["Restart"] == "always"
        opts = parse_cnf((files / "dbcheck.cnf").read_text(encoding="utf-8"))["client"]
        assert opts["user"] == dbplan.MONITOR_USER
        assert unquote(opts["password"]) == SECRETS["db_monitor_password"]
        assert opts["socket"] == case.os(host).paths["mysql_socket"]
        analyze = tool("systemd-analyze")
        if analyze is None:
            continue  # the structural checks above are all this machine can do
        # systemd-analyze verify checks ExecStart exists: point it at the rendered script
        unit_dir = tmp_path / host.name
        unit_dir.mkdir()
        agent = unit_dir / "webfarm-dbcheck"
        shutil.copy(files / "webfarm-dbcheck", agent)
        agent.chmod(0o755)
        (unit_dir / "webfarm-dbcheck.socket").write_text(
            (files / "webfarm-dbcheck.socket").read_text(encoding="utf-8"), encoding="utf-8")
        (unit_dir / "webfarm-dbcheck.service").write_text(
            (files / "webfarm-dbcheck.service").read_text(encoding="utf-8")
            .replace("/usr/local/libexec/webfarm-dbcheck", str(agent)), encoding="utf-8")
        out = subprocess.run([analyze, "verify", "webfarm-dbcheck.socket",
                              "webfarm-dbcheck.service"], cwd=unit_dir, capture_output=True,
                             text=True, timeout=60, check=False)
        said = (out.stdout + out.stderr).strip()
        assert out.returncode == 0 and not said, f"systemd-analyze verify ({host.name}):\n{said}"


def test_shellcheck_agent_and_scripts(tmp_path: Path) -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (.venv/bin/shellcheck comes with the venv)")
    scripts = sorted((ROOT / "provision" / CHAPTER).glob("*.sh"))
    assert scripts
    out = subprocess.run([shellcheck, "-x", "-s", "bash", *map(str, scripts)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    for variant in ("mini", "mini-el9-ndb"):
        lab = build(variant)
        rendered = render_lab(lab, tmp_path / variant)
        for host in dbplan.nodes(lab):
            agent = rendered.files(host) / "webfarm-dbcheck"
            assert agent.read_text(encoding="utf-8").startswith("#!/usr/bin/python3\n")
            out = subprocess.run([sys.executable, "-m", "py_compile", str(agent)],
                                 capture_output=True, text=True, timeout=60, check=False)
            assert out.returncode == 0, f"{variant} {host.name}:\n{out.stdout}{out.stderr}"


def fake_client(bin_dir: Path, name: str, rows: str | None) -> None:
    """A stand-in SQL client on PATH: prints ``rows`` (tab-separated), or fails (None)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / name
    if rows is None:
        body = "exit 1\n"
    else:
        (bin_dir / f"{name}.rows").write_text(rows, encoding="utf-8")
        body = f"cat '{bin_dir / name}.rows'\n"
    script.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def ask(agent: Path, bin_dir: Path, request: str) -> tuple[str, str]:
    """Run the agent as systemd would (the request on stdin); (status line, body)."""
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    out = subprocess.run(["/usr/bin/python3", str(agent), "once"], input=request.encode(),
                         capture_output=True, timeout=30, env=env,
                         check=False)  # bytes: keep the CRLFs
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    length = next(int(x.split(":")[1]) for x in lines if x.startswith("Content-Length:"))
    if not request.startswith("HEAD"):
        assert len(body.encode()) == length, (lines, body)
    return lines[0], body.strip()


def galera_rows(state: int, comment: str, cluster: str, ready: str, read_only: str) -> str:
    return (f"wsrep_local_state\t{state}\nwsrep_local_state_comment\t{comment}\n"
            f"wsrep_cluster_status\t{cluster}\nwsrep_ready\t{ready}\nread_only\t{read_only}\n")


GET = "GET / HTTP/1.0\r\n\r\n"


@pytest.mark.parametrize(("rows", "status", "body"), [
    (galera_rows(4, "Synced", "Primary", "ON", "OFF"), "HTTP/1.1 200 OK",
     "Synced Primary ready=ON read_only=OFF"),
    (galera_rows(2, "Donor/Desynced", "Primary", "ON", "OFF"),
     "HTTP/1.1 503 Service Unavailable", "Donor/Desynced Primary"),
    (galera_rows(1, "Joining", "Primary", "OFF", "OFF"), "HTTP/1.1 503 Service Unavailable",
     "Joining"),
    (galera_rows(0, "Initialized", "non-Primary", "OFF", "OFF"),
     "HTTP/1.1 503 Service Unavailable", "Initialized non-Primary ready=OFF"),
    (galera_rows(4, "Synced", "Primary", "ON", "ON"), "HTTP/1.1 503 Service Unavailable",
     "read_only=ON"),
    (None, "HTTP/1.1 503 Service Unavailable", "down"),
])
def test_health_agent_answers_the_contract(tmp_path: Path, rows: str | None, status: str,
                                           body: str) -> None:
    lab = build("mini")
    rendered = render_lab(lab, tmp_path / "render")
    host = dbplan.nodes(lab)[0]
    fake_client(tmp_path / "bin", dbplan.client(lab), rows)
    got_status, got_body = ask(rendered.files(host) / "webfarm-dbcheck", tmp_path / "bin", GET)
    assert got_status == status
    assert got_body.startswith(f"{host.name} ")
    assert body in got_body
    assert "\n" not in got_body, "the body is one line"


def test_health_agent_other_requests(tmp_path: Path) -> None:
    lab = build("mini")
    rendered = render_lab(lab, tmp_path / "render")
    agent = rendered.files(dbplan.nodes(lab)[0]) / "webfarm-dbcheck"
    fake_client(tmp_path / "bin", "mariadb", galera_rows(4, "Synced", "Primary", "ON", "OFF"))
    # HAProxy's check sends headers after the request line; a HEAD gets no body
    status, _ = ask(agent, tmp_path / "bin", "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: y\r\n\r\n")
    assert status == "HTTP/1.1 200 OK"
    status, body = ask(agent, tmp_path / "bin", "HEAD / HTTP/1.0\r\n\r\n")
    assert status == "HTTP/1.1 200 OK" and body == ""
    assert ask(agent, tmp_path / "bin", "GET /x HTTP/1.0\r\n\r\n")[0].startswith(
        "HTTP/1.1 404")
    assert ask(agent, tmp_path / "bin", "POST / HTTP/1.0\r\n\r\n")[0].startswith(
        "HTTP/1.1 405")


def test_ndb_health_agent(tmp_path: Path) -> None:
    lab = build("mini-el9-ndb")
    rendered = render_lab(lab, tmp_path / "render")
    agent = rendered.files(dbplan.nodes(lab)[0]) / "webfarm-dbcheck"
    ok = "Ndb_cluster_node_id\t51\nNdb_number_of_ready_data_nodes\t2\nread_only\tOFF\n"
    fake_client(tmp_path / "ok", "mysql", ok)
    assert ask(agent, tmp_path / "ok", GET)[0] == "HTTP/1.1 200 OK"
    fake_client(tmp_path / "no", "mysql", ok.replace("nodes\t2", "nodes\t0"))
    assert ask(agent, tmp_path / "no", GET)[0] == "HTTP/1.1 503 Service Unavailable"


# ---------------------------------------------------------------------------------------------
# NDB (EL9): structure only, no ndb tool here


def test_ndb_config_ini(ndb: Rendered) -> None:
    lab = ndb.lab
    mgmt = lab.hosts_with("db_mgmt")[0]
    sections = ini_sections(ndb.text(mgmt, "config.ini"))
    default = [s for name, s in sections if name == "ndbd default"]
    assert len(default) == 1
    assert default[0]["NoOfReplicas"] == "2"
    assert default[0]["DataMemory"] == f"{dbplan.ndb_data_memory_mb(lab)}M"
    assert default[0]["DataDir"] == dbplan.NDB_DATA_DIR
    nodes = [(name, s) for name, s in sections if name in ("ndb_mgmd", "ndbd", "mysqld")]
    ids = [int(s["NodeId"]) for _, s in nodes]
    assert len(ids) == len(set(ids)), f"node ids repeat: {ids}"
    want = [(n.kind, n.node_id, str(n.address)) for n in dbplan.ndb_nodes(lab)]
    assert [(name, int(s["NodeId"]), s["HostName"]) for name, s in nodes] == want
    kinds = [name for name, _ in nodes]
    assert kinds.count("ndb_mgmd") == 1
    data = [s for name, s in nodes if name == "ndbd"]
    assert len(data) == len(lab.hosts_with("db_data")) and len(data) % 2 == 0, \
        "NoOfReplicas=2: data nodes in groups of two"
    assert all(s["ServerPort"] == str(dbplan.NDB_DATA_PORT) for s in data)
    assert [s["HostName"] for name, s in nodes if name == "mysqld"] == \
        [str(dbplan.address(h)) for h in lab.hosts_with("db_sql")]
    mgmd = next(s for name, s in nodes if name == "ndb_mgmd")
    assert mgmd["HostName"] == str(dbplan.address(mgmt)) and mgmd["NodeId"] == "1"
    assert mgmd["PortNumber"] == str(dbplan.NDB_MGM_PORT)
    for host in lab.hosts_with("db_data"):
        assert str(dbplan.address(host)) in [s["HostName"] for s in data]
    for _, s in nodes:
        ipaddress.IPv4Address(s["HostName"])


def test_ndb_my_cnf(ndb: Rendered) -> None:
    lab = ndb.lab
    connect = dbplan.ndb_connectstring(lab)
    mgmt = dbplan.address(lab.hosts_with("db_mgmt")[0])
    assert connect == f"{mgmt}:{dbplan.NDB_MGM_PORT}"
    for host in [h for h in lab.hosts.values() if {"db_data", "db_sql"} & set(h.roles)]:
        cnf = parse_cnf(ndb.text(host, "ndb-my.cnf"))
        assert cnf["mysql_cluster"]["ndb-connectstring"] == connect
        assert "ndbcluster" in cnf["mysqld"]
        assert cnf["mysqld"]["bind-address"] == str(dbplan.address(host))
        assert cnf["mysqld"]["socket"] == ndb.os(host).paths["mysql_socket"]
    for host in lab.hosts_with("db_sql"):
        root = parse_cnf(ndb.text(host, "root.cnf"))["client"]
        assert root["user"] == "root"
        assert unquote(root["password"]) == SECRETS["db_root_password"]


def test_ndb_units(ndb: Rendered) -> None:
    lab = ndb.lab
    mgmt = lab.hosts_with("db_mgmt")[0]
    unit = parse_cnf(ndb.text(mgmt, "webfarm-ndb-mgmd.service"))["Service"]
    assert f"--config-file={dbplan.NDB_DATA_DIR}/config.ini" in unit["ExecStart"]
    assert f"--bind-address={dbplan.address(mgmt)}" in unit["ExecStart"]
    assert "$NDB_MGMD_FLAGS" in unit["ExecStart"]
    assert "--initial" not in unit["ExecStart"], "--initial only for the first start"
    for host in lab.hosts_with("db_data"):
        unit = parse_cnf(ndb.text(host, "webfarm-ndbd.service"))["Service"]
        assert unit["ExecStart"].startswith("/usr/sbin/ndbd ")
        assert f"--bind-address={dbplan.address(host)}" in unit["ExecStart"]


def test_ndb_firewall_ports() -> None:
    lab = build("full-el9-ndb")
    want = {"mgm1": ["1186/tcp"], "data1": [f"{dbplan.NDB_DATA_PORT}/tcp"],
            "sql1": ["3306/tcp", f"{dbplan.HEALTH_PORT}/tcp"]}
    for name, ports in want.items():
        assert dbplan.firewall_ports(lab, lab.hosts[name]) == ports
    assert dbplan.selinux_ports(lab, lab.hosts["sql1"]) == []
    galera_lab = build("mini-el9-galera")
    assert dbplan.selinux_ports(galera_lab, galera_lab.hosts["db1"]) == [4444, 4567, 4568]


def test_health_agent_keeps_one_client_and_answers_from_its_latest_verdict(
        tmp_path: Path) -> None:
    """Served (as systemd runs it), the agent feeds ONE long-lived batch client a query per
    round and answers every check from the latest verdict; when the client stops answering,
    the checks turn 503 within the freshness limit."""
    lab = build("mini")
    rendered = render_lab(lab, tmp_path / "render")
    host = dbplan.nodes(lab)[0]
    agent = rendered.files(host) / "webfarm-dbcheck"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    starts, healthy = tmp_path / "starts", tmp_path / "healthy"
    healthy.touch()
    rows = galera_rows(4, "Synced", "Primary", "ON", "OFF")
    client = bin_dir / dbplan.client(lab)
    # a batch client: per query line, the rows and END - while the file "healthy" exists
    client.write_text("#!/bin/bash\n"
                      f"echo started >>'{starts}'\n"
                      "while IFS= read -r q; do\n"
                      f"  [ -e '{healthy}' ] || {{ sleep 30; exit 1; }}\n"
                      f"  printf '%s' '{rows}'\n"
                      "  echo END\n"
                      "done\n", encoding="utf-8")
    client.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    server = subprocess.Popen(["/usr/bin/python3", str(agent), "--listen", f"127.0.0.1:{port}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError:
            return 0, ""

    def until(code: int, limit: float) -> tuple[int, str]:
        deadline = time.monotonic() + limit
        got = (0, "")
        while time.monotonic() < deadline:
            got = get()
            if got[0] == code:
                break
            time.sleep(0.3)
        return got

    try:
        status, body = until(200, 20)
        assert status == 200 and body.startswith(f"{host.name} Synced Primary"), (status, body)
        for _ in range(5):  # many checks, one client
            assert get()[0] == 200
        time.sleep(2.5)
        assert starts.read_text(encoding="utf-8").count("started") == 1, "one client, kept"
        healthy.unlink()  # the server hangs: no fresh verdict
        status, body = until(503, 15)
        assert status == 503, (status, body)
    finally:
        server.kill()
        server.wait(timeout=10)
