"""Run state of the current lab in ``.lab/state.yml``: which profile is up and how.

``invoke up --profile mini`` records the profile, so later ``invoke chapter 4`` or
``invoke status`` address the same VMs without repeating options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

LAB_DIR = Path(".lab")
STATE_FILE = LAB_DIR / "state.yml"
PACKAGE_SOURCES = ("mirror", "offline")


@dataclass
class State:
    profile: str | None = None
    package_source: str = "mirror"  # mirror: the distribution's; offline: the box's cache
    provider: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. libvirt driver
    namespace: str | None = None  # network namespace the lab lives in (e2e), if any

    def save(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(asdict(self), sort_keys=True), encoding="utf-8")


def load(path: Path = STATE_FILE) -> State:
    if not path.exists():
        return State()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = {k: v for k, v in data.items() if k in State.__dataclass_fields__}
    return State(**known)
