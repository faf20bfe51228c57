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
CHECK = {"inter_ms": 1000, "fall": 2, "rise": 2}  # a failed node leaves in ~2 s + timeout
TIMEOUTS_S = {"connect": 2, "client": 3600, "server": 3600, "check": 1}


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
