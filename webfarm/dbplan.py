"""The database cluster (chapter 05-db): engine, nodes, who bootstraps, the arbitrator, NDB
node ids, ports, users and sizing, decided here from lab.yml and only formatted by templates.

- **Galera** (MariaDB + Galera 4; Debian 12 here, ``mariadb-server-galera`` on EL9): every
  ``db_data`` and ``db_sql`` host is one Galera node (Galera has no storage/SQL split). The
  first node in lab.yml order bootstraps the cluster, exactly once; the others join it. With
  an even number of nodes the ``db_mgmt`` host runs ``garbd``, the arbitrator: a vote without
  data, so that half the nodes failing still leaves a majority (quorum).
- **NDB** (MySQL NDB Cluster; EL9 only): the ``db_mgmt`` host runs ``ndb_mgmd`` (node id 1),
  each ``db_data`` host ``ndbd`` (ids 2, 3, ...), each ``db_sql`` host ``mysqld`` (ids 51, 52,
  ...), in that start order. ``NoOfReplicas=2``: data nodes form node groups of two.

Every database port listens on the host's DB-network address only (never on the front
network); the server's root account is reachable only over the local socket.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from webfarm.topology import Host, Lab, Vip

GALERA, NDB = "galera", "ndb"
DB_NETWORK = "db"
DB_HOLDER = "dblb"  # the pair that holds the DB VIP (chapter 06-dblb)

SQL_PORT = 3306  # every node's MariaDB/mysqld (the VIP's ports are HAProxy's, from lab.yml)
GALERA_PORTS = {"group": 4567, "ist": 4568, "sst": 4444}  # group communication, IST, SST
NDB_MGM_PORT = 1186
HEALTH_PORT = 9200  # the node health agent HAProxy asks (socket-activated, HTTP)

DATABASE = "webfarm"  # the app's schema (chapter 07-app)
APP_USER = "webfarm"  # from the app servers only; the app's tables only
MONITOR_USER = "monitor"  # health agent (local socket) and monitoring (monitor hosts)

# Galera's failure detector (wsrep_provider_options): a silent peer is suspected after
# suspect_timeout and dropped after inactive_timeout; these are Galera's documented defaults,
# written out so the tutorial can explain what a drill measures.
GALERA_TIMINGS = {
    "evs.keepalive_period": "PT1S",
    "evs.inactive_check_period": "PT0.5S",
    "evs.suspect_timeout": "PT5S",
    "evs.inactive_timeout": "PT15S",
    "gcache.size": "64M",  # write-sets kept for IST: a node back within this rejoins by IST
}
NDB_FIRST_SQL_ID = 51


@dataclass(frozen=True)
class NdbNode:
    node_id: int
    kind: str  # ndb_mgmd | ndbd | mysqld
    host: Host
    address: ipaddress.IPv4Address


def engine(lab: Lab) -> str:
    """galera or ndb (lab.db_engine with "auto" resolved by validation)."""
    return lab.engine


def address(host: Host) -> ipaddress.IPv4Address:
    """The address a DB host listens on: its DB-network address."""
    return host.addresses[DB_NETWORK]


def nodes(lab: Lab) -> list[Host]:
    """The hosts that answer SQL, in lab.yml order: every db_data/db_sql host with Galera,
    the db_sql hosts (mysqld) with NDB."""
    if lab.engine == NDB:
        return lab.hosts_with("db_sql")
    return [h for h in lab.hosts.values() if {"db_data", "db_sql"} & set(h.roles)]


def is_node(lab: Lab, host: Host) -> bool:
    return host in nodes(lab)


def bootstrap_node(lab: Lab) -> Host:
    """The Galera node that starts the cluster (galera_new_cluster): the first node."""
    return nodes(lab)[0]


def cluster_address(lab: Lab) -> str:
    """wsrep_cluster_address (and garbd's address): every node's DB address."""
    return "gcomm://" + ",".join(str(address(h)) for h in nodes(lab))


def arbitrator(lab: Lab) -> Host | None:
    """The host running garbd: the db_mgmt host when Galera has an even number of nodes."""
    if lab.engine != GALERA or len(nodes(lab)) % 2 or not lab.hosts_with("db_mgmt"):
        return None
    return lab.hosts_with("db_mgmt")[0]


def cluster_size(lab: Lab) -> int:
    """wsrep_cluster_size once every member is in: the nodes plus the arbitrator."""
    return len(nodes(lab)) + (1 if arbitrator(lab) else 0)


def buffer_pool_mb(host: Host) -> int:
    """innodb_buffer_pool_size: a quarter of the VM's memory, at least 64 MB."""
    return max(64, host.memory // 4)


# -- NDB ----------------------------------------------------------------------------------------


def ndb_nodes(lab: Lab) -> list[NdbNode]:
    """config.ini's nodes: management (id 1), data (2, 3, ...), SQL (51, 52, ...)."""
    out = [NdbNode(1, "ndb_mgmd", h, address(h)) for h in lab.hosts_with("db_mgmt")[:1]]
    out += [NdbNode(2 + i, "ndbd", h, address(h)) for i, h in enumerate(lab.hosts_with("db_data"))]
    out += [NdbNode(NDB_FIRST_SQL_ID + i, "mysqld", h, address(h))
            for i, h in enumerate(lab.hosts_with("db_sql"))]
    return out


def ndb_connectstring(lab: Lab) -> str:
    return ",".join(f"{n.address}:{NDB_MGM_PORT}" for n in ndb_nodes(lab) if n.kind == "ndb_mgmd")


def ndb_data_memory_mb(lab: Lab) -> int:
    """DataMemory: data nodes allocate it all at start; an eighth of the smallest data node's
    memory, at least 64 MB."""
    data = lab.hosts_with("db_data")
    return max(64, min((h.memory for h in data), default=512) // 8)


# -- who may connect --------------------------------------------------------------------------


def app_clients(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Where the app user may connect from: every app server's DB address. Writes and reads
    pass through HAProxy on the DB balancers, which opens its own connection to the node, so
    the DB balancers' addresses are allowed too (HAProxy in TCP mode does not hide the login:
    the app's user and password still have to match)."""
    out = [address(h) for h in lab.hosts_with("app")]
    out += [address(h) for h in lab.hosts_with(DB_HOLDER) if address(h) not in out]
    return out


def monitor_clients(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Where the monitor user may connect from (besides the local socket): monitor hosts."""
    return [address(h) for h in lab.hosts_with("monitor") if h.on(DB_NETWORK)]


def monitor_logins(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Where the monitor user may log in from over the network: the monitor hosts (node
    checks, chapter 08), and the DB balancers, because a check through the db VIP reaches the
    node from the balancer's address (HAProxy in TCP mode opens its own connection)."""
    out = monitor_clients(lab)
    if out:
        out += [address(h) for h in lab.hosts_with(DB_HOLDER) if address(h) not in out]
    return out


def db_vip(lab: Lab) -> Vip | None:
    """The VIP the DB balancers hold (the app's database address)."""
    held = lab.vips_held_by(DB_HOLDER)
    return held[0] if held else None


def firewall_ports(lab: Lab, host: Host) -> list[str]:
    """PORT/PROTO words a DB host opens (EL9 firewalld; Debian has no firewall)."""
    ports: list[str] = []
    if lab.engine == GALERA:
        if is_node(lab, host):
            ports += [f"{SQL_PORT}/tcp", f"{HEALTH_PORT}/tcp"]
            ports += [f"{p}/tcp" for p in GALERA_PORTS.values()]
        if arbitrator(lab) == host:
            ports.append(f"{GALERA_PORTS['group']}/tcp")
    else:
        if "db_mgmt" in host.roles:
            ports.append(f"{NDB_MGM_PORT}/tcp")
        if "db_data" in host.roles:
            ports.append("2202/tcp")  # ServerPort of the data nodes (config.ini)
        if "db_sql" in host.roles:
            ports += [f"{SQL_PORT}/tcp", f"{HEALTH_PORT}/tcp"]
    return list(dict.fromkeys(ports))


# -- chapter 05-db: what the scripts and templates need besides the above ---------------------

NDB_DATA_PORT = 2202  # ServerPort of every data node (config.ini), so firewalld can open it
NDB_REPLICAS = 2  # NoOfReplicas: every fragment on two data nodes (a node group of two)
NDB_DATA_DIR = "/var/lib/mysql-cluster"  # DataDir of ndb_mgmd and ndbd (config.ini)
CLIENT = {GALERA: "mariadb", NDB: "mysql"}  # the command-line client of each engine
HEALTH_USER = "webfarm-dbcheck"  # the system user the health agent runs as
SYNC_TIMEOUT_S = 900  # how long a node may take to reach Synced (an SST under TCG: minutes)


def client(lab: Lab) -> str:
    """The SQL client program of the engine (the health agent and the scripts call it)."""
    return CLIENT[lab.engine]


def peers(lab: Lab, host: Host) -> list[Host]:
    """The other nodes (the arbitrator is no peer: it holds no data and answers no SQL)."""
    return [h for h in nodes(lab) if h.name != host.name]


def monitor_privileges(lab: Lab) -> str:
    """What the monitor user may do on *.*: read status and the process list, no data.
    (SHOW GLOBAL STATUS, which the health agent asks, needs no privilege at all.)"""
    return "PROCESS, REPLICA MONITOR" if lab.engine == GALERA else "PROCESS, REPLICATION CLIENT"


def selinux_ports(lab: Lab, host: Host) -> list[int]:
    """Galera's ports the SELinux policy must label mysqld_port_t on an EL9 node (mysqld_t
    binds them; 3306 already is mysqld_port_t)."""
    if lab.engine != GALERA or not is_node(lab, host):
        return []
    return sorted(GALERA_PORTS.values())


def provider_options(lab: Lab, host: Host) -> str:
    """wsrep_provider_options (and garbd's): Galera's own sockets on the DB address only,
    then the failure-detector timings and the write-set cache."""
    addr = address(host)
    opts = {"gmcast.listen_addr": f"tcp://{addr}:{GALERA_PORTS['group']}"}
    if is_node(lab, host):
        opts["ist.recv_addr"] = f"{addr}:{GALERA_PORTS['ist']}"
        opts |= GALERA_TIMINGS
    else:  # garbd: no IST, no cache of its own worth sizing
        opts |= {k: v for k, v in GALERA_TIMINGS.items() if k.startswith("evs.")}
    return "; ".join(f"{k}={v}" for k, v in opts.items())
