"""The lab's own libvirt management network, with port isolation.

vagrant-libvirt puts every VM on one management network (``eth0``: DHCP, NAT, how Vagrant
and the checks log in). It is a single shared bridge, so without care it is a side path
around the lab's design: a front-only host reaches every DB-side host over it. The lab
therefore defines that network itself, before ``vagrant up``, with libvirt port isolation
(``<port isolated='yes'/>``, libvirt >= 6.1): every guest port on the bridge may talk to the
host (the bridge address, NAT to the outside), never to another guest port.

How vagrant-libvirt 0.11.2 takes an existing network (``lib/vagrant-libvirt/``):

- ``util/network_util.rb:64-76``: the management network is a private network with ``ip``
  and ``netmask`` from ``management_network_address`` and ``dhcp_enabled: true``.
- ``action/create_networks.rb:83-84, 136-161``: with an ``ip`` it looks the existing network
  up **by network address**, computed from the first ``<ip address=… netmask=…>`` of the
  network's XML (``util/network_util.rb:161-177``: only the ``netmask`` attribute is read, a
  ``prefix`` leaves the address unknown). Found: reused as it is. Not found but the name is
  taken: ``NetworkNameAndAddressMismatch`` (``create_networks.rb:178-181``).
- Not compared: forward mode, bridge name, domain, isolation, the DHCP range. ``verify_dhcp``
  (``create_networks.rb:126-132``) only refuses DHCP that is on when it was asked off; the
  management network asks it on, and VMs without a lease are never found, so the lab's
  network keeps a DHCP range.
- An inactive network is started (``create_networks.rb:94``).
- Deletion: unless ``management_network_keep = true`` (``network_util.rb:97-98``), every
  machine records the network's UUID in its ``created_networks`` file even when the network
  already existed (``create_networks.rb:217-219``), and ``vagrant destroy`` destroys and
  undefines it once nothing is attached (``action/destroy_networks.rb:59-78``). The
  Vagrantfile should set ``management_network_keep = true``; without it the next
  ``ensure_isolated`` simply defines the network again.

Two networks with overlapping addresses cannot both be active, and vagrant-libvirt would
pick either by address (``create_networks.rb:105``): ``ensure_isolated`` refuses that too.
"""

from __future__ import annotations

import ipaddress
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# virsh(*args, check=True) -> stdout: the caller's way to run virsh (inside the lab's network
# namespace: LabNamespace.virsh; on the system: a subprocess wrapper).
Virsh = Callable[..., str]


class ManagementNetworkError(Exception):
    """The management network cannot be made isolated now; the message says why and the fix."""


@dataclass(frozen=True)
class Plan:
    """The addresses of the management network, all derived from its CIDR."""

    name: str
    network: ipaddress.IPv4Network
    host: ipaddress.IPv4Address  # the bridge: gateway, DHCP and DNS server of the guests
    dhcp_start: ipaddress.IPv4Address
    dhcp_end: ipaddress.IPv4Address

    @property
    def netmask(self) -> str:
        return str(self.network.netmask)

    def summary(self) -> str:
        return (f"{self.network}, host {self.host}, DHCP {self.dhcp_start}-{self.dhcp_end}, "
                "guest ports isolated")


def plan(name: str, cidr: str) -> Plan:
    """The bridge takes the first host address, DHCP hands out every other host address."""
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        raise ManagementNetworkError(
            f"management network {name}: {cidr!r} is not an IPv4 network address with a "
            f"prefix ({exc}); fix provider.libvirt.management_network_address in lab.yml, "
            "e.g. 192.168.121.0/24") from None
    if net.num_addresses < 4:
        raise ManagementNetworkError(
            f"management network {name}: {cidr} is too small (the host needs one address and "
            "each VM one more); use a /29 or larger in "
            "provider.libvirt.management_network_address of lab.yml")
    first, last = net.network_address + 1, net.broadcast_address - 1
    return Plan(name=name, network=net, host=first, dhcp_start=first + 1, dhcp_end=last)


# --8<-- [start:network_xml]
def network_xml(name: str, cidr: str) -> str:
    """libvirt network XML: NAT to the outside, the host on the bridge's first address,
    DHCP for the VMs, and every guest port isolated from every other guest port."""
    p = plan(name, cidr)
    net = ET.Element("network")
    ET.SubElement(net, "name").text = p.name
    ET.SubElement(net, "forward", mode="nat")
    ET.SubElement(net, "port", isolated="yes")  # guests talk to the host, not to each other
    # netmask, not prefix: vagrant-libvirt reads only the netmask attribute
    ip = ET.SubElement(net, "ip", address=str(p.host), netmask=p.netmask)
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(p.dhcp_start), end=str(p.dhcp_end))
    ET.indent(net)
    return ET.tostring(net, encoding="unicode") + "\n"
# --8<-- [end:network_xml]


@dataclass(frozen=True)
class Existing:
    """What matters of a defined network, read from ``virsh net-dumpxml``."""

    isolated: bool
    forward: str | None
    address: str | None
    netmask: str | None
    network: ipaddress.IPv4Network | None
    dhcp: bool
    connections: int


def parse(xml: str) -> Existing:
    root = ET.fromstring(xml)
    port = root.find("port")
    fwd = root.find("forward")
    ip = next((e for e in root.findall("ip") if e.get("family", "ipv4") == "ipv4"), None)
    address = ip.get("address") if ip is not None else None
    netmask = ip.get("netmask") if ip is not None else None
    prefix = ip.get("prefix") if ip is not None else None
    network = None
    if address and (netmask or prefix):
        network = ipaddress.IPv4Network(f"{address}/{netmask or prefix}", strict=False)
    return Existing(
        isolated=port is not None and port.get("isolated") == "yes",
        forward=fwd.get("mode", "nat") if fwd is not None else None,
        address=address,
        netmask=netmask,
        network=network,
        dhcp=ip is not None and ip.find("dhcp/range") is not None,
        connections=int(root.get("connections", "0")),
    )


def differences(have: Existing, want: Plan) -> list[str]:
    """Why an existing network is not the lab's management network (empty: it is)."""
    why = []
    if not have.isolated:
        why.append("no <port isolated='yes'/>, so its guests reach each other")
    if have.forward != "nat":
        why.append(f"forward mode {have.forward or 'none'}, not nat")
    if have.address != str(want.host) or have.netmask != want.netmask:
        why.append(f"address {have.address}/{have.netmask or '?'}, not "
                   f"{want.host}/{want.netmask} (vagrant-libvirt matches on it)")
    if not have.dhcp:
        why.append("no DHCP range (vagrant-libvirt finds its VMs by their leases)")
    return why


def _names(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip()]


def _users(virsh: Virsh, name: str) -> list[str]:
    """Running domains with an interface on network ``name`` (best effort, for messages)."""
    users = []
    for dom in _names(virsh("list", "--name", check=False)):
        rows = [line.split() for line in virsh("domiflist", dom, check=False).splitlines()]
        if any(len(r) >= 3 and r[1] == "network" and r[2] == name for r in rows):
            users.append(dom)
    return users


def _define_and_start(virsh: Virsh, p: Plan, autostart: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="webfarm-mgmtnet-") as tmp:
        path = Path(tmp) / f"{p.name}.xml"
        path.write_text(network_xml(p.name, str(p.network)), encoding="utf-8")
        virsh("net-define", str(path))
    virsh("net-start", p.name)
    if autostart:
        virsh("net-autostart", p.name)


def ensure_isolated(virsh: Virsh, name: str, cidr: str, *, autostart: bool = True) -> str:
    """Make libvirt network ``name`` the lab's isolated management network on ``cidr``.

    Call it before ``vagrant up``, with the libvirt the lab uses (``ns.virsh`` inside the
    lab's namespace, a system virsh otherwise). Missing: defined, started, autostarted.
    Present and as wanted: left alone. Present but not as wanted (typically made without
    isolation by vagrant-libvirt on an earlier run) and no VM attached: destroyed, undefined
    and defined again. Present, not as wanted and VMs attached: ManagementNetworkError (its
    isolation cannot change under running VMs). Returns one line for the log.
    """
    want = plan(name, cidr)
    every = _names(virsh("net-list", "--all", "--name"))
    active = set(_names(virsh("net-list", "--name")))
    for other in every:
        if other == name:
            continue
        theirs = parse(virsh("net-dumpxml", other)).network
        if theirs is not None and theirs.overlaps(want.network):
            raise ManagementNetworkError(
                f"libvirt network {other!r} ({theirs}) overlaps the lab's management network "
                f"{name} ({want.network}): both cannot be active, and vagrant-libvirt picks a "
                f"management network by its address, so it could take {other!r}. Remove it if "
                f"it is a leftover (`virsh net-destroy {other}; virsh net-undefine {other}`), "
                "or give provider.libvirt.management_network_address in lab.yml another range")
    if name not in every:
        _define_and_start(virsh, want, autostart)
        return f"management network {name} defined ({want.summary()})"
    have = parse(virsh("net-dumpxml", name))
    why = differences(have, want)
    if not why:
        return f"management network {name} already isolated ({want.summary()}): left as is"
    if name in active and have.connections:
        users = _users(virsh, name)
        who = f": {', '.join(users)}" if users else ""
        raise ManagementNetworkError(
            f"libvirt network {name}, the lab's management network, is not as the lab needs "
            f"it ({'; '.join(why)}), and {have.connections} VM interface(s) are attached to "
            f"it{who}. It cannot be redefined under running VMs, and without port isolation a "
            "front-only host reaches every DB-side host over it. Fix: remove the lab's VMs "
            "(`invoke destroy --yes`, or `invoke e2e-down` for the e2e namespace), then run "
            "this again: the network is then redefined with isolation")
    if name in active:
        virsh("net-destroy", name)
    virsh("net-undefine", name)
    _define_and_start(virsh, want, autostart)
    return (f"management network {name} redefined ({want.summary()}); it had "
            f"{'; '.join(why)} (left by an earlier vagrant-libvirt run)")
