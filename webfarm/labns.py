"""Run a task inside the lab's network namespace when the lab lives in one.

``invoke e2e --keep`` leaves a lab whose addresses are only reachable inside its namespace
(``.lab/state.yml`` names it); :func:`enter_lab_namespace` re-runs the current ``invoke``
command there (``ip netns exec``), once. The namespace itself is made by webfarm.netns.
"""

from __future__ import annotations

import os
import sys

import sh

from webfarm import paths
from webfarm import state as lab_state
from webfarm.args import UserError
from webfarm.netns import NETNS_DIR

ENV_MARK = "WEBFARM_IN_NETNS"  # set in the re-run command: never re-enter


def current_namespace() -> str | None:
    """The name of the network namespace this process runs in (None: the host's, or no ip)."""
    try:
        out = sh.Command("ip")("netns", "identify", str(os.getpid()), _tty_out=False,
                               _ok_code=range(256), _err=os.devnull)
    except sh.CommandNotFound:
        return None
    return str(out).strip() or None


def enter_lab_namespace() -> None:
    """Re-run this command inside the lab's network namespace when the lab lives in one
    (``invoke e2e --keep``); lab addresses are only reachable there. Returns when there is
    nothing to enter (or when already inside)."""
    ns = lab_state.load().namespace
    if not ns or os.environ.get(ENV_MARK) == ns or current_namespace() == ns:
        return
    if not (NETNS_DIR / ns).exists():
        raise UserError(f"the lab's network namespace {ns} is gone ({paths.STATE_FILE} says the "
                        "lab lives there). Fix: invoke destroy --yes, or start it again with "
                        "invoke e2e --keep")
    os.environ[ENV_MARK] = ns
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "invoke", *sys.argv[1:]]
    sys.stdout.flush()
    os.execvp("ip", argv)
