"""Helpers for checks and drills against the live lab: testinfra hosts chosen by role.

Run through ``invoke check [N]`` (or ``invoke chapter N``), which writes ``.lab/ssh-config``
from ``vagrant ssh-config`` and runs pytest inside the lab's network namespace when it has
one. Hosts are addressed by role, never by name: ``role_hosts("dns")`` at collection time,
``remote(name)`` for a testinfra host.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest
import testinfra

from webfarm import state as lab_state
from webfarm import topology
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[1]
SSH_CONFIG = Path(os.environ.get("WEBFARM_SSH_CONFIG", ROOT / ".lab" / "ssh-config"))


@cache
def current_lab() -> Lab:
    profile = os.environ.get("WEBFARM_PROFILE") or lab_state.load(ROOT / ".lab/state.yml").profile
    return topology.load(ROOT / "lab.yml", profile)


def role_hosts(role: str) -> list[str]:
    """Names of the hosts carrying ``role`` (for pytest.mark.parametrize)."""
    return [h.name for h in current_lab().hosts_with(role)]


def all_hosts() -> list[str]:
    return list(current_lab().hosts)


@cache
def remote(name: str) -> testinfra.host.Host:
    """A testinfra host over SSH (commands run as the vagrant user; use sudo=True variants
    via ``remote_root``)."""
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} is missing: run checks through 'invoke check' (it writes it)")
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(SSH_CONFIG))


@cache
def remote_root(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(SSH_CONFIG), sudo=True)


def rerun_chapter(name: str, chapter: str) -> str:
    """Run a chapter again on ``name`` and return its summary line (for idempotence checks)."""
    out = remote_root(name).check_output(f"bash /vagrant/provision/chapter.sh {chapter} {name}")
    return out.strip().splitlines()[-1]


@pytest.fixture(name="lab", scope="session")
def lab_fixture() -> Lab:
    """The lab model of the profile under test."""
    return current_lab()


@pytest.fixture(name="secrets", scope="session")
def secrets_fixture() -> dict[str, str]:
    """The lab's generated secrets (.lab/secrets.yml)."""
    from webfarm import secrets as lab_secrets

    return lab_secrets.load(ROOT / ".lab" / "secrets.yml")
