"""``invoke bench --part p3``: HTTP requests per second through the ``www`` VIP, from the
client host, with every app server in the IPVS pool and then with one.

- Load: ``wrk -t1 -c8 -d20s --latency`` against ``/api/whoami`` (a PHP page that touches no
  database, so no row is written), with the VIP's Host name; :data:`REPEATS` runs per pool
  size, a pause between them.
- One server: every other app server gets IPVS weight 0 on the director holding the VIP
  (``ipvsadm -e ... -w 0``): it keeps its open connections, gets no new ones, and stays in
  the pool for keepalived. keepalived's HTTP_GET checker changes a real server only when its
  check result changes (up to down, down to up), so the weight holds while the servers stay
  healthy; each run reads the weights again afterwards and a run whose pool changed on the
  way (a check failed under load) is marked ``pool_held: false`` and left out of the figure.
  The weights are restored in a ``finally`` block, whatever happens.
- Next to each run: each VM's CPU and the host's (webfarm.hostcpu), and the connections each
  real server got (IPVS counters), so the page shows what limits the figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from webfarm import status
from webfarm.benchlab import BenchError, Shell
from webfarm.benchparse import ParseError, parse_ipvs_conns, parse_ipvs_weights, parse_wrk, summary
from webfarm.hostcpu import CpuMeter
from webfarm.topology import Lab, Vip

URL_PATH = "/api/whoami"
WRK = {"threads": 1, "connections": 8, "seconds": 20}
REPEATS = 3
PAUSE_S = 3.0
VIP_NAME = "www"


@dataclass(frozen=True)
class Plan:
    vip: Vip
    client: str
    servers: dict[str, str]  # real server address -> host name (lab.yml order)
    directors: list[str]
    domain: str

    @property
    def service(self) -> str:
        return f"{self.vip.address}:{self.vip.port}"

    def wrk_command(self, wrk: dict[str, int] = WRK) -> str:
        """Bounded: wrk stops after its duration; ``timeout`` ends it if it hangs."""
        return (f"timeout -k 5 {wrk['seconds'] + 30} wrk -t{wrk['threads']} "
                f"-c{wrk['connections']} -d{wrk['seconds']}s --latency --timeout 5s "
                f"-H 'Host: {self.vip.name}.{self.domain}' "
                f"http://{self.vip.address}:{self.vip.port}{URL_PATH}")

    def weight_command(self, address: str, weight: int) -> str:
        return (f"ipvsadm -e -t {self.service} -r {address}:{self.vip.port} -g "
                f"-w {int(weight)}")


def plan(lab: Lab) -> Plan:
    vip = lab.vips.get(VIP_NAME)
    fix = "use a profile with directors, two app servers and a client (mini or full)"
    if vip is None or vip.holder != "director":
        raise BenchError(f"lab.yml has no {VIP_NAME} VIP held by the directors. Fix: {fix}")
    servers = {str(h.addresses[vip.network]): h.name for h in lab.hosts_with(vip.pool)
               if h.on(vip.network)}
    clients = [h.name for h in lab.hosts_with("client") if h.on(vip.network)]
    if len(servers) < 2 or not clients:
        raise BenchError(f"profile {lab.profile} has {len(servers)} {vip.pool} server(s) and "
                         f"{len(clients)} client(s) on {vip.network}. Fix: {fix}")
    return Plan(vip, clients[0], servers, [h.name for h in lab.hosts_with(vip.holder)],
                lab.domain)


def holder(lab: Lab, shell: Shell, vip: Vip) -> str:
    """The one director holding ``vip`` now (refuses none or two: no steady pair to measure)."""
    held = status.holders(lambda h, c: shell.run(h, c, 30, check=False).stdout, lab, vip)
    if len(held) != 1:
        raise BenchError(f"the {vip.name} VIP is held by {len(held)} directors "
                         f"({', '.join(held) or 'none'}). Fix: invoke status; invoke check 4")
    return held[0]


def _weights(shell: Shell, p: Plan, director: str) -> dict[str, int]:
    out = shell.root(director, f"ipvsadm -Ln -t {p.service}", 30).stdout
    return parse_ipvs_weights(out, p.service)


def _conns(shell: Shell, p: Plan, director: str) -> dict[str, int]:
    out = shell.root(director, f"ipvsadm -Ln --stats -t {p.service}", 30).stdout
    return parse_ipvs_conns(out, p.service)


def one_run(lab: Lab, shell: Shell, p: Plan, director: str, expected: dict[str, int]
            ) -> dict[str, Any]:
    before = _conns(shell, p, director)
    with CpuMeter(lab.name, list(lab.hosts)) as cpu:
        res = shell.run(p.client, p.wrk_command(), WRK["seconds"] + 120, check=False)
    after = _conns(shell, p, director)
    weights = _weights(shell, p, director)
    run: dict[str, Any] = {
        "cpu": cpu.result,
        "connections": {p.servers.get(a, a): after.get(a, 0) - before.get(a, 0)
                        for a in p.servers},
        "weights_after": {p.servers.get(a, a): w for a, w in weights.items()},
        "pool_held": weights == expected,
    }
    if not res.ok:
        run["error"] = f"wrk exit {res.code}: {(res.stderr or res.stdout).strip()[-300:]}"
        return run
    try:
        run |= parse_wrk(res.stdout).as_dict()
    except ParseError as err:
        run["error"] = str(err)
    return run


def measure(lab: Lab, shell: Shell, p: Plan, director: str, expected: dict[str, int],
            label: str, repeats: int, pause: float) -> dict[str, Any]:
    runs = []
    for i in range(repeats):
        shell.note(f"p3 {label}: run {i + 1}/{repeats}")
        runs.append(one_run(lab, shell, p, director, expected))
        if i + 1 < repeats:
            time.sleep(pause)
    good = [r for r in runs if "error" not in r and r["pool_held"]]
    in_pool = [p.servers[a] for a, w in expected.items() if w > 0 and a in p.servers]
    return {"label": label, "servers_in_pool": in_pool, "runs": runs,
            "requests_per_s": summary(r["requests_per_s"] for r in good),
            "valid_runs": len(good)}


def run(lab: Lab, shell: Shell, repeats: int = REPEATS, pause: float = PAUSE_S
        ) -> dict[str, Any]:
    """Both pool sizes; the weights restored whatever happens."""
    p = plan(lab)
    if not shell.run(p.client, "command -v wrk", 30, check=False).ok:
        raise BenchError(f"wrk is not installed on {p.client}. Fix: invoke chapter 1 (chapter "
                         "01-base installs it on the client from the box's package cache)")
    director = holder(lab, shell, p.vip)
    start = _weights(shell, p, director)
    missing = [p.servers[a] for a in p.servers if start.get(a, 0) <= 0]
    if missing:
        raise BenchError(f"{', '.join(missing)} not in {director}'s IPVS pool with a weight "
                         f"> 0 now (keepalived took it out: its health check fails). Fix: "
                         "invoke check 4")
    result: dict[str, Any] = {
        "vip": p.vip.name, "client": p.client, "director": director, "path": URL_PATH,
        "wrk": dict(WRK), "repeats": repeats,
        "method": (f"wrk -t{WRK['threads']} -c{WRK['connections']} -d{WRK['seconds']}s on "
                   f"{p.client} against http://{p.vip.name}.{p.domain}{URL_PATH} through the "
                   f"VIP; one server = IPVS weight 0 for the others on {director}"),
        "configs": []}
    result["configs"].append(measure(lab, shell, p, director, start,
                                     f"{len(p.servers)} app servers", repeats, pause))
    first = next(iter(p.servers))
    quiet = {a: (w if a == first or a not in p.servers else 0) for a, w in start.items()}
    restored: list[str] = []
    try:
        for address in p.servers:
            if address != first:
                shell.root(director, p.weight_command(address, 0), 30)
        if _weights(shell, p, director) != quiet:
            raise BenchError(f"IPVS on {director} did not take weight 0. Fix: see the log")
        result["configs"].append(measure(lab, shell, p, director, quiet, "1 app server",
                                         repeats, pause))
    finally:
        for address, weight in start.items():
            if address in p.servers and address != first:
                done = shell.root(director, p.weight_command(address, weight), 30, check=False)
                if not done.ok:
                    restored.append(p.servers[address])
        now = _weights(shell, p, director)
        result["weights_restored"] = now == start and not restored
    if not result["weights_restored"]:
        raise BenchError(f"the IPVS weights on {director} are not back to {start} (now {now})."
                         f" Fix: invoke ssh {director}; sudo ipvsadm -e -t {p.service} -r "
                         f"ADDR:{p.vip.port} -g -w 1 for each, or restart keepalived there")
    return result
