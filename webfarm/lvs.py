"""The LVS-DR layout (chapters 03-web and 04-lvs): which VIPs the directors float, which real
servers serve each VIP, and which VIPs a real server must own on ``lo``.

The templates call these functions (the ``lvs`` template global) and only format them.
"""

from __future__ import annotations

import ipaddress

from webfarm.topology import Host, Lab, Vip

DIRECTOR = "director"  # the role whose pair holds the LVS VIPs


def directors(lab: Lab) -> list[Host]:
    return lab.hosts_with(DIRECTOR)


def virtual_services(lab: Lab) -> list[Vip]:
    """The VIPs the directors float, one IPVS virtual service each (lab.yml order)."""
    return lab.vips_held_by(DIRECTOR)


def real_servers(lab: Lab, vip: Vip) -> list[ipaddress.IPv4Address]:
    """Where a virtual service forwards to: every host of the VIP's pool, at its address on
    the VIP's network (lab.yml order)."""
    return [h.addresses[vip.network] for h in lab.hosts_with(vip.pool)]


def lo_vips(lab: Lab, host: Host) -> list[Vip]:
    """The VIPs ``host`` owns on ``lo`` as a real server: the directors' VIPs whose pool is
    one of its roles (a host with app and media serves both the www and the media VIP). A VIP
    held by another pair (the DB balancers' db VIP, proxied by HAProxy, not routed by LVS-DR)
    is never put on a real server's ``lo``."""
    return [v for v in virtual_services(lab) if v.pool in host.roles]


IpvsTable = dict[str, tuple[list[str], dict[str, list[str]]]]


def ipvs_table(text: str) -> IpvsTable:
    """``ipvsadm -L -n`` (or ``--stats``) output as {service ADDR:PORT: (its line's fields,
    {real server ADDR:PORT: its line's fields})}; the column headings are skipped. The
    callers pick the columns of the listing they asked for (weight, ActiveConn, Conns)."""
    table: IpvsTable = {}
    rows: dict[str, list[str]] | None = None
    for line in text.splitlines():
        f = line.split()
        if f[:1] in (["TCP"], ["UDP"], ["FWM"]) and len(f) > 1:
            rows = table.setdefault(f[1], (f, {}))[1]
        elif rows is not None and f[:1] == ["->"] and len(f) > 2:
            rows[f[1]] = f
    return table
