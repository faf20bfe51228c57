"""Chapter 05-db checks against the live lab (Galera; the NDB path is never run here):
MariaDB runs on every node; all nodes and garbd form one cluster of the expected size, every
node Synced in the primary component; a row written on one node is read on every other; the
database ports listen on the DB address only and nothing answers them from the front network;
the app user is refused from a host that is not an app client and accepted from an app
server; root exists only on localhost; each node's health agent answers 200 while Synced and
503 while desynced; garbd runs on the arbitrator; a second run changes nothing."""

from __future__ import annotations

import shlex
import time

import pytest

from webfarm import chapters, dbplan
from webfarm import os as osdata
from webfarm.labtest import current_lab, probe, remote, remote_root, rerun_chapter, role_hosts
from webfarm.topology import Host
from webfarm.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.lab

CHAPTER = "05-db"
DB_PORTS = (dbplan.SQL_PORT, *dbplan.GALERA_PORTS.values(), dbplan.HEALTH_PORT)
SETTLE_S = 120  # garbd or a restarted node joining, under TCG
CHECK_SCHEMA = "webfarm_check"  # scratch schema of the replication check (dropped after)

if current_lab().engine != "galera":
    pytest.skip("the NDB path (EL9) is rendered and checked offline only: no live checks",
                allow_module_level=True)


def nodes() -> list[str]:
    return [h.name for h in dbplan.nodes(current_lab())]


def host(name: str) -> Host:
    return current_lab().hosts[name]


def addr(name: str) -> str:
    return str(dbplan.address(host(name)))


def sql(name: str, query: str) -> str:
    """Run SQL on a node as its root, over the local socket (sudo mariadb), rows tab-separated."""
    return remote_root(name).check_output(f"mariadb -N -B -e {shlex.quote(query)}").strip()


def status(name: str, variable: str) -> str:
    out = sql(name, f"SHOW GLOBAL STATUS LIKE '{variable}'")
    return out.split("\t", 1)[1] if "\t" in out else ""


def health(name: str) -> tuple[str, str]:
    """Ask node ``name``'s health agent GET / (from a DB balancer, as HAProxy does, or from
    the node itself): (status line, body)."""
    asker = (role_hosts(dbplan.DB_HOLDER) or [name])[0]
    out = remote(asker).check_output(
        f"curl -s -i --max-time 10 http://{addr(name)}:{dbplan.HEALTH_PORT}/")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return head.splitlines()[0] if head else "", body.strip()


# ---------------------------------------------------------------------------------------------
# The nodes and the cluster


@pytest.mark.parametrize("name", nodes())
def test_mariadb_enabled_and_running(name: str) -> None:
    svc = remote(name).service(osdata.get(host(name).os.family).services["mariadb"])
    assert svc.is_enabled
    assert svc.is_running


@pytest.mark.parametrize("name", nodes())
def test_node_synced_in_the_primary_component(name: str) -> None:
    assert status(name, "wsrep_connected") == "ON"
    assert status(name, "wsrep_ready") == "ON"
    assert status(name, "wsrep_cluster_status") == "Primary"
    assert status(name, "wsrep_local_state_comment") == "Synced"
    assert status(name, "wsrep_local_state") == "4"


@pytest.mark.parametrize("name", nodes())
def test_cluster_size_counts_every_node_and_the_arbitrator(name: str) -> None:
    lab = current_lab()
    want = dbplan.cluster_size(lab)
    seen: list[str] = []

    def complete() -> bool:
        seen[:] = [status(name, "wsrep_cluster_size")]
        return seen[0] == str(want)

    try:
        wait_until(complete, SETTLE_S, 3, f"wsrep_cluster_size {want} on {name}")
    except WaitTimeout:
        arbiter = dbplan.arbitrator(lab)
        raise AssertionError(
            f"{name}: wsrep_cluster_size {seen[0] if seen else '?'}, want {want} "
            f"({len(dbplan.nodes(lab))} nodes" + (f" + garbd on {arbiter.name})" if arbiter
                                                  else ")")) from None


def test_one_cluster_not_several() -> None:
    """Every node reports the same cluster state UUID: one cluster, not islands that each
    bootstrapped on their own."""
    uuids = {name: status(name, "wsrep_cluster_state_uuid") for name in nodes()}
    assert len(set(uuids.values())) == 1, uuids
    # every node's client address (wsrep_node_incoming_address), as the cluster knows it
    incoming = set(status(nodes()[0], "wsrep_incoming_addresses").split(","))
    for name in nodes():
        assert f"{addr(name)}:{dbplan.SQL_PORT}" in incoming, f"{name} not in {incoming}"


def test_a_row_written_on_one_node_is_read_on_every_other() -> None:
    names = nodes()
    token = f"t{int(time.time() * 1000)}"
    try:
        sql(names[0], f"CREATE DATABASE IF NOT EXISTS {CHECK_SCHEMA}; "
                      f"CREATE TABLE IF NOT EXISTS {CHECK_SCHEMA}.rows "
                      "(id INT AUTO_INCREMENT PRIMARY KEY, writer VARCHAR(64), token "
                      "VARCHAR(64)) ENGINE=InnoDB")
        for writer in names:
            sql(writer, f"INSERT INTO {CHECK_SCHEMA}.rows (writer, token) "
                        f"VALUES ('{writer}', '{token}')")
            for reader in names:
                # wsrep_sync_wait=1: the read waits until this node has applied every
                # write-set the cluster committed before it (a causal read)
                got = sql(reader, "SET SESSION wsrep_sync_wait = 1; "
                                  f"SELECT COUNT(*) FROM {CHECK_SCHEMA}.rows "
                                  f"WHERE writer = '{writer}' AND token = '{token}'")
                assert got == "1", f"row written on {writer} read {got!r} times on {reader}"
    finally:
        sql(names[0], f"DROP DATABASE IF EXISTS {CHECK_SCHEMA}")


# ---------------------------------------------------------------------------------------------
# Where the database answers, and to whom


@pytest.mark.parametrize("name", nodes())
def test_db_ports_listen_on_the_db_address_only(name: str) -> None:
    lab = current_lab()
    allowed = {addr(name)}
    vip = dbplan.db_vip(lab)
    if vip is not None and host(name).has_role(dbplan.DB_HOLDER):
        allowed.add(str(vip.address))  # HAProxy's front ends (chapter 06) on the same host
    out = remote(name).check_output("ss -H -l -n -t")
    listening: dict[int, set[str]] = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        address, _, port = fields[3].rpartition(":")
        if port.isdigit() and int(port) in DB_PORTS:
            listening.setdefault(int(port), set()).add(address.strip("[]"))
    for port, addresses in listening.items():
        assert addresses <= allowed, f"{name}: port {port} listens on {sorted(addresses)}"
    for port in (dbplan.SQL_PORT, dbplan.GALERA_PORTS["group"], dbplan.HEALTH_PORT):
        assert addr(name) in listening.get(port, set()), f"{name}: nothing on {port}"


def test_nothing_answers_on_db_ports_from_the_front_network() -> None:
    """From the client (front network only): no node's DB address answers on any database
    port, and the arbitrator's front address (it sits on both networks) does not answer on
    Galera's group port either."""
    lab = current_lab()
    client = role_hosts("client")[0]
    targets: dict[str, tuple[int, ...]] = {addr(n): DB_PORTS for n in nodes()}
    arbiter = dbplan.arbitrator(lab)
    if arbiter is not None:
        targets[str(dbplan.address(arbiter))] = (dbplan.GALERA_PORTS["group"],)
        if arbiter.on("front"):
            targets[str(arbiter.addresses["front"])] = DB_PORTS
    answered = [(t, what) for t, what in probe(remote(client), targets, wait=2)
                if what.startswith("tcp/")]
    assert answered == [], f"database ports answer the front network: {answered}"


def test_app_user_refused_from_a_host_that_is_not_an_app_client(secrets: dict[str, str]
                                                                ) -> None:
    lab = current_lab()
    console = lab.hosts_with("db_mgmt")[0]
    assert dbplan.address(console) not in dbplan.app_clients(lab)
    for name in nodes():
        result = remote(console.name).run(
            f"MYSQL_PWD={shlex.quote(secrets['db_app_password'])} mariadb "
            f"--connect-timeout=10 -h {addr(name)} -u {dbplan.APP_USER} "
            f"{dbplan.DATABASE} -N -B -e 'SELECT 1'")
        said = result.stdout + result.stderr
        assert result.rc != 0, f"{console.name} logged in to {name} as the app user"
        assert "not allowed to connect" in said or "Access denied" in said, said


@pytest.mark.parametrize("app", role_hosts("app"))
def test_app_user_accepted_from_an_app_server(app: str, secrets: dict[str, str]) -> None:
    php = ("$p = new PDO('mysql:host=' . getenv('DB_HOST') . ';port=' . getenv('DB_PORT') . "
           "';dbname=' . getenv('DB_NAME'), getenv('DB_USER'), getenv('DB_PASS'), "
           "[PDO::ATTR_TIMEOUT => 10]); echo $p->query('SELECT @@hostname')->fetchColumn();")
    for name in nodes():
        env = (f"DB_HOST={addr(name)} DB_PORT={dbplan.SQL_PORT} DB_NAME={dbplan.DATABASE} "
               f"DB_USER={dbplan.APP_USER} DB_PASS={shlex.quote(secrets['db_app_password'])}")
        out = remote(app).check_output(f"{env} php -r {shlex.quote(php)}")
        assert out.strip().split(".")[0] == name, f"{app} -> {name}: {out!r}"


def test_root_only_on_localhost_and_no_anonymous_user() -> None:
    for name in nodes():
        others = sql(name, "SELECT CONCAT(User, '@', Host) FROM mysql.global_priv "
                           "WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
        assert others == "", f"{name}: {others}"


# ---------------------------------------------------------------------------------------------
# The health agent (chapter 06's HAProxy relies on exactly this)


@pytest.mark.parametrize("name", nodes())
def test_health_agent_answers_200_when_synced(name: str) -> None:
    line, body = health(name)
    assert line == "HTTP/1.1 200 OK", (line, body)
    assert body == f"{name} Synced Primary ready=ON read_only=OFF"
    socket = remote(name).service("webfarm-dbcheck.socket")
    assert socket.is_enabled and socket.is_running
    agent = remote(name).service("webfarm-dbcheck.service")  # one process, one kept client
    assert agent.is_enabled and agent.is_running


def test_health_agent_answers_503_while_a_node_is_desynced() -> None:
    name = nodes()[-1]
    try:
        sql(name, "SET GLOBAL wsrep_desync = ON")
        wait_until(lambda: health(name)[0].startswith("HTTP/1.1 503"), 30, 1,
                   f"{name}'s agent to answer 503 while desynced")
        assert "Desynced" in health(name)[1]
    finally:
        sql(name, "SET GLOBAL wsrep_desync = OFF")
    wait_until(lambda: health(name)[0] == "HTTP/1.1 200 OK", SETTLE_S, 2,
               f"{name}'s agent back to 200")


# ---------------------------------------------------------------------------------------------
# The arbitrator, and idempotence


def test_garbd_runs_exactly_where_the_plan_says() -> None:
    lab = current_lab()
    arbiter = dbplan.arbitrator(lab)
    for h in lab.hosts_with("db_mgmt"):
        garb = osdata.get(h.os.family).services["garb"]
        svc = remote(h.name).service(garb)
        if h == arbiter:
            assert svc.is_enabled and svc.is_running, f"{garb} on {h.name}"
            opts = remote(h.name).file(osdata.get(h.os.family).paths["garb_conf"])
            assert str(dbplan.address(h)) in opts.content_string
        else:
            assert not svc.is_running, f"{h.name} runs garbd with an odd number of nodes"


@pytest.mark.parametrize("name", [h.name for h in chapters.get(CHAPTER).hosts(current_lab())])
def test_chapter_is_idempotent(name: str) -> None:
    assert rerun_chapter(name, CHAPTER).endswith("changed=0")
