"""What ``invoke up`` needs before a VM starts: Vagrant installed, KVM usable (unless the
qemu driver was asked for), libvirt answering, every base box added; then the management
network made isolated. Each refusal is a :class:`UserError` naming the fix.

:func:`kvm_problem` is the one KVM probe (``invoke box`` uses it for Packer too).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from webfarm.args import UserError
from webfarm.topology import Lab
from webfarm.virsh import VirshError, virsh

KVM_DEVICE = Path("/dev/kvm")


def kvm_problem(device: Path = KVM_DEVICE) -> str | None:
    """None when DEVICE can be opened read-write, else why not (with the fix)."""
    if not device.exists():
        return (
            f"{device} does not exist: no KVM on this machine. Fix: enable virtualization "
            "(VT-x/AMD-V) in the firmware, or nested virtualization if this is a VM, and load "
            "the kvm_intel or kvm_amd module; or build by hand with -var accelerator=tcg "
            "(no KVM, many times slower)"
        )
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except PermissionError:
        return (
            f"{device} exists but this user cannot open it read-write. Fix: "
            "sudo usermod -aG kvm $USER, then log in again"
        )
    except OSError as err:
        return f"{device} cannot be opened read-write ({err.strerror}). Fix: check the kvm module"
    os.close(fd)
    return None


def kvm_usable(device: Path = KVM_DEVICE) -> bool:
    return kvm_problem(device) is None


def preflight(lab: Lab, provider: str = "libvirt") -> None:
    """Refuse to start when this machine cannot run the lab (nothing is changed)."""
    from webfarm import boxes

    if not shutil.which("vagrant"):
        raise UserError("vagrant is not installed. Fix: bash webfarm/scripts/setup-host.sh lab "
                        "(installs vagrant, vagrant-libvirt, libvirt and qemu from your distro)")
    if provider == "libvirt":
        driver = lab.provider.get("libvirt", {}).get("driver", "kvm")
        if driver == "kvm" and not kvm_usable():
            raise UserError(
                "this host has no usable hardware virtualization (/dev/kvm is missing or not "
                "accessible). Fix: enable VT-x/AMD-V in the firmware and load kvm_intel or "
                "kvm_amd; or run `invoke up --driver qemu` (software emulation, several times "
                "slower); or run the whole lab in its own namespace with `invoke e2e`")
        try:
            virsh("version")
        except VirshError:
            raise UserError("libvirt does not answer on qemu:///system. Fix: systemctl start "
                            "libvirtd (and add yourself to the libvirt group), or use "
                            "`invoke e2e` which starts its own libvirtd") from None
    for box in {h.os for h in lab.hosts.values()}:
        if not boxes.box_added(box.box, provider):
            raise UserError(f"the Vagrant box {box.box} ({provider}) is missing (lab.yml "
                            f"boxes.{box.name}). Fix: invoke box --os {box.name}")


def isolate_management_network(lab: Lab) -> str:
    """Guests on the management network reach the host, never each other (webfarm.mgmtnet);
    returns what was done, in words."""
    from webfarm import mgmtnet
    from webfarm.virsh import virsh

    lv = lab.provider["libvirt"]
    try:
        return mgmtnet.ensure_isolated(virsh, lv["management_network_name"],
                                       lv["management_network_address"])
    except mgmtnet.ManagementNetworkError as err:
        raise UserError(str(err)) from None
