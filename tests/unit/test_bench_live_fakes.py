"""P3 and the DB part against a fake lab (a shell that answers like ipvsadm, HAProxy, wrk and
mysqlslap would): both pool sizes measured, and what they changed restored in every case,
also when the measurement fails half-way. The password travels on stdin only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from webfarm import benchdb, benchweb
from webfarm.benchlab import BenchError, Result

WRK_OUT = ("  4835 requests in 20.02s, 1.09MB read\nRequests/sec:    241.54\n"
           "    Latency    33.12ms   10.01ms 125.62ms   72.50%\n")
SLAP_OUT = ("Benchmark\n\tAverage number of seconds to run all queries: 4.000 seconds\n"
            "\tMinimum number of seconds to run all queries: 4.000 seconds\n"
            "\tMaximum number of seconds to run all queries: 4.000 seconds\n"
            "\tNumber of clients running queries: 8\n"
            "\tAverage number of queries per client: 500\n")


class FakeShell:
    """Answers the commands the two parts send; ``fail_on`` makes one kind fail."""

    def __init__(self, lab: Any, fail_on: str = "") -> None:
        www = lab.vips["www"]
        self.vip = f"{www.address}:{www.port}"
        self.weights = {str(h.addresses["front"]): 1 for h in lab.hosts_with("app")}
        self.conns = dict.fromkeys(self.weights, 0)
        self.maint: dict[str, set[str]] = {"db1": set(), "db2": set()}
        self.fail_on = fail_on
        self.calls: list[tuple[str, str, str | None]] = []

    def note(self, text: str) -> None:
        pass

    def run(self, host: str, command: str, timeout: float = 60, check: bool = True,
            stdin: str | None = None, root: bool = False) -> Result:
        self.calls.append((host, command, stdin))
        res = self.answer(host, command)
        if check and not res.ok:
            raise BenchError(f"on {host}: {command} failed")
        return res

    def root(self, host: str, command: str, timeout: float = 60, check: bool = True,
             stdin: str | None = None) -> Result:
        return self.run(host, command, timeout, check, stdin, root=True)

    def answer(self, host: str, command: str) -> Result:
        ok = Result(0, "", "")
        if command.startswith("command -v"):
            return ok
        if command.startswith("ip -4 -o addr show"):
            vip = self.vip.split(":")[0]
            return Result(0, f"3: eth1 inet {vip}/24 scope global" if host == "lb1" else "", "")
        if command.startswith("ipvsadm -Ln --stats"):
            rows = "".join(f"  -> {a}:80 {c} 0 0 0 0\n" for a, c in self.conns.items())
            return Result(0, f"TCP  {self.vip} {sum(self.conns.values())} 0 0 0 0\n{rows}", "")
        if command.startswith("ipvsadm -Ln"):
            rows = "".join(f"  -> {a}:80 Route {w} 0 0\n" for a, w in self.weights.items())
            return Result(0, f"TCP  {self.vip} wrr\n{rows}", "")
        if m := re.match(r"ipvsadm -e -t \S+ -r ([\d.]+):80 -g -w (\d+)", command):
            self.weights[m[1]] = int(m[2])
            return ok
        if "wrk " in command:
            if self.fail_on == "wrk" and self.weights != dict.fromkeys(self.weights, 1):
                raise RuntimeError("the client vanished")
            for a, w in self.weights.items():
                self.conns[a] += 8 * w
            return Result(0, WRK_OUT, "")
        if "python3 -c" in command:
            if "show stat" in command:
                head = "# pxname,svname,stot,status\n"
                return Result(0, head + "".join(
                    f"db_read_nodes,{n},10,{'MAINT' if self.maint[host] & {n} else 'UP'}\n"
                    for n in ("db1", "db2")), "")
            verb, node = re.search(r"(enable|disable) server db_read_nodes/(\w+)",
                                   command).groups()
            (self.maint[host].discard if verb == "enable" else self.maint[host].add)(node)
            return ok
        if "mariadb-slap" in command or "bash -c" in command:
            if self.fail_on == "slap" and any(self.maint.values()):
                raise RuntimeError("ssh died")
            return Result(0, SLAP_OUT, "")
        raise AssertionError(f"unexpected command on {host}: {command}")


def test_p3_both_pool_sizes_and_weights_restored(labs: dict) -> None:
    lab = labs["mini"]
    shell = FakeShell(lab)
    out = benchweb.run(lab, shell, repeats=2, pause=0)  # type: ignore[arg-type]
    assert [c["label"] for c in out["configs"]] == ["2 app servers", "1 app server"]
    two, one = out["configs"]
    assert two["requests_per_s"]["median"] == 241.54 and two["valid_runs"] == 2
    assert one["servers_in_pool"] == ["app1"] and one["valid_runs"] == 2
    assert one["runs"][0]["connections"] == {"app1": 8, "app2": 0}
    assert two["runs"][0]["connections"] == {"app1": 8, "app2": 8}
    assert out["weights_restored"] and set(shell.weights.values()) == {1}
    assert out["director"] == "lb1"


def test_p3_restores_the_weights_when_a_run_blows_up(labs: dict) -> None:
    lab = labs["mini"]
    shell = FakeShell(lab, fail_on="wrk")
    with pytest.raises(RuntimeError):
        benchweb.run(lab, shell, repeats=1, pause=0)  # type: ignore[arg-type]
    assert set(shell.weights.values()) == {1}


def test_db_every_node_then_one_then_restored(labs: dict) -> None:
    lab = labs["mini"]
    shell = FakeShell(lab)
    out = benchdb.run(lab, shell, {"db_app_password": "pw_123"}, repeats=1,  # type: ignore[arg-type]
                      pause=0)
    assert [c["label"] for c in out["configs"]] == ["2 SQL nodes", "1 SQL node"]
    assert out["configs"][1]["nodes_in_pool"] == ["db1"]
    assert out["configs"][0]["queries_per_s"]["median"] == 1000.0
    assert out["servers_restored"] and shell.maint == {"db1": set(), "db2": set()}
    assert out["load_host"] == "app1"
    slaps = [(cmd, stdin) for _, cmd, stdin in shell.calls if "--defaults-extra-file" in cmd]
    assert len(slaps) == 2
    assert all("pw_123" not in cmd and stdin and "password=pw_123" in stdin
               for cmd, stdin in slaps)
    assert not any("pw_123" in cmd for _, cmd, _ in shell.calls)


def test_db_restores_haproxy_when_a_run_blows_up(labs: dict) -> None:
    lab = labs["mini"]
    shell = FakeShell(lab, fail_on="slap")
    with pytest.raises(RuntimeError):
        benchdb.run(lab, shell, {"db_app_password": "pw"}, repeats=1,  # type: ignore[arg-type]
                    pause=0)
    assert shell.maint == {"db1": set(), "db2": set()}
