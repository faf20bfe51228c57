"""webfarm.lvs and webfarm.firewall: the LVS-DR layout and the ports the directors open."""

from __future__ import annotations

from webfarm import firewall, lvs, topology


def test_virtual_services_and_real_servers(labs):
    lab = labs["full"]
    assert [v.name for v in lvs.virtual_services(lab)] == ["www", "media"]  # not db (dblb)
    www, media = lvs.virtual_services(lab)
    h = lab.hosts
    assert lvs.real_servers(lab, www) == [h["app1"].addresses["front"],
                                          h["app2"].addresses["front"]]
    assert lvs.real_servers(lab, media) == [h["media1"].addresses["front"],
                                            h["media2"].addresses["front"]]
    mini = labs["mini"]
    for vip in lvs.virtual_services(mini):  # app and media co-located on app1/app2
        assert lvs.real_servers(mini, vip) == [mini.hosts["app1"].addresses["front"],
                                               mini.hosts["app2"].addresses["front"]]


def test_real_servers_are_on_the_vips_network(lab):
    for vip in lvs.virtual_services(lab):
        for address in lvs.real_servers(lab, vip):
            assert address in lab.networks[vip.network].cidr


def test_lo_vips_are_those_of_the_hosts_pools(labs):
    full, mini = labs["full"], labs["mini"]
    assert [v.name for v in lvs.lo_vips(full, full.hosts["app1"])] == ["www"]
    assert [v.name for v in lvs.lo_vips(full, full.hosts["media2"])] == ["media"]
    assert lvs.lo_vips(full, full.hosts["lb1"]) == []
    assert [v.name for v in lvs.lo_vips(mini, mini.hosts["app1"])] == ["www", "media"]


def test_director_ports_include_every_virtual_service_and_the_sync_port(labs):
    lab = labs["full"]
    assert firewall.director_ports(lab) == [80]  # www and media share port 80: listed once
    assert firewall.director_openings(lab) == ["80/tcp", "8848/udp"]
    assert firewall.sync_port() == "8848/udp"
    assert not firewall.connect_any(lab)  # 80 is http_port_t


def test_a_port_outside_http_port_t_needs_keepalived_connect_any(data):
    data["vips"]["www"]["port"] = 8080
    lab = topology.build(data, "lab.yml", "full")
    assert firewall.director_ports(lab) == [8080, 80]
    assert firewall.director_openings(lab) == ["8080/tcp", "80/tcp", "8848/udp"]
    assert firewall.connect_any(lab)


def test_a_port_inside_http_port_t_needs_no_boolean(data):
    data["vips"]["www"]["port"] = 443
    lab = topology.build(data, "lab.yml", "full")
    assert not firewall.connect_any(lab)


def test_ports_of_vips_held_by_others_are_not_the_directors(data):
    data["vips"]["db"]["port"] = 3307  # the dblb pair's VIP: not an LVS virtual service
    lab = topology.build(data, "lab.yml", "full")
    assert firewall.director_ports(lab) == [80]
