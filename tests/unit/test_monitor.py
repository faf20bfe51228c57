"""webfarm.monitor: what Nagios watches and from where (chapter 08-monitor), on the fixture
lab.yml and the real lab.yml's profiles."""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from webfarm import dbplan, lvs, monitor, topology, validation
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
REAL_LAB = ROOT / "lab.yml"
IP = ipaddress.IPv4Address


@pytest.fixture(scope="module")
def real_labs() -> dict[str, Lab]:
    raw = yaml.safe_load(REAL_LAB.read_text(encoding="utf-8"))
    return {p: topology.load(REAL_LAB, p) for p in raw["profiles"]}


@pytest.fixture(params=["fixture", "lab.yml"])
def any_lab(request: pytest.FixtureRequest, labs: dict[str, Lab], real_labs: dict[str, Lab],
            profile: str) -> Lab:
    return (labs if request.param == "fixture" else real_labs)[profile]


def _first_shared(lab: Lab, host_name: str) -> str:
    mon = lab.hosts_with("monitor")[0]
    host = lab.hosts[host_name]
    return next(n for n in lab.networks if host.on(n) and mon.on(n))


# -- where the monitor reaches each host ------------------------------------------------------


def test_the_monitor_is_the_monitor_host(any_lab: Lab) -> None:
    mon = monitor.monitor(any_lab)
    assert mon is not None and mon.name == "mon1"
    assert monitor.monitors(any_lab) == [mon]


def test_check_address_picks_the_shared_network(labs: dict[str, Lab]) -> None:
    full = labs["full"]
    h = full.hosts
    assert monitor.check_address(full, h["lb1"]) == IP("192.168.56.21")  # front only
    assert monitor.check_address(full, h["dblb1"]) == IP("192.168.57.21")  # db only
    assert monitor.check_address(full, h["sql2"]) == IP("192.168.57.62")
    # on both: the first network of lab.yml (front), like the monitor itself
    assert monitor.check_address(full, h["app1"]) == IP("192.168.56.41")
    assert monitor.check_address(full, h["mon1"]) == IP("192.168.56.91")
    assert monitor.shared_network(full, h["data1"]) == "db"
    assert monitor.shared_network(full, h["client1"]) == "front"
    mini = labs["mini"]
    assert monitor.check_address(mini, mini.hosts["db1"]) == IP("192.168.57.51")


def test_check_address_of_every_host_is_on_a_shared_network(any_lab: Lab) -> None:
    mon = monitor.monitor(any_lab)
    assert mon is not None
    for host in any_lab.hosts.values():
        net = _first_shared(any_lab, host.name)
        assert monitor.shared_network(any_lab, host) == net
        assert monitor.check_address(any_lab, host) == host.addresses[net]
        assert monitor.check_address(any_lab, host) in any_lab.networks[net].cidr


def test_nrpe_allowed_is_the_monitor_on_the_hosts_networks(labs: dict[str, Lab]) -> None:
    full = labs["full"]
    h = full.hosts
    assert monitor.nrpe_allowed(full, h["lb1"]) == [IP("192.168.56.91")]
    assert monitor.nrpe_allowed(full, h["dblb2"]) == [IP("192.168.57.91")]
    assert monitor.nrpe_allowed(full, h["app2"]) == [IP("192.168.56.91"), IP("192.168.57.91")]
    # the monitor asks its own NRPE through its own addresses
    assert monitor.nrpe_allowed(full, h["mon1"]) == [IP("192.168.56.91"), IP("192.168.57.91")]


def test_nrpe_allowed_only_monitor_addresses(any_lab: Lab) -> None:
    mon = monitor.monitor(any_lab)
    assert mon is not None
    mine = set(mon.addresses.values())
    for host in any_lab.hosts.values():
        allowed = monitor.nrpe_allowed(any_lab, host)
        assert allowed and set(allowed) <= mine, host.name
        assert monitor.check_address(any_lab, host) in {
            host.addresses[n] for n in host.networks if mon.on(n)}


def test_ui_address_is_the_monitors_front_address(any_lab: Lab) -> None:
    assert monitor.ui_address(any_lab) == any_lab.hosts["mon1"].addresses["front"]


# -- Nagios hosts and groups ------------------------------------------------------------------


def test_hosts_are_the_vms_then_the_vips(any_lab: Lab) -> None:
    hosts = monitor.hosts(any_lab)
    names = [h.name for h in hosts]
    assert names == [*any_lab.hosts, *(f"{v}.{any_lab.domain}" for v in any_lab.vips)]
    assert len(set(names)) == len(names)
    by_name = {h.name: h for h in hosts}
    for vm in any_lab.hosts.values():
        nh = by_name[vm.name]
        assert nh.address == monitor.check_address(any_lab, vm)
        assert nh.groups == vm.roles and nh.vip is None and nh.parents == ()
        assert nh.alias == any_lab.fqdn(vm)
    for vip in any_lab.vips.values():
        nh = by_name[f"{vip.name}.{any_lab.domain}"]
        assert "." in nh.name, "a VIP host never clashes with a lab host name (no dot)"
        assert nh.address == vip.address and nh.vip == vip and nh.groups == ("vips",)
        assert nh.parents == tuple(h.name for h in any_lab.hosts_with(vip.holder))
        assert len(nh.parents) == 2 and set(nh.parents) <= set(any_lab.hosts)
        assert monitor.holders_addresses(any_lab, vip) == [
            monitor.check_address(any_lab, any_lab.hosts[p]) for p in nh.parents]


def test_vip_host_names(labs: dict[str, Lab]) -> None:
    full = labs["full"]
    assert [monitor.vip_host_name(full, v) for v in full.vips.values()] == \
        ["www.webfarm.test", "media.webfarm.test", "db.webfarm.test"]
    www = {h.name: h for h in monitor.hosts(full)}["www.webfarm.test"]
    assert www.parents == ("lb1", "lb2") and www.address == IP("192.168.56.10")
    db = {h.name: h for h in monitor.hosts(full)}["db.webfarm.test"]
    assert db.parents == ("dblb1", "dblb2")


def test_host_groups_per_role_then_vips(any_lab: Lab) -> None:
    groups = monitor.host_groups(any_lab)
    assert list(groups)[-1] == "vips"
    assert groups["vips"] == [f"{v}.{any_lab.domain}" for v in any_lab.vips]
    for role, members in groups.items():
        if role != "vips":
            assert members == [h.name for h in any_lab.hosts_with(role)], role
    roles_used = {r for h in any_lab.hosts.values() for r in h.roles}
    assert set(groups) == roles_used | {"vips"}


# -- services and NRPE commands ---------------------------------------------------------------


def test_services_are_unique_and_in_known_tiers(any_lab: Lab) -> None:
    services = monitor.services(any_lab)
    pairs = [(s.host, s.description) for s in services]
    assert len(pairs) == len(set(pairs))
    names = {h.name for h in monitor.hosts(any_lab)}
    for s in services:
        assert s.tier in monitor.TIERS, s
        assert s.host in names, s
        assert bool(s.nrpe) == s.command.startswith("webfarm_nrpe!"), s


def test_every_nrpe_service_is_defined_on_its_host(any_lab: Lab) -> None:
    plugins = "/usr/lib/nagios/plugins"
    defined = {h.name: {c.name for c in monitor.nrpe_commands(any_lab, h, plugins)}
               for h in any_lab.hosts.values()}
    for s in monitor.services(any_lab):
        if s.nrpe:
            assert s.nrpe in defined[s.host], s
    for vip in any_lab.vips.values():
        for holder in any_lab.hosts_with(vip.holder):
            assert f"webfarm_holds_{vip.name}" in defined[holder.name]


def test_nrpe_commands_take_no_argument_from_the_network(any_lab: Lab) -> None:
    for host in any_lab.hosts.values():
        commands = monitor.nrpe_commands(any_lab, host, "/usr/lib64/nagios/plugins")
        assert len({c.name for c in commands}) == len(commands)
        for c in commands:
            assert "$" not in c.line and "\n" not in c.line, c
            assert c.line.startswith(("/usr/lib64/nagios/plugins/", monitor.PLUGIN_DIR)), c


def test_director_ipvs_commands_list_the_pools(labs: dict[str, Lab]) -> None:
    full = labs["full"]
    cmds = {c.name: c.line for c in monitor.nrpe_commands(full, full.hosts["lb1"], "/p")}
    assert cmds["webfarm_ipvs_www"] == \
        f"{monitor.PLUGIN_DIR}/check_webfarm_ipvs 192.168.56.10 80 192.168.56.41 192.168.56.42"
    assert cmds["webfarm_ipvs_media"].endswith("192.168.56.11 80 192.168.56.51 192.168.56.52")
    assert len([n for n in cmds if n.startswith("webfarm_ipvs_")]) == \
        len(lvs.virtual_services(full))
    app = {c.name for c in monitor.nrpe_commands(full, full.hosts["app1"], "/p")}
    assert app == {"webfarm_load", "webfarm_disk", "webfarm_swap", "webfarm_procs",
                   "webfarm_time"}


def test_galera_arbitrator_and_ndb_checks(labs: dict[str, Lab]) -> None:
    mini = labs["mini"]
    assert mini.engine == dbplan.GALERA
    mon_cmds = {c.name for c in monitor.nrpe_commands(mini, mini.hosts["mon1"], "/p")}
    assert "webfarm_garbd" in mon_cmds  # two Galera nodes: mon1 (db_mgmt) runs garbd
    size = next(s for s in monitor.services(mini)
                if s.host == "db1" and s.description == "Galera cluster size")
    assert size.command.endswith("!3!2")  # two nodes + garbd; a majority is 2
    raw = yaml.safe_load((ROOT / "tests/fixtures/lab.yml").read_text(encoding="utf-8"))
    raw["lab"]["os"] = "almalinux9"
    ndb = topology.build(raw, "lab.yml", "full")
    assert ndb.engine == dbplan.NDB
    got = {(s.host, s.description) for s in monitor.services(ndb) if s.tier == "db"}
    assert got == {("mgm1", "ndb_mgmd"), ("data1", "ndbd"), ("data2", "ndbd"),
                   ("sql1", "MySQL"), ("sql2", "MySQL")}


def test_vip_services(labs: dict[str, Lab]) -> None:
    full = labs["full"]
    vip_services = [(s.host, s.description, s.command) for s in monitor.services(full)
                    if s.tier == "vips"]
    assert vip_services == [
        ("www.webfarm.test", "VIP holder",
         "webfarm_vip_holder!www!lb1=192.168.56.21,lb2=192.168.56.22"),
        ("www.webfarm.test", "HTTP", "webfarm_http_vip!192.168.56.10!www.webfarm.test!80"),
        ("media.webfarm.test", "VIP holder",
         "webfarm_vip_holder!media!lb1=192.168.56.21,lb2=192.168.56.22"),
        ("media.webfarm.test", "HTTP",
         "webfarm_http_vip!192.168.56.11!media.webfarm.test!80"),
        ("db.webfarm.test", "VIP holder",
         "webfarm_vip_holder!db!dblb1=192.168.57.21,dblb2=192.168.57.22"),
        ("db.webfarm.test", "SQL write", "webfarm_mysql!192.168.57.10!3306"),
        ("db.webfarm.test", "SQL read", "webfarm_mysql!192.168.57.10!3307"),
    ]


def test_dns_expectations_cover_every_host_and_vip(any_lab: Lab) -> None:
    names = {n for n, _ in monitor.dns_expectations(any_lab)}
    for host in any_lab.hosts.values():
        assert any_lab.fqdn(host) in names
    for vip in any_lab.vips.values():
        assert monitor.vip_host_name(any_lab, vip) in names


# -- a lab without a monitor ------------------------------------------------------------------


def _without_monitor(data: dict[str, Any]) -> Lab:
    raw = copy.deepcopy(data)
    for p in raw["profiles"].values():
        p["hosts"] = {n: h for n, h in p["hosts"].items() if "monitor" not in h["roles"]}
    return topology.build(raw, "lab.yml", "full")


def test_a_lab_without_a_monitor_watches_nothing(data: dict[str, Any]) -> None:
    lab = _without_monitor(data)
    assert monitor.monitor(lab) is None and monitor.monitors(lab) == []
    assert monitor.hosts(lab) == []
    assert monitor.services(lab) == []
    assert monitor.service_count(lab) == 0
    assert monitor.host_groups(lab) == {}
    assert monitor.ui_address(lab) is None
    for host in lab.hosts.values():
        assert monitor.shared_network(lab, host) is None
        assert monitor.nrpe_allowed(lab, host) == []
        with pytest.raises(KeyError, match="shares no network with the monitor"):
            monitor.check_address(lab, host)


# -- validation: every host shares a network with the monitor ---------------------------------


def test_validation_refuses_a_host_that_shares_no_network_with_the_monitor(
        labs: dict[str, Lab]) -> None:
    """No lab.yml can reach this check today (the monitor role needs front and db, the only
    networks, and every role needs one of them): built past the per-host checks, to pin the
    profile check itself."""
    full = labs["full"]
    hosts = dict(full.hosts)
    hosts["mon1"] = replace(hosts["mon1"], addresses={"front": hosts["mon1"].addresses["front"]})
    c = validation.Checker()
    validation._check_profile(c, "profiles.full.hosts", hosts, full.vips)
    lonely = [p for p in c.problems if "shares no network with the monitor" in p.message]
    db_only = [h.name for h in full.hosts.values() if h.networks == ("db",)]
    assert db_only and sorted(p.message.split()[0] for p in lonely) == sorted(db_only)
    for p in lonely:
        assert p.key == "profiles.full.hosts"
        assert "mon1" in p.message and "chapter 08-monitor" in p.message
        assert "mon1" in p.fix and "network" in p.fix


def test_validation_accepts_every_profile_as_is(labs: dict[str, Lab]) -> None:
    for lab in labs.values():
        c = validation.Checker()
        validation._check_profile(c, f"profiles.{lab.profile}.hosts", dict(lab.hosts),
                                  lab.vips)
        assert not [p for p in c.problems if "monitor" in p.message], c.problems
