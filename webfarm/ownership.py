"""Root for the debian12 box build, and the run state (``.lab/``) handed back afterwards.

``invoke box`` builds the debian12 box as root (debootstrap, loop devices, chroot), through
sudo when the user is not root; files it leaves under ``.lab/`` would then belong to root and
a later ``invoke up`` as the user could not write there, so they are given back.
"""

from __future__ import annotations

import os
import shutil
import sys

from webfarm import paths
from webfarm.args import UserError


def rerun_as_root() -> None:
    """Unless already root, run this very ``invoke`` command again through sudo (does not
    return then)."""
    if os.geteuid() == 0:
        return
    if not shutil.which("sudo"):
        raise UserError("building the debian12 box needs root and sudo is not installed. "
                        "Fix: run `.venv/bin/invoke box` as root")
    sys.stdout.flush()
    os.execvp("sudo", ["sudo", sys.executable, "-m", "invoke", *sys.argv[1:]])


def give_back_run_state() -> None:
    """Under sudo, chown ``.lab/`` and everything in it to SUDO_UID:SUDO_GID (else nothing)."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    lab_dir = paths.LAB_DIR
    if os.geteuid() != 0 or not uid or not gid or not lab_dir.is_dir():
        return
    for path in [lab_dir, *lab_dir.rglob("*")]:
        os.chown(path, int(uid), int(gid), follow_symlinks=False)
