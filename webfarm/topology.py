"""Load and validate ``lab.yml`` into a typed :class:`Lab` model.

Every problem found is reported at once, each naming the file, the key path, what is wrong
and how to fix it (:class:`LabFileError`); nothing here ever lets a traceback reach the user.
"""

from __future__ import annotations

import ipaddress
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml

from webfarm import paths

if TYPE_CHECKING:  # webfarm.tiers imports this module
    from webfarm.tiers import AddressRange

DEFAULT_FILE = paths.LAB_FILE
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
        where = f"{file}: {_printable(self.key, 160)}" if self.key else file
        return f"{where}: {_printable(self.message)}. Fix: {_printable(self.fix)}."


def _printable(text: str, limit: int = 400) -> str:
    """One short line, whatever odd characters or length a key holds (each problem is one
    line, and a hostile file must not print megabytes)."""
    if len(text) > limit:
        text = text[:limit - 3] + "..."
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
# YAML loading that refuses what a lab file never needs and an attacker would use: duplicate
# keys (PyYAML silently keeps the last one), anchors and aliases (a "billion laughs" file
# expands to gigabytes), deep nesting (recursion), odd tags and huge files.

MAX_BYTES = 1_000_000  # the real lab.yml is ~6 kB
MAX_DEPTH = 20  # the real lab.yml nests 6 deep
_PLAIN_TAGS = {"!", *(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null",
                                                         "map", "seq"))}


class _Refused(Exception):
    """A YAML construct lab files do not use; ``line`` is 1-based."""

    def __init__(self, line: int, message: str, fix: str) -> None:
        self.line, self.message, self.fix = line, message, fix


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader (libyaml's when present: ~10x faster) whose mappings refuse duplicate and
    non-scalar keys. Run :func:`_screen` on the text first."""


def _screen(text: str) -> None:
    """Refuse anchors, aliases, explicit non-plain tags and deep nesting from the event
    stream, before any node is composed or constructed (so before any alias is expanded and
    before the recursive composer could run out of stack)."""
    depth = 0
    for event in yaml.parse(text, Loader=_BaseLoader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(line, "YAML anchors and aliases (&name, *name) are not allowed in "
                           "a lab file", "write the value out in full where it is needed")
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _PLAIN_TAGS:
            raise _Refused(line, f"YAML tag {_show_tag(tag)} is not allowed in a lab file",
                           "remove the tag: write plain values, lists and mappings")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(line, f"nested more than {MAX_DEPTH} levels deep",
                               "a lab file nests about 6 levels: remove the extra brackets or "
                               "indentation")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _show_tag(tag: str) -> str:
    tag = tag.replace("tag:yaml.org,2002:", "!!")
    return repr(tag if len(tag) <= 40 else tag[:37] + "...")


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            raise _Refused(line, "a key must be a plain name, not a list, a mapping or '<<'",
                           "write the key as a plain word followed by ':'")
        key = loader.construct_object(key_node)
        if key in seen:
            what = f"{str(key)[:60]!r} is defined twice in the same mapping (a duplicate host " \
                   "name?)"
            raise _Refused(line, f"{what} (first at line {seen[key]}); YAML would silently "
                           "keep only the last one", "give each entry a unique name or merge "
                           "the two")
        seen[key] = line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse_yaml(text: str, file: Path) -> Any:
    try:
        _screen(text)
        return yaml.load(text, Loader=_StrictLoader)
    except _Refused as bad:
        raise LabFileError(file, [Problem(f"line {bad.line}", bad.message, bad.fix)]) from None
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
    except yaml.reader.ReaderError as err:
        raise LabFileError(file, [Problem(
            f"character {err.position + 1}",
            f"character {err.character!r} is not allowed in YAML",
            "remove control characters (save the file as plain UTF-8 text)")]) from None
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as err:
        raise LabFileError(
            file, [Problem("", f"YAML error: {str(err)[:200]}", "check the file's syntax")]
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
    # DB balancers' VIPs only (chapter 06-dblb): `port` takes writes (one node at a time),
    # `read_port` spreads reads over every SQL node, `stats_port` is HAProxy's stats page.
    read_port: int | None = None
    stats_port: int | None = None


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
    # added by lab.yml's scale rule (profiles.P.scale, webfarm.tiers), not listed under hosts
    scaled: bool = False

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
    # the database engine chapter 05 builds: lab.db_engine, with "auto" resolved from the DB
    # hosts' OS (NDB where packaged: EL9; Galera elsewhere: Debian 12)
    engine: str = "galera"
    # roles.ROLE.range of lab.yml: {role: {network: addresses new hosts of its tier take}}
    ranges: dict[str, dict[str, AddressRange]] = field(default_factory=dict)

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


def load(path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    """Read, validate and model ``path``; raise :class:`LabFileError` on any problem."""
    return parse(_read(path), Path(path), profile)


def _read(path: Path | str) -> str:
    """The text of a lab file: a regular UTF-8 file of at most MAX_BYTES."""
    if not str(path).strip():
        raise LabFileError("(no file)", [Problem("", "the lab file name is empty",
                                                  "pass --lab FILE, e.g. --lab lab.yml")])
    path = Path(path)

    def refuse(message: str, fix: str) -> NoReturn:
        raise LabFileError(path, [Problem("", message, fix)])

    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            refuse("is a folder, not a file", "pass the lab file itself, e.g. --lab lab.yml")
        if not stat.S_ISREG(info.st_mode):
            refuse("is not a regular file", "pass a lab file saved on disk, e.g. lab.yml")
        if info.st_size > MAX_BYTES:
            refuse(f"is {info.st_size} bytes; a lab file is at most {MAX_BYTES}",
                   "pass the right file (the real lab.yml is a few kB)")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        refuse("file not found", "run from the project's top folder or pass --lab FILE")
    except PermissionError:
        refuse("cannot be read (permission denied)", "make the file readable, or copy it")
    except OSError as err:
        refuse(f"cannot be read ({err.strerror or err})", "pass a readable lab file")
    if len(raw) > MAX_BYTES:
        refuse(f"is larger than {MAX_BYTES} bytes", "pass the right file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise LabFileError(path, [Problem(f"line {line}", f"byte 0x{raw[err.start]:02x} is not "
                                          "UTF-8 text", "save the file as UTF-8")]) from None


def parse(text: str, path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    path = Path(path)
    if len(text) > MAX_BYTES:
        raise LabFileError(path, [Problem("", f"is larger than {MAX_BYTES} characters",
                                          "pass the right file (the real lab.yml is a few kB)")])
    data = _parse_yaml(text, path)
    return build(data, path, profile)


def build(data: Any, path: Path | str = DEFAULT_FILE, profile: str | None = None) -> Lab:
    """Validate raw data (as loaded from YAML) and build the model for ``profile``."""
    from webfarm import validation  # validation builds this module's model classes

    return validation.build(data, path, profile)
