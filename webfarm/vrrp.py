"""VRRP for the pairs that float VIPs with keepalived (chapter 04-lvs; later the DB balancers).

- One VRRP instance per network that carries VIPs of the role (the farm's directors: VI_FRONT,
  holding the www and media VIPs), in the order the VIPs come in lab.yml.
- Its virtual_router_id is 51 + 10 x the pair's place among the VIP-holding roles (director
  0, dblb 1) + the network's index in lab.yml (directors on front 51, DB balancers on db 62):
  stable while lab.yml keeps its networks in order, distinct per pair and network, so every
  chapter that runs VRRP derives the same ids and two pairs never share one on a segment.
- Each pair has its own shared password (``vrrp_auth`` for the directors, ``vrrp_auth_dblb``
  for the DB balancers, both in ``.lab/secrets.yml``).
- Every member starts in state BACKUP with the priority of its place in lab.yml
  (:meth:`webfarm.topology.Lab.priority`: 150, 100, ...): the highest wins the election and,
  with preemption kept, takes the VIPs back when it returns.
- ``vrrp.advert_int`` in whole seconds: VRRPv2 with the shared password; a fraction of a
  second: VRRPv3, which can say that but has no authentication.
- ``vrrp.unicast``: adverts go from the member's own address to each peer on that network
  instead of the 224.0.0.18 group.

``webfarm/templates/04-lvs/director/keepalived.conf.j2`` calls these functions (the ``vrrp``
template global) and only formats the answers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from webfarm.roles import VIP_HOLDER_ROLES
from webfarm.topology import Host, Lab, Vip

BASE_ROUTER_ID = 51  # keepalived's sample id; + 10 x the pair's index + the network's index
PAIR_STEP = 10  # router ids per VIP-holding pair (at most 10 networks each)
MAX_ROUTER_ID = 255
IFNAMSIZ = 15  # longest interface name (and address label) the kernel accepts


@dataclass(frozen=True)
class Instance:
    """One vrrp_instance on one member of the pair."""

    name: str  # VI_FRONT
    network: str
    interface: str  # the member's interface on the network
    router_id: int  # virtual_router_id
    auth_secret: str  # key of .lab/secrets.yml holding the pair's VRRP password
    priority: int
    vips: tuple[Vip, ...]  # the VIPs it floats
    unicast: bool
    source: ipaddress.IPv4Address  # the member's own address on the network
    peers: tuple[ipaddress.IPv4Address, ...]  # the other members' addresses there


def router_id(lab: Lab, network: str, role: str = "director") -> int:
    """virtual_router_id of the ``role`` pair's VRRP instance on ``network``."""
    return (BASE_ROUTER_ID + PAIR_STEP * VIP_HOLDER_ROLES.index(role)
            + list(lab.networks).index(network))


def auth_secret(role: str) -> str:
    """The secrets.yml key of the ``role`` pair's VRRP password."""
    return "vrrp_auth" if role == "director" else f"vrrp_auth_{role}"


def instance_name(network: str) -> str:
    return f"VI_{network.upper()}"


def networks(lab: Lab, role: str) -> list[str]:
    """The networks carrying VIPs held by ``role``, in the order of their first VIP."""
    return list(dict.fromkeys(v.network for v in lab.vips_held_by(role)))


def instances(lab: Lab, host: Host, role: str) -> list[Instance]:
    """Every VRRP instance ``host`` runs as a member of the ``role`` pair."""
    held = lab.vips_held_by(role)
    return [Instance(name=instance_name(net), network=net, interface=host.interface(net),
                     router_id=router_id(lab, net, role), auth_secret=auth_secret(role),
                     priority=lab.priority(host, role),
                     vips=tuple(v for v in held if v.network == net),
                     unicast=lab.vrrp.unicast, source=host.addresses[net],
                     peers=tuple(p.addresses[net] for p in lab.peers(host, role) if p.on(net)))
            for net in networks(lab, role)]


def sync_instance(lab: Lab, host: Host, role: str) -> Instance:
    """The instance the IPVS connection-sync daemon follows: the first one."""
    return instances(lab, host, role)[0]


def version(lab: Lab) -> int:
    """VRRP version: 2 (with authentication) for whole seconds, else 3."""
    return 2 if lab.vrrp.advert_int == int(lab.vrrp.advert_int) else 3


def advert_int(lab: Lab) -> int | float:
    """The advert interval as keepalived reads it (1, not 1.0, for whole seconds)."""
    advert = lab.vrrp.advert_int
    return int(advert) if version(lab) == 2 else advert


def label(interface: str, name: str) -> str:
    """The address label of a VIP (``ip addr`` shows it): INTERFACE:NAME, cut to what the
    kernel accepts."""
    return f"{interface}:{name}"[:IFNAMSIZ]
