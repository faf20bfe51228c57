"""Load and validate ``lab.yml`` into a typed :class:`Lab` model.

Every problem found is reported at once, each naming the file, the key path, what is wrong
and how to fix it (:class:`LabFileError`); nothing here ever lets a traceback reach the user.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

from webfarm.roles import NETWORK_NAMES, ROLES

DEFAULT_FILE = Path("lab.yml")
OS_FAMILIES = ("debian12", "el9")
DB_ENGINES = ("auto", "ndb", "galera")
LIBVIRT_DRIVERS = ("kvm", "qemu")

# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class Problem:
    key: str  # dotted key path, e.g. "profiles.full.hosts.app2.networks.front"
    message: str  # what is wrong
    fix: str  # how to fix it

    def render(self, file: str) -> str:
        where = f"{file}: {_printable(self.key)}" if self.key else file
        return f"{where}: {_printable(self.message)}. Fix: {_printable(self.fix)}."


def _printable(text: str) -> str:
    """One line, whatever odd characters a key holds (each problem is one line)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode()
                   for ch in text)


class LabFileError(Exception):
    """One or more problems in a lab file; ``str()`` gives one line per problem."""

    def __init__(self, file: Path | str, problems: list[Problem]) -> None:
        self.file = str(file)
        self.problems = problems
        super().__init__("\n".join(p.render(self.file) for p in problems))


# ---------------------------------------------------------------------------------------------
# YAML loading that refuses duplicate keys (PyYAML silently keeps the last one)


class _BadKey(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        self.key, self.line, self.first_line = key, line, first_line


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise _BadKey(line)
        key = loader.construct_object(key_node)
        if key in seen:
            raise _DuplicateKey(str(key), line, seen[key])
        seen[key] = line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except _BadKey as bad:
        raise LabFileError(file, [Problem(f"line {bad.line}", "a key must be a plain name, not "
                                          "a list or a mapping",
                                          "write the key as a plain word followed by ':'")]
                           ) from None
    except _DuplicateKey as dup:
        what = f"{dup.key!r} is defined twice in the same mapping (a duplicate host name?)"
        raise LabFileError(
            file,
            [
                Problem(
                    f"line {dup.line}",
                    f"{what} (first at line {dup.first_line}); YAML would silently keep only "
                    "the last one",
                    "give each entry a unique name or merge the two",
                )
            ],
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LabFileError(
            file,
            [
                Problem(
                    where,
                    f"YAML syntax error: {err.problem or err.context}",
                    "check indentation and quoting near that line (a tab, a missing ':' or an "
                    "unclosed bracket)",
                )
            ],
        ) from None
    except yaml.YAMLError as err:
        raise LabFileError(
            file, [Problem("", f"YAML error: {err}", "check the file's syntax")]
        ) from None


# ---------------------------------------------------------------------------------------------
# Model


@dataclass(frozen=True)
class Network:
    name: str
    cidr: ipaddress.IPv4Network
    description: str = ""

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The host side of the network (VirtualBox host-only / libvirt bridge): .1."""
        return self.cidr.network_address + 1

    @property
    def prefixlen(self) -> int:
        return self.cidr.prefixlen

    @property
    def netmask(self) -> str:
        return str(self.cidr.netmask)


@dataclass(frozen=True)
class Vip:
    name: str
    network: str
    address: ipaddress.IPv4Address
    port: int
    holder: str  # role whose pair holds the VIP (director, dblb)
    pool: str  # role whose hosts serve it (real servers)


@dataclass(frozen=True)
class Box:
    name: str  # key in lab.yml boxes (debian12, almalinux9, ...)
    box: str  # Vagrant box name
    family: str  # OS family (debian12, el9)


@dataclass(frozen=True)
class Host:
    name: str
    roles: tuple[str, ...]
    addresses: dict[str, ipaddress.IPv4Address]
    memory: int
    cpus: int
    os: Box

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def on(self, network: str) -> bool:
        return network in self.addresses

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(self.addresses)

    def interface(self, network: str) -> str:
        """Guest interface name on ``network``: eth0 is Vagrant's management NIC, then the
        lab networks in the order the host lists them (boxes boot with net.ifnames=0)."""
        return f"eth{list(self.addresses).index(network) + 1}"

    @property
    def primary_address(self) -> ipaddress.IPv4Address:
        """The address other hosts use by default: front if present, else db."""
        return self.addresses.get("front") or next(iter(self.addresses.values()))


@dataclass(frozen=True)
class Vrrp:
    advert_int: float
    unicast: bool


@dataclass(frozen=True)
class Lab:
    name: str
    domain: str
    profile: str
    profiles: tuple[str, ...]
    db_engine: str
    vrrp: Vrrp
    networks: dict[str, Network]
    vips: dict[str, Vip]
    hosts: dict[str, Host]
    boxes: dict[str, Box]
    provider: dict[str, dict[str, Any]]
    source: Path = field(default=DEFAULT_FILE)

    # -- queries used by the renderer, the runner, the checks and the docs -------------------

    def hosts_with(self, role: str) -> list[Host]:
        """Hosts carrying ``role`` in lab.yml order (the first is the primary / VRRP master)."""
        return [h for h in self.hosts.values() if role in h.roles]

    def hosts_on(self, network: str) -> list[Host]:
        return [h for h in self.hosts.values() if network in h.addresses]

    def primary(self, role: str) -> Host:
        hosts = self.hosts_with(role)
        if not hosts:
            raise KeyError(f"no host has role {role!r} in profile {self.profile!r}")
        return hosts[0]

    def priority(self, host: Host, role: str) -> int:
        """VRRP priority: the first host of a pair 150, each next one 50 lower (min 1)."""
        index = [h.name for h in self.hosts_with(role)].index(host.name)
        return max(150 - 50 * index, 1)

    def peers(self, host: Host, role: str) -> list[Host]:
        return [h for h in self.hosts_with(role) if h.name != host.name]

    def fqdn(self, host: Host | str) -> str:
        name = host if isinstance(host, str) else host.name
        return f"{name}.{self.domain}"

    def vips_held_by(self, role: str) -> list[Vip]:
        return [v for v in self.vips.values() if v.holder == role]

    def vips_served_by(self, role: str) -> list[Vip]:
        return [v for v in self.vips.values() if v.pool == role]

    def family(self, host: Host) -> str:
        return host.os.family

    @property
    def dual_homed(self) -> list[Host]:
        return [h for h in self.hosts.values() if len(h.addresses) > 1]

    def with_provider(self, provider: str, **options: Any) -> Lab:
        """A copy whose provider options are updated (used by e2e: driver, emulator)."""
        merged = {k: dict(v) for k, v in self.provider.items()}
        merged.setdefault(provider, {}).update(options)
        return Lab(**{**self.__dict__, "provider": merged})


# ---------------------------------------------------------------------------------------------
# Validation

_TOP_KEYS = {
    "lab": True,
    "boxes": True,
    "provider": False,
    "networks": True,
    "vips": True,
    "roles": False,
    "profiles": True,
}
_LAB_KEYS = {"name": True, "domain": True, "os": True, "profile": False, "vrrp": False,
             "db_engine": False}
_VRRP_KEYS = {"advert_int": False, "unicast": False}
_BOX_KEYS = {"box": True, "family": True}
_NETWORK_KEYS = {"cidr": True, "description": False}
_VIP_KEYS = {"network": True, "address": True, "port": True, "holder": True, "pool": True}
_ROLE_SIZE_KEYS = {"memory": False, "cpus": False}
_PROFILE_KEYS = {"description": False, "hosts": True}
_HOST_KEYS = {"roles": True, "networks": True, "memory": False, "cpus": False, "os": False}
_PROVIDER_KEYS = {"libvirt": False, "virtualbox": False}
_LIBVIRT_KEYS = {
    "driver": False,
    "management_network_name": False,
    "management_network_address": False,
    "emulator_path": False,
    "storage_pool_name": False,
}
_VIRTUALBOX_KEYS = {"linked_clone": False}


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = get_close_matches(word, list(choices), n=1)
    return f"did you mean {match[0]!r}?" if match else ""


class _Checker:
    """Collects problems while walking the raw YAML data."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def mapping(self, value: Any, key: str, schema: dict[str, bool] | None) -> dict[str, Any]:
        """Check ``value`` is a mapping; with a schema also unknown and missing keys."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.add(key, f"expected a mapping, got {type(value).__name__} {value!r}",
                     "write it as 'name: value' lines indented under the key")
            return {}
        if schema is not None:
            for name in value:
                if name not in schema:
                    hint = _suggest(str(name), schema)
                    self.add(f"{key}.{name}" if key else str(name), "unknown key",
                             (hint + " " if hint else "")
                             + f"allowed keys here: {', '.join(sorted(schema))}")
            for name, required in schema.items():
                if required and name not in value:
                    self.add(f"{key}.{name}" if key else name, "required key is missing",
                             f"add '{name}:' under {key or 'the top level'}")
        return value

    def name(self, value: Any, key: str) -> str | None:
        """A plain name (string or number); anything else is reported."""
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value)
        self.add(key, f"expected a name, got {type(value).__name__} {value!r}",
                 "write a plain word here, without brackets or braces")
        return None

    def address(self, value: Any, key: str) -> ipaddress.IPv4Address | None:
        try:
            return ipaddress.IPv4Address(str(value))
        except ValueError:
            self.add(key, f"{value!r} is not an IPv4 address", "write it like 192.168.56.21")
            return None

    def integer(self, value: Any, key: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(key, f"{value!r} is not a whole number from {low} to {high}",
                     f"use a number between {low} and {high}")
            return None
        return value


def load(path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    """Read, validate and model ``path``; raise :class:`LabFileError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabFileError(path, [Problem("", "file not found",
                                          "run from the project's top folder or pass --lab FILE")]
                           ) from None
    return parse(text, path, profile)


def parse(text: str, path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    path = Path(path)
    data = _parse_yaml(text, path)
    return build(data, path, profile)


def build(data: Any, path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    """Validate raw data (as loaded from YAML) and build the model for ``profile``."""
    path = Path(path)
    c = _Checker()
    top = c.mapping(data, "", _TOP_KEYS)

    lab = c.mapping(top.get("lab"), "lab", _LAB_KEYS)
    vrrp_raw = c.mapping(lab.get("vrrp"), "lab.vrrp", _VRRP_KEYS)
    advert = vrrp_raw.get("advert_int", 1)
    if isinstance(advert, bool) or not isinstance(advert, int | float) or not 0.01 <= advert <= 255:
        c.add("lab.vrrp.advert_int", f"{advert!r} is not a number of seconds from 0.01 to 255",
              "use 1 (the VRRP default) or a fraction such as 0.5")
        advert = 1
    unicast = vrrp_raw.get("unicast", False)
    if not isinstance(unicast, bool):
        c.add("lab.vrrp.unicast", f"{unicast!r} is not true or false", "write true or false")
        unicast = False
    db_engine = lab.get("db_engine", "auto")
    if db_engine not in DB_ENGINES:
        c.add("lab.db_engine", f"unknown DB engine {db_engine!r}",
              f"use one of: {', '.join(DB_ENGINES)}")
    domain = str(lab.get("domain", "webfarm.test"))
    if "domain" in lab and ("." not in domain or " " in domain or domain.endswith(".")):
        c.add("lab.domain", f"{domain!r} is not a DNS domain like webfarm.test",
              "use a dotted name without trailing dot, e.g. webfarm.test")

    # boxes
    boxes: dict[str, Box] = {}
    for name, raw in c.mapping(top.get("boxes"), "boxes", None).items():
        b = c.mapping(raw, f"boxes.{name}", _BOX_KEYS)
        family = b.get("family")
        if "family" in b and family not in OS_FAMILIES:
            c.add(f"boxes.{name}.family", f"unknown OS family {family!r}",
                  f"use one of: {', '.join(OS_FAMILIES)}")
        if "box" in b and "family" in b:
            boxes[str(name)] = Box(str(name), str(b["box"]), str(family))
    default_os = c.name(lab["os"], "lab.os") if "os" in lab else None
    if "boxes" in top and not boxes and not c.problems:
        c.add("boxes", "no box is defined",
              "add at least one, e.g. debian12: {box: webfarm/debian12, family: debian12}")
    if default_os is not None and boxes and default_os not in boxes:
        c.add("lab.os", f"no box named {default_os!r} in boxes",
              f"use one of: {', '.join(boxes)} or add it under boxes")

    # provider
    provider = c.mapping(top.get("provider"), "provider", _PROVIDER_KEYS)
    libvirt = c.mapping(provider.get("libvirt"), "provider.libvirt", _LIBVIRT_KEYS)
    if libvirt.get("driver", "kvm") not in LIBVIRT_DRIVERS:
        c.add("provider.libvirt.driver", f"unknown driver {libvirt.get('driver')!r}",
              "use kvm (hardware virtualization) or qemu (software emulation, slow)")
    if "management_network_address" in libvirt:
        try:
            ipaddress.IPv4Network(str(libvirt["management_network_address"]))
        except ValueError:
            c.add("provider.libvirt.management_network_address",
                  f"{libvirt['management_network_address']!r} is not a network",
                  "write it like 192.168.121.0/24")
    vbox = c.mapping(provider.get("virtualbox"), "provider.virtualbox", _VIRTUALBOX_KEYS)

    # networks
    networks: dict[str, Network] = {}
    raw_networks = c.mapping(top.get("networks"), "networks", None)
    for name, raw in raw_networks.items():
        n = c.mapping(raw, f"networks.{name}", _NETWORK_KEYS)
        if name not in NETWORK_NAMES:
            c.add(f"networks.{name}", f"unknown network {name!r}",
                  f"the farm has exactly these networks: {', '.join(NETWORK_NAMES)}")
            continue
        if "cidr" not in n:
            continue
        try:
            cidr = ipaddress.IPv4Network(str(n["cidr"]))
        except ValueError as err:
            c.add(f"networks.{name}.cidr", f"{n['cidr']!r} is not a network ({err})",
                  "write it like 192.168.56.0/24 (host bits zero)")
            continue
        if not cidr.is_private:
            c.add(f"networks.{name}.cidr", f"{cidr} is not a private range",
                  "use a private range, e.g. inside 192.168.56.0/21")
        if cidr.num_addresses < 16:
            c.add(f"networks.{name}.cidr", f"{cidr} is too small for the farm",
                  "use a /28 or larger, /24 recommended")
        networks[str(name)] = Network(str(name), cidr, str(n.get("description", "")))
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

    # roles (sizing)
    sizes: dict[str, dict[str, int]] = {}
    for name, raw in c.mapping(top.get("roles"), "roles", None).items():
        r = c.mapping(raw, f"roles.{name}", _ROLE_SIZE_KEYS)
        if name not in ROLES:
            hint = _suggest(str(name), ROLES)
            c.add(f"roles.{name}", f"unknown role {name!r}",
                  (hint + " " if hint else "") + f"roles are: {', '.join(ROLES)}")
            continue
        size: dict[str, int] = {}
        if "memory" in r and (m := c.integer(r["memory"], f"roles.{name}.memory", 128, 65536)):
            if m < ROLES[name].min_memory:
                c.add(f"roles.{name}.memory", f"{m} MB is below the {name} role's minimum of "
                      f"{ROLES[name].min_memory} MB", f"set at least {ROLES[name].min_memory}")
            size["memory"] = m
        if "cpus" in r and (n := c.integer(r["cpus"], f"roles.{name}.cpus", 1, 64)):
            size["cpus"] = n
        sizes[str(name)] = size

    # profiles
    profiles = c.mapping(top.get("profiles"), "profiles", None)
    if "profiles" in top and not profiles:
        c.add("profiles", "no profile is defined",
              "add a profile with hosts, e.g. full: {hosts: {...}}")
    lab_profile = c.name(lab["profile"], "lab.profile") if "profile" in lab else None
    chosen = profile or lab_profile or "full"
    if profiles and chosen not in profiles:
        hint = _suggest(str(chosen), profiles)
        where = "lab.profile" if profile is None else "--profile"
        c.add(where if profile is None else "profiles", f"unknown profile {chosen!r}",
              (hint + " " if hint else "") + f"profiles are: {', '.join(profiles)}"
              + ("" if profile is None else f" (given as {where})"))
    hosts: dict[str, Host] = {}
    for pname, praw in profiles.items():
        p = c.mapping(praw, f"profiles.{pname}", _PROFILE_KEYS)
        before = len(c.problems)
        phosts = _check_hosts(c, f"profiles.{pname}.hosts", p.get("hosts"), networks, boxes,
                              default_os, sizes)
        if len(c.problems) == before:  # pairs are judged once every host itself is right
            _check_profile(c, f"profiles.{pname}", phosts, networks, top.get("vips"))
        if pname == chosen:
            hosts = phosts

    # VIPs
    vips: dict[str, Vip] = {}
    for name, raw in c.mapping(top.get("vips"), "vips", None).items():
        v = c.mapping(raw, f"vips.{name}", _VIP_KEYS)
        key = f"vips.{name}"
        net = c.name(v["network"], f"{key}.network") if "network" in v else None
        for rk in ("holder", "pool"):
            if rk in v and c.name(v[rk], f"{key}.{rk}") is None:
                v = {k: x for k, x in v.items() if k != rk}
        if net is None:
            continue
        if net not in networks:
            if net in NETWORK_NAMES:
                continue  # the network's own problem is reported already
            c.add(f"{key}.network", f"unknown network {net!r}",
                  f"use one of: {', '.join(networks) or ', '.join(NETWORK_NAMES)}")
            continue
        addr = c.address(v["address"], f"{key}.address") if "address" in v else None
        port = c.integer(v["port"], f"{key}.port", 1, 65535) if "port" in v else None
        for rk in ("holder", "pool"):
            if rk in v and v[rk] not in ROLES:
                hint = _suggest(str(v[rk]), ROLES)
                c.add(f"{key}.{rk}", f"unknown role {v[rk]!r}",
                      (hint + " " if hint else "") + f"roles are: {', '.join(ROLES)}")
        if addr is None or port is None or net is None or "holder" not in v or "pool" not in v:
            continue
        network = networks[net]
        if addr not in network.cidr:
            c.add(f"{key}.address", f"{addr} is outside network {net} ({network.cidr})",
                  f"pick a free address inside {network.cidr}")
        elif addr in (network.cidr.network_address, network.cidr.broadcast_address,
                      network.gateway):
            c.add(f"{key}.address", f"{addr} is the network, broadcast or host-side (.1) "
                  f"address of {net}", "pick another free address, e.g. .10")
        for other in vips.values():
            if other.address == addr:
                c.add(f"{key}.address", f"{addr} is already VIP {other.name}",
                      "give every VIP its own address")
        vips[str(name)] = Vip(str(name), str(net), addr, port, str(v["holder"]), str(v["pool"]))
    # VIPs against host addresses of every profile
    for pname, praw in profiles.items():
        if not isinstance(praw, dict) or not isinstance(praw.get("hosts"), dict):
            continue
        for hname, hraw in praw["hosts"].items():
            if not isinstance(hraw, dict) or not isinstance(hraw.get("networks"), dict):
                continue
            for net, a in hraw["networks"].items():
                for vip in vips.values():
                    if str(a) == str(vip.address):
                        c.add(f"profiles.{pname}.hosts.{hname}.networks.{net}",
                              f"{a} collides with VIP {vip.name}",
                              "VIPs float between hosts: give the host another address")

    if c.problems:
        raise LabFileError(path, c.problems)
    return Lab(
        name=str(lab["name"]),
        domain=domain,
        profile=str(chosen),
        profiles=tuple(str(p) for p in profiles),
        db_engine=str(db_engine),
        vrrp=Vrrp(float(advert), unicast),
        networks=networks,
        vips=vips,
        hosts=hosts,
        boxes=boxes,
        provider={"libvirt": {"driver": "kvm", **libvirt}, "virtualbox": dict(vbox)},
        source=path,
    )


def _check_hosts(c: _Checker, key: str, raw: Any, networks: dict[str, Network],
                 boxes: dict[str, Box], default_os: Any,
                 sizes: dict[str, dict[str, int]]) -> dict[str, Host]:
    hosts: dict[str, Host] = {}
    seen_addr: dict[ipaddress.IPv4Address, str] = {}
    raw_hosts = c.mapping(raw, key, None)
    if not raw_hosts and (raw is None or isinstance(raw, dict)):
        c.add(key, "the profile has no hosts", "list the profile's hosts under it")
    for name, hraw in raw_hosts.items():
        hkey = f"{key}.{name}"
        h = c.mapping(hraw, hkey, _HOST_KEYS)
        sname = str(name)
        if not sname.replace("-", "").isalnum() or not sname[0].isalpha() or sname != sname.lower():
            c.add(hkey, f"host name {sname!r} is not a valid hostname",
                  "use lower-case letters, digits and '-', starting with a letter")
        # roles
        roles: list[str] = []
        rraw = h.get("roles")
        if "roles" in h and (not isinstance(rraw, list) or not rraw):
            c.add(f"{hkey}.roles", "expected a non-empty list of roles",
                  f"write e.g. roles: [app]; roles are: {', '.join(ROLES)}")
            rraw = []
        for role in rraw or []:
            if not isinstance(role, str):
                c.add(f"{hkey}.roles", f"expected a role name, got {role!r}",
                      f"write plain role names, e.g. roles: [app]; roles are: {', '.join(ROLES)}")
            elif role not in ROLES:
                hint = _suggest(str(role), ROLES)
                c.add(f"{hkey}.roles", f"unknown role {role!r}",
                      (hint + " " if hint else "") + f"roles are: {', '.join(ROLES)}")
            elif role in roles:
                c.add(f"{hkey}.roles", f"role {role!r} listed twice", "list each role once")
            else:
                roles.append(role)
        # networks and addresses
        addresses: dict[str, ipaddress.IPv4Address] = {}
        nets_ok = isinstance(h.get("networks"), dict)
        nraw = c.mapping(h.get("networks"), f"{hkey}.networks", None) if "networks" in h else {}
        if nets_ok and not nraw:
            c.add(f"{hkey}.networks", "a host needs at least one network",
                  "add e.g. networks: {front: 192.168.56.50}")
        for net, a in nraw.items():
            akey = f"{hkey}.networks.{net}"
            if net not in networks:
                if net in NETWORK_NAMES:
                    continue
                hint = _suggest(str(net), networks or NETWORK_NAMES)
                c.add(akey, f"unknown network {net!r}",
                      (hint + " " if hint else "")
                      + f"networks are: {', '.join(networks or NETWORK_NAMES)}")
                continue
            addr = c.address(a, akey)
            if addr is None:
                continue
            cidr = networks[net].cidr
            if addr not in cidr:
                c.add(akey, f"{addr} is outside network {net} ({cidr})",
                      f"pick an address inside {cidr}")
                continue
            if addr in (cidr.network_address, cidr.broadcast_address, networks[net].gateway):
                c.add(akey, f"{addr} is the network, broadcast or host-side (.1) address of "
                      f"{net}", "pick another address, e.g. from .20 up")
                continue
            if addr in seen_addr:
                c.add(akey, f"duplicate address {addr}: already used by {seen_addr[addr]}",
                      "give every host its own address")
                continue
            seen_addr[addr] = sname
            addresses[str(net)] = addr
        unknown_net = any(n not in networks for n in nraw)
        for role in [] if unknown_net or not nraw else roles:
            missing = [n for n in ROLES[role].networks if n not in nraw and n in networks]
            for n in missing:
                side = "front-only" if set(nraw) == {"front"} else f"{'/'.join(nraw) or 'no'}-only"
                c.add(f"{hkey}.roles", f"role {role} needs the {n} network but {sname} is "
                      f"a {side} host",
                      f"add networks.{n} with an address to {sname}, or move the role to a "
                      f"host on the {n} network")
        # sizing
        os_name = c.name(h["os"], f"{hkey}.os") if "os" in h else default_os
        if "os" in h and boxes and os_name not in boxes:
            c.add(f"{hkey}.os", f"no box named {os_name!r}",
                  f"use one of: {', '.join(boxes)}")
        memory = max([sizes.get(r, {}).get("memory", ROLES[r].min_memory) for r in roles],
                     default=512)
        cpus = max([sizes.get(r, {}).get("cpus", 1) for r in roles], default=1)
        if "memory" in h and (m := c.integer(h["memory"], f"{hkey}.memory", 128, 65536)):
            memory = m
        if "cpus" in h and (n := c.integer(h["cpus"], f"{hkey}.cpus", 1, 64)):
            cpus = n
        short = [r for r in roles if memory < ROLES[r].min_memory]
        if short:
            top = max(short, key=lambda r: ROLES[r].min_memory)
            need = ROLES[top].min_memory
            c.add(f"{hkey}.memory", f"{memory} MB is below the {top} role's minimum of "
                  f"{need} MB", f"set memory: {need} or more")
        box = boxes.get(str(os_name)) if os_name is not None else None
        if roles and addresses and box is not None:
            hosts[sname] = Host(sname, tuple(roles), addresses, memory, cpus, box)
    return hosts


def _check_profile(c: _Checker, key: str, hosts: dict[str, Host], networks: dict[str, Network],
                   raw_vips: Any) -> None:
    """Pairs have two members, single roles one, and every VIP has holders and a pool."""
    if not hosts:
        return
    for role in ROLES.values():
        members = [h.name for h in hosts.values() if role.name in h.roles]
        if role.pair and len(members) == 1:
            c.add(f"{key}.hosts", f"the {role.name} pair has one member ({members[0]})",
                  f"give the {role.name} role to a second host, or remove it from "
                  f"{members[0]}")
        if role.single and len(members) > 1:
            c.add(f"{key}.hosts", f"role {role.name} is on {len(members)} hosts "
                  f"({', '.join(members)})", f"keep {role.name} on exactly one host")
    if isinstance(raw_vips, dict):
        for vname, v in raw_vips.items():
            if not isinstance(v, dict):
                continue
            if not isinstance(v.get("network"), str) or v["network"] not in networks:
                continue
            for rk in ("holder", "pool"):
                role = v.get(rk)
                if isinstance(role, str) and role in ROLES and not any(
                        role in h.roles for h in hosts.values()):
                    c.add(f"{key}.hosts", f"VIP {vname} needs {rk} role {role} but no host "
                          "has it", f"give the {role} role to two hosts of this profile")
