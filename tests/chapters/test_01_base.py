"""Chapter 01-base checks, on every host of the live lab: identity (hostname, addresses on
the right interfaces, /etc/hosts), the networks (every host reaches every host it shares a
network with, nothing on a network it is not on, and no host of the other side on any
address it has, the management network's included), time synchronised from the lab's own
time source, the package source and tools, and a re-run that changes nothing."""

from __future__ import annotations

import pytest

from webfarm import os as osdata
from webfarm import paths, timesync
from webfarm.labtest import (
    all_hosts,
    current_lab,
    host_addresses,
    listening_tcp_ports,
    probe,
    remote,
    remote_root,
    rerun_chapter,
)

pytestmark = pytest.mark.lab

LAB = current_lab()
# Hosts that are not on every network: they must reach nothing on the others.
PARTIAL = [h.name for h in LAB.hosts.values() if set(h.networks) != set(LAB.networks)]


def other_side(name: str) -> list[str]:
    """Hosts sharing no lab network with ``name``: for a front-only host the DB-side hosts
    (on db, not on front), for a DB-side host the front-only ones."""
    model = LAB.hosts[name]
    return [p.name for p in LAB.hosts.values() if not set(p.networks) & set(model.networks)]


SIDED = [name for name in PARTIAL if other_side(name)]


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
    lab interface (only the management default route, which on libvirt does not lead there),
    and no answer to ping. On VirtualBox the NAT behind eth0 sends the packet through the
    workstation, which sits on every host-only network: expect this check to fail there."""
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


@pytest.mark.parametrize("name", SIDED)
def test_no_side_path_to_the_other_side(name):
    """No host of the other side answers on ANY address it has: its lab addresses and every
    address on its other interfaces (read on that host: Vagrant's management NIC eth0, IPv4
    and IPv6 link-local), pinged and TCP-probed on ssh and whatever it listens on for every
    address. From a front-only host that is every DB-side host; from a DB-side host, every
    front-only host (their management addresses included).

    The test above only looks at the lab networks. Before the lab defined its management
    network itself (webfarm/mgmtnet.py: libvirt port isolation), this one FAILED: every VM's
    eth0 sat on vagrant-libvirt's one shared management bridge, so from client1 data1's eth0
    address answered ping and ssh (and the reverse). With isolated ports the guests reach the
    host on that bridge, never each other: no answer, not even ARP. (libvirt only: on
    VirtualBox nothing closes the path through the NAT and the workstation.)"""
    host = remote(name)
    own_ifaces = sorted({a.iface for a in host_addresses(name)})
    targets: dict[str, tuple[int, ...]] = {}
    where: dict[str, str] = {}  # target -> "peer iface" for the message
    for peer in other_side(name):
        ports = tuple(sorted({22, *listening_tcp_ports(peer)[:4]}))
        model = LAB.hosts[peer]
        found = list(host_addresses(peer))
        known = {a.address for a in found}
        lab = [(model.interface(n), str(a)) for n, a in model.addresses.items()
               if str(a) not in known]  # in the model but not up: probe it all the same
        for a in found:
            for target in a.targets(own_ifaces):
                targets[target], where[target] = ports, f"{peer} {a.iface}"
        for iface, address in lab:
            targets[address], where[address] = ports, f"{peer} {iface}"
    assert targets, f"{name}: no address of the other side to probe"
    # The probe itself works: a host on the same network answers ping and ssh.
    control = next(str(p.addresses[n]) for n in LAB.hosts[name].networks
                   for p in LAB.hosts_on(n) if p.name != name)
    assert probe(host, {control: (22,)}) == [(control, "icmp"), (control, "tcp/22")], (
        f"{name}: the probe gets no answer from {control}, a host on its own network")
    answered = probe(host, targets, wait=1)
    assert not answered, f"{name} reaches the other side: " + "; ".join(
        f"{where[t]} answers {how} on {t}" for t, how in answered)


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
        f". {paths.guest_host_dir(name)}/env.sh && echo $WF_PACKAGE_SOURCE")
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
