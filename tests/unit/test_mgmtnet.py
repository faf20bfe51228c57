"""webfarm.mgmtnet without libvirt: the management network's XML, and ensure_isolated's every
branch against a fake virsh (the exact calls it makes, and what it refuses)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from webfarm import mgmtnet
from webfarm.mgmtnet import ManagementNetworkError

NAME, CIDR = "webfarm-mgmt", "192.168.121.0/24"
DEFINE = ("net-define", "<xml file>")  # the temporary file's path varies


# -- the XML --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cidr", "host", "netmask", "start", "end"),
    [
        ("192.168.121.0/24", "192.168.121.1", "255.255.255.0", "192.168.121.2", "192.168.121.254"),
        ("10.20.0.0/22", "10.20.0.1", "255.255.252.0", "10.20.0.2", "10.20.3.254"),
        ("172.16.5.8/29", "172.16.5.9", "255.255.255.248", "172.16.5.10", "172.16.5.14"),
    ],
)
def test_network_xml(cidr: str, host: str, netmask: str, start: str, end: str) -> None:
    root = ET.fromstring(mgmtnet.network_xml("lab-mgmt", cidr))
    assert root.tag == "network"
    assert root.findtext("name") == "lab-mgmt"
    # isolation is a child of <network> itself (libvirt >= 6.1), not of an interface
    ports = root.findall("port")
    assert [p.attrib for p in ports] == [{"isolated": "yes"}]
    assert root.find("forward").attrib == {"mode": "nat"}
    ips = root.findall("ip")
    assert len(ips) == 1
    # netmask, never prefix: vagrant-libvirt only reads the netmask attribute
    assert ips[0].attrib == {"address": host, "netmask": netmask}
    ranges = ips[0].findall("dhcp/range")
    assert [r.attrib for r in ranges] == [{"start": start, "end": end}]
    # no bridge name: libvirt picks a free one (vagrant-libvirt does not compare it)
    assert root.find("bridge") is None


def test_own_xml_parses_as_wanted() -> None:
    have = mgmtnet.parse(mgmtnet.network_xml(NAME, CIDR))
    assert mgmtnet.differences(have, mgmtnet.plan(NAME, CIDR)) == []


@pytest.mark.parametrize("cidr", ["192.168.121.1/24", "192.168.121.0", "10.0.0.0/31",
                                  "fd00::/64", "not-an-address"])
def test_bad_cidr(cidr: str) -> None:
    with pytest.raises(ManagementNetworkError, match="management_network_address"):
        mgmtnet.network_xml(NAME, cidr)


# -- ensure_isolated against a fake virsh -----------------------------------------------------

# What vagrant-libvirt 0.11.2 defines (templates/private_network.xml.erb), as libvirt dumps it.
OLD = """<network ipv6='yes'{conn}>
  <name>webfarm-mgmt</name>
  <uuid>0d3c5c52-6f0e-4a53-9d43-6c9f6f1e2a11</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr1' stp='on' delay='0'/>
  <mac address='52:54:00:12:34:56'/>
  <ip address='192.168.121.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.121.1' end='192.168.121.254'/></dhcp>
  </ip>
</network>"""

# What libvirt dumps after the lab defined it.
OURS = """<network>
  <name>webfarm-mgmt</name>
  <uuid>5a6c4c11-4a5d-48ca-917a-a0a6aac5a0ad</uuid>
  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>
  <bridge name='virbr1' stp='on' delay='0'/>
  <mac address='52:54:00:44:84:05'/>
  <port isolated='yes'/>
  <ip address='192.168.121.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.121.2' end='192.168.121.254'/></dhcp>
  </ip>
</network>"""

DEFAULT = """<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>
  </ip>
</network>"""

LAB_FRONT = """<network>
  <name>webfarm-front</name>
  <bridge name='virbr2' stp='on' delay='0'/>
  <ip address='192.168.56.1' prefix='24'/>
</network>"""


class FakeVirsh:
    """Answers from a table of networks; records every call (a defined file's content too)."""

    def __init__(self, networks: dict[str, str], active: set[str],
                 domains: dict[str, str] | None = None) -> None:
        self.networks, self.active, self.domains = networks, active, domains or {}
        self.calls: list[tuple[str, ...]] = []
        self.defined: list[str] = []

    def __call__(self, *args: str, check: bool = True) -> str:
        if args and args[0] == "net-define":
            self.defined.append(Path(args[1]).read_text(encoding="utf-8"))
            self.calls.append(DEFINE)
            return ""
        self.calls.append(args)
        match args:
            case ("net-list", "--all", "--name"):
                return "".join(f"{n}\n" for n in self.networks) + "\n"
            case ("net-list", "--name"):
                return "".join(f"{n}\n" for n in self.networks if n in self.active) + "\n"
            case ("net-dumpxml", name):
                return self.networks[name]
            case ("list", "--name"):
                return "".join(f"{d}\n" for d in self.domains) + "\n"
            case ("domiflist", dom):
                return self.domains[dom]
            case ("net-destroy" | "net-undefine" | "net-start" | "net-autostart", _):
                return ""
        raise AssertionError(f"unexpected virsh call {args}")


def domiflist(network: str) -> str:
    return (" Interface   Type      Source          Model    MAC\n"
            "--------------------------------------------------------------------\n"
            f" vnet0       network   {network}    virtio   52:54:00:aa:bb:cc\n")


LISTS = [("net-list", "--all", "--name"), ("net-list", "--name")]


def test_missing_is_defined_started_and_autostarted() -> None:
    virsh = FakeVirsh({"default": DEFAULT, "webfarm-front": LAB_FRONT}, active={"default"})
    said = mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert virsh.calls == [*LISTS, ("net-dumpxml", "default"), ("net-dumpxml", "webfarm-front"),
                           DEFINE, ("net-start", NAME), ("net-autostart", NAME)]
    assert virsh.defined == [mgmtnet.network_xml(NAME, CIDR)]
    assert said.startswith(f"management network {NAME} defined")
    assert "isolated" in said


def test_missing_without_autostart() -> None:
    virsh = FakeVirsh({}, active=set())
    mgmtnet.ensure_isolated(virsh, NAME, CIDR, autostart=False)
    assert virsh.calls == [*LISTS, DEFINE, ("net-start", NAME)]


@pytest.mark.parametrize("active", [set(), {NAME}])
def test_present_and_isolated_is_left_alone(active: set[str]) -> None:
    virsh = FakeVirsh({NAME: OURS}, active=active)
    said = mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert virsh.calls == [*LISTS, ("net-dumpxml", NAME)]
    assert "left as is" in said


def test_present_not_isolated_idle_is_redefined() -> None:
    virsh = FakeVirsh({NAME: OLD.format(conn="")}, active={NAME})
    said = mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert virsh.calls == [*LISTS, ("net-dumpxml", NAME), ("net-destroy", NAME),
                           ("net-undefine", NAME), DEFINE, ("net-start", NAME),
                           ("net-autostart", NAME)]
    assert virsh.defined == [mgmtnet.network_xml(NAME, CIDR)]
    assert said.startswith(f"management network {NAME} redefined")
    assert "isolated='yes'" in said  # says what was wrong with it


def test_present_not_isolated_inactive_is_redefined_without_destroy() -> None:
    virsh = FakeVirsh({NAME: OLD.format(conn="")}, active=set())
    mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert virsh.calls == [*LISTS, ("net-dumpxml", NAME), ("net-undefine", NAME), DEFINE,
                           ("net-start", NAME), ("net-autostart", NAME)]


def test_present_not_isolated_in_use_is_refused() -> None:
    virsh = FakeVirsh({NAME: OLD.format(conn=" connections='2'")}, active={NAME},
                      domains={"webfarm_lb1": domiflist(NAME), "webfarm_db1": domiflist(NAME),
                               "other_vm": domiflist("default")})
    with pytest.raises(ManagementNetworkError) as err:
        mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    # looked, named the VMs, changed nothing
    assert virsh.calls == [*LISTS, ("net-dumpxml", NAME), ("list", "--name"),
                           ("domiflist", "webfarm_lb1"), ("domiflist", "webfarm_db1"),
                           ("domiflist", "other_vm")]
    msg = str(err.value)
    assert "webfarm_lb1, webfarm_db1" in msg and "other_vm" not in msg
    assert "isolated" in msg and "front-only host reaches every DB-side host" in msg
    assert "invoke destroy --yes" in msg and "invoke e2e-down" in msg


def test_isolated_but_wrong_address_is_redefined() -> None:
    """vagrant-libvirt finds the network by address: isolation alone is not enough."""
    moved = OURS.replace("192.168.121.", "192.168.200.")
    virsh = FakeVirsh({NAME: moved}, active=set())
    said = mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert (DEFINE in virsh.calls) and ("net-undefine", NAME) in virsh.calls
    assert "192.168.200.1" in said


def test_prefix_instead_of_netmask_is_redefined() -> None:
    """vagrant-libvirt reads only the netmask attribute (util/network_util.rb)."""
    virsh = FakeVirsh({NAME: OURS.replace("netmask='255.255.255.0'", "prefix='24'")},
                      active=set())
    mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert DEFINE in virsh.calls


def test_overlapping_network_is_refused() -> None:
    other = DEFAULT.replace("default", "vagrant-libvirt").replace("192.168.122.", "192.168.121.")
    virsh = FakeVirsh({"vagrant-libvirt": other}, active=set())
    with pytest.raises(ManagementNetworkError, match=r"'vagrant-libvirt'.*overlaps") as err:
        mgmtnet.ensure_isolated(virsh, NAME, CIDR)
    assert virsh.calls == [*LISTS, ("net-dumpxml", "vagrant-libvirt")]
    assert "virsh net-undefine vagrant-libvirt" in str(err.value)
