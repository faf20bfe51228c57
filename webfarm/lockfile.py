"""``requirements.lock``: every Python package webfarm installs, pinned with hashes.

``setup-host.sh`` installs only from it (``pip install --require-hashes``), so a machine set
up today gets the same versions as CI did. Upgrading is a deliberate step, in its own commit:
``invoke lock`` re-resolves the newest versions allowed by ``pyproject.toml``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from webfarm import paths

LOCK_FILE = paths.LOCK_FILE
PYPROJECT = paths.PYPROJECT
LOWEST_PYTHON = "3.11"


def compile_command(upgrade: bool = True) -> list[str]:
    """The uv command that writes the lock (every extra, any platform, hashes)."""
    cmd = [sys.executable, "-m", "uv", "pip", "compile", str(PYPROJECT), "--all-extras",
           "--universal", "--generate-hashes", "--python-version", LOWEST_PYTHON,
           "--no-header", "--quiet", "-o", str(LOCK_FILE)]
    return [*cmd, "--upgrade"] if upgrade else cmd


def relock(upgrade: bool = True) -> int:
    """Run uv; returns its exit code."""
    return subprocess.run(compile_command(upgrade), check=False).returncode


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else requirement


def declared(pyproject: Path = PYPROJECT) -> set[str]:
    """Normalised names of every dependency pyproject.toml declares (runtime and extras)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    reqs = list(data.get("dependencies", []))
    for extra in data.get("optional-dependencies", {}).values():
        reqs += extra
    return {_name(r) for r in reqs}


def pinned(lock: Path = LOCK_FILE) -> dict[str, str]:
    """name -> version of every ``name==version`` line of the lock."""
    out = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            out[_name(m.group(1))] = m.group(2)
    return out
