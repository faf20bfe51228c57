"""webfarm.dbplan and webfarm.dblb: the database cluster's and the DB balancers' facts."""

from __future__ import annotations

from dataclasses import replace

from webfarm import dblb, dbplan, lvs


def test_mini_galera_layout(labs):
    lab = labs["mini"]
    assert dbplan.engine(lab) == "galera"
    assert [h.name for h in dbplan.nodes(lab)] == ["db1", "db2"]
    assert dbplan.bootstrap_node(lab).name == "db1"
    assert dbplan.cluster_address(lab) == "gcomm://192.168.57.51,192.168.57.52"
    # two nodes: the arbitrator on the db_mgmt host keeps a majority when one node dies
    assert dbplan.arbitrator(lab).name == "mon1"
    assert dbplan.cluster_size(lab) == 3


def test_full_galera_layout(labs):
    lab = labs["full"]
    assert [h.name for h in dbplan.nodes(lab)] == ["data1", "data2", "sql1", "sql2"]
    assert dbplan.arbitrator(lab).name == "mgm1"
    assert dbplan.cluster_size(lab) == 5


def test_odd_galera_needs_no_arbitrator(labs):
    lab = labs["full"]
    hosts = {k: v for k, v in lab.hosts.items() if k != "sql2"}
    lab = replace(lab, hosts=hosts)
    assert len(dbplan.nodes(lab)) == 3
    assert dbplan.arbitrator(lab) is None
    assert dbplan.cluster_size(lab) == 3


def test_ndb_node_ids_and_roles(labs):
    lab = replace(labs["full"], engine="ndb")
    nodes = dbplan.ndb_nodes(lab)
    assert [(n.node_id, n.kind, n.host.name) for n in nodes] == [
        (1, "ndb_mgmd", "mgm1"), (2, "ndbd", "data1"), (3, "ndbd", "data2"),
        (51, "mysqld", "sql1"), (52, "mysqld", "sql2")]
    assert dbplan.ndb_connectstring(lab) == "192.168.57.31:1186"
    assert [h.name for h in dbplan.nodes(lab)] == ["sql1", "sql2"]  # only mysqld answers SQL
    assert dbplan.arbitrator(lab) is None  # NDB arbitrates in its management node
    assert dbplan.ndb_data_memory_mb(lab) == 128  # 1024 MB data nodes / 8


def test_app_user_hosts_are_the_app_servers_and_the_balancers(labs):
    lab = labs["full"]
    assert [str(a) for a in dbplan.app_clients(lab)] == [
        "192.168.57.41", "192.168.57.42", "192.168.57.21", "192.168.57.22"]
    mini = labs["mini"]  # co-located: the balancers are the nodes, listed once
    assert [str(a) for a in dbplan.app_clients(mini)] == [
        "192.168.57.41", "192.168.57.42", "192.168.57.51", "192.168.57.52"]
    assert [str(a) for a in dbplan.monitor_clients(lab)] == ["192.168.57.91"]


def test_every_db_port_on_the_db_network(labs):
    for lab in labs.values():
        for host in dbplan.nodes(lab):
            assert dbplan.address(host) == host.addresses["db"]
            ports = dbplan.firewall_ports(lab, host)
            assert "3306/tcp" in ports and "4567/tcp" in ports and "9200/tcp" in ports


def test_write_pool_has_one_active_writer_and_read_pool_every_node(labs):
    for lab in labs.values():
        writes, reads = dblb.write_servers(lab), dblb.read_servers(lab)
        assert [s.name for s in writes if not s.backup] == [dblb.writer(lab).name]
        assert {s.name for s in writes} == {s.name for s in reads} == \
            {h.name for h in dbplan.nodes(lab)}
        assert not any(s.backup for s in reads)
        v = dblb.vip(lab)
        assert dblb.firewall_ports(lab) == [f"{v.port}/tcp", f"{v.read_port}/tcp",
                                            f"{v.stats_port}/tcp"]


def test_db_vip_is_never_on_a_real_servers_lo(labs):
    """The db VIP is HAProxy's (chapter 06), not LVS-DR's: no DB host owns it on lo."""
    for lab in labs.values():
        for host in lab.hosts.values():
            assert "db" not in [v.name for v in lvs.lo_vips(lab, host)]
