"""Who gives the time to whom inside the lab (chapter 01-base).

The lab has no internet time source, so it keeps its own: the first ``dns`` host serves its
local clock (``local stratum 8``) to the networks it sits on, and a host on every network,
chosen by role first (the first ``monitor`` host on every network; only without one, the
first host of lab.yml on every network), relays that time to the networks the time server is
not on (``local stratum 10`` while it has not synchronised yet). Every other host
takes its time from whichever of the two shares a network with it.

``webfarm/templates/01-base/all/chrony.conf.j2`` calls these functions (the ``timesync``
template global) to write chrony.conf; ``tests/configs/test_01_base.py`` checks the rendered
files against them, and the chapter checks use :func:`upstream` to know which reference a
synchronised host must show.
"""

from __future__ import annotations

import ipaddress

from webfarm.topology import Host, Lab

SERVER_STRATUM = 8  # the lab's own time server, free-running on its local clock
RELAY_STRATUM = 10  # the relay, only while it cannot reach the server


def server(lab: Lab) -> Host:
    """The lab's time server: the first dns host (validation guarantees every profile has
    one: without it no host could resolve a name)."""
    return lab.primary("dns")


def relay(lab: Lab) -> Host | None:
    """The host that carries the time to the networks the server is not on: the first
    monitor host on every network, else the first host on every network, else None."""
    everywhere = [h for h in lab.hosts.values() if set(h.networks) == set(lab.networks)]
    monitors = [h for h in lab.hosts_with("monitor") if h in everywhere]
    return (monitors + everywhere or [None])[0]


def _shared(a: Host, b: Host, lab: Lab) -> list[str]:
    """Networks both hosts sit on, in lab.yml order."""
    return [n for n in lab.networks if a.on(n) and b.on(n)]


def upstream(lab: Lab, host: Host) -> ipaddress.IPv4Address | None:
    """The address ``host`` takes its time from (None for the time server itself)."""
    srv = server(lab)
    if host.name == srv.name:
        return None
    if shared := _shared(host, srv, lab):
        return srv.addresses[shared[0]]
    rel = relay(lab)
    if rel is not None and (shared := _shared(host, rel, lab)):
        return rel.addresses[shared[0]]
    return None


def serves(lab: Lab, host: Host) -> list[str]:
    """Names of the networks ``host`` answers NTP clients on (chrony ``allow``)."""
    srv, rel = server(lab), relay(lab)
    if host.name == srv.name:
        return list(host.networks)
    if rel is not None and host.name == rel.name:
        return [n for n in host.networks if not srv.on(n)]
    return []


def local_stratum(lab: Lab, host: Host) -> int | None:
    """Stratum of chrony's local reference on ``host`` (None: no local reference). A host
    with no time source at all (no server or relay shares a network with it) keeps its own
    clock at the relay's stratum."""
    if host.name == server(lab).name:
        return SERVER_STRATUM
    if serves(lab, host) or upstream(lab, host) is None:
        return RELAY_STRATUM
    return None
