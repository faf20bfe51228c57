"""webfarm.hostsfile: who /etc/hosts lists on each host, and under which network."""

from __future__ import annotations

from webfarm import hostsfile


def _listed(lab, host):
    return [(s.network.name, p.name) for s in hostsfile.sections(lab, host) for p in s.peers]


def test_sections_are_the_hosts_networks_in_lab_yml_order(labs):
    lab = labs["full"]
    assert [s.network.name for s in hostsfile.sections(lab, lab.hosts["mon1"])] == ["front",
                                                                                   "db"]
    assert [s.network.name for s in hostsfile.sections(lab, lab.hosts["sql1"])] == ["db"]


def test_every_reachable_peer_once_under_the_first_shared_network(lab):
    for host in lab.hosts.values():
        listed = _listed(lab, host)
        names = [name for _, name in listed]
        assert len(names) == len(set(names))  # once
        assert host.name not in names  # not itself (it has its own line)
        want = {p.name for p in lab.hosts.values()
                if p.name != host.name and set(p.networks) & set(host.networks)}
        assert set(names) == want  # everyone it can reach, no one else
        for net, name in listed:
            assert net == hostsfile.shared_networks(lab, host, lab.hosts[name])[0]


def test_dual_homed_peer_is_listed_under_front(labs):
    lab = labs["full"]
    assert ("front", "app1") in _listed(lab, lab.hosts["mon1"])
    assert ("db", "app1") in _listed(lab, lab.hosts["sql1"])  # sql1 is on db only


def test_vips_of_the_hosts_networks_only(labs):
    lab = labs["full"]
    vips = {s.network.name: [v.name for v in s.vips]
            for s in hostsfile.sections(lab, lab.hosts["mon1"])}
    assert vips == {"front": ["www", "media"], "db": ["db"]}
    (front,) = hostsfile.sections(lab, lab.hosts["client1"])
    assert [v.name for v in front.vips] == ["www", "media"]  # not the db VIP
