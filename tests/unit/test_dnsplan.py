"""webfarm.dnsplan: who serves the lab's zones, which zones exist, what they hold."""

from __future__ import annotations

import ipaddress

from webfarm import dnsplan, render, topology


def test_full_profile_layout(labs):
    lab = labs["full"]
    h = lab.hosts
    assert dnsplan.primary(lab).name == "ns1"  # the first dns host of lab.yml
    assert [s.name for s in dnsplan.secondaries(lab)] == ["ns2"]
    assert [s.name for s in dnsplan.name_servers(lab)] == ["ns1", "ns2"]  # primary first
    assert dnsplan.server_role(lab, h["ns1"]) == "primary"
    assert dnsplan.server_role(lab, h["ns2"]) == "secondary"
    assert dnsplan.also_notify(lab) == [h["ns2"].addresses["front"]]
    assert dnsplan.masters(lab) == [h["ns1"].addresses["front"]]
    assert [p.name for p in dnsplan.peers(lab, h["ns2"])] == ["ns1"]
    assert dnsplan.key_name(lab) == "webfarm-xfer"


def test_mini_profile_primary_is_the_first_dns_host(labs):
    lab = labs["mini"]
    assert dnsplan.primary(lab).name == "lb1"  # director and dns on the same VM
    assert [s.name for s in dnsplan.secondaries(lab)] == ["lb2"]


def test_primary_follows_lab_yml_order(data):
    hosts = data["profiles"]["full"]["hosts"]
    data["profiles"]["full"]["hosts"] = {"ns2": hosts.pop("ns2"), **hosts}
    lab = topology.build(data, "lab.yml", "full")
    assert dnsplan.primary(lab).name == "ns2"
    assert [s.name for s in dnsplan.secondaries(lab)] == ["ns1"]


def test_three_name_servers_primary_notifies_both_secondaries(data):
    data["profiles"]["full"]["hosts"]["client1"]["roles"] = ["client", "dns"]
    lab = topology.build(data, "lab.yml", "full")
    h = lab.hosts
    assert [s.name for s in dnsplan.name_servers(lab)] == ["ns1", "ns2", "client1"]
    assert dnsplan.also_notify(lab) == [h["ns2"].addresses["front"],
                                        h["client1"].addresses["front"]]
    assert dnsplan.masters(lab) == [h["ns1"].addresses["front"]]  # one primary, always


def test_zones_are_the_domain_then_one_reverse_zone_per_network(lab):
    zones = dnsplan.zones(lab)
    assert zones[0] == dnsplan.Zone("webfarm.test", "forward.zone", None)
    assert zones[1:] == [
        dnsplan.Zone("56.168.192.in-addr.arpa", "reverse-front.zone", "front"),
        dnsplan.Zone("57.168.192.in-addr.arpa", "reverse-db.zone", "db"),
    ]
    assert len({z.file for z in zones}) == len(zones)  # one file per zone


def test_reverse_zone_and_ptr_round_to_whole_octets():
    net24 = ipaddress.IPv4Network("192.168.56.0/24")
    net16 = ipaddress.IPv4Network("10.20.0.0/16")
    addr = ipaddress.IPv4Address("192.168.56.21")
    assert dnsplan.reverse_zone(net24) == "56.168.192.in-addr.arpa"
    assert dnsplan.ptr(addr, net24) == "21"
    assert dnsplan.reverse_zone(net16) == "20.10.in-addr.arpa"
    assert dnsplan.ptr(ipaddress.IPv4Address("10.20.3.4"), net16) == "4.3"
    # the PTR owner name + the zone spell the address backwards
    assert f"{dnsplan.ptr(addr, net24)}.{dnsplan.reverse_zone(net24)}" == addr.reverse_pointer


def test_address_names(labs):
    h = labs["full"].hosts
    assert dnsplan.address_name(h["app1"], "front") == "app1"  # primary address: bare name
    assert dnsplan.address_name(h["app1"], "db") == "app1-db"
    assert dnsplan.address_name(h["sql1"], "db") == "sql1"  # db-only: db is its primary


def test_every_host_address_and_vip_has_a_forward_and_a_reverse_record(lab):
    forward = dnsplan.host_records(lab) + dnsplan.vip_records(lab)
    want = {(str(a), n) for h in lab.hosts.values() for n, a in h.addresses.items()}
    want |= {(str(v.address), v.network) for v in lab.vips.values()}
    assert {(str(r.address), r.network) for r in forward} == want
    reverse = [r for net in lab.networks
               for r in dnsplan.host_records(lab, net) + dnsplan.vip_records(lab, net)]
    assert sorted(reverse, key=str) == sorted(forward, key=str)
    for r in reverse:  # each PTR lands in the reverse zone of its own network
        assert r.address in lab.networks[r.network].cidr


def test_forward_names_are_unique(lab):
    names = [r.name for r in dnsplan.host_records(lab) + dnsplan.vip_records(lab)]
    assert len(names) == len(set(names))
    assert {"www", "media", "db", "app1", "app1-db", "mon1-db"} <= set(names)


def test_records_of_one_network(labs):
    lab = labs["full"]
    db = dnsplan.host_records(lab, "db")
    assert [r.name for r in db][:3] == ["app1-db", "app2-db", "dblb1"]  # lab.yml order
    assert [r.name for r in dnsplan.vip_records(lab, "db")] == ["db"]
    assert [r.name for r in dnsplan.vip_records(lab, "front")] == ["www", "media"]


def test_every_zone_has_a_template(lab):
    # dns.sh loads every zone of WF_DNS_ZONES from its file: each needs a template to render it
    zone_dir = render.TEMPLATES / "02-dns/dns/zones"
    for zone in dnsplan.zones(lab):
        assert (zone_dir / f"{zone.file}.j2").is_file(), zone
