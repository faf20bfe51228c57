"""Validate raw lab.yml data (as YAML gives it) and build the :class:`~webfarm.topology.Lab`.

One small function per section of the file. Every problem is collected (never raised one by
one) with its key path, what is wrong and how to fix it; :func:`build` raises them together as
a :class:`~webfarm.topology.LabFileError`. Whatever the data holds, nothing here raises
anything else: that is what ``tests/unit/bad_labs`` proves.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from webfarm import grammar, tiers
from webfarm.roles import NETWORK_NAMES, ROLES, VIP_HOLDER_ROLES, VIP_POOL_ROLES
from webfarm.topology import (
    DB_ENGINES,
    LIBVIRT_DRIVERS,
    OS_FAMILIES,
    Box,
    Host,
    Lab,
    LabFileError,
    Network,
    Problem,
    Vip,
    Vrrp,
)

_TOP_KEYS = {"lab": True, "boxes": True, "provider": False, "networks": True, "vips": True,
             "roles": False, "profiles": True}
_LAB_KEYS = {"name": True, "domain": True, "os": True, "profile": False, "vrrp": False,
             "db_engine": False}
_VRRP_KEYS = {"advert_int": False, "unicast": False}
_BOX_KEYS = {"box": True, "family": True}
_NETWORK_KEYS = {"cidr": True, "description": False}
_VIP_KEYS = {"network": True, "address": True, "port": True, "holder": True, "pool": True,
             "read_port": False, "stats_port": False}
DBLB_PORTS = {"read_port": 1, "stats_port": 8404}  # defaults: port + 1, HAProxy's usual 8404
_ROLE_SIZE_KEYS = {"memory": False, "cpus": False, "range": False}  # range: webfarm.tiers
_PROFILE_KEYS = {"description": False, "hosts": True, "scale": False}  # scale: webfarm.tiers
_HOST_KEYS = {"roles": True, "networks": True, "memory": False, "cpus": False, "os": False}
_PROVIDER_KEYS = {"libvirt": False, "virtualbox": False}
_LIBVIRT_KEYS = {"driver": False, "management_network_name": False,
                 "management_network_address": False, "emulator_path": False,
                 "storage_pool_name": False, "boot_timeout": False}
_VIRTUALBOX_KEYS = {"linked_clone": False, "boot_timeout": False}

# Effective defaults the Vagrantfile uses when lab.yml leaves a key out.
BOOT_TIMEOUT = {"libvirt": 1200, "virtualbox": 600}  # seconds; TCG guests took ~700 s
BOOT_TIMEOUT_RANGE = (60, 7200)
MANAGEMENT_NETWORK = "192.168.121.0/24"
MANAGEMENT_NETWORK_NAME = "webfarm-mgmt"  # libvirt network the lab defines, with port isolation
# The farm needs at least one front VIP (held by the directors); this is the fixture's.
FRONT_VIP = "www: {network: front, address: 192.168.56.10, port: 80, holder: director, pool: app}"
_PRIVATE = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                     "192.168.0.0/16"))
_QUOTED_BOOLEANS = {"true", "false", "yes", "no", "on", "off", "y", "n"}


def show(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for a message, cut short (a message stays one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _suggest(word: str, choices: Iterable[str]) -> str:
    if len(word) > 64:
        return ""
    match = get_close_matches(word, [str(c) for c in choices], n=1)
    return f"did you mean {match[0]!r}? " if match else ""


def _join(key: str, name: Any) -> str:
    return f"{key}.{name}" if key else str(name)


# ---------------------------------------------------------------------------------------------
# The checker: typed readers that report instead of raising


class Checker:
    """Collects problems while walking the raw YAML data."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def mapping(self, value: Any, key: str, schema: dict[str, bool] | None) -> dict[Any, Any]:
        """Check ``value`` is a mapping; with a schema also unknown and missing keys."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(key, f"expected a mapping, got {type(value).__name__} {show(value)}",
                     "write it as 'name: value' lines indented under the key")
            return {}
        if schema is not None:
            for name in value:
                if name not in schema:
                    self.add(_join(key, name), "unknown key", _suggest(str(name), schema)
                             + f"allowed keys here: {', '.join(sorted(schema))}")
            for name, required in schema.items():
                if required and name not in value:
                    self.add(_join(key, name), "required key is missing",
                             f"add '{name}:' under {key or 'the top level'}")
        return value

    def name(self, value: Any, key: str) -> str | None:
        """A plain name (string or number); anything else is reported."""
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        self.add(key, f"expected a name, got {type(value).__name__} {show(value)}",
                 "write a plain word here, without brackets or braces")
        return None

    def key_name(self, value: Any, key: str, what: str, ok: Callable[[object], bool],
                 rule: str) -> bool:
        """A mapping key used as a name (host, VIP, profile, box): ``ok`` or a problem."""
        if isinstance(value, bool) or value is None:
            self.add(key, f"this key is read by YAML as {show(value)}, not a {what}",
                     "quote it ('yes', 'no', 'on', 'off', 'null' are not plain words in YAML) "
                     "or pick another name")
            return False
        if not ok(value):
            self.add(key, f"{show(str(value))} is not a valid {what}", rule)
            return False
        return True

    def word(self, value: Any, key: str, what: str, ok: Callable[[object], bool],
             rule: str) -> str | None:
        """A string value that must follow a grammar (``ok``); else a problem and None."""
        if not isinstance(value, str):
            self.add(key, f"expected {what}, got {type(value).__name__} {show(value)}", rule)
            return None
        if not ok(value):
            self.add(key, f"{show(value)} is not {what}", rule)
            return None
        return value

    def text(self, value: Any, key: str) -> str | None:
        if grammar.safe_text(value):
            return str(value)
        self.add(key, f"{show(value)} is not a one-line description",
                 f"write plain text of at most {grammar.MAX_TEXT} characters without quotes, "
                 "backslashes, '$', '#{', backticks or control characters")
        return None

    def address(self, value: Any, key: str) -> ipaddress.IPv4Address | None:
        try:
            if isinstance(value, str):
                return ipaddress.IPv4Address(value)
        except ValueError:
            pass
        self.add(key, f"{show(value)} is not an IPv4 address", "write it like 192.168.56.21")
        return None

    def integer(self, value: Any, key: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(key, f"{show(value)} is not a whole number from {low} to {high}",
                     f"use a number between {low} and {high}")
            return None
        return value

    def boolean(self, value: Any, key: str, default: bool) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _QUOTED_BOOLEANS:
            self.add(key, f"{show(value)} is a quoted string, not true or false",
                     "write true or false without quotes")
        else:
            self.add(key, f"{show(value)} is not true or false", "write true or false")
        return default

    def network(self, value: Any, key: str) -> ipaddress.IPv4Network | None:
        """A private (RFC 1918) IPv4 network written as a string like 192.168.56.0/24."""
        try:
            if not isinstance(value, str) or "/" not in value:
                raise ValueError("write it with a prefix length, e.g. /24")
            cidr = ipaddress.IPv4Network(value)
        except ValueError as err:
            self.add(key, f"{show(value)} is not a network ({err})",
                     "write it like 192.168.56.0/24 (host bits zero)")
            return None
        what = _not_private(cidr)
        if what:
            self.add(key, f"{cidr} is {what}, not a private range",
                     "use a private (RFC 1918) range inside 10.0.0.0/8, 172.16.0.0/12 or "
                     "192.168.0.0/16, e.g. 192.168.56.0/24")
            return None
        return cidr


def _not_private(cidr: ipaddress.IPv4Network) -> str:
    """Why ``cidr`` is not a usable lab range ('' when it is inside RFC 1918)."""
    if any(cidr.subnet_of(p) for p in _PRIVATE):
        return ""
    for test, what in ((lambda n: n.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")),
                        "the 'this network' range 0.0.0.0/8"),
                       (lambda n: n.is_loopback, "loopback"),
                       (lambda n: n.is_link_local, "link-local"),
                       (lambda n: n.is_multicast, "multicast"),
                       (lambda n: n.is_reserved, "reserved")):
        if test(cidr):
            return what
    return "public or special-purpose"


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass
class _Settings:
    name: str | None
    domain: str
    default_os: str | None
    profile: str | None
    vrrp: Vrrp
    db_engine: str


_DOMAIN_RULE = ("use lower-case DNS labels (letters, digits, '-') joined by dots, at least two, "
                "no trailing dot, at most 253 characters, e.g. webfarm.test")


def _check_lab(c: Checker, top: dict[Any, Any]) -> _Settings:
    lab = c.mapping(top.get("lab"), "lab", _LAB_KEYS)
    name = None
    if "name" in lab:
        name = c.word(lab["name"], "lab.name", "a lab name", grammar.lab_name,
                      "use lower-case letters, digits and '-', starting with a letter, at "
                      "most 32 characters (it prefixes VM and network names)")
    domain = "webfarm.test"
    if "domain" in lab:
        raw = lab["domain"]
        if c.word(raw, "lab.domain", "a DNS domain like webfarm.test", grammar.domain,
                  _DOMAIN_RULE):
            tld = raw.rsplit(".", 1)[-1]
            if tld in grammar.RESERVED_TLDS:
                c.add("lab.domain", f"{raw!r} ends in .{tld}, which resolvers treat specially",
                      "use a domain under .test (reserved for labs), e.g. webfarm.test")
            else:
                domain = raw
    default_os = c.name(lab["os"], "lab.os") if "os" in lab else None
    profile = None
    if "profile" in lab:
        profile = c.word(lab["profile"], "lab.profile", "a profile name", grammar.key_name,
                         "write the name of one of the profiles, e.g. full")
    db_engine = lab.get("db_engine", "auto")
    if not isinstance(db_engine, str) or db_engine not in DB_ENGINES:
        c.add("lab.db_engine", f"unknown DB engine {show(db_engine)}",
              f"use one of: {', '.join(DB_ENGINES)}")
        db_engine = "auto"
    return _Settings(name, domain, default_os, profile, _check_vrrp(c, lab), db_engine)


def _check_vrrp(c: Checker, lab: dict[Any, Any]) -> Vrrp:
    raw = c.mapping(lab.get("vrrp"), "lab.vrrp", _VRRP_KEYS)
    advert = raw.get("advert_int", 1)
    if (isinstance(advert, bool) or not isinstance(advert, int | float)
            or not 0.01 <= advert <= 255):
        c.add("lab.vrrp.advert_int", f"{show(advert)} is not a number of seconds from 0.01 to "
              "255", "use 1 (the VRRP default) or a fraction such as 0.5")
        advert = 1
    unicast = c.boolean(raw["unicast"], "lab.vrrp.unicast", False) if "unicast" in raw else False
    return Vrrp(float(advert), unicast)


def _check_boxes(c: Checker, top: dict[Any, Any], default_os: str | None) -> dict[str, Box]:
    boxes: dict[str, Box] = {}
    before = len(c.problems)
    for name, raw in c.mapping(top.get("boxes"), "boxes", None).items():
        key = f"boxes.{name}"
        b = c.mapping(raw, key, _BOX_KEYS)
        name_ok = c.key_name(name, key, "box name", grammar.key_name,
                             "use letters, digits, '_' and '-', starting with a letter")
        family = b.get("family")
        if "family" in b and (not isinstance(family, str) or family not in OS_FAMILIES):
            c.add(f"{key}.family", f"unknown OS family {show(family)}",
                  f"use one of: {', '.join(OS_FAMILIES)}")
            family = None
        box = None
        if "box" in b:
            box = c.word(b["box"], f"{key}.box", "a Vagrant box name", grammar.box_name,
                         "write it like webfarm/debian12 (letters, digits, '.', '_', '-', one "
                         "optional '/')")
        if name_ok and box and family:
            boxes[str(name)] = Box(str(name), box, family)
    if "boxes" in top and not boxes and len(c.problems) == before:
        c.add("boxes", "no box is defined",
              "add at least one, e.g. debian12: {box: webfarm/debian12, family: debian12}")
    if default_os is not None and boxes and default_os not in boxes:
        c.add("lab.os", f"no box named {show(default_os)} in boxes",
              f"use one of: {', '.join(boxes)} or add it under boxes")
    return boxes


def _check_networks(c: Checker, top: dict[Any, Any]) -> dict[str, Network]:
    networks: dict[str, Network] = {}
    raw_networks = c.mapping(top.get("networks"), "networks", None)
    for name, raw in raw_networks.items():
        key = f"networks.{name}"
        n = c.mapping(raw, key, _NETWORK_KEYS)
        if not isinstance(name, str) or name not in NETWORK_NAMES:
            c.add(key, f"unknown network {show(name)}",
                  f"the farm has exactly these networks: {', '.join(NETWORK_NAMES)}")
            continue
        description = c.text(n["description"], f"{key}.description") if "description" in n else ""
        cidr = c.network(n["cidr"], f"{key}.cidr") if "cidr" in n else None
        if cidr is None:
            continue
        if cidr.num_addresses < 16:
            c.add(f"{key}.cidr", f"{cidr} is too small for the farm",
                  "use a /28 or larger, /24 recommended")
        networks[name] = Network(name, cidr, description or "")
    for name in NETWORK_NAMES:
        if "networks" in top and name not in raw_networks:
            c.add(f"networks.{name}", "required network is missing",
                  f"add networks.{name} with a cidr, e.g. "
                  f"cidr: 192.168.{56 + NETWORK_NAMES.index(name)}.0/24")
    nets = list(networks.values())
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            if a.cidr.overlaps(b.cidr):
                c.add(f"networks.{b.name}.cidr", f"{b.cidr} overlaps network {a.name} ({a.cidr})",
                      "the front and DB networks must be separate: use distinct ranges")
    return networks


def _check_provider(c: Checker, top: dict[Any, Any],
                    networks: dict[str, Network]) -> dict[str, dict[str, Any]]:
    provider = c.mapping(top.get("provider"), "provider", _PROVIDER_KEYS)
    return {"libvirt": _check_libvirt(c, provider, networks),
            "virtualbox": _check_virtualbox(c, provider)}


def _check_libvirt(c: Checker, provider: dict[Any, Any],
                   networks: dict[str, Network]) -> dict[str, Any]:
    key = "provider.libvirt"
    raw = c.mapping(provider.get("libvirt"), key, _LIBVIRT_KEYS)
    out: dict[str, Any] = {"driver": "kvm", "management_network_name": MANAGEMENT_NETWORK_NAME,
                           "management_network_address": MANAGEMENT_NETWORK}
    if "driver" in raw:
        driver = raw["driver"]
        if isinstance(driver, str) and driver in LIBVIRT_DRIVERS:
            out["driver"] = driver
        else:
            c.add(f"{key}.driver", f"unknown driver {show(driver)}",
                  "use kvm (hardware virtualization) or qemu (software emulation, slow)")
    rule = "use letters, digits, '.', '_' and '-', at most 63 characters"
    for name in ("management_network_name", "storage_pool_name"):
        if name in raw and c.word(raw[name], f"{key}.{name}", "a libvirt name",
                                  grammar.resource_name, rule):
            out[name] = raw[name]
    if "emulator_path" in raw and c.word(
            raw["emulator_path"], f"{key}.emulator_path", "an absolute path", grammar.abs_path,
            "write an absolute path of letters, digits, '.', '_', '+', '-' and '/', e.g. "
            "/usr/bin/qemu-system-x86_64"):
        out["emulator_path"] = raw["emulator_path"]
    if "management_network_address" in raw:
        mgmt = _check_management_network(c, raw["management_network_address"], networks)
        if mgmt is not None:
            out["management_network_address"] = raw["management_network_address"]
    else:
        _check_management_overlap(c, ipaddress.IPv4Network(MANAGEMENT_NETWORK), networks,
                                  f"the default {MANAGEMENT_NETWORK}")
    out["boot_timeout"] = _boot_timeout(c, raw, key, "libvirt")
    return out


def _check_management_network(c: Checker, value: Any,
                              networks: dict[str, Network]) -> ipaddress.IPv4Network | None:
    key = "provider.libvirt.management_network_address"
    cidr = c.network(value, key)
    if cidr is None:
        return None
    if cidr.prefixlen > 24:
        c.add(key, f"{cidr} is smaller than a /24", "use a /24 or larger, e.g. "
              f"{MANAGEMENT_NETWORK} (every VM takes a DHCP lease on it)")
        return None
    if not _check_management_overlap(c, cidr, networks, str(cidr)):
        return None
    return cidr


def _check_management_overlap(c: Checker, cidr: ipaddress.IPv4Network,
                              networks: dict[str, Network], what: str) -> bool:
    for net in networks.values():
        if cidr.overlaps(net.cidr):
            c.add("provider.libvirt.management_network_address",
                  f"{what} overlaps lab network {net.name} ({net.cidr})",
                  "give Vagrant's management network its own range, e.g. 192.168.121.0/24 "
                  "when the lab networks are elsewhere")
            return False
    return True


def _boot_timeout(c: Checker, raw: dict[Any, Any], key: str, provider: str) -> int:
    if "boot_timeout" not in raw:
        return BOOT_TIMEOUT[provider]
    low, high = BOOT_TIMEOUT_RANGE
    value = c.integer(raw["boot_timeout"], f"{key}.boot_timeout", low, high)
    return BOOT_TIMEOUT[provider] if value is None else value


def _check_virtualbox(c: Checker, provider: dict[Any, Any]) -> dict[str, Any]:
    key = "provider.virtualbox"
    raw = c.mapping(provider.get("virtualbox"), key, _VIRTUALBOX_KEYS)
    out: dict[str, Any] = {}
    if "linked_clone" in raw:
        out["linked_clone"] = c.boolean(raw["linked_clone"], f"{key}.linked_clone", True)
    out["boot_timeout"] = _boot_timeout(c, raw, key, "virtualbox")
    return out


def _check_role_sizes(c: Checker, top: dict[Any, Any]) -> dict[str, dict[str, int]]:
    sizes: dict[str, dict[str, int]] = {}
    for name, raw in c.mapping(top.get("roles"), "roles", None).items():
        r = c.mapping(raw, f"roles.{name}", _ROLE_SIZE_KEYS)
        if not isinstance(name, str) or name not in ROLES:
            c.add(f"roles.{name}", f"unknown role {show(name)}",
                  _suggest(str(name), ROLES) + f"roles are: {', '.join(ROLES)}")
            continue
        size: dict[str, int] = {}
        if "memory" in r and (m := c.integer(r["memory"], f"roles.{name}.memory", 128, 65536)):
            if m < ROLES[name].min_memory:
                c.add(f"roles.{name}.memory", f"{m} MB is below the {name} role's minimum of "
                      f"{ROLES[name].min_memory} MB", f"set at least {ROLES[name].min_memory}")
            size["memory"] = m
        if "cpus" in r and (n := c.integer(r["cpus"], f"roles.{name}.cpus", 1, 64)):
            size["cpus"] = n
        sizes[name] = size
    return sizes


# ---------------------------------------------------------------------------------------------
# VIPs

_VIP_NAME_RULE = ("a VIP name becomes a DNS name: use lower-case letters, digits and '-' "
                  "(no '_'), starting with a letter, at most 63 characters")


def _check_vips(c: Checker, top: dict[Any, Any], networks: dict[str, Network]) -> dict[str, Vip]:
    vips: dict[str, Vip] = {}
    raw_vips = c.mapping(top.get("vips"), "vips", None)
    if "vips" in top and not raw_vips and isinstance(top["vips"], dict | None):
        c.add("vips", "no VIP is defined: the farm needs a front VIP for the app and media "
              "pools and a DB VIP", f"add e.g. {FRONT_VIP}")
        return vips
    before = len(c.problems)
    for name, raw in raw_vips.items():
        vip = _check_vip(c, f"vips.{name}", name, raw, networks)
        if vip is None:
            continue
        for other in vips.values():
            if other.address == vip.address:
                c.add(f"vips.{name}.address", f"{vip.address} is already VIP {other.name}",
                      "give every VIP its own address")
        vips[vip.name] = vip
    if len(c.problems) == before and len(networks) == len(NETWORK_NAMES) and "vips" in top \
            and not any(v.holder == "director" for v in vips.values()):
        c.add("vips", "no front VIP: no VIP is held by the director pair, so visitors have "
              "nothing to connect to", f"add e.g. {FRONT_VIP}")
    return vips


def _check_vip(c: Checker, key: str, name: Any, raw: Any,
               networks: dict[str, Network]) -> Vip | None:
    v = c.mapping(raw, key, _VIP_KEYS)
    name_ok = c.key_name(name, key, "VIP name", grammar.hostname, _VIP_NAME_RULE)
    net = c.name(v["network"], f"{key}.network") if "network" in v else None
    roles = {rk: _vip_role(c, key, rk, v[rk]) for rk in ("holder", "pool") if rk in v}
    if net is None:
        return None
    if net not in networks:
        if net not in NETWORK_NAMES:  # else the network's own problem is reported already
            c.add(f"{key}.network", f"unknown network {show(net)}",
                  f"use one of: {', '.join(networks) or ', '.join(NETWORK_NAMES)}")
        return None
    addr = c.address(v["address"], f"{key}.address") if "address" in v else None
    port = c.integer(v["port"], f"{key}.port", 1, 65535) if "port" in v else None
    holder, pool = roles.get("holder"), roles.get("pool")
    for rk, role in (("holder", holder), ("pool", pool)):
        if role is not None and net not in ROLES[role].networks:
            c.add(f"{key}.{rk}", f"role {role} is not on the {net} network (it sits on "
                  f"{'/'.join(ROLES[role].networks)}), so it cannot {rk} a {net} VIP",
                  _vip_role_fix(rk, net))
            return None
    if addr is None or port is None or holder is None or pool is None or not name_ok:
        return None
    if not _vip_address_ok(c, f"{key}.address", addr, networks[net]):
        return None
    extra = _dblb_ports(c, key, v, holder, port)
    if extra is None:
        return None
    return Vip(str(name), net, addr, port, holder, pool, **extra)


def _dblb_ports(c: Checker, key: str, v: dict[Any, Any], holder: str,
                port: int) -> dict[str, int | None] | None:
    """read_port and stats_port of a VIP the DB balancers hold (HAProxy's read front end and
    stats page); other VIPs have none. None when a problem was reported."""
    given = [k for k in DBLB_PORTS if k in v]
    if holder != "dblb":
        for k in given:
            c.add(f"{key}.{k}", f"only a VIP held by dblb has a {k} (HAProxy runs there); "
                  f"this one is held by {holder}", f"remove {k}")
        return None if given else {"read_port": None, "stats_port": None}
    out: dict[str, int | None] = {}
    for k, default in DBLB_PORTS.items():
        if k in v:
            out[k] = c.integer(v[k], f"{key}.{k}", 1, 65535)
            if out[k] is None:
                return None
        else:
            out[k] = port + default if k == "read_port" else default
    seen = {port: "port"}
    for k, value in out.items():
        if value in seen:
            c.add(f"{key}.{k}", f"{value} is already this VIP's {seen[value]}",
                  f"give {k} a port of its own (e.g. {port + 1} for reads, 8404 for stats)")
            return None
        seen[value] = k  # type: ignore[index]
    return out


def _vip_role_fix(rk: str, net: str) -> str:
    fit = [r for r in (VIP_HOLDER_ROLES if rk == "holder" else VIP_POOL_ROLES)
           if net in ROLES[r].networks]
    return f"on the {net} network use {rk}: {' or '.join(fit)}" if fit else \
        f"put the VIP on a network where a {rk} role sits"


def _vip_role(c: Checker, key: str, rk: str, value: Any) -> str | None:
    """A VIP's holder or pool: a known role that can play that part."""
    role = c.name(value, f"{key}.{rk}")
    if role is None:
        return None
    if role not in ROLES:
        c.add(f"{key}.{rk}", f"unknown role {show(role)}",
              _suggest(role, ROLES) + f"roles are: {', '.join(ROLES)}")
        return None
    allowed = VIP_HOLDER_ROLES if rk == "holder" else VIP_POOL_ROLES
    if role not in allowed:
        what = ("hold a VIP (run keepalived for it)" if rk == "holder"
                else "serve a VIP's traffic")
        c.add(f"{key}.{rk}", f"role {role} cannot {what}",
              f"use one of: {', '.join(allowed)}")
        return None
    return role


def _vip_address_ok(c: Checker, key: str, addr: ipaddress.IPv4Address, network: Network) -> bool:
    cidr = network.cidr
    if addr not in cidr:
        c.add(key, f"{addr} is outside network {network.name} ({cidr})",
              f"pick a free address inside {cidr}")
        return False
    if addr in (cidr.network_address, cidr.broadcast_address, network.gateway):
        c.add(key, f"{addr} is the network, broadcast or host-side (.1) address of "
              f"{network.name}", "pick another free address, e.g. .10")
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Profiles and hosts


@dataclass
class _Context:
    """What every host check needs from the sections checked before."""

    networks: dict[str, Network]
    boxes: dict[str, Box]
    default_os: str | None
    sizes: dict[str, dict[str, int]]
    vips: dict[str, Vip]
    # roles.ROLE.range: the addresses a tier's new hosts take (webfarm.tiers)
    ranges: dict[str, dict[str, tiers.AddressRange]]


def _choose_profile(c: Checker, profiles: dict[Any, Any], lab_profile: str | None,
                    profile: str | None) -> str:
    if profile is not None and not grammar.key_name(profile):
        c.add("profiles", f"--profile {show(profile)} is not a profile name",
              f"pass one of: {', '.join(map(str, profiles))}" if profiles
              else "pass the name of a profile of the lab file")
        return ""
    chosen = profile or lab_profile or "full"
    if profiles and chosen not in profiles:
        c.add("lab.profile" if profile is None else "profiles", f"unknown profile {chosen!r}",
              _suggest(chosen, map(str, profiles)) + f"profiles are: "
              f"{', '.join(map(str, profiles))}" + ("" if profile is None
                                                     else " (given as --profile)"))
    return chosen


def _check_profiles(c: Checker, top: dict[Any, Any], ctx: _Context,
                    chosen: str) -> dict[str, Host]:
    profiles = c.mapping(top.get("profiles"), "profiles", None)
    hosts: dict[str, Host] = {}
    for pname, praw in profiles.items():
        key = f"profiles.{pname}"
        p = c.mapping(praw, key, _PROFILE_KEYS)
        c.key_name(pname, key, "profile name", grammar.key_name,
                   "use letters, digits, '_' and '-', starting with a letter")
        if "description" in p:
            c.text(p["description"], f"{key}.description")
        before = len(c.problems)
        phosts = _check_hosts(c, f"{key}.hosts", p.get("hosts"), ctx)
        # the scale rule works on hosts that are right (a host without a box is left out
        # of phosts: the box's problem is reported once, under boxes)
        complete = isinstance(p.get("hosts"), dict) and len(phosts) == len(p["hosts"])
        if len(c.problems) == before and complete:
            tiers.check_fixed(c, f"{key}.hosts", phosts, ctx.ranges)
            if "scale" in p:
                phosts = tiers.expand(c, f"{key}.scale", p["scale"], phosts, ctx.ranges,
                                      ctx.vips)
        if len(c.problems) == before:  # pairs are judged once every host itself is right
            _check_profile(c, f"{key}.hosts", phosts, ctx.vips)
        if pname == chosen:
            hosts = phosts
    return hosts


_HOSTNAME_RULE = ("use lower-case letters, digits and '-', starting with a letter, at most 63 "
                  "characters")


def _check_hosts(c: Checker, key: str, raw: Any, ctx: _Context) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    seen_addr: dict[ipaddress.IPv4Address, str] = {}
    raw_hosts = c.mapping(raw, key, None)
    if not raw_hosts and (raw is None or isinstance(raw, dict)):
        c.add(key, "the profile has no hosts", "list the profile's hosts under it")
    for name, hraw in raw_hosts.items():
        host = _check_host(c, f"{key}.{name}", name, hraw, ctx, seen_addr)
        if host is not None:
            hosts[host.name] = host
    return hosts


def _check_host_name(c: Checker, hkey: str, name: Any, vips: dict[str, Vip]) -> bool:
    if not c.key_name(name, hkey, "hostname", grammar.hostname, _HOSTNAME_RULE):
        return False
    if grammar.reserved_hostname(name):
        c.add(hkey, f"host name {name!r} is reserved (it already means something in "
              "/etc/hosts and to resolvers)", "pick another name, e.g. client2")
        return False
    if name in vips:
        c.add(hkey, f"host name {name!r} is also the name of VIP {name} (two A records for "
              "one name)", "rename the host or the VIP")
        return False
    return True


def _check_host(c: Checker, hkey: str, name: Any, hraw: Any, ctx: _Context,
                seen_addr: dict[ipaddress.IPv4Address, str]) -> Host | None:
    h = c.mapping(hraw, hkey, _HOST_KEYS)
    name_ok = _check_host_name(c, hkey, name, ctx.vips)
    sname = str(name)
    roles = _check_host_roles(c, f"{hkey}.roles", h)
    nets_ok = isinstance(h.get("networks"), dict)
    nraw = c.mapping(h.get("networks"), f"{hkey}.networks", None) if "networks" in h else {}
    if nets_ok and not nraw:
        c.add(f"{hkey}.networks", "a host needs at least one network",
              "add e.g. networks: {front: 192.168.56.50}")
    addresses = _check_host_addresses(c, hkey, sname, nraw, ctx.networks, seen_addr)
    _check_role_networks(c, hkey, sname, roles, nraw, ctx.networks)
    os_name = c.name(h["os"], f"{hkey}.os") if "os" in h else ctx.default_os
    if "os" in h and ctx.boxes and os_name is not None and os_name not in ctx.boxes:
        c.add(f"{hkey}.os", f"no box named {show(os_name)}", f"use one of: {', '.join(ctx.boxes)}")
    memory, cpus = _check_host_size(c, hkey, h, roles, ctx.sizes)
    box = ctx.boxes.get(os_name) if os_name is not None else None
    if name_ok and roles and addresses and box is not None:
        return Host(sname, tuple(roles), addresses, memory, cpus, box)
    return None


def _check_host_roles(c: Checker, key: str, h: dict[Any, Any]) -> list[str]:
    roles: list[str] = []
    rraw = h.get("roles")
    if "roles" in h and (not isinstance(rraw, list) or not rraw):
        c.add(key, "expected a non-empty list of roles",
              f"write e.g. roles: [app]; roles are: {', '.join(ROLES)}")
        rraw = []
    for role in rraw or []:
        if not isinstance(role, str):
            c.add(key, f"expected a role name, got {show(role)}",
                  f"write plain role names, e.g. roles: [app]; roles are: {', '.join(ROLES)}")
        elif role not in ROLES:
            c.add(key, f"unknown role {show(role)}",
                  _suggest(role, ROLES) + f"roles are: {', '.join(ROLES)}")
        elif role in roles:
            c.add(key, f"role {role!r} listed twice", "list each role once")
        else:
            roles.append(role)
    return roles


def _check_host_addresses(c: Checker, hkey: str, sname: str, nraw: dict[Any, Any],
                          networks: dict[str, Network],
                          seen_addr: dict[ipaddress.IPv4Address, str]
                          ) -> dict[str, ipaddress.IPv4Address]:
    addresses: dict[str, ipaddress.IPv4Address] = {}
    for net, a in nraw.items():
        akey = f"{hkey}.networks.{net}"
        if net not in networks:
            if isinstance(net, str) and net in NETWORK_NAMES:
                continue  # the network's own problem is reported already
            names = networks or NETWORK_NAMES
            c.add(akey, f"unknown network {show(net)}",
                  _suggest(str(net), names) + f"networks are: {', '.join(names)}")
            continue
        addr = c.address(a, akey)
        if addr is None:
            continue
        cidr = networks[net].cidr
        if addr not in cidr:
            c.add(akey, f"{addr} is outside network {net} ({cidr})",
                  f"pick an address inside {cidr}")
        elif addr in (cidr.network_address, cidr.broadcast_address, networks[net].gateway):
            c.add(akey, f"{addr} is the network, broadcast or host-side (.1) address of "
                  f"{net}", "pick another address, e.g. from .20 up")
        elif addr in seen_addr:
            c.add(akey, f"duplicate address {addr}: already used by {seen_addr[addr]}",
                  "give every host its own address")
        else:
            seen_addr[addr] = sname
            addresses[net] = addr
    return addresses


def _check_role_networks(c: Checker, hkey: str, sname: str, roles: list[str],
                         nraw: dict[Any, Any], networks: dict[str, Network]) -> None:
    if not nraw or any(n not in networks for n in nraw):
        return
    for role in roles:
        for n in (n for n in ROLES[role].networks if n not in nraw and n in networks):
            side = "front-only" if set(nraw) == {"front"} else f"{'/'.join(nraw)}-only"
            c.add(f"{hkey}.roles", f"role {role} needs the {n} network but {sname} is "
                  f"a {side} host",
                  f"add networks.{n} with an address to {sname}, or move the role to a "
                  f"host on the {n} network")


def _check_host_size(c: Checker, hkey: str, h: dict[Any, Any], roles: list[str],
                     sizes: dict[str, dict[str, int]]) -> tuple[int, int]:
    memory = max([sizes.get(r, {}).get("memory", ROLES[r].min_memory) for r in roles],
                 default=512)
    cpus = max([sizes.get(r, {}).get("cpus", 1) for r in roles], default=1)
    if "memory" in h and (m := c.integer(h["memory"], f"{hkey}.memory", 128, 65536)):
        memory = m
    if "cpus" in h and (n := c.integer(h["cpus"], f"{hkey}.cpus", 1, 64)):
        cpus = n
    short = [r for r in roles if memory < ROLES[r].min_memory]
    if short:
        worst = max(short, key=lambda r: ROLES[r].min_memory)
        need = ROLES[worst].min_memory
        c.add(f"{hkey}.memory", f"{memory} MB is below the {worst} role's minimum of "
              f"{need} MB", f"set memory: {need} or more")
    return memory, cpus


def _check_profile(c: Checker, key: str, hosts: dict[str, Host], vips: dict[str, Vip]) -> None:
    """Pairs have two members, single roles one, a name server exists, every VIP has holders
    and a pool, and every DNS name of the profile is unique and valid."""
    if not hosts:
        return
    for role in ROLES.values():
        members = [h.name for h in hosts.values() if role.name in h.roles]
        if role.pair and len(members) == 1:
            c.add(key, f"the {role.name} pair has one member ({members[0]})",
                  f"give the {role.name} role to a second host, or remove it from "
                  f"{members[0]}")
        if role.single and len(members) > 1:
            c.add(key, f"role {role.name} is on {len(members)} hosts "
                  f"({', '.join(members)})", f"keep {role.name} on exactly one host")
    if not any("dns" in h.roles for h in hosts.values()):
        c.add(key, "no host has the dns role: every host's resolv.conf would have no name "
              "server", "give the dns role to two hosts on the front network")
    for vip in vips.values():
        for rk, role in (("holder", vip.holder), ("pool", vip.pool)):
            if not any(role in h.roles for h in hosts.values()):
                c.add(key, f"VIP {vip.name} needs {rk} role {role} but no host has it",
                      f"give the {role} role to two hosts of this profile")
    monitors = [h for h in hosts.values() if "monitor" in h.roles]
    for h in hosts.values() if monitors else ():
        if not set(h.networks) & set(monitors[0].networks):
            c.add(key, f"{h.name} shares no network with the monitor {monitors[0].name}: "
                  "Nagios could not reach it (chapter 08-monitor)",
                  f"put {h.name} on a network of {monitors[0].name}, or the monitor on "
                  f"one of {h.name}'s")
    _check_dns_names(c, key, hosts, vips)


def _check_dns_names(c: Checker, key: str, hosts: dict[str, Host], vips: dict[str, Vip]) -> None:
    """A host's address on a second network is named HOST-NETWORK in DNS (e.g. app1-db):
    that name must be a valid label and must not be another host's or a VIP's name."""
    taken = set(hosts) | set(vips)
    for host in hosts.values():
        for net, addr in host.addresses.items():
            if addr == host.primary_address:
                continue
            label = f"{host.name}-{net}"
            if not grammar.hostname(label):
                c.add(f"{key}.{host.name}", f"host name {host.name!r} is too long for its "
                      f"{net} address's DNS name {label!r} (at most 63 characters)",
                      f"shorten the name to at most {62 - len(net)} characters")
            elif label in taken:
                c.add(f"{key}.{label}" if label in hosts else f"{key}.{host.name}",
                      f"name {label!r} is taken twice: it is also the DNS name of "
                      f"{host.name}'s {net} address", "rename one of them")


# ---------------------------------------------------------------------------------------------
# The whole file


def build(data: Any, path: Path | str, profile: str | None = None) -> Lab:
    """Validate raw data (as loaded from YAML) and build the model for ``profile``."""
    path = Path(path)
    c = Checker()
    top = c.mapping(data, "", _TOP_KEYS)
    settings = _check_lab(c, top)
    boxes = _check_boxes(c, top, settings.default_os)
    networks = _check_networks(c, top)
    provider = _check_provider(c, top, networks)
    sizes = _check_role_sizes(c, top)
    vips = _check_vips(c, top, networks)
    ranges = tiers.check_ranges(c, top["roles"] if isinstance(top.get("roles"), dict) else {},
                                networks, vips)
    raw_profiles = top.get("profiles") if isinstance(top.get("profiles"), dict) else {}
    if "profiles" in top and not raw_profiles:
        c.add("profiles", "no profile is defined",
              "add a profile with hosts, e.g. full: {hosts: {...}}")
    chosen = _choose_profile(c, raw_profiles, settings.profile, profile)
    ctx = _Context(networks, boxes, settings.default_os, sizes, vips, ranges)
    hosts = _check_profiles(c, top, ctx, chosen)
    _check_vip_addresses_free(c, raw_profiles, vips)
    engine = _check_engine(c, f"profiles.{chosen}.hosts", settings.db_engine, hosts)
    if c.problems or settings.name is None:
        raise LabFileError(path, c.problems)
    return Lab(
        name=settings.name,
        domain=settings.domain,
        profile=chosen,
        profiles=tuple(str(p) for p in raw_profiles),
        db_engine=settings.db_engine,
        vrrp=settings.vrrp,
        networks=networks,
        vips=vips,
        hosts=hosts,
        boxes=boxes,
        provider=provider,
        source=path,
        engine=engine,
        ranges=ranges,
    )


# ---------------------------------------------------------------------------------------------
# The database engine

DB_ROLES = ("db_mgmt", "db_data", "db_sql")
NDB = "ndb"
ENGINE_BY_FAMILY = {"el9": NDB, "debian12": "galera"}  # "auto": NDB where it is packaged
ENGINE_FAMILIES = {"ndb": ("el9",), "galera": ("el9", "debian12")}


def _check_engine(c: Checker, key: str, choice: str, hosts: dict[str, Host]) -> str:
    """The engine chapter 05 builds (lab.db_engine, "auto" resolved from the DB hosts' OS
    family: NDB when every DB host runs EL9, Galera otherwise), refused where the OS cannot
    provide it or the profile cannot run it."""
    db_hosts = [h for h in hosts.values() if any(r in h.roles for r in DB_ROLES)]
    families = sorted({h.os.family for h in db_hosts})
    if choice == "auto":  # NDB when every DB host can have it (EL9), else Galera (runs on both)
        engine = NDB if families and all(ENGINE_BY_FAMILY.get(f) == NDB for f in families) \
            else "galera"
    else:
        engine = choice
        for h in db_hosts:
            if h.os.family not in ENGINE_FAMILIES.get(engine, ()):
                c.add("lab.db_engine", f"{engine}: MySQL NDB Cluster is not packaged for "
                      f"{h.os.family} (DB host {h.name} runs {h.os.name})",
                      "use db_engine: galera (or auto), or give the DB hosts an EL9 os "
                      "(e.g. os: almalinux9)")
                return engine
    if engine == "galera":
        nodes = [h.name for h in hosts.values() if {"db_data", "db_sql"} & set(h.roles)]
        arbiter = [h.name for h in hosts.values() if "db_mgmt" in h.roles]
        if nodes and len(nodes) % 2 == 0 and not arbiter:
            c.add(key, f"{len(nodes)} Galera nodes ({', '.join(nodes)}) and no db_mgmt host: "
                  "with an even count, the survivors of a failure that takes half the nodes "
                  "lose quorum and stop taking writes",
                  "give the db_mgmt role to a host on the db network (it runs garbd, the "
                  "Galera arbitrator), or add a node")
    elif db_hosts:
        for role in DB_ROLES:
            if not any(role in h.roles for h in db_hosts):
                c.add(key, f"NDB Cluster needs a {role} host and this profile has none",
                      f"give the {role} role to a host on the db network")
        data = [h.name for h in db_hosts if "db_data" in h.roles]
        if len(data) % 2:
            c.add(key, f"{len(data)} NDB data nodes ({', '.join(data)}): NoOfReplicas=2 "
                  "needs an even count (node groups of two)", "add or remove a db_data host")
    return engine


def _check_vip_addresses_free(c: Checker, profiles: dict[Any, Any], vips: dict[str, Vip]) -> None:
    """No host address of any profile may be a VIP's address (VIPs float between hosts)."""
    for pname, praw in profiles.items():
        if not isinstance(praw, dict) or not isinstance(praw.get("hosts"), dict):
            continue
        for hname, hraw in praw["hosts"].items():
            if not isinstance(hraw, dict) or not isinstance(hraw.get("networks"), dict):
                continue
            for net, a in hraw["networks"].items():
                for vip in vips.values():
                    if isinstance(a, str) and a == str(vip.address):
                        c.add(f"profiles.{pname}.hosts.{hname}.networks.{net}",
                              f"{a} collides with VIP {vip.name}",
                              "VIPs float between hosts: give the host another address")
