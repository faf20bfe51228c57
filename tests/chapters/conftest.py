"""Fixtures for the live-lab checks and drills (shared helpers live in webfarm.labtest).

Test modules import helpers with ``from conftest import role_hosts, remote, ...`` or,
equivalently, ``from webfarm.labtest import ...``.
"""

from __future__ import annotations

import pytest

from webfarm import secrets as lab_secrets
from webfarm.labtest import (  # noqa: F401 - re-exported for the test modules
    ROOT,
    SSH_CONFIG,
    all_hosts,
    current_lab,
    remote,
    remote_root,
    rerun_chapter,
    role_hosts,
)
from webfarm.topology import Lab


@pytest.fixture(scope="session")
def lab() -> Lab:
    return current_lab()


@pytest.fixture(scope="session")
def secrets() -> dict[str, str]:
    return lab_secrets.load(ROOT / ".lab" / "secrets.yml")
