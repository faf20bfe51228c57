"""webfarm.timesync: who gives the time to whom (chapter 01-base)."""

from __future__ import annotations

import ipaddress

import pytest

from webfarm import timesync, topology


def test_full_profile_plan(labs):
    lab = labs["full"]
    assert timesync.server(lab).name == "ns1"  # first dns host
    assert timesync.relay(lab).name == "mon1"  # the monitor sits on both networks
    h = lab.hosts
    assert timesync.upstream(lab, h["ns1"]) is None
    assert timesync.upstream(lab, h["client1"]) == h["ns1"].addresses["front"]
    assert timesync.upstream(lab, h["app1"]) == h["ns1"].addresses["front"]
    assert timesync.upstream(lab, h["mon1"]) == h["ns1"].addresses["front"]
    assert timesync.upstream(lab, h["data1"]) == h["mon1"].addresses["db"]
    assert timesync.serves(lab, h["ns1"]) == ["front"]
    assert timesync.serves(lab, h["mon1"]) == ["db"]
    assert timesync.serves(lab, h["app1"]) == []
    assert timesync.local_stratum(lab, h["ns1"]) == timesync.SERVER_STRATUM
    assert timesync.local_stratum(lab, h["mon1"]) == timesync.RELAY_STRATUM
    assert timesync.local_stratum(lab, h["client1"]) is None


def test_mini_profile_plan(labs):
    lab = labs["mini"]
    h = lab.hosts
    assert timesync.server(lab).name == "lb1"  # lb1 carries director and dns
    assert timesync.upstream(lab, h["db1"]) == h["mon1"].addresses["db"]
    assert timesync.upstream(lab, h["app2"]) == h["lb1"].addresses["front"]


def test_every_host_has_a_source_except_the_server(labs):
    for lab in labs.values():
        for host in lab.hosts.values():
            up = timesync.upstream(lab, host)
            if host.name == timesync.server(lab).name:
                assert up is None
            else:
                assert isinstance(up, ipaddress.IPv4Address)
                # the source sits on a network of this host
                assert any(up in lab.networks[n].cidr for n in host.networks)


def test_relay_falls_back_to_any_host_on_both_networks(data):
    hosts = data["profiles"]["full"]["hosts"]
    del hosts["mon1"]  # no monitor: the first app server (on both networks) relays
    lab = topology.build(data, "lab.yml", "full")
    assert timesync.relay(lab).name == "app1"
    assert timesync.upstream(lab, lab.hosts["sql1"]) == lab.hosts["app1"].addresses["db"]
    assert timesync.serves(lab, lab.hosts["app1"]) == ["db"]


def test_a_profile_without_dns_is_refused_so_the_time_server_always_exists(data):
    hosts = data["profiles"]["full"]["hosts"]
    hosts["ns1"]["roles"] = ["media"]
    hosts["ns2"]["roles"] = ["media"]
    with pytest.raises(topology.LabFileError, match="dns"):
        topology.build(data, "lab.yml", "full")


def test_dual_homed_time_server_serves_both_networks(data):
    hosts = data["profiles"]["mini"]["hosts"]
    hosts["lb1"]["roles"] = hosts["lb2"]["roles"] = ["director"]
    hosts["mon1"]["roles"] = ["monitor", "db_mgmt", "dns"]  # the first dns host
    hosts["client1"]["roles"] = ["client", "dns"]
    lab = topology.build(data, "lab.yml", "mini")
    mon1 = lab.hosts["mon1"]
    assert timesync.server(lab).name == "mon1"
    assert timesync.serves(lab, mon1) == ["front", "db"]
    assert timesync.upstream(lab, lab.hosts["db1"]) == mon1.addresses["db"]
    assert timesync.local_stratum(lab, mon1) == timesync.SERVER_STRATUM


def test_isolated_host_keeps_its_own_clock(data):
    hosts = data["profiles"]["full"]["hosts"]
    for name in ("app1", "app2", "mon1"):  # nobody left on both networks
        del hosts[name]
    data["profiles"]["full"]["hosts"] = hosts
    data["vips"]["www"]["pool"] = "media"
    lab = topology.build(data, "lab.yml", "full")
    assert timesync.relay(lab) is None
    assert timesync.upstream(lab, lab.hosts["sql1"]) is None
    assert timesync.local_stratum(lab, lab.hosts["sql1"]) == timesync.RELAY_STRATUM
