"""The DB load balancers (chapter 06-dblb): HAProxy's front ends on the DB VIP and the pools
behind them, decided here from lab.yml and only formatted by the templates.

- **write** front end on the VIP's ``port``: one node takes every write (the first SQL node in
  lab.yml order); the others are ``backup`` servers, used one at a time only while it is down.
  One writer at a time means no two nodes certify conflicting transactions.
- **read** front end on the VIP's ``read_port``: every SQL node, least connections first.
- **health**: HAProxy asks each node's health agent (HTTP on :data:`dbplan.HEALTH_PORT`),
  which answers 200 only when the node is Synced, in the primary component and writable;
  anything else takes the node out of both pools within ``inter * fall``.
- **stats**: HAProxy's stats page on each balancer's own DB address, ``stats_port``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from webfarm import dbplan
from webfarm.topology import Host, Lab, Vip

ROLE = dbplan.DB_HOLDER
CHECK = {"inter_ms": 1500, "fall": 2, "rise": 2}  # a failed node leaves in ~3 s + timeout
# check: the agent starts a mariadb client per request, which a TCG guest can take 1 s to do
TIMEOUTS_S = {"connect": 2, "client": 3600, "server": 3600, "check": 2}


@dataclass(frozen=True)
class Server:
    name: str  # the node's host name (HAProxy server name)
    address: ipaddress.IPv4Address
    port: int
    backup: bool


def vip(lab: Lab) -> Vip:
    v = dbplan.db_vip(lab)
    if v is None:
        raise KeyError("no VIP is held by dblb in lab.yml")
    return v


def write_servers(lab: Lab) -> list[Server]:
    """The write pool: the first SQL node active, the others backups (lab.yml order)."""
    return [Server(h.name, dbplan.address(h), dbplan.SQL_PORT, i > 0)
            for i, h in enumerate(dbplan.nodes(lab))]


def read_servers(lab: Lab) -> list[Server]:
    """The read pool: every SQL node."""
    return [Server(h.name, dbplan.address(h), dbplan.SQL_PORT, False) for h in dbplan.nodes(lab)]


def writer(lab: Lab) -> Host:
    """The node taking the writes while every node is healthy."""
    return dbplan.nodes(lab)[0]


def stats_address(host: Host) -> ipaddress.IPv4Address:
    return dbplan.address(host)


def firewall_ports(lab: Lab) -> list[str]:
    v = vip(lab)
    return [f"{v.port}/tcp", f"{v.read_port}/tcp", f"{v.stats_port}/tcp"]


# -- HAProxy's sections, who may connect, keepalived's haproxy tracking ------------------------

WRITE_FRONTEND, READ_FRONTEND = "db_write", "db_read"  # HAProxy proxy names (stats CSV pxname)
WRITE_BACKEND, READ_BACKEND = "db_write_nodes", "db_read_nodes"
STATS_PROXY = "stats"
MAXCONN = 2000  # HAProxy's global connection limit (MariaDB's default max_connections: 151)
# keepalived's vrrp_script: is an haproxy process alive? pidof is /usr/bin/pidof on both
# families (procps-ng on EL9, sysvinit-utils on Debian 12); checked every second, 2 misses
# to fail, 2 successes to recover.
TRACK_SCRIPT = "chk_haproxy"
TRACK_COMMAND = "/usr/bin/pidof haproxy"
TRACK = {"interval_s": 1, "fall": 2, "rise": 2}
SCRIPT_USER = "keepalived_script"  # unprivileged user keepalived runs the track script as


def balancers(lab: Lab) -> list[Host]:
    """The DB balancers (VRRP pair), in lab.yml order: the first is the VIP's MASTER."""
    return lab.hosts_with(ROLE)


def db_clients(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Who may open a connection to the VIP's write and read ports: every app server and
    every monitor host (their DB addresses). Nobody else: not the DB nodes, not the balancers
    (their own connections to the nodes do not pass through the VIP)."""
    out = [dbplan.address(h) for h in lab.hosts_with("app") if h.on(dbplan.DB_NETWORK)]
    out += [a for a in dbplan.monitor_clients(lab) if a not in out]
    return out


def stats_clients(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Who may read a balancer's stats page: the monitor hosts and the balancers themselves
    (the checks read it on the balancer; a balancer may read its peer's)."""
    out = list(dbplan.monitor_clients(lab))
    out += [dbplan.address(h) for h in balancers(lab) if dbplan.address(h) not in out]
    return out


def track_weight(lab: Lab) -> int:
    """The (negative) weight of the haproxy track script: a balancer whose haproxy is dead
    falls below every healthy member (the highest priority minus it is below the lowest),
    so the VIP moves to a balancer that can serve it."""
    prios = [lab.priority(h, ROLE) for h in balancers(lab)]
    return -(max(prios) - min(prios) + 1)


def keepalived_conflict(host: Host) -> str | None:
    """Why ``host`` cannot run this chapter's keepalived.conf, or None. keepalived reads one
    file per host: a host that is both an LVS director (chapter 04) and a DB balancer would
    have two chapters writing it, each removing the other's VIPs."""
    if "director" in host.roles and ROLE in host.roles:
        return (f"{host.name} has both roles director and {ROLE}: chapters 04-lvs and 06-dblb "
                "would each write its one keepalived.conf. Fix: give the roles to different "
                "hosts in lab.yml")
    return None
