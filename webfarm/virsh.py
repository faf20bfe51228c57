"""``virsh`` against the system libvirt (qemu:///system) of wherever this process runs: the
host for ``invoke up``, the lab's namespace for the e2e inner phase."""

from __future__ import annotations

import sh

URI = "qemu:///system"
TIMEOUT = 120  # seconds; libvirt answers in well under a second unless it is wedged


class VirshError(Exception):
    """virsh failed; the message has its command and error."""


def virsh(*args: str, check: bool = True) -> str:
    """Run ``virsh -c qemu:///system ARGS``; return stdout (raise VirshError if it fails and
    CHECK)."""
    try:
        # pipes, not sh's default pseudo-terminal; any exit code: read below
        res = sh.Command("virsh")("-c", URI, *args, _tty_out=False, _timeout=TIMEOUT,
                                  _ok_code=range(256), _return_cmd=True)
    except sh.CommandNotFound:
        raise VirshError("virsh is not installed. Fix: apt-get install libvirt-clients") from None
    except sh.TimeoutException:
        raise VirshError(f"virsh {' '.join(args)} did not answer within {TIMEOUT} s: is "
                         "libvirtd wedged?") from None
    if check and res.exit_code != 0:
        raise VirshError(f"virsh {' '.join(args)} failed: "
                         f"{res.stderr.decode(errors='replace').strip()}")
    return res.stdout.decode(errors="replace")  # type: ignore[no-any-return]
