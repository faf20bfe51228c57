"""Who serves which DNS zone, and what the zones hold (chapter 02-dns).

The first ``dns`` host of lab.yml is the primary name server; every other ``dns`` host is
one of its secondaries. All of them are listed as NS, primary first, and every host of the
lab resolves through them in that order. The name servers talk to each other and to clients
on their front address.

The zones: the lab's domain (forward), then one reverse zone per lab network, in lab.yml
order. Every address of every host has a forward record and a PTR in the reverse zone of its
network; so has every VIP.

The chapter 02-dns templates call these functions (the ``dnsplan`` template global) and only
format the answers; names come back raw, so the templates still pass them through the
``hostname``/``dnsname`` filters that check their grammar.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from webfarm.topology import Host, Lab

ROLE = "dns"
SERVICE_NETWORK = "front"  # where the name servers listen and reach each other
KEY_SUFFIX = "-xfer"  # the TSIG key is named LAB-xfer


@dataclass(frozen=True)
class Zone:
    name: str  # zone name without trailing dot: webfarm.test, 56.168.192.in-addr.arpa
    file: str  # the rendered zone file under files/02-dns/zones/
    network: str | None  # the network of a reverse zone; None for the forward zone


@dataclass(frozen=True)
class Record:
    """One name and its address: an A record in the forward zone, a PTR in the reverse one."""

    name: str  # the label in the lab's domain: app1, app1-db, www
    address: ipaddress.IPv4Address
    network: str


# -- who serves --------------------------------------------------------------------------------


def name_servers(lab: Lab) -> list[Host]:
    """Every name server (the NS set, the resolv.conf order): the dns hosts, primary first."""
    return lab.hosts_with(ROLE)


def primary(lab: Lab) -> Host:
    """The primary name server: the first dns host of lab.yml."""
    return lab.primary(ROLE)


def secondaries(lab: Lab) -> list[Host]:
    """The secondaries: every other dns host, in lab.yml order."""
    return lab.peers(primary(lab), ROLE)


def is_primary(lab: Lab, host: Host) -> bool:
    return host.name == primary(lab).name


def server_role(lab: Lab, host: Host) -> str:
    """``primary`` or ``secondary`` (what named.conf and dns.sh do on ``host``)."""
    return "primary" if is_primary(lab, host) else "secondary"


def address(host: Host) -> ipaddress.IPv4Address:
    """The address a name server listens on and is reached at."""
    return host.addresses[SERVICE_NETWORK]


def peers(lab: Lab, host: Host) -> list[Host]:
    """The other name servers (named.conf signs every message to them with the key)."""
    return lab.peers(host, ROLE)


def also_notify(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Whom the primary NOTIFYs on a change: every secondary."""
    return [address(h) for h in secondaries(lab)]


def masters(lab: Lab) -> list[ipaddress.IPv4Address]:
    """Where a secondary transfers the zones from: the primary."""
    return [address(primary(lab))]


def key_name(lab: Lab) -> str:
    """The name of the TSIG key that signs transfers and NOTIFY."""
    return lab.name + KEY_SUFFIX


# -- which zones exist -----------------------------------------------------------------------


def reverse_zone(network: ipaddress.IPv4Network) -> str:
    """in-addr.arpa zone of a /24 (or wider, rounded to whole octets) network."""
    octets = str(network.network_address).split(".")[: max(network.prefixlen // 8, 1)]
    return ".".join(reversed(octets)) + ".in-addr.arpa"


def ptr(addr: ipaddress.IPv4Address, network: ipaddress.IPv4Network) -> str:
    """The owner name of ``addr``'s PTR record, relative to the reverse zone of ``network``."""
    keep = 4 - max(network.prefixlen // 8, 1)
    return ".".join(reversed(str(addr).split(".")[-keep:]))


def zones(lab: Lab) -> list[Zone]:
    """The forward zone, then one reverse zone per lab network (lab.yml order)."""
    return [Zone(lab.domain, "forward.zone", None)] + [
        Zone(reverse_zone(net.cidr), f"reverse-{net.name}.zone", net.name)
        for net in lab.networks.values()
    ]


# -- what the zones hold -----------------------------------------------------------------------


def address_name(host: Host, network: str) -> str:
    """The DNS name of ``host``'s address on ``network``: the bare host name for its primary
    address (front when it has one), HOST-NETWORK for any other (app1-db)."""
    if host.addresses[network] == host.primary_address:
        return host.name
    return f"{host.name}-{network}"


def host_records(lab: Lab, network: str | None = None) -> list[Record]:
    """A record per address of every host (host by host, in lab.yml order); only those on
    ``network`` when it is given (also the order of that network's PTRs)."""
    return [Record(address_name(h, net), addr, net)
            for h in lab.hosts.values() for net, addr in h.addresses.items()
            if network is None or net == network]


def vip_records(lab: Lab, network: str | None = None) -> list[Record]:
    """A record per VIP (its service name); only those on ``network`` when it is given."""
    return [Record(v.name, v.address, v.network)
            for v in lab.vips.values() if network is None or v.network == network]
