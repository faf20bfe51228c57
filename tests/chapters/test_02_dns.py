"""Chapter 02-dns checks: a BIND primary and secondary serve the lab's zones, transfers need
the TSIG key, a change on the primary reaches the secondary, and every host on the front
network gets every lab name from both servers when it asks them (dig, through its
resolv.conf: applications read /etc/hosts first and never ask the servers for the names it
lists)."""

from __future__ import annotations

import contextlib
import secrets as random

import pytest

from webfarm import render
from webfarm.labtest import current_lab, remote, remote_root, rerun_chapter, role_hosts
from webfarm.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.lab

LAB = current_lab()
DNS = role_hosts("dns")
PRIMARY = DNS[0]
CLIENT = role_hosts("client")[0]
FRONT = [h.name for h in LAB.hosts_on("front")]
REVERSE_ZONE = render.environment().filters["reverse_zone"]
ZONES = [LAB.domain] + [REVERSE_ZONE(n.cidr) for n in LAB.networks.values()]
KEY = f"{LAB.name}-xfer"


def addr(name: str) -> str:
    return str(LAB.hosts[name].addresses["front"])


def expected_names() -> dict[str, str]:
    """Every lab name -> address: hosts (NAME, NAME-NETWORK for a second network), VIPs."""
    names = {}
    for h in LAB.hosts.values():
        for net, a in h.addresses.items():
            label = h.name if a == h.primary_address else f"{h.name}-{net}"
            names[f"{label}.{LAB.domain}"] = str(a)
    for v in LAB.vips.values():
        names[f"{v.name}.{LAB.domain}"] = str(v.address)
    return names


def answers(host: str, query: str) -> list[str]:
    """dig's answers (its ';;' error lines removed) for ``query`` run on ``host``."""
    out = remote(host).run(f"dig +time=2 +tries=2 {query}").stdout
    return [line for line in out.splitlines() if line and not line.startswith(";")]


def soa_serial(host: str, server: str, zone: str) -> str:
    soa = answers(host, f"+short +norec @{server} SOA {zone}")
    assert len(soa) == 1, f"no SOA for {zone} from {server}: {soa}"
    return soa[0].split()[2]


@pytest.mark.parametrize("name", DNS)
def test_named_runs_and_listens_on_the_front_address(name):
    host = remote(name)
    named = host.service("named")
    assert named.is_running and named.is_enabled
    for proto in ("udp", "tcp"):
        assert host.socket(f"{proto}://{addr(name)}:53").is_listening, f"{proto}/53 on {name}"


@pytest.mark.parametrize("name", DNS)
def test_server_answers_authoritatively(name):
    out = remote(CLIENT).check_output(f"dig +norec +time=2 @{addr(name)} SOA {LAB.domain}")
    flags = next(line for line in out.splitlines() if ";; flags:" in line)
    assert " aa" in flags.split(";")[2], f"{name} is not authoritative: {flags}"
    assert "status: NOERROR" in out


@pytest.mark.parametrize("zone", ZONES)
def test_servers_have_the_same_serial(zone):
    serials = {name: soa_serial(CLIENT, addr(name), zone) for name in DNS}
    assert len(set(serials.values())) == 1, f"{zone}: serials differ: {serials}"


@pytest.mark.parametrize("name", DNS)
def test_transfer_refused_without_the_key(name):
    out = remote(CLIENT).run(f"dig +time=2 axfr {LAB.domain} @{addr(name)}").stdout
    assert "Transfer failed" in out, f"{name} gave the zone to an unsigned request:\n{out}"
    assert f"www.{LAB.domain}." not in out


@pytest.mark.parametrize("name", DNS)
def test_transfer_with_the_key(name, secrets):
    fetcher = next(n for n in DNS if n != name)
    key = f"hmac-sha256:{KEY}:{secrets['tsig_key']}"
    out = remote(fetcher).check_output(f"dig -y {key} axfr {LAB.domain} @{addr(name)}")
    assert "XFR size" in out and "Transfer failed" not in out, out
    assert f"www.{LAB.domain}." in out


@pytest.mark.parametrize("name", FRONT)
def test_resolv_conf_lists_both_servers(name):
    conf = remote(name).file("/etc/resolv.conf")
    assert conf.is_file and not conf.is_symlink, "resolv.conf must be a plain file"
    servers = [line.split()[1] for line in conf.content_string.splitlines()
               if line.startswith("nameserver ")]
    assert servers == [addr(n) for n in DNS], "both name servers, primary first"


@pytest.mark.parametrize("name", FRONT)
def test_every_name_resolves(name):
    """Through the host's own resolv.conf (dig, not getent: /etc/hosts would answer too)."""
    wrong = {}
    for fqdn, want in expected_names().items():
        got = answers(name, f"+short {fqdn}")
        if got != [want]:
            wrong[fqdn] = got
    www = LAB.vips["www"]
    checks = {
        "+short +search www": [str(www.address)],  # the search domain
        f"+short -x {www.address}": [f"www.{LAB.domain}."],
        f"+short -x {LAB.hosts[name].primary_address}": [f"{name}.{LAB.domain}."],
    }
    for query, want in checks.items():
        if (got := answers(name, query)) != want:
            wrong[query] = got
    assert not wrong, f"{name}: wrong answers (name: got) {wrong}"


def test_a_change_on_the_primary_reaches_the_secondaries():
    """A record added on the primary (dynamic update) reaches every secondary by NOTIFY and
    transfer within seconds; it is removed again so the lab is left as it was."""
    record = f"wf-check-{random.token_hex(4)}.{LAB.domain}"
    token = random.token_hex(8)
    update = remote_root(PRIMARY)

    def nsupdate(command: str) -> None:
        update.check_output(f"printf '{command}\\nsend\\n' | nsupdate -l")

    def seen_everywhere(present: bool, within: float = 15) -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}

        def settled() -> bool:
            got.clear()
            got.update({n: answers(CLIENT, f"+short +norec @{addr(n)} TXT {record}")
                        for n in DNS})
            return all((got[n] == [f'"{token}"']) == present for n in DNS)

        # on a timeout the caller's assertion reports what each server answered last
        with contextlib.suppress(WaitTimeout):
            wait_until(settled, within, 1, f"{record} to be {'present' if present else 'gone'}")
        return got

    before = soa_serial(CLIENT, addr(PRIMARY), LAB.domain)
    nsupdate(f'update add {record} 60 TXT "{token}"')
    try:
        got = seen_everywhere(present=True)
        assert all(v == [f'"{token}"'] for v in got.values()), f"not propagated: {got}"
        after = {n: soa_serial(CLIENT, addr(n), LAB.domain) for n in DNS}
        assert set(after.values()) == {after[PRIMARY]} and int(after[PRIMARY]) > int(before)
    finally:
        nsupdate(f"update delete {record} TXT")
    got = seen_everywhere(present=False)
    assert not any(got.values()), f"the test record was not removed everywhere: {got}"


@pytest.mark.parametrize("name", [*DNS, CLIENT])
def test_rerun_changes_nothing(name):
    assert rerun_chapter(name, "02-dns").endswith("changed=0")
