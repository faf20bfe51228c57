"""The scale rule of lab.yml: which hosts form a tier, which addresses a tier's new hosts
take, and the hosts a tier of N adds to a profile.

Two keys say it, and nothing else in lab.yml changes when a tier grows or shrinks:

- ``roles.ROLE.range: {NETWORK: FIRST-LAST, ...}``: the addresses new hosts of ROLE's tier
  take on each network (lab-wide: the same in every profile);
- ``profiles.P.scale: {ROLE: N}``: in profile P the tier of ROLE has N hosts. ``invoke scale
  ROLE N`` writes this count (webfarm.scale); a reader may edit it, then ``invoke up``.

The tier of ROLE is the hosts of the profile carrying ROLE, as listed under ``hosts``. A tier
of N hosts gets ``N - len(tier)`` new ones after them: named like them (app1, app2 -> app3,
app4 ...), with the roles, networks, OS and size of the tier's first host, and on each of its
networks the lowest addresses of the range that no host and no VIP of the profile uses. So a
new host's name and addresses depend only on lab.yml (app3 keeps its address when app4
comes), and a smaller count removes the last ones first.

Everything here is pure; the messages (file, key, fix) are built by the functions that take a
:class:`~webfarm.validation.Checker`, called by :mod:`webfarm.validation`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from webfarm import grammar
from webfarm.roles import NETWORK_NAMES, ROLES
from webfarm.topology import Host, Network, Vip

if TYPE_CHECKING:  # validation imports this module: no import cycle at run time
    from webfarm.validation import Checker

# Roles whose tier may grow and shrink. The others, and why not (shown in the refusal):
# --8<-- [start:cannot]
CANNOT_SCALE: dict[str, str] = {
    "director": "the directors are one active/standby pair: the MASTER holds the VIPs and "
                "balances every visitor while the BACKUP waits, so a third director would "
                "only wait too (the farm grows behind them)",
    "db_mgmt": "a database cluster has exactly one management node (NDB) or Galera "
               "arbitrator (garbd), whatever the number of nodes",
    "monitor": "one Nagios watches the whole farm: a second one would repeat every check and "
               "every notification",
    "client": "the client is the test visitor, not part of the farm",
}
# --8<-- [end:cannot]
SCALABLE: tuple[str, ...] = tuple(r for r in ROLES if r not in CANNOT_SCALE)
PAIR_MIN = 2  # a redundant pair (ROLES[r].pair) keeps at least two hosts
MAX_COUNT = 32  # hosts in one tier: each is a VM on one workstation

_RANGE = re.compile(r"\s*([0-9.]+)\s*-\s*([0-9.]+)\s*")
_NUMBERED = re.compile(r"([a-z](?:[a-z0-9-]*[a-z-])?)([0-9]+)", re.ASCII)


# ---------------------------------------------------------------------------------------------
# Address ranges


@dataclass(frozen=True)
class AddressRange:
    """FIRST-LAST, both included."""

    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address

    def __contains__(self, address: object) -> bool:
        return isinstance(address, ipaddress.IPv4Address) and self.first <= address <= self.last

    def __iter__(self) -> Iterator[ipaddress.IPv4Address]:
        for n in range(int(self.first), int(self.last) + 1):
            yield ipaddress.IPv4Address(n)

    def __len__(self) -> int:
        return int(self.last) - int(self.first) + 1

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def overlaps(self, other: AddressRange) -> bool:
        return self.first <= other.last and other.first <= self.last


def parse_range(text: Any) -> AddressRange:
    """``"192.168.56.41-192.168.56.49"`` -> AddressRange; ValueError saying what is wrong."""
    if not isinstance(text, str) or not (m := _RANGE.fullmatch(text)):
        raise ValueError("is not a range of two addresses joined by '-'")
    try:
        first, last = ipaddress.IPv4Address(m.group(1)), ipaddress.IPv4Address(m.group(2))
    except ValueError:
        raise ValueError("is not a range of two IPv4 addresses joined by '-'") from None
    if last < first:
        raise ValueError(f"ends ({last}) before it starts ({first})")
    return AddressRange(first, last)


def lowest_free(rng: AddressRange, used: Iterable[ipaddress.IPv4Address],
                count: int) -> list[ipaddress.IPv4Address]:
    """The ``count`` lowest addresses of ``rng`` not in ``used`` (fewer when it runs out)."""
    taken = set(used)
    out: list[ipaddress.IPv4Address] = []
    for address in rng:
        if len(out) == count:
            break
        if address not in taken:
            out.append(address)
    return out


# ---------------------------------------------------------------------------------------------
# Names


def name_pattern(names: Iterable[str]) -> tuple[str, int] | None:
    """The common prefix of ``names`` when every one is PREFIX + number (app1, app2), and the
    highest number; None when they are not named that way."""
    prefixes, numbers = set(), []
    for name in names:
        m = _NUMBERED.fullmatch(name)
        if not m:
            return None
        prefixes.add(m.group(1))
        numbers.append(int(m.group(2)))
    if len(prefixes) != 1 or not numbers:
        return None
    return prefixes.pop(), max(numbers)


def new_names(prefix: str, after: int, count: int, taken: Iterable[str]) -> list[str]:
    """``count`` names PREFIX + number after ``after``, skipping those ``taken``."""
    skip = set(taken)
    out: list[str] = []
    n = after
    while len(out) < count:
        n += 1
        if f"{prefix}{n}" not in skip:
            out.append(f"{prefix}{n}")
    return out


# ---------------------------------------------------------------------------------------------
# lab.yml: roles.ROLE.range


def check_ranges(c: Checker, roles: dict[Any, Any], networks: dict[str, Network],
                 vips: dict[str, Vip]) -> dict[str, dict[str, AddressRange]]:
    """Every ``roles.ROLE.range``: a scalable role, known networks, ranges inside them that
    hold no network, broadcast, host-side or VIP address and overlap no other role's range.
    Returns {role: {network: range}} of the good ones."""
    out: dict[str, dict[str, AddressRange]] = {}
    placed: dict[str, list[tuple[str, AddressRange]]] = {}  # network -> (role, range)
    for role, raw in roles.items():
        if not isinstance(raw, dict) or "range" not in raw or role not in ROLES:
            continue  # the role's own problems are reported by the role check
        key = f"roles.{role}.range"
        if role in CANNOT_SCALE:
            c.add(key, f"role {role} cannot scale: {CANNOT_SCALE[role]}",
                  f"remove range from roles.{role}")
            continue
        rmap = c.mapping(raw["range"], key, None)
        for net, text in rmap.items():
            nkey = f"{key}.{net}"
            if net not in networks:
                if isinstance(net, str) and net in NETWORK_NAMES:
                    continue  # the network's own problem is reported already
                c.add(nkey, f"unknown network {text_of(net)}",
                      f"use one of: {', '.join(networks)}")
                continue
            try:
                rng = parse_range(text)
            except ValueError as err:
                c.add(nkey, f"{text_of(text)} {err}",
                      "write it like 192.168.56.41-192.168.56.49 (first and last address)")
                continue
            if _range_ok(c, nkey, rng, networks[net], vips, placed.get(net, []), role):
                placed.setdefault(net, []).append((role, rng))
                out.setdefault(str(role), {})[str(net)] = rng
    return out


def text_of(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _range_ok(c: Checker, key: str, rng: AddressRange, net: Network, vips: dict[str, Vip],
              others: list[tuple[str, AddressRange]], role: str) -> bool:
    cidr = net.cidr
    if rng.first not in cidr or rng.last not in cidr:
        c.add(key, f"{rng} is outside network {net.name} ({cidr})",
              f"pick a range inside {cidr}")
        return False
    special = [a for a in (cidr.network_address, cidr.broadcast_address, net.gateway) if a in rng]
    if special:
        c.add(key, f"{rng} holds {special[0]}, the network, broadcast or host-side (.1) "
              f"address of {net.name}", "start the range after it (e.g. from .20 up) and end "
              "it before the broadcast address")
        return False
    for vip in vips.values():
        if vip.network == net.name and vip.address in rng:
            c.add(key, f"{rng} holds {vip.address}, the address of VIP {vip.name}",
                  "VIPs float between hosts: keep them out of every range")
            return False
    for other_role, other in others:
        if other.overlaps(rng):
            c.add(key, f"{rng} overlaps roles.{other_role}.range.{net.name} ({other})",
                  "give each role its own addresses: ranges must not overlap")
            return False
    return True


def check_fixed(c: Checker, key: str, hosts: dict[str, Host],
                ranges: dict[str, dict[str, AddressRange]]) -> None:
    """A host listed under ``hosts`` may sit inside a role's range only if it carries that
    role (its address is then simply not free); any other host there would collide with the
    tier's next new host one day."""
    for host in hosts.values():
        for net, address in host.addresses.items():
            for role, by_net in ranges.items():
                rng = by_net.get(net)
                if rng is not None and address in rng and role not in host.roles:
                    c.add(f"{key}.{host.name}.networks.{net}",
                          f"{address} is inside roles.{role}.range.{net} ({rng}), the "
                          f"addresses new {role} hosts take, but {host.name} has no {role} role",
                          f"give {host.name} an address outside {rng}, or narrow that range")


# ---------------------------------------------------------------------------------------------
# lab.yml: profiles.P.scale


@dataclass(frozen=True)
class _Tier:
    role: str
    hosts: list[Host]
    count: int


def expand(c: Checker, key: str, raw: Any, hosts: dict[str, Host],
           ranges: dict[str, dict[str, AddressRange]], vips: dict[str, Vip]) -> dict[str, Host]:
    """The profile's hosts with every tier of ``profiles.P.scale`` (``raw``, at ``key``)
    brought to its count: new hosts are placed right after their tier's last listed host.
    Problems are reported to ``c`` (and that tier left as listed)."""
    out = dict(hosts)
    seen: dict[tuple[str, ...], str] = {}
    for role, value in c.mapping(raw, key, None).items():
        tier = _tier(c, f"{key}.{role}", role, value, hosts, seen)
        if tier is None:
            continue
        added = _new_hosts(c, f"{key}.{role}", tier, out, ranges, vips)
        if added:
            last = tier.hosts[-1].name
            rebuilt: dict[str, Host] = {}
            for name, host in out.items():
                rebuilt[name] = host
                if name == last:
                    rebuilt.update((h.name, h) for h in added)
            out = rebuilt
    return out


def _tier(c: Checker, key: str, role: Any, value: Any, hosts: dict[str, Host],
          seen: dict[tuple[str, ...], str]) -> _Tier | None:
    if not isinstance(role, str) or role not in ROLES:
        c.add(key, f"unknown role {text_of(role)}",
              f"scale one of the roles that can grow: {', '.join(SCALABLE)}")
        return None
    if role in CANNOT_SCALE:
        c.add(key, f"role {role} cannot scale: {CANNOT_SCALE[role]}", f"remove {role} here")
        return None
    count = c.integer(value, key, 1, MAX_COUNT)
    if count is None:
        return None
    members = [h for h in hosts.values() if role in h.roles]
    names = ", ".join(h.name for h in members)
    if not members:
        c.add(key, f"no host of this profile has the {role} role: a tier grows from its "
              "listed hosts", f"list the first {role} host(s) under hosts, or remove {role} here")
        return None
    if ROLES[role].pair and count < PAIR_MIN:
        c.add(key, f"{count} {role} host: the {role} tier is a redundant pair",
              f"keep at least {PAIR_MIN}")
        return None
    if count < len(members):
        c.add(key, f"{count} is fewer than the {len(members)} {role} hosts listed under "
              f"hosts ({names}): scale adds and removes only hosts beyond those",
              f"use a count of at least {len(members)}, or remove a host from hosts")
        return None
    roles = {h.roles for h in members}
    if len(roles) > 1:
        c.add(key, f"the {role} hosts ({names}) carry different roles, so a new one has no "
              "roles to copy", "give every host of the tier the same roles")
        return None
    fixed = [r for r in members[0].roles if r in CANNOT_SCALE]
    if fixed:
        c.add(key, f"the {role} hosts ({names}) also carry {fixed[0]}, and role {fixed[0]} "
              f"cannot scale: {CANNOT_SCALE[fixed[0]]}",
              f"move {role} to hosts of its own to grow it, or remove {role} here")
        return None
    ident = tuple(h.name for h in members)
    if ident in seen:
        c.add(key, f"{role} and {seen[ident]} are the same hosts ({names}) in this profile",
              f"scale only one of them ({seen[ident]})")
        return None
    seen[ident] = role
    if len({frozenset(h.addresses) for h in members}) > 1:
        c.add(key, f"the {role} hosts ({names}) sit on different networks, so a new one has "
              "no networks to copy", "put every host of the tier on the same networks")
        return None
    return _Tier(role, members, count)


def _new_hosts(c: Checker, key: str, tier: _Tier, hosts: dict[str, Host],
               ranges: dict[str, dict[str, AddressRange]], vips: dict[str, Vip]) -> list[Host]:
    missing = tier.count - len(tier.hosts)
    if missing <= 0:
        return []
    names = [h.name for h in tier.hosts]
    pattern = name_pattern(names)
    if pattern is None:
        c.add(key, f"the {tier.role} hosts ({', '.join(names)}) are not named NAME + number, "
              "so new ones have no name", f"name them like {tier.role.replace('_', '')}1, "
              f"{tier.role.replace('_', '')}2 under hosts")
        return []
    template = tier.hosts[0]
    by_net = ranges.get(tier.role, {})
    for net in template.addresses:
        if net not in by_net:
            other = [r for r in template.roles if r != tier.role
                     and all(n in ranges.get(r, {}) for n in template.addresses)]
            hint = f", or scale {other[0]} (the same hosts), whose range covers them" \
                if other else ""
            c.add(key, f"the {tier.role} hosts sit on {' and '.join(template.addresses)} but "
                  f"roles.{tier.role}.range has no {net} range, so a new host has no {net} "
                  "address", f"add {net}: FIRST-LAST to roles.{tier.role}.range{hint}")
            return []
    new = new_names(*pattern, missing, [*hosts, *vips])
    bad = [n for n in new if not grammar.hostname(n)]
    if bad:
        c.add(key, f"the new host name {bad[0]!r} is not a valid host name",
              "use a lower count or shorter host names")
        return []
    used = {a for h in hosts.values() for a in h.addresses.values()}
    used |= {v.address for v in vips.values()}
    addresses: dict[str, list[ipaddress.IPv4Address]] = {}
    for net in template.addresses:
        rng = by_net[net]
        free = lowest_free(rng, used, missing)
        if len(free) < missing:
            c.add(key, f"{tier.count} {tier.role} hosts need {missing} new address(es) on "
                  f"{net} but roles.{tier.role}.range.{net} ({rng}) has only {len(free)} free",
                  f"widen roles.{tier.role}.range.{net}, or lower the count")
            return []
        addresses[net] = free
    return [replace(template, name=name, scaled=True,
                    addresses={net: addresses[net][i] for net in template.addresses})
            for i, name in enumerate(new)]
