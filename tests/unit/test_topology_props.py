"""Property tests: any generated valid topology validates and renders; any single mistake in
one is a LabFileError (never another exception)."""

from __future__ import annotations

import copy
import functools
import ipaddress
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from webfarm import render, topology
from webfarm import secrets as lab_secrets
from webfarm.roles import ROLES
from webfarm.state import State
from webfarm.topology import LabFileError

LAB_FILE = Path(__file__).resolve().parents[2] / "tests/fixtures/lab.yml"
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CIDRS = ["192.168.56.0/24", "192.168.57.0/24", "192.168.58.0/24", "10.10.0.0/24",
         "10.20.30.0/24", "172.16.5.0/24"]
BOXES = {
    "debian12": {"box": "webfarm/debian12", "family": "debian12"},
    "almalinux9": {"box": "webfarm/almalinux9", "family": "el9"},
    "rocky9": {"box": "webfarm/rocky9", "family": "el9"},
}
# role -> (fewest, most) hosts carrying it
COUNTS = {"director": (2, 3), "dns": (2, 2), "app": (2, 3), "media": (2, 2), "dblb": (2, 2),
          "db_mgmt": (1, 1), "db_data": (2, 2), "db_sql": (2, 2), "monitor": (1, 1),
          "client": (0, 2)}
SECRETS = {name: f"test-{name}"[:8] for name in lab_secrets.GENERATORS}


@st.composite
def lab_data(draw: st.DrawFn) -> dict[str, Any]:
    """Raw lab.yml data (as yaml.safe_load gives it) for one valid profile ``gen``."""
    front_cidr, db_cidr = draw(st.lists(st.sampled_from(CIDRS), min_size=2, max_size=2,
                                        unique=True))
    cidrs = {"front": ipaddress.IPv4Network(front_cidr), "db": ipaddress.IPv4Network(db_cidr)}

    # role slots, then hosts: each slot goes into a bin; a bin never holds a role twice
    slots = [role for role, (lo, hi) in COUNTS.items()
             for _ in range(draw(st.integers(lo, hi), label=f"{role} hosts"))]
    colocate = draw(st.booleans(), label="co-locate roles")
    bins: list[list[str]] = []
    for role in slots:
        choice = draw(st.integers(0, len(bins))) if colocate and bins else len(bins)
        if choice < len(bins) and role not in bins[choice]:
            bins[choice].append(role)
        else:
            bins.append([role])
    order = draw(st.permutations(range(len(bins))), label="host order")
    bins = [bins[i] for i in order]

    # addresses: distinct offsets per network for the VIPs and the hosts, never .0/.1/.255
    needs = {net: [i for i, roles in enumerate(bins)
                   if any(net in ROLES[r].networks for r in roles)] for net in cidrs}
    vip_count = {"front": 2, "db": 1}
    offsets = {net: draw(st.lists(st.integers(2, 254), unique=True,
                                  min_size=len(needs[net]) + vip_count[net],
                                  max_size=len(needs[net]) + vip_count[net]),
                         label=f"{net} offsets") for net in cidrs}

    def addr(net: str, offset: int) -> str:
        return str(cidrs[net].network_address + offset)

    vips = {
        "www": {"network": "front", "address": addr("front", offsets["front"][0]), "port": 80,
                "holder": "director", "pool": "app"},
        "media": {"network": "front", "address": addr("front", offsets["front"][1]),
                  "port": draw(st.integers(1, 65535)), "holder": "director", "pool": "media"},
        "db": {"network": "db", "address": addr("db", offsets["db"][0]), "port": 3306,
               "holder": "dblb", "pool": "db_sql"},
    }
    free = {net: iter(offsets[net][vip_count[net]:]) for net in cidrs}

    sizes = {role: {"memory": draw(st.integers(r.min_memory, 1024)), "cpus": 1}
             for role, r in ROLES.items()}
    hosts: dict[str, Any] = {}
    for i, roles in enumerate(bins):
        nets = [n for n in ("front", "db") if any(n in ROLES[r].networks for r in roles)]
        if draw(st.booleans()):
            nets.reverse()  # interfaces follow the order the host lists its networks
        host: dict[str, Any] = {"roles": roles,
                                "networks": {n: addr(n, next(free[n])) for n in nets}}
        if draw(st.booleans()):
            host["memory"] = draw(st.integers(max(ROLES[r].min_memory for r in roles), 2048))
        if draw(st.booleans()):
            host["cpus"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            host["os"] = draw(st.sampled_from(sorted(BOXES)))
        name = draw(st.sampled_from(["h", "node", "vm-"]), label="name prefix") + str(i + 1)
        hosts[name] = host

    db_engine = draw(st.sampled_from(["auto", "ndb", "galera"]))
    if db_engine == "ndb":  # NDB is packaged for EL9 only: its hosts run an EL9 box
        for host in hosts.values():
            if {"db_mgmt", "db_data", "db_sql"} & set(host["roles"]):
                host["os"] = draw(st.sampled_from(["almalinux9", "rocky9"]))
    return {
        "lab": {"name": "gen", "domain": draw(st.sampled_from(["webfarm.test", "lab.example"])),
                "os": draw(st.sampled_from(sorted(BOXES))), "profile": "gen",
                "vrrp": {"advert_int": draw(st.sampled_from([1, 2, 0.5])),
                         "unicast": draw(st.booleans())},
                "db_engine": db_engine},
        "boxes": copy.deepcopy(BOXES),
        "provider": {"libvirt": {"driver": draw(st.sampled_from(["kvm", "qemu"]))},
                     "virtualbox": {}},
        "networks": {"front": {"cidr": front_cidr}, "db": {"cidr": db_cidr}},
        "vips": vips,
        "roles": sizes,
        "profiles": {"gen": {"description": "generated", "hosts": hosts}},
    }


def _hosts(data: dict[str, Any]) -> dict[str, Any]:
    return data["profiles"]["gen"]["hosts"]


@SETTINGS
@given(lab_data())
def test_generated_topology_validates(data: dict[str, Any]) -> None:
    lab = topology.build(data, "lab.yml")
    assert set(lab.hosts) == set(_hosts(data))
    for role, (lo, _hi) in COUNTS.items():
        assert len(lab.hosts_with(role)) >= lo
    for name, host in lab.hosts.items():
        raw = _hosts(data)[name]
        assert host.memory >= max(ROLES[r].min_memory for r in host.roles)
        assert list(host.networks) == list(raw["networks"])
        for net in host.networks:
            assert host.interface(net) == f"eth{list(raw['networks']).index(net) + 1}"
    for role in ("director", "dblb"):
        prios = [lab.priority(h, role) for h in lab.hosts_with(role)]
        assert prios[0] == 150 and prios == sorted(prios, reverse=True)


_shared_environment = functools.cache(render.environment)


@SETTINGS
@given(lab_data())
def test_generated_topology_renders(data: dict[str, Any]) -> None:
    lab = topology.build(data, "lab.yml")
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        # render_host builds a fresh jinja Environment (and recompiles every template) per
        # host; one shared environment gives the same output several times faster.
        mp.setattr(render, "environment", _shared_environment)
        out = Path(tmp) / "hosts"
        written = render.render_lab(lab, SECRETS, State(), out)
        assert set(written) == set(lab.hosts)
        for name, paths in written.items():
            env_sh = out / name / "env.sh"
            assert env_sh in paths
            text = env_sh.read_text(encoding="utf-8")
            assert f"export WF_HOST={name}\n" in text
            for net, address in lab.hosts[name].addresses.items():
                assert f"export WF_ADDR_{net.upper()}={address}\n" in text


@SETTINGS
@given(lab_data())
def test_generated_topology_gives_a_vagrantfile(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lab_file = Path(tmp) / "lab.yml"
        lab_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        text = render.vagrantfile(lab_file)
    # format-agnostic (the generator's layout is the renderer's business): every host name and
    # the profile appear as quoted strings
    for name in _hosts(data):
        assert f'"{name}"' in text
    assert '"gen"' in text


# ---------------------------------------------------------------------------------------------
# One mistake in a valid topology: always a LabFileError, never another exception


def _pick(draw: st.DrawFn, items: list[Any]) -> Any:
    return draw(st.sampled_from(sorted(items)))


@st.composite
def broken_lab(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    data = draw(lab_data())
    hosts = _hosts(data)
    kind = draw(st.sampled_from(["duplicate-address", "drop-pair-member", "vip-on-host",
                                 "outside-network", "unknown-role", "memory-too-low"]))
    if kind == "duplicate-address":
        net = draw(st.sampled_from(["front", "db"]))
        on_net = [n for n, h in hosts.items() if net in h["networks"]]
        a, b = draw(st.permutations(sorted(on_net)))[:2]
        hosts[b]["networks"][net] = hosts[a]["networks"][net]
        expect = "duplicate address"
    elif kind == "drop-pair-member":
        role = draw(st.sampled_from([r.name for r in ROLES.values() if r.pair]))
        members = [n for n, h in hosts.items() if role in h["roles"]]
        for name in members[1:]:  # leave exactly one
            hosts[name]["roles"].remove(role)
            if not hosts[name]["roles"]:
                del hosts[name]
        expect = f"the {role} pair has one member"
    elif kind == "vip-on-host":
        vip = data["vips"][draw(st.sampled_from(sorted(data["vips"])))]
        on_net = [n for n, h in hosts.items() if vip["network"] in h["networks"]]
        hosts[_pick(draw, on_net)]["networks"][vip["network"]] = vip["address"]
        expect = "collides with VIP"
    elif kind == "outside-network":
        name = _pick(draw, list(hosts))
        net = next(iter(hosts[name]["networks"]))
        hosts[name]["networks"][net] = "203.0.113.7"
        expect = "outside network"
    elif kind == "unknown-role":
        name = _pick(draw, list(hosts))
        hosts[name]["roles"].append("webserver")
        expect = "unknown role 'webserver'"
    else:
        name = _pick(draw, list(hosts))
        hosts[name]["memory"] = 128
        expect = "below the"
    return data, expect


@SETTINGS
@given(broken_lab())
def test_single_mistake_is_a_lab_file_error(case: tuple[dict[str, Any], str]) -> None:
    data, expect = case
    with pytest.raises(LabFileError) as info:
        topology.build(data, "lab.yml")
    text = str(info.value)
    assert expect in text, text
    for line in text.splitlines():
        assert line.startswith("lab.yml") and "Fix:" in line, line


# ---------------------------------------------------------------------------------------------
# Junk anywhere in the real lab.yml: a Lab or a LabFileError, never a traceback

_REAL = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000),
                     st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=12), st.sampled_from(["front", "db", "director", "full",
                                                            "192.168.56.21", "10.0.0.1/8"]))
_junk = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_PATHS = _paths(_REAL)


@SETTINGS
@given(st.sampled_from(_PATHS), _junk)
@example(("vips", "media", "holder"), [])
@example(("profiles", "full", "hosts", "sql1", "roles", 0), {"a": 1})
@example(("vips", "www", "network"), ["db"])
@example(("lab", "profile"), {"x": {}})
@example(("lab", "os"), {})
def test_junk_anywhere_never_raises_anything_else(path: tuple[Any, ...], junk: Any) -> None:
    data = copy.deepcopy(_REAL)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = junk
    try:
        topology.build(data, "lab.yml")
    except LabFileError as err:
        for line in str(err).splitlines():
            assert line.startswith("lab.yml") and "Fix:" in line, line
