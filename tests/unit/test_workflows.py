"""The GitHub workflows are valid (check-jsonschema's built-in GitHub workflow schema, offline)
and the Pages workflow does what the README promises: it builds the site the way the test
suite does (mkdocs --strict, packages only from requirements.lock) and fetches nothing from a
CDN or any URL; actions are pinned by major version tag."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PAGES = ROOT / ".github" / "workflows" / "pages.yml"
MAJOR_TAG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+@v\d+$")
FETCHES = re.compile(r"https?://|\bcurl\b|\bwget\b|\bnpm\b|\bnpx\b|\bcdn\b", re.IGNORECASE)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def _steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in data["jobs"].values() for s in job.get("steps", [])]


def test_there_is_a_pages_workflow() -> None:
    assert PAGES in WORKFLOWS


def test_workflows_are_valid() -> None:
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *map(str, WORKFLOWS)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_linter_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  build:\n    steps: []\n", encoding="utf-8")  # no runs-on
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(bad)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0


def test_pages_triggers_permissions_concurrency() -> None:
    data = _load(PAGES)
    assert data["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in data["on"]
    assert data["permissions"]["pages"] == "write"
    assert data["permissions"]["id-token"] == "write"
    assert data["concurrency"]["group"] == "pages"


def test_pages_builds_strict_from_the_lock() -> None:
    runs = [s["run"] for s in _steps(_load(PAGES)) if "run" in s]
    builds = [r for r in runs if "mkdocs" in r]
    assert builds, "no step runs mkdocs"
    for run in builds:
        assert re.search(r"mkdocs build\b.*--strict", run), run
    installs = [line for r in runs for line in r.splitlines() if "pip install" in line]
    assert installs, "no step installs the Python packages"
    assert any("--require-hashes" in line and "requirements.lock" in line
               for line in installs), installs
    for line in installs:  # nothing but the lock and the project itself, no resolving
        assert "--no-deps" in line, line


def test_pages_uploads_the_site_and_deploys() -> None:
    data = _load(PAGES)
    uses = {s["uses"].split("@")[0]: s for s in _steps(data) if "uses" in s}
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "site"
    assert "actions/deploy-pages" in uses
    deploy = next(j for j in data["jobs"].values()
                  if any("deploy-pages" in s.get("uses", "") for s in j["steps"]))
    assert deploy["needs"] == "build" or "build" in deploy["needs"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_no_step_fetches_from_a_cdn(workflow: Path) -> None:
    for step in _steps(_load(workflow)):
        if "uses" in step:
            assert MAJOR_TAG.match(step["uses"]), f"pin {step['uses']} by a major tag (@vN)"
        if "run" in step:
            assert not FETCHES.search(step["run"]), f"{workflow.name}: {step['run']}"
        for value in (step.get("with") or {}).values():
            assert not FETCHES.search(str(value)), f"{workflow.name}: {value}"
