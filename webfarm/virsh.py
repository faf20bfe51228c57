"""``virsh`` against the system libvirt (qemu:///system) of wherever this process runs: the
host for ``invoke up``, the lab's namespace for the e2e inner phase."""

from __future__ import annotations

import subprocess

URI = "qemu:///system"
TIMEOUT = 120  # seconds; libvirt answers in well under a second unless it is wedged


class VirshError(Exception):
    """virsh failed; the message has its command and error."""


def virsh(*args: str, check: bool = True) -> str:
    """Run ``virsh -c qemu:///system ARGS``; return stdout (raise VirshError if it fails and
    CHECK)."""
    try:
        res = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True,
                             check=False, timeout=TIMEOUT)
    except FileNotFoundError:
        raise VirshError("virsh is not installed. Fix: apt-get install libvirt-clients") from None
    except subprocess.TimeoutExpired:
        raise VirshError(f"virsh {' '.join(args)} did not answer within {TIMEOUT} s: is "
                         "libvirtd wedged?") from None
    if check and res.returncode != 0:
        raise VirshError(f"virsh {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout
