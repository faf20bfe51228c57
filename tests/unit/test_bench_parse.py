"""invoke bench reads its tools' output: wrk, mysqlslap, ipvsadm, HAProxy show stat and
keepalived's journal; text that is not the tool's is refused, never turned into a number."""

from __future__ import annotations

import pytest

from webfarm import benchparse as bp

WRK = """\
Running 20s test @ http://192.0.2.10:80/api/whoami
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    33.12ms   10.01ms   1.26s    72.50%
    Req/Sec   242.36     35.12   323.00     70.00%
  Latency Distribution
     50%   31.44ms
     75%   37.60ms
     90%   45.83ms
     99%  690.03us
  4835 requests in 20.02s, 1.09MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:    241.54
Transfer/sec:     55.77KB
"""

SLAP = """\
Benchmark
\tAverage number of seconds to run all queries: 4.125 seconds
\tMinimum number of seconds to run all queries: 4.125 seconds
\tMaximum number of seconds to run all queries: 4.125 seconds
\tNumber of clients running queries: 8
\tAverage number of queries per client: 500

"""

IPVS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  192.0.2.10:80                    1200    9000        0   900000        0
  -> 192.0.2.41:80                     700    5000        0   500000        0
  -> 192.0.2.42:80                     500    4000        0   400000        0
TCP  192.0.2.11:80                      10      50        0     5000        0
  -> 192.0.2.41:80                       5       25        0     2500        0
"""

WEIGHTS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.0.2.10:80 wrr
  -> 192.0.2.41:80                Route   1      0          3
  -> 192.0.2.42:80                Route   0      0          0
TCP  192.0.2.11:80 wrr
  -> 192.0.2.41:80                Route   1      0          0
"""

STAT = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
        "wretr,wredis,status\n"
        "db_read,FRONTEND,,,0,8,2000,820,0,0,0,0,0,,,,,OPEN\n"
        "db_read_nodes,db1,0,0,0,4,,410,0,0,,0,,0,0,0,0,UP\n"
        "db_read_nodes,db2,0,0,0,4,,410,0,0,,0,,0,0,0,0,MAINT (via db_write_nodes/db2)\n")

JOURNAL = """\
1764340000.123456 lb2 Keepalived_vrrp[812]: (VI_FRONT) Entering MASTER STATE
1764340004.5 lb2 Keepalived_vrrp[812]: (VI_FRONT) received higher prio advert 150
1764340004.6 lb2 Keepalived_vrrp[812]: (VI_FRONT) Entering BACKUP STATE
1764340010.0 lb1 Keepalived_vrrp[700]: VRRP_Instance(VI_1) Transition to MASTER STATE
1764340011.0 lb1 Keepalived_vrrp[700]: (VI_FRONT) Entering FAULT STATE
"""


def test_wrk_report() -> None:
    r = bp.parse_wrk(WRK)
    assert r.requests == 4835 and r.seconds == pytest.approx(20.02)
    assert r.requests_per_s == 241.54
    assert r.latency_ms == {"avg": 33.12, "stdev": 10.01, "max": 1260.0, "p50": 31.44,
                            "p75": 37.6, "p90": 45.83, "p99": 0.69}
    assert r.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 3}
    assert r.non_2xx_3xx == 12 and r.errors == 17
    assert r.as_dict()["errors"] == 17


def test_wrk_minutes_and_no_errors() -> None:
    text = "  100 requests in 1.00m, 1KB read\nRequests/sec:      1.67\n"
    r = bp.parse_wrk(text)
    assert r.seconds == 60.0 and r.errors == 0 and r.latency_ms == {}


@pytest.mark.parametrize("text", ["", "unable to connect to 192.0.2.10:80 Connection refused",
                                  "Requests/sec: 12\n"])
def test_wrk_refuses_what_is_not_a_report(text: str) -> None:
    with pytest.raises(bp.ParseError, match="wrk"):
        bp.parse_wrk(text)


def test_mysqlslap_report() -> None:
    r = bp.parse_slap(SLAP)
    assert (r.avg_s, r.clients, r.queries_per_client, r.queries) == (4.125, 8, 500, 4000)
    assert r.queries_per_s == pytest.approx(969.7)
    assert r.as_dict()["queries_per_s"] == r.queries_per_s


def test_mysqlslap_refuses_an_error() -> None:
    with pytest.raises(bp.ParseError, match="mysqlslap"):
        bp.parse_slap("mariadb-slap: Error when connecting to server: 1045 Access denied\n")


def test_ipvs_counters_and_weights() -> None:
    assert bp.parse_ipvs_conns(IPVS, "192.0.2.10:80") == {
        "total": 1200, "192.0.2.41": 700, "192.0.2.42": 500}
    assert bp.parse_ipvs_weights(WEIGHTS, "192.0.2.10:80") == {"192.0.2.41": 1, "192.0.2.42": 0}
    assert bp.parse_ipvs_weights(WEIGHTS, "192.0.2.11:80") == {"192.0.2.41": 1}
    assert bp.parse_ipvs_weights(WEIGHTS, "192.0.2.99:80") == {}


def test_haproxy_show_stat() -> None:
    rows = bp.parse_haproxy_stat(STAT)
    assert rows[("db_read_nodes", "db1")]["status"] == "UP"
    assert rows[("db_read_nodes", "db2")]["status"].startswith("MAINT")
    assert rows[("db_read_nodes", "db2")]["stot"] == "410"
    with pytest.raises(bp.ParseError, match="HAProxy"):
        bp.parse_haproxy_stat("Unknown command\n")


def test_vrrp_transitions_both_formats() -> None:
    seen = bp.parse_transitions(JOURNAL)
    assert [(t.instance, t.state) for t in seen] == [
        ("VI_FRONT", "MASTER"), ("VI_FRONT", "BACKUP"), ("VI_1", "MASTER"), ("VI_FRONT", "FAULT")]
    assert seen[0].t == pytest.approx(1764340000.123456)


def test_summary() -> None:
    assert bp.summary([3, 1, 2]) == {"n": 3, "min": 1.0, "median": 2.0, "max": 3.0}
    assert bp.summary([]) == {"n": 0, "min": None, "median": None, "max": None}
