"""The role catalogue: what each role needs from the host that carries it.

Chapters address roles, never host names. A role's needs are fixed by the design of the farm
(a DB node must sit on the DB network, a director is useless alone), so they live in code;
sizing (memory, cpus) is a per-lab choice and lives in ``lab.yml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    networks: tuple[str, ...]  # networks a host with this role must sit on
    min_memory: int  # MB; below this the role's software does not start reliably
    pair: bool  # True: the role is a redundant pair (at least two hosts)
    single: bool = False  # True: exactly one host (e.g. the NDB management node)


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("director", "LVS-DR load balancer (keepalived VRRP + IPVS)", ("front",), 256, True),
        Role("dns", "BIND 9 name server", ("front",), 256, True),
        Role("app", "app server (nginx + PHP-FPM)", ("front", "db"), 384, True),
        Role("media", "media server (nginx, static files)", ("front",), 256, True),
        Role("dblb", "DB load balancer (keepalived + HAProxy)", ("db",), 256, True),
        Role("db_mgmt", "NDB management node / Galera arbitrator", ("db",), 256, False, True),
        Role("db_data", "NDB data node", ("db",), 512, True),
        Role("db_sql", "SQL node (mysqld / MariaDB Galera)", ("db",), 512, True),
        Role("monitor", "Nagios Core", ("front", "db"), 384, False, True),
        Role("client", "test client (curl, dig, wrk)", ("front",), 256, False),
    )
}

NETWORK_NAMES = ("front", "db")

# A VIP is held (keepalived VRRP) by a pair of one of these roles, on that role's network...
VIP_HOLDER_ROLES = ("director", "dblb")
# ...and sends its traffic to the hosts of one of these roles (never to a balancer, the
# monitor, the client or the NDB management node, which serve no VIP traffic).
VIP_POOL_ROLES = ("app", "media", "dns", "db_sql")
