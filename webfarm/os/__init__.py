"""OS-family data: package names, services, paths, firewall and SELinux per family.

One table per family (``debian12.yml``, ``el9.yml``) with the same keys, so chapters read
``WF_PKG_DNS`` or ``os.paths.named_conf`` and never branch on the distribution themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
FAMILIES = ("debian12", "el9")


@dataclass(frozen=True)
class OSFamily:
    family: str
    title: str
    package_manager: str
    firewall: str
    selinux: bool
    packages: dict[str, list[str]]
    services: dict[str, str]
    paths: dict[str, str]
    validators: dict[str, str]

    def env(self) -> dict[str, str]:
        """Shell variables for env.sh: WF_PKG_<GROUP>, WF_SVC_<NAME>, WF_PATH_<NAME>."""
        out = {
            "WF_OS_FAMILY": self.family,
            "WF_PKG_MANAGER": self.package_manager,
            "WF_FIREWALL": self.firewall,
            "WF_SELINUX": "1" if self.selinux else "0",
        }
        out |= {f"WF_PKG_{k.upper()}": " ".join(v) for k, v in self.packages.items()}
        out |= {f"WF_SVC_{k.upper()}": v for k, v in self.services.items()}
        out |= {f"WF_PATH_{k.upper()}": v for k, v in self.paths.items()}
        return out


@cache
def get(family: str) -> OSFamily:
    if family not in FAMILIES:
        raise KeyError(f"unknown OS family {family!r}; known: {', '.join(FAMILIES)}")
    data: dict[str, Any] = yaml.safe_load((HERE / f"{family}.yml").read_text(encoding="utf-8"))
    return OSFamily(**data)


def all_packages(family: str) -> list[str]:
    """Every package any chapter may install on ``family`` (for offline package caches)."""
    seen: dict[str, None] = {}
    for group in get(family).packages.values():
        for name in group:
            seen.setdefault(name, None)
    return list(seen)
