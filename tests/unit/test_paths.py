"""webfarm.paths: one place for every path, anchored at the project's top folder, so the tasks
work from any subfolder as from the top."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from webfarm import paths

ROOT = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).parent / "invoke"
SUBFOLDERS = ("docs", "provision/02-dns")


def _project(folder: Path) -> Path:
    folder.mkdir()
    for name in ("lab.yml", "tasks.py"):
        (folder / name).write_text("", encoding="utf-8")
    (folder / "webfarm").mkdir()
    return folder


def test_the_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    deep = project / "provision" / "02-dns"
    deep.mkdir(parents=True)
    assert paths.find_root(deep) == project.resolve()
    assert paths.find_root(project) == project.resolve()


def test_a_folder_needs_all_three_markers(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text("", encoding="utf-8")
    (tmp_path / "tasks.py").write_text("", encoding="utf-8")  # no webfarm/
    assert paths.find_root(tmp_path) == paths.PACKAGE_PARENT


def test_without_a_project_the_package_folder_is_the_root(tmp_path: Path) -> None:
    assert paths.find_root(tmp_path) == paths.PACKAGE_PARENT == ROOT


def test_paths_under_the_working_folder_are_relative(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert paths.near(tmp_path.resolve() / ".lab" / "state.yml") == Path(".lab/state.yml")
    elsewhere = tmp_path.resolve().parent / "other" / "lab.yml"
    assert paths.near(elsewhere) == elsewhere


def test_the_project_names_its_files_relative_to_the_root(tmp_path: Path) -> None:
    assert paths.in_project(ROOT / "lab.yml") == "lab.yml"
    assert paths.in_project(tmp_path / "lab.yml") == str(tmp_path / "lab.yml")


def test_every_run_file_is_under_dot_lab() -> None:
    run_files = [paths.STATE_FILE, paths.SECRETS_FILE, paths.HOSTS_DIR, paths.LOG_DIR,
                 paths.BOX_LOG_DIR, paths.BOX_DIR, paths.CHECKS_DIR, paths.DRILLS_DIR,
                 paths.E2E_DIR, paths.E2E_REPORT, paths.BENCH_FILE, paths.SSH_CONFIG]
    lab_dir = (ROOT / ".lab").resolve()
    for path in run_files:
        assert path.resolve().is_relative_to(lab_dir), path


def test_guest_paths() -> None:
    assert paths.guest("provision", "chapter.sh") == "/vagrant/provision/chapter.sh"
    assert paths.guest_host_dir("app1") == "/vagrant/.lab/hosts/app1"


# Nothing outside webfarm/paths.py spells a project path (docstrings and messages may).
SPELLED = re.compile(r"""Path\(\s*["'](\.lab|lab\.yml|Vagrantfile|\.vagrant)|["']/vagrant/|"""
                     r"""topology\.load\(\s*["']lab\.yml""")


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "webfarm").glob("*.py")))
def test_no_module_spells_a_project_path(module: str) -> None:
    if module == "paths.py":
        return
    text = (ROOT / "webfarm" / module).read_text(encoding="utf-8")
    found = [line.strip() for line in text.splitlines() if SPELLED.search(line)]
    assert not found, f"webfarm/{module}: use webfarm.paths instead: {found}"


def test_the_paths_are_the_same_from_a_subfolder() -> None:
    code = "from webfarm import paths; print(paths.ROOT); print(paths.STATE_FILE.resolve())"
    for folder in SUBFOLDERS:
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT / folder, check=True,
                              capture_output=True, text=True, timeout=60)
        assert proc.stdout.split() == [str(ROOT), str(ROOT / ".lab" / "state.yml")], folder


@pytest.mark.parametrize("folder", SUBFOLDERS)
@pytest.mark.parametrize("task", [("validate",), ("render", "--check")], ids=" ".join)
def test_tasks_work_from_a_subfolder(folder: str, task: tuple[str, ...]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WEBFARM_IN_NETNS"}
    here = subprocess.run([str(INVOKE), *task], cwd=ROOT / folder, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    top = subprocess.run([str(INVOKE), *task], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    # exactly as from the root (whatever the reader's lab.yml holds: render --check fails at
    # the top too once lab.yml was edited and not rendered), files named from where
    # the user stands
    assert here.returncode == top.returncode, here.stdout + here.stderr
    assert here.stdout.replace(f"{ROOT}/", "") == top.stdout
    assert here.stderr.replace(f"{ROOT}/", "") == top.stderr
    assert (top.stdout + top.stderr).strip(), "the task printed nothing"
