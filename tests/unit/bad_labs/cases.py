"""The bad-lab corpus: each case is a small mutation of tests/fixtures/lab.yml that
``python -m webfarm.cli validate --lab FILE`` must refuse with exit code 2, one line per
problem naming the file, the key and the fix, and never a traceback.

``tests/unit/test_bad_labs.py`` writes every case to a real file and runs it through the real
entry point. To look at the files themselves: ``python tests/unit/bad_labs/cases.py OUT_DIR``.

A case is (id, key, mutation, fragment): ``key`` must appear in the output (the key path, or
for file-level problems the location such as ``line 3``), ``fragment`` too when given.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures/lab.yml"
TEXT = FIXTURE.read_text(encoding="utf-8")

Mutation = Callable[[str], str | bytes]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: fast
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=1000)


@dataclass(frozen=True)
class Case:
    id: str
    key: str  # must appear in the output: the key path (or line/location); "a|b": either
    mutate: Mutation
    fragment: str = ""  # and this part of the message, when given
    profile: str | None = None  # passed as --profile
    kind: str = "file"  # file | dir | empty-path | missing


# ---------------------------------------------------------------------------------------------
# Mutations


def sub(old: str, new: str, first: bool = False) -> Mutation:
    """Replace ``old`` (which must occur exactly once, or ``first``: the first of several)."""

    def mutate(text: str) -> str:
        count = text.count(old)
        if count == 0 or (count > 1 and not first):
            raise ValueError(f"{old!r} occurs {count} times in the fixture")
        return text.replace(old, new, 1)

    return mutate


def setv(path: str, value: Any) -> Mutation:
    """Set a dotted path in the data (comments are lost: the file is dumped again)."""

    def mutate(text: str) -> str:
        data = _load(text)
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
        return _dump(data)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(text: str) -> str:
        data = _load(text)
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[last]
        return _dump(data)

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(text: str) -> str | bytes:
        out: str | bytes = text
        for m in mutations:
            assert isinstance(out, str)
            out = m(out)
        return out

    return mutate


def whole(content: str | bytes) -> Mutation:
    return lambda _text: content


def append(extra: str) -> Mutation:
    return lambda text: text + extra


def to_bytes(old: str, new: bytes) -> Mutation:
    def mutate(text: str) -> bytes:
        raw = text.encode("utf-8")
        assert raw.count(old.encode()) == 1, old
        return raw.replace(old.encode(), new)

    return mutate


def sub_last(old: str, new: str) -> Mutation:
    """Replace the last occurrence of ``old`` (the mini profile comes after full)."""

    def mutate(text: str) -> str:
        head, found, tail = text.rpartition(old)
        if not found:
            raise ValueError(old)
        return head + new + tail

    return mutate


def rename_host(old: str, new: str) -> Mutation:
    """Rename a host of the full profile (its line starts with 6 spaces and ``old:``)."""
    return sub(f"      {old}: {{", f"      {new}: {{", first=True)


def rename_vip(old: str, new: str) -> Mutation:
    return sub(f"  {old}: {{network:", f"  {new}: {{network:")


def lab_key(name: str, value: str) -> Mutation:
    """Replace the value of a ``lab:`` key (the fixture writes them as ``  name: value``)."""
    def mutate(text: str) -> str:
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith(f"  {name}: "):
                lines[i] = f"  {name}: {value}\n"
                return "".join(lines)
        raise ValueError(name)
    return mutate


FULL = "profiles.full.hosts"
MINI = "profiles.mini.hosts"
LB1 = "lb1: {roles: [director], networks: {front: 192.168.56.21}}"
MINI_LB = "{roles: [director, dns], networks: {front: 192.168.56.2"
MGMT = "management_network_address: 192.168.121.0/24"
FRONT_DESC = "description: public side, where visitors and the directors live"
FULL_DESC = "description: the whole farm, one role per VM (17 VMs, ~10 GB RAM)"
WWW = "www: {network: front, address: 192.168.56.10, port: 80, holder: director, pool: app}"
DBVIP = "db: {network: db, address: 192.168.57.10, port: 3306, holder: dblb, pool: db_sql}"
LV = "provider.libvirt"
VB = "provider.virtualbox"
LONG = "a" * 64


def libvirt(line: str) -> Mutation:
    return sub(f"    {MGMT}\n", f"    {MGMT}\n    {line}\n")


def vbox(body: str) -> Mutation:
    return sub("  virtualbox: {}", f"  virtualbox: {{{body}}}")


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return TEXT + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The corpus


def _c(id: str, key: str, mutate: Mutation, fragment: str = "", **kw: Any) -> Case:
    return Case(id, key, mutate, fragment, **kw)


HOST_NAMES = [
    _c("host-upper-case", f"{FULL}.Lb1", rename_host("lb1", "Lb1"), "not a valid hostname"),
    _c("host-underscore", f"{FULL}.lb_1", rename_host("lb1", "lb_1"), "not a valid hostname"),
    _c("host-leading-digit", f"{FULL}.1lb", rename_host("lb1", "1lb"), "not a valid hostname"),
    _c("host-leading-hyphen", f"{FULL}.-lb1", rename_host("lb1", "-lb1")),
    _c("host-trailing-hyphen", f"{FULL}.lb1-", rename_host("lb1", "lb1-")),
    _c("host-64-chars", f"{FULL}.{LONG}", rename_host("lb1", LONG), "at most 63"),
    _c("host-fullwidth-digit", f"{FULL}.lb\uff11", rename_host("lb1", "lb\uff11")),
    _c("host-superscript-digit", f"{FULL}.lb\u00b9", rename_host("lb1", "lb\u00b9")),
    _c("host-cyrillic-a", f"{FULL}.lb\u04301", rename_host("lb1", "lb\u04301")),
    _c("host-dotted", f"{FULL}.lb1.front", rename_host("lb1", "lb1.front")),
    _c("host-space", f"{FULL}.lb 1", rename_host("lb1", "'lb 1'")),
    _c("host-localhost", f"{FULL}.localhost", rename_host("client1", "localhost"), "reserved"),
    _c("host-ip6-localhost", f"{FULL}.ip6-localhost", rename_host("client1", "ip6-localhost"),
       "reserved"),
    _c("host-double-quote", f"{FULL}.lb\"1", rename_host("lb1", "'lb\"1'")),
    _c("host-ruby-interpolation", FULL, rename_host("lb1", "'lb#{1}'")),
    _c("host-dollar", f"{FULL}.lb$1", rename_host("lb1", "'lb$1'")),
    _c("host-backtick", f"{FULL}.lb`id`", rename_host("lb1", "'lb`id`'")),
    _c("host-newline", f"{FULL}.lb\\n1", rename_host("lb1", '"lb\\n1"')),
    _c("host-yes-is-boolean", f"{FULL}.True", rename_host("client1", "yes"), "read by YAML"),
    _c("host-null-key", f"{FULL}.None", rename_host("client1", "~"), "read by YAML"),
    _c("host-number", f"{FULL}.123", rename_host("client1", "123")),
    _c("host-rich-markup-close", f"{FULL}.lb[/]1", rename_host("lb1", "'lb[/]1'")),
    _c("host-rich-markup-style", f"{FULL}.[bold]x", rename_host("lb1", "'[bold]x'")),
    _c("host-named-like-vip", f"{FULL}.www", rename_host("client1", "www"), "VIP www"),
    _c("host-named-like-vip-mini", f"{MINI}.media",
       sub_last("      client1: {", "      media: {"), "VIP media"),
    _c("host-named-like-derived-dns-name", f"{FULL}.app1-db",
       sub(f"      {LB1}\n", f"      {LB1}\n      app1-db: {{roles: [client], networks: "
                              "{front: 192.168.56.101}}\n"), "app1-db"),
    _c("host-too-long-for-its-db-name", f"{FULL}.{'a' * 61}", rename_host("app1", "a" * 61),
       "too long"),
]

VIP_NAMES = [
    _c("vip-underscore", "vips.www_1", rename_vip("www", "www_1"), "not a valid VIP name"),
    _c("vip-upper-case", "vips.WWW", rename_vip("www", "WWW")),
    _c("vip-64-chars", f"vips.{LONG}", rename_vip("www", LONG)),
    _c("vip-unicode", "vips.w\u0175w", rename_vip("www", "w\u0175w")),
    _c("vip-dotted", "vips.www.x", rename_vip("www", "www.x")),
    _c("vip-quote", "vips.w'w", rename_vip("www", '"w\'w"')),
    _c("vip-on-is-boolean", "vips.True", rename_vip("www", "on"), "read by YAML"),
    _c("vip-named-like-host", f"{FULL}.lb1", rename_vip("www", "lb1"), "VIP lb1"),
    _c("vip-named-like-mini-host", f"{MINI}.db1", rename_vip("media", "db1"), "VIP db1"),
]

NETWORK_AND_PROFILE_NAMES = [
    _c("network-name-unicode", "networks.fr\u00f6nt", sub("  front:\n", "  fr\u00f6nt:\n"),
       "unknown network"),
    _c("network-name-quote", "networks.front\"", sub("  front:\n", "  'front\"':\n")),
    _c("host-network-name-dollar", f"{FULL}.lb1.networks.fr$nt",
       sub(LB1, "lb1: {roles: [director], networks: {fr$nt: 192.168.56.21}}")),
    _c("profile-name-space", "profiles.my mini", sub("  mini:\n", "  'my mini':\n")),
    _c("profile-name-quote", "profiles.mini\"", sub("  mini:\n", "  'mini\"':\n")),
    _c("profile-name-unicode", "profiles.m\u00efni", sub("  mini:\n", "  m\u00efni:\n")),
    _c("profile-name-interpolation", "profiles.#{x}", sub("  mini:\n", "  '#{x}':\n")),
    _c("lab-profile-quote", "lab.profile", lab_key("profile", "'full\"'")),
    _c("lab-profile-list", "lab.profile", lab_key("profile", "[full]")),
    # the CLI may refuse a bad --profile itself, before reading the file: the key is the option
    _c("cli-profile-empty", "--profile", lambda t: t, profile=""),
    _c("cli-profile-quote", "--profile", lambda t: t, profile='fu"ll'),
    _c("cli-profile-unknown", "--profile", lambda t: t, "maxi", profile="maxi"),
    _c("cli-profile-markup", "--profile", lambda t: t, profile="[/]"),
]

LAB_NAME = [
    _c("lab-name-space", "lab.name", lab_key("name", "web farm")),
    _c("lab-name-quote", "lab.name", lab_key("name", "'web\"farm'")),
    _c("lab-name-interpolation", "lab.name", lab_key("name", "'#{`id`}'")),
    _c("lab-name-upper-case", "lab.name", lab_key("name", "WebFarm")),
    _c("lab-name-too-long", "lab.name", lab_key("name", "w" * 40)),
    _c("lab-name-number", "lab.name", lab_key("name", "42")),
    _c("lab-name-unicode", "lab.name", lab_key("name", "webf\u00e4rm")),
    _c("lab-name-empty", "lab.name", lab_key("name", "''")),
    _c("lab-name-mapping", "lab.name", lab_key("name", "{a: 1}")),
]

DOMAINS = [
    _c("domain-one-label", "lab.domain", lab_key("domain", "webfarm"), "not a DNS domain"),
    _c("domain-trailing-dot", "lab.domain", lab_key("domain", "webfarm.test.")),
    _c("domain-upper-case", "lab.domain", lab_key("domain", "WebFarm.test")),
    _c("domain-underscore", "lab.domain", lab_key("domain", "web_farm.test")),
    _c("domain-label-64", "lab.domain", lab_key("domain", f"{LONG}.test")),
    _c("domain-254-chars", "lab.domain", lab_key("domain", ".".join(["a" * 62] * 4) + ".te")),
    _c("domain-leading-hyphen", "lab.domain", lab_key("domain", "-web.test")),
    _c("domain-empty-label", "lab.domain", lab_key("domain", "web..test")),
    _c("domain-space", "lab.domain", lab_key("domain", "'web farm.test'")),
    _c("domain-unicode", "lab.domain", lab_key("domain", "w\u00e9bfarm.test")),
    _c("domain-numeric-tld", "lab.domain", lab_key("domain", "webfarm.123")),
    _c("domain-mdns-local", "lab.domain", lab_key("domain", "webfarm.local"), ".local"),
    _c("domain-localhost", "lab.domain", lab_key("domain", "lab.localhost")),
    _c("domain-number", "lab.domain", lab_key("domain", "42")),
    _c("domain-quote", "lab.domain", lab_key("domain", "'web\"farm.test'")),
]

BOXES = [
    _c("box-space", "boxes.debian12.box", sub("{box: webfarm/debian12,",
                                              "{box: 'webfarm debian12',")),
    _c("box-two-slashes", "boxes.debian12.box", sub("{box: webfarm/debian12,",
                                                    "{box: a/b/c,")),
    _c("box-quote", "boxes.debian12.box", sub("{box: webfarm/debian12,", "{box: 'web\"farm',")),
    _c("box-interpolation", "boxes.debian12.box", sub("{box: webfarm/debian12,",
                                                      "{box: 'w#{1}',")),
    _c("box-leading-slash", "boxes.debian12.box", sub("{box: webfarm/debian12,",
                                                      "{box: /webfarm,")),
    _c("box-url", "boxes.debian12.box", sub("{box: webfarm/debian12,",
                                            "{box: 'https://x/y',")),
    _c("box-number", "boxes.debian12.box", sub("{box: webfarm/debian12,", "{box: 12,")),
    _c("box-key-space", "boxes.rocky 9", sub("  rocky9: {box:", "  rocky 9: {box:")),
    _c("box-family-list", "boxes.rocky9.family", sub("webfarm/rocky9, family: el9}",
                                                     "webfarm/rocky9, family: [el9]}")),
]

DESCRIPTIONS = [
    _c("net-desc-double-quote", "networks.front.description",
       sub(FRONT_DESC, "description: 'say \"hi\"'")),
    _c("net-desc-backslash", "networks.front.description",
       sub(FRONT_DESC, "description: 'a\\b'")),
    _c("net-desc-ruby-interpolation", "networks.front.description",
       sub(FRONT_DESC, "description: '#{`id`}'")),
    _c("net-desc-shell-dollar", "networks.front.description",
       sub(FRONT_DESC, "description: $(id)")),
    _c("net-desc-backtick", "networks.front.description",
       sub(FRONT_DESC, "description: 'a `id` b'")),
    _c("net-desc-newline", "networks.front.description",
       sub(FRONT_DESC, 'description: "a\\nb"')),
    _c("net-desc-201-chars", "networks.front.description",
       sub(FRONT_DESC, "description: " + "x" * 201), "at most 200"),
    _c("net-desc-list", "networks.front.description", sub(FRONT_DESC, "description: [a]")),
    _c("profile-desc-quote", "profiles.full.description",
       sub(FULL_DESC, "description: it's \"full\"")),
    _c("profile-desc-tab", "profiles.full.description", sub(FULL_DESC, 'description: "a\\tb"')),
    _c("profile-desc-escape-sequence", "profiles.full.description",
       sub(FULL_DESC, 'description: "\\e[31mred"')),
    _c("profile-desc-bidi-override", "profiles.full.description",
       sub(FULL_DESC, 'description: "abc\\u202edef"')),
]

PROVIDER = [
    _c("mgmt-name-space", f"{LV}.management_network_name",
       sub("management_network_name: webfarm-mgmt", "management_network_name: web mgmt")),
    _c("mgmt-name-quote", f"{LV}.management_network_name",
       sub("management_network_name: webfarm-mgmt", "management_network_name: 'a\"b'")),
    _c("mgmt-name-64-chars", f"{LV}.management_network_name",
       sub("management_network_name: webfarm-mgmt", f"management_network_name: {LONG}")),
    _c("mgmt-name-number", f"{LV}.management_network_name",
       sub("management_network_name: webfarm-mgmt", "management_network_name: 5")),
    _c("storage-pool-quote", f"{LV}.storage_pool_name", libvirt("storage_pool_name: 'a\"b'")),
    _c("storage-pool-slash", f"{LV}.storage_pool_name", libvirt("storage_pool_name: a/b")),
    _c("emulator-relative", f"{LV}.emulator_path", libvirt("emulator_path: qemu-kvm"),
       "absolute path"),
    _c("emulator-space", f"{LV}.emulator_path", libvirt("emulator_path: /usr/bin/qemu kvm")),
    _c("emulator-quote", f"{LV}.emulator_path", libvirt("emulator_path: '/usr/bin/q\"'")),
    _c("emulator-dotdot", f"{LV}.emulator_path", libvirt("emulator_path: /usr/../bin/qemu")),
    _c("emulator-interpolation", f"{LV}.emulator_path", libvirt("emulator_path: '/#{x}'")),
    _c("emulator-list", f"{LV}.emulator_path", libvirt("emulator_path: [/usr/bin/qemu]")),
    _c("driver-list", f"{LV}.driver", sub("driver: kvm ", "driver: [kvm] ")),
    _c("driver-boolean", f"{LV}.driver", sub("driver: kvm ", "driver: true ")),
    _c("mgmt-address-equals-front", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 192.168.56.0/24"), "overlaps lab network front"),
    _c("mgmt-address-contains-lab", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 192.168.0.0/16"), "overlaps"),
    _c("mgmt-address-loopback", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 127.0.0.0/24"), "loopback"),
    _c("mgmt-address-public", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 8.8.8.0/24"), "not a private range"),
    _c("mgmt-address-too-small", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 192.168.121.0/25"), "smaller than a /24"),
    _c("mgmt-address-host-bits", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 192.168.121.1/24"), "host bits"),
    _c("mgmt-address-no-prefix", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 192.168.121.0")),
    _c("mgmt-address-number", f"{LV}.management_network_address",
       sub(MGMT, "management_network_address: 3232266496")),
    _c("mgmt-default-overlaps-front", f"{LV}.management_network_address",
       both(sub(f"    {MGMT}\n", ""), sub("cidr: 192.168.56.0/24", "cidr: 192.168.121.0/24")),
       "the default 192.168.121.0/24"),
    _c("libvirt-boot-timeout-quoted", f"{LV}.boot_timeout", libvirt("boot_timeout: '1200'"),
       "60 to 7200"),
    _c("libvirt-boot-timeout-too-short", f"{LV}.boot_timeout", libvirt("boot_timeout: 59")),
    _c("libvirt-boot-timeout-too-long", f"{LV}.boot_timeout", libvirt("boot_timeout: 7201")),
    _c("libvirt-boot-timeout-fraction", f"{LV}.boot_timeout", libvirt("boot_timeout: 1200.5")),
    _c("libvirt-boot-timeout-boolean", f"{LV}.boot_timeout", libvirt("boot_timeout: true")),
    _c("vbox-boot-timeout-zero", f"{VB}.boot_timeout", vbox("boot_timeout: 0")),
    _c("vbox-boot-timeout-unit", f"{VB}.boot_timeout", vbox("boot_timeout: 10m")),
    _c("linked-clone-quoted-false", f"{VB}.linked_clone", vbox("linked_clone: 'false'"),
       "quoted string"),
    _c("linked-clone-quoted-true", f"{VB}.linked_clone", vbox('linked_clone: "true"'),
       "quoted string"),
    _c("linked-clone-number", f"{VB}.linked_clone", vbox("linked_clone: 0")),
    _c("linked-clone-quoted-yes", f"{VB}.linked_clone", vbox("linked_clone: 'yes'")),
    _c("unicast-quoted-true", "lab.vrrp.unicast",
       sub("unicast: false ", 'unicast: "true" '), "quoted string"),
    _c("unicast-quoted-false", "lab.vrrp.unicast", sub("unicast: false ", "unicast: 'false' ")),
    _c("unicast-number", "lab.vrrp.unicast", sub("unicast: false ", "unicast: 1 ")),
    _c("libvirt-misspelt-key", f"{LV}.boot_timout", libvirt("boot_timout: 1200"),
       "did you mean 'boot_timeout'?"),
    _c("virtualbox-a-list", VB, sub("  virtualbox: {}", "  virtualbox: []")),
    _c("provider-a-string", "provider", setv("provider", "libvirt")),
]

NETWORKS = [
    _c(f"cidr-{name}", "networks.front.cidr",
       sub("cidr: 192.168.56.0/24", f"cidr: {cidr}"), fragment)
    for name, cidr, fragment in [
        ("loopback", "127.0.0.0/24", "loopback"),
        ("link-local", "169.254.1.0/24", "link-local"),
        ("this-network", "0.0.0.0/24", "0.0.0.0/8"),
        ("multicast", "224.0.0.0/24", "multicast"),
        ("reserved", "240.0.0.0/24", "reserved"),
        ("public", "8.8.8.0/24", "not a private range"),
        ("cgnat", "100.64.0.0/24", "not a private range"),
        ("test-net", "192.0.2.0/24", "not a private range"),
        ("benchmark", "198.18.0.0/24", "not a private range"),
        ("just-outside-172-16", "172.32.0.0/24", "not a private range"),
        ("everything", "0.0.0.0/0", "not a private range"),
        ("number", "3232249856", "prefix length"),
        ("no-prefix", "192.168.56.0", "prefix length"),
        ("ipv6", "'fd00::/64'", "not a network"),
        ("list", "[192.168.56.0/24]", "not a network"),
    ]
]

VIPS = [
    _c("vip-holder-app", "vips.www.holder", sub(WWW, WWW.replace("holder: director",
                                                                 "holder: app")),
       "cannot hold"),
    _c("vip-holder-client", "vips.www.holder", sub(WWW, WWW.replace("holder: director",
                                                                    "holder: client"))),
    _c("vip-holder-dblb-on-front", "vips.www.holder",
       sub(WWW, WWW.replace("holder: director", "holder: dblb")), "not on the front network"),
    _c("vip-holder-director-on-db", "vips.db.holder",
       sub(DBVIP, DBVIP.replace("holder: dblb", "holder: director")), "not on the db"),
    *[_c(f"vip-pool-{role}", "vips.www.pool",
         sub(WWW, WWW.replace("pool: app", f"pool: {role}")), "cannot serve")
      for role in ("director", "dblb", "client", "monitor", "db_mgmt")],
    _c("vip-pool-db-sql-on-front", "vips.www.pool",
       sub(WWW, WWW.replace("pool: app", "pool: db_sql")), "not on the front network"),
    _c("vips-empty-mapping", "vips", setv("vips", {}), "no VIP is defined"),
    _c("vips-null", "vips", setv("vips", None), "no VIP is defined"),
    _c("vips-only-db", "vips", both(drop("vips.www"), drop("vips.media")),
       "no front VIP"),
    _c("vip-address-number", "vips.www.address",
       sub(WWW, WWW.replace("192.168.56.10", "3232249866"))),
    _c("vip-address-outside-network", "vips.www.address",
       sub(WWW, WWW.replace("192.168.56.10", "192.168.57.200")), "outside network front"),
    _c("vip-address-is-a-host", f"{FULL}.lb2.networks.front",
       sub(WWW, WWW.replace("192.168.56.10", "192.168.56.22")), "collides with VIP www"),
    _c("vip-address-broadcast", "vips.www.address",
       sub(WWW, WWW.replace("192.168.56.10", "192.168.56.255")), "broadcast"),
    _c("vip-port-quoted", "vips.www.port", sub(WWW, WWW.replace("port: 80", "port: '80'"))),
    _c("vip-port-zero", "vips.www.port", sub(WWW, WWW.replace("port: 80", "port: 0"))),
    _c("vip-network-boolean", "vips.www.network",
       sub(WWW, WWW.replace("network: front", "network: true"))),
]

PROFILES = [
    _c("mini-without-dns", MINI, both(*[sub(f"lb{i}: {MINI_LB}", f"lb{i}: {{roles: [director], "
                                              f"networks: {{front: 192.168.56.2")
                                          for i in (1, 2)]), "no host has the dns role"),
    _c("full-without-dns", FULL, both(sub("      ns1: {roles: [dns], networks: "
                                          "{front: 192.168.56.31}}\n", ""),
                                      sub("      ns2: {roles: [dns], networks: "
                                          "{front: 192.168.56.32}}\n", "")),
       "resolv.conf"),
    _c("profiles-empty", "profiles", setv("profiles", {}), "no profile"),
    _c("profile-hosts-a-list", f"{MINI}", setv("profiles.mini.hosts", ["lb1"]),
       "expected a mapping"),
    _c("host-memory-float", f"{FULL}.lb1.memory",
       sub(LB1, "lb1: {roles: [director], networks: {front: 192.168.56.21}, memory: 512.0}")),
    _c("host-cpus-quoted", f"{FULL}.lb1.cpus",
       sub(LB1, "lb1: {roles: [director], networks: {front: 192.168.56.21}, cpus: '2'}")),
    _c("host-address-number", f"{FULL}.lb1.networks.front",
       sub(LB1, "lb1: {roles: [director], networks: {front: 3232249877}}")),
    _c("host-address-leading-zeros", f"{FULL}.lb1.networks.front",
       sub(LB1, "lb1: {roles: [director], networks: {front: 192.168.056.21}}")),
    _c("role-sizes-a-list", "roles", setv("roles", ["app"])),
    _c("lab-a-list", "lab", setv("lab", ["webfarm"])),
]

DEEP_LIST = "[" * 30 + "]" * 30
FILES = [
    # the CLI may refuse an unreadable --lab itself (key --lab) before topology.load would
    _c("non-utf8-latin1", "line 35|--lab", to_bytes("public side", b"public s\xefde"), "UTF-8"),
    _c("utf16-file", "line 1|--lab", lambda t: t.encode("utf-16"), "UTF-8"),
    _c("folder", "is a folder|is a directory", lambda t: t, kind="dir"),
    _c("empty-path", "lab file name is empty|--lab: is empty", lambda t: t, kind="empty-path"),
    _c("missing-file", "file not found|does not exist", lambda t: t, kind="missing"),
    _c("top-level-list", "expected a mapping", whole("- lab\n- boxes\n")),
    _c("top-level-scalar", "expected a mapping", whole("hello\n")),
    _c("empty-file", "lab.name", whole("")),
    _c("deep-nested-lists", "line 35", sub(FRONT_DESC, f"description: {DEEP_LIST}"),
       "nested more than 20"),
    _c("deep-nested-mappings", "line 1", whole("a: " + "{a: " * 5000 + "}" * 5000 + "\n"),
       "nested more than 20"),
    _c("deep-unclosed-brackets", "line 1", whole("a: " + "[" * 100_000 + "\n"), "nest"),
    _c("billion-laughs", "line ", lambda t: billion_laughs(), "anchors and aliases"),
    _c("anchor-without-alias", "line 9", sub("lab:\n", "lab: &lab\n"), "anchors"),
    _c("alias-to-a-host", "line ", sub("      lb2: {roles: [director], networks: "
                                       "{front: 192.168.56.22}}",
                                       "      lb2: *lb1"), "anchors"),
    _c("merge-key-inline", "line ", sub(LB1, "lb1: {<<: {memory: 512}, roles: [director], "
                                             "networks: {front: 192.168.56.21}}"),
       "not a list, a mapping or '<<'"),
    _c("python-object-tag", "line 9",
       sub("lab:\n", "lab: !!python/object/apply:os.system ['id']\n"), "YAML tag"),
    _c("python-name-tag", "line ", lab_key("name", "!!python/name:os.system ''"), "YAML tag"),
    _c("custom-tag", "line ", lab_key("name", "!webfarm x"), "YAML tag"),
    _c("binary-tag", "line ", lab_key("name", "!!binary aGVsbG8="), "YAML tag"),
    _c("set-tag", "line ", sub("  virtualbox: {}", "  virtualbox: !!set {a}"), "YAML tag"),
    _c("omap-tag", "line ", sub("  virtualbox: {}", "  virtualbox: !!omap [{a: 1}]"),
       "YAML tag"),
    _c("date-as-host-name", f"{FULL}.2024-01-01", rename_host("client1", "2024-01-01")),
    _c("file-over-1-mb", "at most 1000000", append("#" + "x" * 1_000_001 + "\n")),
    _c("nul-character", "not allowed", to_bytes("public side", b"public\x00side")),
    _c("bell-character", "not allowed", to_bytes("public side", b"public\x07side")),
    _c("duplicate-host", "line ", sub(LB1, f"{LB1}\n      {LB1}"), "defined twice"),
    _c("two-documents", "line ", append("---\nlab: {}\n"), "YAML syntax error"),
    _c("tab-indentation", "line 10", sub("lab:\n  name:", "lab:\n\tname:"), "YAML syntax"),
    _c("complex-key", "line ", append("? [a, b]\n: 1\n"), "plain name"),
    _c("undefined-alias", "line ", lab_key("name", "*nothing"), "anchors"),
]

DB_ENGINE = [
    _c("db-engine-ndb-on-debian", "lab.db_engine",
       sub("db_engine: auto", "db_engine: ndb"), "not packaged for debian12"),
    _c("db-engine-galera-even-without-arbitrator", f"{FULL}",
       sub("      mgm1: {roles: [db_mgmt], networks: {db: 192.168.57.31}}\n", ""),
       "no db_mgmt host"),
    _c("db-engine-ndb-odd-data-nodes", f"{FULL}",
       both(sub("db_engine: auto", "db_engine: ndb"), sub("os: debian12", "os: almalinux9"),
            sub("      data2: {roles: [db_data], networks: {db: 192.168.57.52}}\n", "")),
       "even count"),
    _c("vip-read-port-on-director", "vips.www.read_port",
       sub(WWW, WWW.replace("pool: app}", "pool: app, read_port: 81}")), "only a VIP held by dblb"),
    _c("vip-read-port-is-write-port", "vips.db.read_port",
       sub(DBVIP, DBVIP.replace("pool: db_sql}", "pool: db_sql, read_port: 3306}")),
       "already this VIP's port"),
    _c("vip-stats-port-is-read-port", "vips.db.stats_port",
       sub(DBVIP, DBVIP.replace("pool: db_sql}", "pool: db_sql, read_port: 3307, "
                                "stats_port: 3307}")), "already this VIP's read_port"),
    _c("vip-read-port-text", "vips.db.read_port",
       sub(DBVIP, DBVIP.replace("pool: db_sql}", "pool: db_sql, read_port: reads}"))),
]

MINI_SCALE = "    scale: {app: 2}"
SCALE = [  # the scale rule (webfarm/tiers.py): roles.ROLE.range and profiles.P.scale
    _c("scale-range-outside-network", "roles.app.range.front",
       sub("front: 192.168.56.41-192.168.56.49", "front: 192.168.57.141-192.168.57.149"),
       "outside network front"),
    _c("scale-range-overlap", "roles.media.range.front",
       sub("front: 192.168.56.51-192.168.56.59", "front: 192.168.56.45-192.168.56.59"),
       "overlaps roles.app.range.front"),
    _c("scale-range-over-a-fixed-host", "profiles.full.hosts.mon1.networks.front",
       sub("front: 192.168.56.51-192.168.56.59", "front: 192.168.56.90-192.168.56.99"),
       "has no media role"),
    _c("scale-range-runs-out", "profiles.mini.scale.app",
       both(sub("front: 192.168.56.41-192.168.56.49", "front: 192.168.56.41-192.168.56.42"),
            sub(MINI_SCALE, "    scale: {app: 3}")), "has only 0 free"),
    _c("scale-below-the-pair", "profiles.mini.scale.app", sub(MINI_SCALE, "    scale: {app: 1}"),
       "redundant pair"),
    _c("scale-the-directors", "profiles.mini.scale.director",
       sub(MINI_SCALE, "    scale: {director: 3}"), "cannot scale"),
    _c("scale-the-monitor", "profiles.mini.scale.monitor",
       sub(MINI_SCALE, "    scale: {monitor: 2}"), "cannot scale"),
    _c("scale-dns-on-the-directors", "profiles.mini.scale.dns",
       sub(MINI_SCALE, "    scale: {dns: 3}"), "also carry director"),
    _c("scale-count-text", "profiles.mini.scale.app", sub(MINI_SCALE, "    scale: {app: many}"),
       "not a whole number"),
]

CASES: list[Case] = [*HOST_NAMES, *VIP_NAMES, *NETWORK_AND_PROFILE_NAMES, *LAB_NAME, *DOMAINS,
                     *BOXES, *DESCRIPTIONS, *PROVIDER, *NETWORKS, *VIPS, *PROFILES, *FILES,
                     *DB_ENGINE, *SCALE]


def write(case: Case, folder: Path) -> Path:
    """The case as a real file in ``folder`` (for ``kind`` dir: a folder; missing: nothing)."""
    path = folder / f"{case.id}.yml"
    if case.kind == "dir":
        path.mkdir()
    elif case.kind == "file":
        content = case.mutate(TEXT)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_labs_out")
    out.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        write(case, out)
    print(f"{len(CASES)} cases written to {out}")
