"""Chapter 08-monitor checks against the live lab: Nagios runs with the generated
configuration, NRPE runs on every host and answers only the monitor, only on the address the
monitor uses, and takes no arguments; after a forced round every host is UP and every service
OK, and Nagios checks exactly the services lab.yml implies; the VIP holder it reports is the
one that holds the VIP; the web UI answers the client with the password (200) and without it
(401); the chapter changes nothing when it runs again."""

from __future__ import annotations

import shlex
import time

import pytest

from webfarm import monitor, nagioslive
from webfarm import os as osdata
from webfarm.labtest import (
    all_hosts,
    holds_vip,
    remote,
    remote_root,
    rerun_chapter,
    role_hosts,
)
from webfarm.topology import Lab
from webfarm.wait import wait_until

pytestmark = pytest.mark.lab

CHAPTER = "08-monitor"
ROUND_S = 300  # a forced round of every check on a 1-vCPU TCG monitor (check_nrpe + TLS each)


def run(host: str, command: str) -> str:
    return str(remote(host).check_output(command))


def mon_name() -> str:
    return role_hosts("monitor")[0]


def os_of(lab: Lab, name: str) -> osdata.OSFamily:
    return osdata.get(lab.hosts[name].os.family)


@pytest.fixture(name="round_", scope="module")
def round_fixture(lab: Lab) -> nagioslive.Round:
    """One forced check round of everything, shared by the checks that read its results."""
    since = nagioslive.force_round(run, lab)
    return nagioslive.wait_round(run, lab, since, ROUND_S)


def test_nagios_runs_with_a_valid_configuration(lab: Lab) -> None:
    name = mon_name()
    table = os_of(lab, name)
    host = remote(name)
    assert host.service(table.services["nagios"]).is_running
    assert host.service(table.services["nagios"]).is_enabled
    out = host.run(f"sudo -n {table.paths['nagios_bin']} -v {table.paths['nagios_conf']}")
    assert out.rc == 0, out.stdout + out.stderr
    assert "Total Errors:   0" in out.stdout


@pytest.mark.parametrize("name", all_hosts())
def test_nrpe_listens_only_where_the_monitor_looks(lab: Lab, name: str) -> None:
    h = lab.hosts[name]
    host = remote(name)
    assert host.service(os_of(lab, name).services["nrpe"]).is_running
    listening = host.check_output(f"ss -Hltn 'sport = :{monitor.NRPE_PORT}'")
    local = {line.split()[3] for line in listening.splitlines() if line.strip()}
    assert local == {f"{monitor.check_address(lab, h)}:{monitor.NRPE_PORT}"}, listening


def test_after_a_forced_round_every_host_is_up_and_every_service_ok(
        round_: nagioslive.Round) -> None:
    st = round_.status
    down = {n: h.state for n, h in st.hosts.items() if h.state != "UP"}
    bad = [f"{s.host}/{s.description}: {s.state} {s.output}" for s in st.services
           if s.state != "OK"]
    assert not down, f"hosts not UP: {down}"
    assert not bad, "services not OK:\n" + "\n".join(bad)


def test_nagios_checks_exactly_what_the_topology_implies(
        lab: Lab, round_: nagioslive.Round) -> None:
    st = round_.status
    expected = {(s.host, s.description) for s in monitor.services(lab)}
    seen = {(s.host, s.description) for s in st.services}
    assert seen == expected, (f"missing: {sorted(expected - seen)}; "
                              f"extra: {sorted(seen - expected)}")
    assert set(st.hosts) == {h.name for h in monitor.hosts(lab)}
    # every VM and every VIP is watched
    assert len(st.hosts) == len(lab.hosts) + len(lab.vips)


def test_the_vip_holder_nagios_reports_is_the_real_one(
        lab: Lab, round_: nagioslive.Round) -> None:
    for vip in lab.vips.values():
        svc = round_.status.service(monitor.vip_host_name(lab, vip), "VIP holder")
        assert svc is not None and svc.state == "OK", svc
        holders = [h.name for h in lab.hosts_with(vip.holder) if holds_vip(h.name, vip)]
        assert len(holders) == 1, holders
        assert f"is on {holders[0]}" in svc.output, svc.output


def test_nrpe_answers_the_monitor_and_refuses_anyone_else(lab: Lab) -> None:
    mon = mon_name()
    plugins = os_of(lab, mon).paths["nagios_plugins"]
    target = next(h for h in lab.hosts_with("app"))
    addr = monitor.check_address(lab, target)
    # positive control: the monitor gets an answer
    ok = remote(mon).run(f"{plugins}/check_nrpe -H {addr} -t 30 -c webfarm_load")
    assert ok.rc == 0 and ok.stdout.startswith("LOAD OK"), ok.stdout + ok.stderr
    # a client on the same network, not the monitor: NRPE closes without answering and
    # says why in its log
    client = lab.hosts_with("client")[0]
    since = run(target.name, "date '+%Y-%m-%d %H:%M:%S'").strip()
    probe = remote(client.name).run(
        f"timeout 10 bash -c 'exec 3<>/dev/tcp/{addr}/{monitor.NRPE_PORT}; "
        "printf hello >&3; head -c 64 <&3 | wc -c'")
    assert probe.stdout.strip() in ("0", ""), probe.stdout
    refusal = f"Host {client.addresses['front']} is not allowed"

    def logged() -> bool:
        # by syslog identifier: the child that logs it exits at once, and journald does not
        # always manage to tie a dead process's line to the unit (-u would miss it)
        return refusal in run(target.name, f"sudo -n journalctl -t nrpe --since "
                                           f"{shlex.quote(since)} --no-pager -o cat")

    wait_until(logged, 30, 2, f"NRPE on {target.name} to log: {refusal}")


def test_nrpe_takes_no_arguments(lab: Lab) -> None:
    mon = mon_name()
    plugins = os_of(lab, mon).paths["nagios_plugins"]
    target = lab.hosts_with("app")[0]
    addr = monitor.check_address(lab, target)
    out = remote(mon).run(f"{plugins}/check_nrpe -H {addr} -t 30 -c webfarm_load -a '-w 0'")
    assert out.rc != 0, out.stdout
    assert not out.stdout.startswith("OK"), out.stdout


def _ui_status(client: str, url: str, credentials: str | None) -> str:
    config = f'user = "{credentials}"\n' if credentials else ""
    # the password travels in curl's config on stdin, not on its command line
    cmd = (f"printf %s {shlex.quote(config)} | curl -sS -K - -o /dev/null "
           f"-w '%{{http_code}}' --max-time 30 {shlex.quote(url)}")
    return run(client, cmd).strip()


def test_web_ui_asks_for_the_password(lab: Lab, secrets: dict[str, str]) -> None:
    client = role_hosts("client")[0]
    paths = os_of(lab, mon_name()).paths
    base = f"http://{monitor.ui_address(lab)}"
    creds = f"{monitor.UI_USER}:{secrets['nagios_admin_password']}"
    for page in (f"{paths['nagios_url']}/", f"{paths['nagios_cgi_url']}/status.cgi?host=all"):
        assert _ui_status(client, base + page, None) == "401", page
        assert _ui_status(client, base + page, f"{monitor.UI_USER}:wrong") == "401", page
        assert _ui_status(client, base + page, creds) == "200", page
    # the CGI shows the lab's hosts to the authenticated user (not "not authorized")
    config = f'user = "{creds}"\n'
    body = run(client, f"printf %s {shlex.quote(config)} | curl -sS -K - --max-time 30 "
                       f"{shlex.quote(base + paths['nagios_cgi_url'] + '/status.cgi?host=all')}")
    assert "not authorized" not in body
    for name in lab.hosts:
        assert f">{name}<" in body or f"host={name}" in body, name


def test_web_ui_listens_on_the_front_address_only(lab: Lab) -> None:
    mon = mon_name()
    out = run(mon, "ss -Hltn 'sport = :80'")
    local = {line.split()[3] for line in out.splitlines() if line.strip()}
    assert local == {f"{monitor.ui_address(lab)}:80"}, out


def test_notification_log_is_ready(lab: Lab) -> None:
    mon = mon_name()
    user = os_of(lab, mon).paths["nagios_user"]
    f = remote_root(mon).file(nagioslive.notify_log_path(lab))  # in a 0750 nagios directory
    assert f.exists and f.user == user


def test_chapter_is_idempotent(lab: Lab) -> None:
    mon = mon_name()
    others = [n for n in lab.hosts if n != mon][:1]
    for name in [mon, *others]:
        assert rerun_chapter(name, CHAPTER).endswith("changed=0"), name
    # Nagios was not restarted by a no-op run: still running, still answering
    time.sleep(1)
    assert remote(mon).service(os_of(lab, mon).services["nagios"]).is_running
