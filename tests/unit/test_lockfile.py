"""The lock file covers what pyproject.toml declares, every pin has hashes."""

from __future__ import annotations

from pathlib import Path

from webfarm import lockfile

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_dependency_is_pinned() -> None:
    missing = lockfile.declared(ROOT / "pyproject.toml") - set(
        lockfile.pinned(ROOT / "requirements.lock"))
    assert not missing, f"not in requirements.lock (run `invoke lock`): {sorted(missing)}"


def test_every_pin_carries_a_hash() -> None:
    blocks = (ROOT / "requirements.lock").read_text(encoding="utf-8").split("\n")
    pins = [i for i, line in enumerate(blocks) if "==" in line and not line.startswith(" ")]
    assert pins
    for i in pins:
        assert "--hash=sha256:" in blocks[i + 1], f"no hash for {blocks[i]}"


def test_setup_host_installs_from_the_lock_only() -> None:
    script = (ROOT / "webfarm/scripts/setup-host.sh").read_text(encoding="utf-8")
    pip_lines = [ln for ln in script.splitlines() if "pip install" in ln]
    assert pip_lines
    for line in pip_lines:
        assert "--no-deps" in line, line
    assert any("--require-hashes" in ln and "requirements.lock" in ln for ln in pip_lines)
