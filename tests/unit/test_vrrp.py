"""webfarm.vrrp: the VRRP instances of a keepalived pair (router ids, priorities, peers)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from webfarm import topology, vrrp
from webfarm.topology import Vip

ROLE = "director"


def _directors_on_db(lab):
    """The full profile with the directors also on the db network, holding a db VIP (which
    validation refuses today: built past it, to pin the VRRP layout of two networks)."""
    hosts = dict(lab.hosts)
    for i, name in enumerate(("lb1", "lb2")):
        address = ipaddress.IPv4Address(f"192.168.57.{201 + i}")
        hosts[name] = replace(hosts[name], addresses={**hosts[name].addresses, "db": address})
    api = Vip("api", "db", ipaddress.IPv4Address("192.168.57.11"), 8081, ROLE, "app")
    return replace(lab, hosts=hosts, vips={**lab.vips, "api": api})


def test_full_profile_directors(labs):
    lab = labs["full"]
    lb1, lb2 = lab.hosts["lb1"], lab.hosts["lb2"]
    (one,) = vrrp.instances(lab, lb1, ROLE)
    assert (one.name, one.network, one.interface) == ("VI_FRONT", "front", "eth1")
    assert one.router_id == 51  # front is the first network of lab.yml
    assert [v.name for v in one.vips] == ["www", "media"]
    assert one.source == lb1.addresses["front"]
    assert one.peers == (lb2.addresses["front"],)
    (two,) = vrrp.instances(lab, lb2, ROLE)
    assert (one.priority, two.priority) == (150, 100)  # lab.yml order: lb1 is the master
    assert two.router_id == one.router_id  # both members agree on the id
    assert vrrp.sync_instance(lab, lb2, ROLE) == two


def test_router_ids_are_distinct_per_network_and_fit_a_byte(labs):
    for lab in labs.values():
        ids = [vrrp.router_id(lab, n) for n in lab.networks]
        assert len(set(ids)) == len(ids)
        assert all(1 <= i <= vrrp.MAX_ROUTER_ID for i in ids)
    assert vrrp.router_id(labs["full"], "db") == 52


def test_router_ids_are_stable_when_hosts_and_vips_change(data, labs):
    before = {n: vrrp.router_id(labs["full"], n) for n in ("front", "db")}
    data["profiles"]["full"]["hosts"]["lb3"] = {"roles": [ROLE],
                                                "networks": {"front": "192.168.56.23"}}
    del data["vips"]["media"]
    lab = topology.build(data, "lab.yml", "full")
    assert {n: vrrp.router_id(lab, n) for n in ("front", "db")} == before
    assert [i.router_id for i in vrrp.instances(lab, lab.hosts["lb3"], ROLE)] == [51]
    assert vrrp.instances(lab, lab.hosts["lb3"], ROLE)[0].priority == 50


def test_one_instance_per_network_carrying_the_roles_vips(labs):
    lab = _directors_on_db(labs["full"])
    lb1, lb2 = lab.hosts["lb1"], lab.hosts["lb2"]
    insts = vrrp.instances(lab, lb1, ROLE)
    assert [(i.name, i.router_id, i.interface) for i in insts] == [
        ("VI_FRONT", 51, "eth1"), ("VI_DB", 52, "eth2")]
    assert [v.name for v in insts[1].vips] == ["api"]
    assert insts[1].source == ipaddress.IPv4Address("192.168.57.201")
    assert insts[1].peers == (lb2.addresses["db"],)  # the peer's address on that network
    assert vrrp.sync_instance(lab, lb1, ROLE).name == "VI_FRONT"  # the first one


def test_unicast_peers_are_the_other_members_only(data):
    data["lab"]["vrrp"]["unicast"] = True
    data["profiles"]["full"]["hosts"]["lb3"] = {"roles": [ROLE],
                                                "networks": {"front": "192.168.56.23"}}
    lab = topology.build(data, "lab.yml", "full")
    (inst,) = vrrp.instances(lab, lab.hosts["lb2"], ROLE)
    assert inst.unicast
    assert inst.peers == (lab.hosts["lb1"].addresses["front"],
                          lab.hosts["lb3"].addresses["front"])


@pytest.mark.parametrize(("advert", "version", "shown"),
                         [(1, 2, "1"), (2.0, 2, "2"), (0.5, 3, "0.5"), (1.5, 3, "1.5")])
def test_whole_seconds_keep_vrrp2_fractions_need_vrrp3(data, advert, version, shown):
    data["lab"]["vrrp"]["advert_int"] = advert
    lab = topology.build(data, "lab.yml", "full")
    assert vrrp.version(lab) == version
    assert str(vrrp.advert_int(lab)) == shown


def test_address_label_fits_an_interface_name():
    assert vrrp.label("eth1", "www") == "eth1:www"
    long = vrrp.label("eth1", "a-very-long-service-name")
    assert long == "eth1:a-very-lon" and len(long) == vrrp.IFNAMSIZ


def test_db_balancers_have_their_own_router_id_and_secret(labs):
    """The dblb pair's instance on the db network: id 62 (never a directors' id on any
    network), its own password key; priorities follow lab.yml order."""
    for lab in labs.values():
        first, second = lab.hosts_with("dblb")
        (one,) = vrrp.instances(lab, first, "dblb")
        (two,) = vrrp.instances(lab, second, "dblb")
        assert (one.name, one.network, one.router_id) == ("VI_DB", "db", 62)
        assert two.router_id == one.router_id
        assert one.auth_secret == "vrrp_auth_dblb" != vrrp.auth_secret(ROLE)
        assert one.router_id not in {vrrp.router_id(lab, n, ROLE) for n in lab.networks}
        assert (one.priority, two.priority) == (150, 100)
        assert [str(v.address) for v in one.vips] == [str(lab.vips["db"].address)]
