"""wf_next_serial (provision/lib/common.sh): the SOA serials chapter 02-dns writes only ever go
up, in the YYYYMMDDNN convention."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[2] / "provision" / "lib" / "common.sh"


def next_serial(*args: str) -> int:
    script = f'source "{COMMON}"; wf_next_serial "$@"'
    out = subprocess.run(["bash", "-c", script, "bash", *args], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


@pytest.mark.parametrize(("old", "today", "expected"), [
    ("0", "20250101", 2025010100),            # first install: today's first serial
    ("1", "20250101", 2025010100),            # the template's placeholder
    ("2024123107", "20250101", 2025010100),   # an older day: jump to today
    ("2025010100", "20250101", 2025010101),   # second change today
    ("2025010199", "20250101", 2025010200),   # >99 changes a day: borrow from tomorrow
    ("2025010305", "20250101", 2025010306),   # clock behind the zone: still goes up
])
def test_next_serial(old: str, today: str, expected: int) -> None:
    assert next_serial(old, today) == expected


def test_next_serial_defaults_to_today() -> None:
    serial = next_serial("0")
    assert 2024010100 <= serial < 4294967295 and str(serial).endswith("00")


def test_serials_only_go_up() -> None:
    serial = 0
    for day in ("20250101", "20250101", "20250102", "20241231", "20250102"):
        new = next_serial(str(serial), day)
        assert new > serial
        serial = new
