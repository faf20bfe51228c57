"""Chapter 06-dblb checks against the live lab: keepalived and HAProxy run on both DB
balancers, the db VIP sits on exactly one (the highest-priority one), HAProxy listens on the
VIP on both (non-local bind), every node is UP in both pools, reads through the read port
are answered by every node and writes through the write port by one, a node whose MariaDB
stops leaves both pools and comes back, the stats page and the VIP answer only the hosts
allowed to use them, and the chapter changes nothing when it runs again."""

from __future__ import annotations

import contextlib
import csv
import io
import ipaddress
import shlex
import time

import pytest

from webfarm import dblb, dbplan
from webfarm import os as osdata
from webfarm.labtest import (
    current_lab,
    holds_vip,
    remote,
    remote_root,
    rerun_chapter,
    role_hosts,
)
from webfarm.topology import Host, Lab
from webfarm.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.lab

ROLE = dblb.ROLE
CHAPTER = "06-dblb"
BACKENDS = (dblb.WRITE_BACKEND, dblb.READ_BACKEND)
CONNECTIONS_PER_NODE = 4  # fresh connections per node when probing a port
UP_S = 90  # every node UP after the chapter: rise x inter, plus a node still joining (TCG)
DOWN_S = 30  # a stopped node leaves: fall x inter + check timeout is ~3 s; slack for TCG
RETURN_S = 300  # a restarted Galera node rejoins (IST, or SST under TCG) and turns Synced


def service(name: str, key: str) -> str:
    return osdata.get(current_lab().hosts[name].os.family).services[key]


def stats(lab: Lab, name: str, via: str | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """Balancer ``name``'s stats page as CSV, read from ``via`` (default: the balancer
    itself): {proxy: {server: row}} (row: the CSV columns, "status" UP/DOWN/MAINT...)."""
    url = f"http://{dblb.stats_address(lab.hosts[name])}:{dblb.vip(lab).stats_port}/;csv"
    out = remote(via or name).check_output(f"curl -sS --max-time 5 {shlex.quote(url)}")
    text = out.lstrip("# ")
    table: dict[str, dict[str, dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        table.setdefault(row["pxname"], {})[row["svname"]] = row
    return table


def server_status(lab: Lab, name: str) -> dict[str, dict[str, str]]:
    """{backend: {server: status}} on balancer ``name`` (FRONTEND/BACKEND rows left out)."""
    table = stats(lab, name)
    return {b: {s: row["status"] for s, row in table.get(b, {}).items()
                if s not in ("FRONTEND", "BACKEND")} for b in BACKENDS}


def nodes_in(lab: Lab, name: str, status: str) -> dict[str, set[str]]:
    """{backend: servers whose status starts with ``status``} on balancer ``name``."""
    return {b: {s for s, st in servers.items() if st.startswith(status)}
            for b, servers in server_status(lab, name).items()}


def node_names(lab: Lab) -> set[str]:
    return {h.name for h in dbplan.nodes(lab)}


def app_host() -> str:
    return role_hosts("app")[0]


PHP_PROBE = r"""
$n = (int) getenv("WF_N");
for ($i = 0; $i < $n; $i++) {
    $db = null;
    try {
        $db = new PDO(getenv("WF_DSN"), getenv("WF_DB_USER"), getenv("WF_DB_PASSWORD"),
                      [PDO::ATTR_TIMEOUT => 5, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        echo $db->query("SELECT @@hostname")->fetchColumn(), "\n";
    } catch (Throwable $e) {
        echo "FAIL ", $e->getCode(), "\n";
    }
    $db = null;
}
"""


def answered_by(lab: Lab, secrets: dict[str, str], port: int, n: int) -> list[str]:
    """From an app server, ``n`` fresh PDO connections to the db VIP's ``port``, each asking
    SELECT @@hostname: the short name of the node that answered each, or "FAIL CODE". The
    password goes into the command (quoted) and never into a message."""
    vip = dblb.vip(lab)
    dsn = f"mysql:host={vip.address};port={port};dbname={dbplan.DATABASE}"
    env = {"WF_N": str(n), "WF_DSN": dsn, "WF_DB_USER": dbplan.APP_USER,
           "WF_DB_PASSWORD": secrets["db_app_password"]}
    cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    result = remote(app_host()).run(f"{cmd} php -r {shlex.quote(PHP_PROBE)}")
    rc, out = int(result.rc), str(result.stdout)
    err = str(result.stderr).replace(secrets["db_app_password"], "<password>")
    del result, cmd, env  # nothing holding the password stays in this frame's locals
    assert rc == 0, f"php on {app_host()} failed (exit {rc}): {err.strip()[:500]}"
    return [line.strip().split(".")[0] for line in out.splitlines() if line.strip()]


def greeting_bytes(source: str, address: str, port: int) -> int:
    """From ``source``, open a TCP connection to address:port and count the bytes of what
    the server says first (at most 4). A MariaDB server greets at once (its handshake, or an
    error packet for a host it does not know); HAProxy rejecting the source closes the
    connection without a byte."""
    probe = (f"exec 3<>/dev/tcp/{address}/{port} && "
             "timeout 5 head -c 4 <&3 | wc -c")
    out = remote(source).run(f"timeout 10 bash -c {shlex.quote(probe)}")
    text = str(out.stdout).strip()
    return int(text) if text.isdigit() else 0


def wait_status(lab: Lab, names: list[str], node: str, status: str, timeout: float) -> float:
    """Wait until ``node`` has ``status`` (UP, DOWN) in both backends on every balancer of
    ``names``; the seconds it took."""
    start = time.monotonic()

    def reached() -> bool:
        return all(node in nodes_in(lab, name, status)[b] for name in names for b in BACKENDS)

    try:
        wait_until(reached, timeout, 1, f"{node} {status} in both pools")
    except WaitTimeout:
        seen = {name: server_status(lab, name) for name in names}
        raise AssertionError(f"{node} is not {status} in both pools on every balancer "
                             f"{timeout:.0f} s later: {seen}") from None
    return time.monotonic() - start


def wsrep_state(node: Host) -> str:
    out = remote_root(node.name).run(
        "mariadb -N -B -e \"SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'\"")
    return str(out.stdout).split("\t")[-1].strip() if out.rc == 0 else f"exit {out.rc}"


def not_allowed(lab: Lab, allowed: list[ipaddress.IPv4Address], *,
                holding_vip: bool = True) -> Host | None:
    """A host on the db network whose DB address is not in ``allowed`` (and, unless
    ``holding_vip``, that does not hold the VIP right now: its connection to the VIP would
    come from the VIP itself)."""
    vip = dblb.vip(lab)
    for host in lab.hosts_on(dbplan.DB_NETWORK):
        if dbplan.address(host) in allowed:
            continue
        if not holding_vip and host.has_role(ROLE) and holds_vip(host.name, vip):
            continue
        return host
    return None


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", role_hosts(ROLE))
@pytest.mark.parametrize("key", ["haproxy", "keepalived"])
def test_services_enabled_and_running(name: str, key: str) -> None:
    svc = remote(name).service(service(name, key))
    assert svc.is_enabled
    assert svc.is_running


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_haproxy_listens_on_the_vip_on_both_balancers(lab: Lab, name: str) -> None:
    """ip_nonlocal_bind lets the BACKUP's HAProxy bind the VIP too: a takeover needs no
    restart. The stats page listens on the balancer's own DB address only."""
    host = remote(name)
    assert host.sysctl("net.ipv4.ip_nonlocal_bind") == 1
    vip = dblb.vip(lab)
    own = dblb.stats_address(lab.hosts[name])
    out = remote_root(name).check_output("ss -H -l -n -t -p")
    listening = {line.split()[3] for line in out.splitlines() if "haproxy" in line}
    want = {f"{vip.address}:{vip.port}", f"{vip.address}:{vip.read_port}",
            f"{own}:{vip.stats_port}"}
    assert want <= listening, f"haproxy on {name} listens on {sorted(listening)}"
    assert not {a for a in listening if a.startswith(("0.0.0.0:", "*:", "[::]:"))}


def test_vip_on_exactly_one_balancer_the_highest_priority(lab: Lab) -> None:
    vip = dblb.vip(lab)
    primary = lab.primary(ROLE)
    # Right after keepalived (re)starts every balancer is BACKUP until the master-down
    # interval passes, and the track script needs `rise` runs: wait for the steady state.
    settle = 3 * lab.vrrp.advert_int + 1 + dblb.TRACK["rise"] * dblb.TRACK["interval_s"] + 20
    found: list[str] = []

    def steady() -> bool:
        found[:] = [n for n in role_hosts(ROLE) if holds_vip(n, vip)]
        return found == [primary.name]

    with contextlib.suppress(WaitTimeout):  # the assertions below say where the VIP is
        wait_until(steady, settle, 1, f"{vip.name} on {primary.name} alone")
    assert len(found) == 1, (f"VIP {vip.name} ({vip.address}) is on {found or 'no balancer'} "
                             f"{settle:.0f} s after the chapter")
    assert found == [primary.name], (
        f"at steady state the highest-priority balancer ({primary.name}, priority "
        f"{lab.priority(primary, ROLE)}) holds {vip.name}, but {found[0]} does")


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_every_node_up_in_both_pools(lab: Lab, name: str) -> None:
    """Each balancer checks every node itself (the BACKUP is ready to take over)."""
    nodes = node_names(lab)
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: all(up == nodes for up in nodes_in(lab, name, "UP").values()),
                   UP_S, 2, f"every node UP on {name}")
    seen = server_status(lab, name)
    for backend in BACKENDS:
        assert set(seen[backend]) == nodes, f"{name} {backend}: servers {seen[backend]}"
        down = {s: st for s, st in seen[backend].items() if not st.startswith("UP")}
        assert not down, f"{name} {backend}: not UP after {UP_S} s: {down}"
    # one writer: the others are backups in the write pool, none in the read pool
    table = stats(lab, name)
    # (the BACKEND row's bck is the number of backup servers: not a server)
    backups = {s for s, row in table[dblb.WRITE_BACKEND].items()
               if row.get("bck") == "1" and s not in ("BACKEND", "FRONTEND")}
    assert backups == nodes - {dblb.writer(lab).name}
    assert not {s for s, row in table[dblb.READ_BACKEND].items() if row.get("bck") == "1"}


def test_reads_are_answered_by_every_node(lab: Lab, secrets: dict[str, str]) -> None:
    nodes = node_names(lab)
    answers = answered_by(lab, secrets, dblb.vip(lab).read_port,
                          CONNECTIONS_PER_NODE * len(nodes))
    assert not [a for a in answers if a.startswith("FAIL")], f"failed reads: {answers}"
    assert set(answers) == nodes, f"reads answered by {sorted(set(answers))}, nodes {nodes}"


def test_writes_are_answered_by_one_node(lab: Lab, secrets: dict[str, str]) -> None:
    answers = answered_by(lab, secrets, dblb.vip(lab).port,
                          CONNECTIONS_PER_NODE * len(node_names(lab)))
    assert not [a for a in answers if a.startswith("FAIL")], f"failed connections: {answers}"
    assert set(answers) == {dblb.writer(lab).name}, \
        f"the write port was answered by {sorted(set(answers))}"


def test_stopped_node_leaves_both_pools_and_returns(lab: Lab, secrets: dict[str, str]) -> None:
    """Stop MariaDB on one node (not the writer): its health agent answers 503, and within
    fall x inter every balancer marks it DOWN in both pools; reads go on from the others.
    Start it again: once it is Synced it is UP again everywhere."""
    nodes = dbplan.nodes(lab)
    victim = nodes[-1]
    assert victim != dblb.writer(lab)
    balancers = role_hosts(ROLE)
    mariadb = osdata.get(victim.os.family).services["mariadb"]
    assert all(victim.name in nodes_in(lab, n, "UP")[b] for n in balancers for b in BACKENDS), \
        f"{victim.name} must be UP in both pools before the test"
    try:
        remote_root(victim.name).check_output(f"systemctl stop {mariadb}")
        took = wait_status(lab, balancers, victim.name, "DOWN", DOWN_S)
        answers = answered_by(lab, secrets, dblb.vip(lab).read_port,
                              CONNECTIONS_PER_NODE * (len(nodes) - 1))
        assert not [a for a in answers if a.startswith("FAIL")], f"failed reads: {answers}"
        assert victim.name not in answers, f"{victim.name} answered while down: {answers}"
        print(f"{victim.name} left both pools {took:.1f} s after mariadb stopped")
    finally:
        # systemctl start returns once the node has joined (Type=notify); UP needs Synced
        remote_root(victim.name).run(f"systemctl start {mariadb}")
        back = wait_status(lab, balancers, victim.name, "UP", RETURN_S)
        print(f"{victim.name} back UP in both pools {back:.1f} s after the start")
    if lab.engine == dbplan.GALERA:
        assert wsrep_state(victim) == "Synced"


def test_stats_page_for_the_monitor_host_only(lab: Lab) -> None:
    monitors = [h.name for h in lab.hosts_with("monitor") if h.on(dbplan.DB_NETWORK)]
    assert monitors, "no monitor host on the db network"
    for name in role_hosts(ROLE):
        table = stats(lab, name, via=monitors[0])
        assert set(BACKENDS) <= set(table), f"{name}'s stats page from {monitors[0]}: {table}"
    other = not_allowed(lab, dblb.stats_clients(lab))
    if other is None:
        pytest.skip("every host on the db network may read the stats page in this profile")
    for name in role_hosts(ROLE):
        url = f"http://{dblb.stats_address(lab.hosts[name])}:{dblb.vip(lab).stats_port}/;csv"
        out = remote(other.name).run(f"curl -sS --max-time 5 {shlex.quote(url)}")
        assert out.rc != 0 and dblb.WRITE_BACKEND not in out.stdout, \
            f"{other.name} (not allowed) read {name}'s stats page"


def test_vip_answers_only_allowed_sources(lab: Lab) -> None:
    """HAProxy rejects a connection to the VIP from a host outside the app servers and the
    monitor hosts before any byte of MariaDB's greeting; an app server gets the greeting."""
    vip = dblb.vip(lab)
    allowed = dblb.db_clients(lab)
    for port in (vip.port, vip.read_port):
        assert greeting_bytes(app_host(), str(vip.address), port) > 0, \
            f"{app_host()} (allowed) got no greeting from {vip.address}:{port}"
    other = not_allowed(lab, allowed, holding_vip=False)
    if other is None:
        pytest.skip("no host on the db network outside the VIP's allowed sources")
    for port in (vip.port, vip.read_port):
        assert greeting_bytes(other.name, str(vip.address), port) == 0, \
            f"{other.name} (not allowed) was served by {vip.address}:{port}"


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_chapter_is_idempotent(name: str) -> None:
    assert rerun_chapter(name, CHAPTER).endswith("changed=0")
