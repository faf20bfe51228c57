"""A thin layer over python-vagrant: the lab's environment, logs, and clear errors.

Every Vagrant call gets the lab's profile and provider settings through environment variables
read by the generated Vagrantfile (WEBFARM_PROFILE, WEBFARM_LIBVIRT_DRIVER,
WEBFARM_EMULATOR_PATH), so the Vagrantfile never special-cases CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import vagrant as pyvagrant

from webfarm.topology import Lab

LOG_DIR = Path(".lab/logs")
SSH_CONFIG = Path(".lab/ssh-config")


class VagrantError(Exception):
    pass


@dataclass(frozen=True)
class VMState:
    name: str
    state: str  # running, shutoff, not_created, ...
    provider: str


def lab_env(lab: Lab, provider: str = "libvirt") -> dict[str, str]:
    env = dict(os.environ)
    env["WEBFARM_PROFILE"] = lab.profile
    lv = lab.provider.get("libvirt", {})
    env.setdefault("WEBFARM_LIBVIRT_DRIVER", str(lv.get("driver", "kvm")))
    if lv.get("emulator_path"):
        env.setdefault("WEBFARM_EMULATOR_PATH", str(lv["emulator_path"]))
    env.setdefault("VAGRANT_DEFAULT_PROVIDER", provider)
    return env


def require_vagrant() -> str:
    exe = shutil.which("vagrant")
    if not exe:
        raise VagrantError("vagrant not found. Fix: apt-get install vagrant vagrant-libvirt "
                           "(Debian/Ubuntu), or install Vagrant from your vendor")
    return exe


def client(lab: Lab, root: Path = Path(".")) -> pyvagrant.Vagrant:
    """python-vagrant bound to the lab's environment (quiet: output is captured)."""
    require_vagrant()
    return pyvagrant.Vagrant(str(root), env=lab_env(lab))


def status(lab: Lab) -> list[VMState]:
    try:
        return [VMState(s.name, s.state, s.provider or "") for s in client(lab).status()]
    except subprocess.CalledProcessError as err:
        raise VagrantError(f"vagrant status failed (exit {err.returncode}); "
                           "is libvirtd running? try: vagrant status") from None


def up(lab: Lab, hosts: list[str] | None = None, provider: str = "libvirt") -> None:
    """``vagrant up`` (parallel on libvirt); output goes to .lab/logs/vagrant-up.log."""
    cmd = [require_vagrant(), "up", f"--provider={provider}", *(hosts or [])]
    _run(cmd, lab, "vagrant-up")


def destroy(lab: Lab) -> None:
    _run([require_vagrant(), "destroy", "-f"], lab, "vagrant-destroy")


def halt(lab: Lab) -> None:
    _run([require_vagrant(), "halt"], lab, "vagrant-halt")


def write_ssh_config(lab: Lab, path: Path = SSH_CONFIG) -> Path:
    """``vagrant ssh-config`` for every running VM, for ssh, rsync and testinfra."""
    try:
        text = client(lab).ssh_config()
    except subprocess.CalledProcessError:
        raise VagrantError("vagrant ssh-config failed: are the VMs up? Fix: invoke up "
                           "(or invoke status to see their state)") from None
    extra = "  ConnectTimeout 20\n  ServerAliveInterval 15\n  ControlMaster auto\n" \
            "  ControlPath /tmp/webfarm-ssh-%r@%h:%p\n  ControlPersist 300\n"
    text = text.replace("  LogLevel FATAL\n", "  LogLevel FATAL\n" + extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run(cmd: list[str], lab: Lab, log: str) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{log}.log"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, env=lab_env(lab), stdout=fh, stderr=subprocess.STDOUT,
                              check=False)
    if proc.returncode != 0:
        tail = "".join(path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-15:])
        raise VagrantError(f"{' '.join(cmd[1:3])} failed (exit {proc.returncode}); "
                           f"last lines of {path}:\n{tail}")
