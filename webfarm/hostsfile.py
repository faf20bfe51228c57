"""What /etc/hosts lists on each host (chapter 01-base).

The host itself on its primary address; then, network by network (lab.yml order, only the
networks the host is on), every other host it shares that network with, on its address
there, and the VIPs of that network. A peer sharing several networks is listed once, under
the first shared network in lab.yml order. Hosts and VIPs on networks this host is not on
are left out: it cannot reach them, by design.

``webfarm/templates/01-base/all/hosts.j2`` calls :func:`sections` (the ``hostsfile``
template global) and only formats the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from webfarm.topology import Host, Lab, Network, Vip


@dataclass(frozen=True)
class Section:
    network: Network
    peers: tuple[Host, ...]  # listed at their address on this network
    vips: tuple[Vip, ...]


def shared_networks(lab: Lab, a: Host, b: Host) -> list[str]:
    """The networks both hosts sit on, in lab.yml order."""
    return [n for n in lab.networks if a.on(n) and b.on(n)]


def sections(lab: Lab, host: Host) -> list[Section]:
    """One section per network ``host`` is on (lab.yml order)."""
    return [Section(network=net,
                    peers=tuple(p for p in lab.hosts_on(net.name) if p.name != host.name
                                and shared_networks(lab, host, p)[0] == net.name),
                    vips=tuple(v for v in lab.vips.values() if v.network == net.name))
            for net in lab.networks.values() if host.on(net.name)]
