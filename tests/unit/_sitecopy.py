"""Shared by the unit tests that build the docs for real: a copy of the site in a temporary
folder (docs/ and mkdocs.yml copied, everything else linked), so a test can add assets and
run ``mkdocs build --strict`` without touching the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_site(tmp_path: Path) -> Path:
    """``tmp_path`` set up as a project whose docs can be changed freely; returns it."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("_generated"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    for item in ROOT.iterdir():
        if item.name not in ("docs", "mkdocs.yml", "site", "node_modules"):
            (tmp_path / item.name).symlink_to(item)
    return tmp_path


def build_strict(project: Path, lab_file: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of the copy into ``project/site``, for ``lab_file``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "WEBFARM_DOCS_LAB": str(lab_file)}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(project / "site")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
