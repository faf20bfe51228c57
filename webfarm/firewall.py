"""Ports the directors open (chapter 04-lvs), and whether SELinux must let keepalived's
health checks reach them. Where firewalld runs (EL9) IPVS takes a packet over only after the
INPUT filter has accepted it, so every virtual service's port must be open on the directors;
so must the UDP port of the IPVS connection-sync daemon. (VRRP itself, IP protocol 112, is
accepted by a rich rule in provision/04-lvs/director.sh.)

``webfarm/templates/04-lvs/director/lvs.env.j2`` calls these (the ``firewall`` template
global) for provision/04-lvs/director.sh; on Debian, which runs no firewall and no SELinux,
the script ignores them.
"""

from __future__ import annotations

from webfarm import lvs
from webfarm.topology import Lab

IPVS_SYNC_PORT = 8848  # the kernel's default port for the IPVS connection-sync daemon

# Ports EL9's SELinux policy labels http_port_t, which keepalived_t may connect to; a health
# check on any other port needs the keepalived_connect_any boolean.
HTTP_PORT_T = (80, 81, 443, 488, 8008, 8009, 8443, 9000)


def director_ports(lab: Lab) -> list[int]:
    """TCP ports of the directors' virtual services (each once, in lab.yml order)."""
    return list(dict.fromkeys(v.port for v in lvs.virtual_services(lab)))


def director_openings(lab: Lab) -> list[str]:
    """What firewalld opens on a director, as PORT/PROTO: the virtual services, then the
    connection-sync port."""
    return [f"{p}/tcp" for p in director_ports(lab)] + [sync_port()]


def sync_port() -> str:
    return f"{IPVS_SYNC_PORT}/udp"


def connect_any(lab: Lab) -> bool:
    """True when a director's health check must reach a port outside http_port_t (SELinux
    then needs keepalived_connect_any)."""
    return any(p not in HTTP_PORT_T for p in director_ports(lab))
