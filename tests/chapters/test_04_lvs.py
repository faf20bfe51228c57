"""Chapter 04-lvs checks against the live lab: keepalived runs on both directors, each front
VIP sits on exactly one director (the highest-priority one), IPVS balances every VIP to its
whole pool in direct-routing mode, the connection-sync daemons run, requests from the client
reach every real server, and a real server whose nginx stops leaves IPVS and comes back."""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from webfarm import os as osdata
from webfarm.labtest import (
    current_lab,
    holds_vip,
    remote,
    remote_root,
    rerun_chapter,
    role_hosts,
)
from webfarm.topology import Lab, Vip
from webfarm.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.lab

ROLE = "director"
CHAPTER = "04-lvs"
REQUESTS = 12  # per VIP; with rr/wrr and equal weights every pool member answers several
POLL_S = 20  # a failed real server leaves IPVS within delay_loop + retries * (timeout+delay)


def director_vips() -> list[str]:
    return [v.name for v in current_lab().vips_held_by(ROLE)]


def vip(lab: Lab, name: str) -> Vip:
    return lab.vips[name]


def holders(lab: Lab, v: Vip) -> list[str]:
    """Directors that have the VIP configured on an interface right now."""
    return [name for name in role_hosts(ROLE) if holds_vip(name, v)]


def ipvs_table(name: str) -> dict[str, dict[str, tuple[str, int]]]:
    """``ipvsadm -Ln`` on a director: {"TCP VIP:PORT sched": {"ADDR:PORT": (method, weight)}}."""
    out = remote_root(name).check_output("ipvsadm -Ln")
    table: dict[str, dict[str, tuple[str, int]]] = {}
    service = None
    for line in out.splitlines():
        m = re.match(r"^(TCP|UDP)\s+(\S+)\s+(\S+)", line)
        if m:
            service = f"{m[1]} {m[2]} {m[3]}"
            table[service] = {}
            continue
        m = re.match(r"^\s+->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+(\S+)\s+(\d+)", line)
        if m and service:
            table[service][m[1]] = (m[2], int(m[3]))
    return table


def service_of(table: dict[str, dict[str, tuple[str, int]]], v: Vip) -> tuple[str, dict]:
    for key, reals in table.items():
        proto, addr, _sched = key.split()
        if proto == "TCP" and addr == f"{v.address}:{v.port}":
            return key, reals
    raise AssertionError(f"no IPVS service TCP {v.address}:{v.port} in {sorted(table)}")


def served_by(lab: Lab, v: Vip, n: int = REQUESTS) -> list[str]:
    """From the client: n fresh connections to the VIP with the VIP's Host name; the short
    name of the real server that answered each (X-Served-By header, else the /health body),
    or "FAIL"."""
    client = role_hosts("client")[0]
    url = f"http://{v.address}:{v.port}/health"
    cmd = (f"for i in $(seq {n}); do "
           f"r=$(curl -s -i --max-time 2 -H 'Connection: close' "
           f"-H 'Host: {v.name}.{lab.domain}' {url} | tr -d '\\r') || true; "
           "h=$(printf '%s\\n' \"$r\" | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: *//p' | head -n1); "
           "[ -n \"$h\" ] || h=$(printf '%s\\n' \"$r\" | sed -n '/^$/{n;p;q}'); "
           "echo \"${h:-FAIL}\"; done")
    out = remote(client).check_output(cmd)
    return [line.strip().split(".")[0] for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_keepalived_enabled_and_running(name: str) -> None:
    svc = remote(name).service(osdata.get(current_lab().hosts[name].os.family)
                               .services["keepalived"])
    assert svc.is_enabled
    assert svc.is_running


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_ipvs_modules_loaded_and_persistent(name: str) -> None:
    host = remote(name)
    assert host.file("/sys/module/ip_vs").is_directory, "ip_vs is not loaded"
    conf = host.file("/etc/modules-load.d/webfarm-ipvs.conf")
    assert conf.exists
    assert "ip_vs" in conf.content_string.split()


@pytest.mark.parametrize("vip_name", director_vips())
def test_vip_on_exactly_one_director_the_highest_priority(lab: Lab, vip_name: str) -> None:
    v = vip(lab, vip_name)
    primary = lab.primary(ROLE)
    # Right after keepalived (re)starts every director is BACKUP until the master-down
    # interval (3 x advert_int + skew) passes: wait for steady state, bounded.
    settle = 3 * lab.vrrp.advert_int + 1 + 20  # + 20 s of slack for emulated (TCG) guests
    found: list[str] = []

    def steady() -> bool:
        found[:] = holders(lab, v)
        return found == [primary.name]

    with contextlib.suppress(WaitTimeout):  # the assertions below say where the VIP is
        wait_until(steady, settle, 1, f"{v.name} on {primary.name} alone")
    assert len(found) == 1, (f"VIP {v.name} ({v.address}) is on {found or 'no director'} "
                             f"{settle:.0f} s after the chapter")
    assert found == [primary.name], (
        f"at steady state the highest-priority director ({primary.name}, priority "
        f"{lab.priority(primary, ROLE)}) holds {v.name}, but {found[0]} does")
    iface = primary.interface(v.network)
    assert str(v.address) in remote(primary.name).check_output(f"ip -o -4 addr show dev {iface}")


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_ipvs_balances_every_pool_in_dr_mode(lab: Lab, name: str) -> None:
    """Both directors program IPVS (the backup is ready to take over); every pool member is
    there with the Route (direct routing) method and a weight above 0."""
    table = ipvs_table(name)
    for v in lab.vips_held_by(ROLE):
        key, reals = service_of(table, v)
        assert key.split()[2] in ("wrr", "rr"), key
        want = {f"{h.addresses[v.network]}:{v.port}" for h in lab.hosts_with(v.pool)}
        assert set(reals) == want, f"{key}: real servers {sorted(reals)}, want {sorted(want)}"
        for addr, (method, weight) in reals.items():
            assert method == "Route", f"{key} -> {addr} uses {method}, not DR (Route)"
            assert weight > 0, f"{key} -> {addr} has weight 0 (health check failing?)"


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_connection_sync_daemon_runs(lab: Lab, name: str) -> None:
    """lvs_sync_daemon follows the VRRP state: the MASTER runs the master sync daemon
    (sends its connection table), the BACKUP the backup one (receives it)."""
    out = remote_root(name).check_output("ipvsadm -Ln --daemon")
    want = "master" if name == lab.primary(ROLE).name else "backup"
    assert re.search(rf"{want} sync daemon", out), f"{name}: {out!r}"
    iface = lab.hosts[name].interface(lab.vips_held_by(ROLE)[0].network)
    assert iface in out


@pytest.mark.parametrize("vip_name", director_vips())
def test_client_requests_reach_every_pool_member(lab: Lab, vip_name: str) -> None:
    v = vip(lab, vip_name)
    answers = served_by(lab, v)
    assert "FAIL" not in answers, f"failed requests to {v.name}: {answers}"
    pool = {h.name for h in lab.hosts_with(v.pool)}
    assert set(answers) == pool, f"{v.name} answered by {sorted(set(answers))}, pool {pool}"


def test_failed_real_server_leaves_ipvs_and_returns(lab: Lab) -> None:
    """Stop nginx on one app server: within the health-check time the MASTER director drops it
    from the www service (the client keeps getting answers from the others); start nginx: it
    comes back."""
    v = next(x for x in lab.vips_held_by(ROLE) if x.pool == "app")
    victim = lab.hosts_with(v.pool)[0]
    member = f"{victim.addresses[v.network]}:{v.port}"
    master = lab.primary(ROLE).name
    nginx = osdata.get(victim.os.family).services["nginx"]

    def present() -> bool:
        _, reals = service_of(ipvs_table(master), v)
        return member in reals and reals[member][1] > 0

    def wait_for(state: bool) -> float:
        start = time.monotonic()
        try:
            wait_until(lambda: present() is state, POLL_S, 0.5, f"{member} in IPVS: {state}")
        except WaitTimeout:
            raise AssertionError(f"{member} still {'absent' if state else 'present'} in IPVS "
                                 f"on {master} after {POLL_S} s") from None
        return time.monotonic() - start

    assert present(), f"{member} must be in service before the test"
    try:
        remote_root(victim.name).check_output(f"systemctl stop {nginx}")
        wait_for(False)
        answers = served_by(lab, v, 6)
        assert "FAIL" not in answers and victim.name not in answers, answers
    finally:
        remote_root(victim.name).run(f"systemctl start {nginx}")
    wait_for(True)


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_chapter_is_idempotent(name: str) -> None:
    assert rerun_chapter(name, CHAPTER).endswith("changed=0")
