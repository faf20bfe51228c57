"""``invoke bench --part db``: reads per second through the db VIP's read port (HAProxy on the
DB balancers, chapter 06-dblb) with every SQL node in the read pool, then with one.

- Load: ``mariadb-slap`` (mysqlslap) on an app server (the read port only accepts the app
  servers and monitor hosts; the first of them that has the client installed), as the app's
  database user, :data:`CONCURRENCY` clients running :data:`QUERIES` reads in all: the
  guestbook page's query (chapter 07-app's table). :data:`REPEATS` runs per pool size.
- The password travels in an option file written with mode 600 into a fresh temp directory
  on the guest (from ssh's standard input, so never on a command line ``ps`` shows), and the
  directory is removed when the command ends, however it ends.
- One node: ``disable server db_read_nodes/NODE`` for every other node through HAProxy's
  runtime API (the admin socket) on every DB balancer, ``enable server`` in a ``finally``
  block afterwards; HAProxy's per-server session counters show where the reads went.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from webfarm import dblb, dbplan
from webfarm import os as osdata
from webfarm.benchlab import BenchError, Shell
from webfarm.benchparse import ParseError, parse_haproxy_stat, parse_slap, summary
from webfarm.hostcpu import CpuMeter
from webfarm.topology import Lab

QUERY = "SELECT id, name, message, created FROM guestbook ORDER BY id DESC LIMIT 10"
CONCURRENCY = 8
QUERIES = 4000  # in all, per run (QUERIES / CONCURRENCY per client)
REPEATS = 3
PAUSE_S = 3.0
SLAP_TIMEOUT_S = 300
STATE_TIMEOUT_S = 30  # HAProxy applies disable/enable at once; allow for a slow guest
# mysqlslap's clients print these and exit 0 (its threads end the program with exit(0))
SLAP_FAILURES = ("Cannot run query", "Error when connecting", "Error when storing result")
_SAFE_SECRET = re.compile(r"[A-Za-z0-9_.~+/=-]{1,200}")
# the socket speaks one command per connection; python3 is in every box (no socat needed)
SOCKET_PY = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
             "s.sendall(sys.argv[2].encode()+b'\\n'); sys.stdout.write(s.makefile().read())")


@dataclass(frozen=True)
class Plan:
    vip_name: str
    address: str
    read_port: int
    balancers: list[str]
    nodes: list[str]  # SQL nodes, lab.yml order (the first is the writer: it stays)
    candidates: list[str]  # hosts allowed through the read port: app servers, then monitors
    socket: dict[str, str]  # balancer -> HAProxy admin socket path


def plan(lab: Lab) -> Plan:
    try:
        v = dblb.vip(lab)
    except KeyError:
        raise BenchError("lab.yml has no VIP held by the DB balancers. Fix: use a profile "
                         "with the DB tier (mini or full)") from None
    nodes = [h.name for h in dbplan.nodes(lab)]
    if len(nodes) < 2 or v.read_port is None:
        raise BenchError(f"profile {lab.profile} has {len(nodes)} SQL node(s) / no read port. "
                         "Fix: use a profile with two SQL nodes (mini or full)")
    candidates = [h.name for h in lab.hosts_with("app") if h.on(dbplan.DB_NETWORK)]
    candidates += [h.name for h in lab.hosts_with("monitor") if h.on(dbplan.DB_NETWORK)
                   and h.name not in candidates]
    balancers = dblb.balancers(lab)
    return Plan(v.name, str(v.address), int(v.read_port), [b.name for b in balancers], nodes,
                candidates, {b.name: osdata.get(b.os.family).paths["haproxy_socket"]
                             for b in balancers})


def option_file(user: str, password: str) -> str:
    """The client option file's text (sent on standard input, never logged)."""
    if not _SAFE_SECRET.fullmatch(password):
        raise BenchError("the app's database password in .lab/secrets.yml has characters an "
                         "option file would need to escape. Fix: regenerate it (see "
                         "webfarm/secrets.py)")
    return f"[client]\nuser={user}\npassword={password}\n"


def slap_script(p: Plan, concurrency: int = CONCURRENCY, queries: int = QUERIES,
                timeout: int = SLAP_TIMEOUT_S) -> str:
    """The guest side: option file from stdin into a private temp dir, mysqlslap, cleanup.
    With only ``--query`` mysqlslap creates and drops nothing; ``--no-drop`` says so twice
    (the app's schema is ``--create-schema``: the one its clients connect to)."""
    q = shlex.quote
    return "\n".join([
        "set -eu",
        "umask 077",
        "slap=$(command -v mariadb-slap || command -v mysqlslap)",
        "d=$(mktemp -d /tmp/webfarm-bench-XXXXXX)",
        "trap 'rm -rf \"$d\"' EXIT",
        'cat > "$d/client.cnf"',
        f'timeout -k 5 {timeout} "$slap" --defaults-extra-file="$d/client.cnf" '
        f"--host={q(p.address)} --port={p.read_port} --protocol=tcp "
        f"--create-schema={q(dbplan.DATABASE)} --query={q(QUERY)} "
        f"--concurrency={int(concurrency)} --number-of-queries={int(queries)} --iterations=1 "
        "--no-drop",
    ])


def socket_command(sock: str, command: str) -> str:
    return f"python3 -c {shlex.quote(SOCKET_PY)} {shlex.quote(sock)} {shlex.quote(command)}"


def _stat(shell: Shell, p: Plan, balancer: str) -> dict[tuple[str, str], dict[str, str]]:
    out = shell.root(balancer, socket_command(p.socket[balancer], "show stat"), 30).stdout
    return parse_haproxy_stat(out)


def read_states(shell: Shell, p: Plan, balancer: str) -> dict[str, str]:
    """{node: HAProxy status in the read pool} on ``balancer``: its first word (UP, MAINT,
    DOWN, ...; "MAINT (via ...)" and "UP 1/2" are MAINT and UP)."""
    rows = _stat(shell, p, balancer)
    return {n: (rows.get((dblb.READ_BACKEND, n), {}).get("status") or "?").split()[0]
            for n in p.nodes}


def sessions(shell: Shell, p: Plan, balancer: str) -> dict[str, int]:
    rows = _stat(shell, p, balancer)
    return {n: int(rows.get((dblb.READ_BACKEND, n), {}).get("stot") or 0) for n in p.nodes}


def set_server(shell: Shell, p: Plan, balancer: str, node: str, enable: bool) -> bool:
    verb = "enable" if enable else "disable"
    res = shell.root(balancer, socket_command(p.socket[balancer],
                                              f"{verb} server {dblb.READ_BACKEND}/{node}"),
                     30, check=False)
    return res.ok and not res.stdout.strip()  # HAProxy answers nothing when it did it


def load_host(shell: Shell, p: Plan) -> str:
    for host in p.candidates:
        if shell.run(host, "command -v mariadb-slap || command -v mysqlslap", 30,
                     check=False).ok:
            return host
    raise BenchError(f"none of {', '.join(p.candidates)} has mariadb-slap (package "
                     f"mariadb-client). Fix: invoke ssh {p.candidates[0]}; sudo apt-get "
                     "install -y mariadb-client (from the box's package cache)")


def one_run(lab: Lab, shell: Shell, p: Plan, host: str, secret: str) -> dict[str, Any]:
    before = {b: sessions(shell, p, b) for b in p.balancers}
    with CpuMeter(lab.name, list(lab.hosts)) as cpu:
        res = shell.run(host, f"bash -c {shlex.quote(slap_script(p))}", SLAP_TIMEOUT_S + 60,
                        check=False, stdin=secret)
    after = {b: sessions(shell, p, b) for b in p.balancers}
    run: dict[str, Any] = {
        "cpu": cpu.result,
        "sessions": {n: sum(after[b][n] - before[b][n] for b in p.balancers) for n in p.nodes}}
    if not res.ok or any(m in res.stderr for m in SLAP_FAILURES):
        run["error"] = (f"mysqlslap exit {res.code}: "
                        f"{(res.stderr or res.stdout).strip()[-300:]}")
        return run
    try:
        run |= parse_slap(res.stdout).as_dict()
    except ParseError as err:
        run["error"] = str(err)
    return run


def measure(lab: Lab, shell: Shell, p: Plan, host: str, secret: str, label: str,
            in_pool: list[str], repeats: int, pause: float) -> dict[str, Any]:
    runs = []
    for i in range(repeats):
        shell.note(f"db {label}: run {i + 1}/{repeats}")
        runs.append(one_run(lab, shell, p, host, secret))
        if i + 1 < repeats:
            time.sleep(pause)
    good = [r for r in runs if "error" not in r]
    return {"label": label, "nodes_in_pool": in_pool, "runs": runs,
            "queries_per_s": summary(r["queries_per_s"] for r in good), "valid_runs": len(good)}


def _wait_states(shell: Shell, p: Plan, want: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every balancer's read-pool states once they match ``want`` (or the last seen)."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        seen = {b: read_states(shell, p, b) for b in p.balancers}
        if all(s == want for s in seen.values()) or time.monotonic() > deadline:
            return seen
        time.sleep(1.0)


def run(lab: Lab, shell: Shell, secrets: dict[str, str], repeats: int = REPEATS,
        pause: float = PAUSE_S) -> dict[str, Any]:
    p = plan(lab)
    host = load_host(shell, p)
    secret = option_file(dbplan.APP_USER, secrets["db_app_password"])
    all_up = {n: "UP" for n in p.nodes}
    seen = _wait_states(shell, p, all_up)
    if any(s != all_up for s in seen.values()):
        raise BenchError(f"not every SQL node is UP in the read pool now ({seen}). Fix: "
                         "invoke check 6; invoke drill db-node restores a node")
    result: dict[str, Any] = {
        "vip": p.vip_name, "read_port": p.read_port, "load_host": host, "query": QUERY,
        "concurrency": CONCURRENCY, "queries_per_run": QUERIES, "repeats": repeats,
        "method": (f"mariadb-slap on {host}: {CONCURRENCY} clients, {QUERIES} reads per run "
                   f"through the {p.vip_name} VIP's read port {p.read_port}; one node = "
                   f"HAProxy 'disable server' for the others on {', '.join(p.balancers)}"),
        "configs": []}
    result["configs"].append(measure(lab, shell, p, host, secret, f"{len(p.nodes)} SQL nodes",
                                     p.nodes, repeats, pause))
    keep, others = p.nodes[0], p.nodes[1:]
    failed: list[str] = []
    try:
        for b in p.balancers:
            for n in others:
                if not set_server(shell, p, b, n, enable=False):
                    raise BenchError(f"HAProxy on {b} refused 'disable server "
                                     f"{dblb.READ_BACKEND}/{n}'. Fix: see the log")
        one = {n: ("UP" if n == keep else "MAINT") for n in p.nodes}
        seen = _wait_states(shell, p, one)
        if any(s != one for s in seen.values()):
            raise BenchError(f"the read pool did not become {one} ({seen})")
        result["configs"].append(measure(lab, shell, p, host, secret, "1 SQL node", [keep],
                                         repeats, pause))
    finally:
        for b in p.balancers:
            for n in others:
                if not set_server(shell, p, b, n, enable=True):
                    failed.append(f"{b}:{n}")
        seen = _wait_states(shell, p, all_up)
        result["servers_restored"] = not failed and all(s == all_up for s in seen.values())
    if not result["servers_restored"]:
        raise BenchError(f"HAProxy's read pool is not back to every node UP ({seen}; enable "
                         f"failed on {failed or 'none'}). Fix: on each DB balancer: echo "
                         f"'enable server {dblb.READ_BACKEND}/NODE' to its admin socket, or "
                         "restart haproxy")
    return result
