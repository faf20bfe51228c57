"""Chapter 01-base checks, on every host of the live lab: identity (hostname, addresses on
the right interfaces, /etc/hosts), the networks (every host reaches every host it shares a
network with, and nothing on a network it is not on), time synchronised from the lab's own
time source, the package source and tools, and a re-run that changes nothing."""

from __future__ import annotations

import pytest

from webfarm import os as osdata
from webfarm import timesync
from webfarm.labtest import all_hosts, current_lab, remote, remote_root, rerun_chapter

pytestmark = pytest.mark.lab

LAB = current_lab()
# Hosts that are not on every network: they must reach nothing on the others.
PARTIAL = [h.name for h in LAB.hosts.values() if set(h.networks) != set(LAB.networks)]


def parallel_ping(addresses: list[str], wait: int) -> str:
    """A shell command pinging every address at once; prints the addresses that answered."""
    pings = " ".join(
        f"(ping -n -q -c 2 -i 0.2 -W {wait} {a} >/dev/null 2>&1 && echo {a}) &"
        for a in addresses)
    return f"{pings} wait"


def resolve_all(host, names: list[str]) -> dict[str, str | None]:
    """{name: the address /etc/hosts gives for it (None: not listed)}, in one command."""
    out = host.check_output(
        f'for n in {" ".join(names)}; do echo "$n $(getent -s files hosts $n)"; done')
    rows = [line.split() for line in out.splitlines()]
    return {row[0]: (row[1] if len(row) > 1 else None) for row in rows}


def route_devices(host, addresses: list[str]) -> dict[str, str | None]:
    """{address: interface the kernel sends it out of (None: no route)}, in one command."""
    out = host.check_output(
        f'for a in {" ".join(addresses)}; do echo "$a $(ip -4 -o route get $a 2>&1)"; done')
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return {row[0]: (row[row.index("dev") + 1] if "dev" in row else None) for row in rows}


@pytest.mark.parametrize("name", all_hosts())
def test_hostname(name):
    host = remote(name)
    assert host.check_output("hostname") == name
    # the FQDN comes from /etc/hosts: the first name on the host's own line
    assert host.check_output("hostname -f") == LAB.fqdn(name)


@pytest.mark.parametrize("name", all_hosts())
def test_addresses_on_the_right_interfaces(name):
    host, model = remote(name), LAB.hosts[name]
    for net, address in model.addresses.items():
        iface = model.interface(net)
        out = host.check_output(f"ip -4 -o addr show dev {iface}")
        want = f"{address}/{LAB.networks[net].prefixlen}"
        assert f" {want} " in out, f"{name}: {want} ({net}) is not on {iface}:\n{out}"


@pytest.mark.parametrize("name", all_hosts())
def test_hosts_file_resolves_the_reachable_hosts(name):
    """`getent -s files` asks /etc/hosts alone (no DNS, no LLMNR on the management NIC):
    every host sharing a network (and the VIPs of its networks) resolves to its address on
    that network, nothing else resolves."""
    model = LAB.hosts[name]
    want: dict[str, str | None] = {}
    for peer in LAB.hosts.values():
        shared = [n for n in LAB.networks if model.on(n) and peer.on(n)]
        address = model.primary_address if peer.name == name else (
            peer.addresses[shared[0]] if shared else None)
        want[LAB.fqdn(peer)] = want[peer.name] = str(address) if address else None
    for vip in LAB.vips.values():
        address = str(vip.address) if model.on(vip.network) else None
        want[LAB.fqdn(vip.name)] = want[vip.name] = address
    got = resolve_all(remote(name), list(want))
    assert got == want


@pytest.mark.parametrize("name", all_hosts())
def test_reaches_every_host_on_its_networks(name):
    host, model = remote(name), LAB.hosts[name]
    targets = {str(peer.addresses[net]): model.interface(net)
               for net in model.networks for peer in LAB.hosts_on(net) if peer.name != name}
    # the kernel sends each of them out of the lab interface of that network
    routes = route_devices(host, list(targets))
    assert routes == targets, f"{name}: peers routed through the wrong interface"
    answered = set(host.check_output(parallel_ping(list(targets), wait=2)).split())
    assert answered == set(targets), f"{name}: no answer from {sorted(set(targets) - answered)}"


@pytest.mark.parametrize("name", PARTIAL)
def test_cannot_reach_networks_it_is_not_on(name):
    """A front-only host reaches no DB host and a DB-only host no front host: no route on a
    lab interface (only the management default route, which does not lead there), and no
    answer to ping."""
    host, model = remote(name), LAB.hosts[name]
    lab_ifaces = {model.interface(n) for n in model.networks}
    foreign = [str(peer.addresses[net]) for net in LAB.networks if not model.on(net)
               for peer in LAB.hosts_on(net) if not set(peer.networks) & set(model.networks)]
    assert foreign, f"{name}: no host to test isolation against"
    routes = route_devices(host, foreign)
    through_lab = {a: dev for a, dev in routes.items() if dev in lab_ifaces}
    assert not through_lab, f"{name}: routed through a lab interface: {through_lab}"
    answered = host.check_output(parallel_ping(foreign, wait=1)).split()
    assert answered == [], f"{name} reaches {answered} on a network it is not on"


@pytest.mark.parametrize("name", all_hosts())
def test_time_synchronised(name):
    """chronyc tracking: leap status Normal, and the reference is the lab's time plan: the
    time server its own clock (reference ID 7F7F0101, "LOCAL"), everybody else its source.
    chrony polls every 4-16 s in the lab, so give it up to a minute."""
    host, model = remote_root(name), LAB.hosts[name]
    upstream = timesync.upstream(LAB, model)
    want = f"({upstream})" if upstream else "7F7F0101"
    out = host.check_output(
        "for i in $(seq 30); do chronyc -n tracking | grep -q %s && "
        "chronyc -n tracking | grep -q 'Leap status *: Normal' && break; sleep 2; done; "
        "chronyc -n tracking", want)
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields.get("Leap status") == "Normal", f"{name} is not synchronised:\n{out}"
    assert want in fields.get("Reference ID", ""), f"{name} should follow {want}:\n{out}"


@pytest.mark.parametrize("name", all_hosts())
def test_chrony_enabled_and_running(name):
    model = LAB.hosts[name]
    service = remote(name).service(osdata.get(model.os.family).services["chrony"])
    assert service.is_enabled
    assert service.is_running


@pytest.mark.parametrize("name", all_hosts())
def test_package_source_and_tools(name):
    """The tools of every host (and the client's) are installed, from the source the chapter
    was asked for: offline = only the box's package cache."""
    host, model = remote(name), LAB.hosts[name]
    family = osdata.get(model.os.family)
    wanted = family.packages["base"] + (family.packages["client"]
                                        if model.has_role("client") else [])
    missing = [p for p in wanted if not host.package(p).is_installed]
    assert not missing, f"{name}: not installed: {missing}"
    if family.package_manager != "apt":
        return
    source = remote_root(name).check_output(
        f". /vagrant/.lab/hosts/{name}/env.sh && echo $WF_PACKAGE_SOURCE")
    repos = set(host.check_output(
        "apt-get indextargets --no-release-info --format '$(REPO_URI)'").split())
    cache = f"file:{family.paths['package_cache']}/"
    assert repos, f"{name}: apt has no source at all"
    if source == "offline":
        assert repos == {cache}, f"{name}: offline, yet apt also uses {repos - {cache}}"
    else:
        assert cache not in repos, f"{name}: mirror, yet apt still uses the offline cache"


@pytest.mark.parametrize("name", all_hosts())
def test_rerun_changes_nothing(name):
    assert rerun_chapter(name, "01-base").endswith("changed=0")
