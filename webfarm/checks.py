"""Run the testinfra checks of chapters and the failover drills against the live lab."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import sh

from webfarm import paths
from webfarm.chapters import Chapter
from webfarm.paths import SSH_CONFIG
from webfarm.topology import Lab

RESULTS = paths.CHECKS_DIR


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: int
    failed: int
    skipped: int
    seconds: float
    junit: Path

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0


def chapter_tests(chapter: Chapter) -> list[Path]:
    return sorted(paths.CHAPTER_TESTS.glob(f"test_{chapter.tag}_*.py"))


def drill_tests(name: str | None = None) -> list[Path]:
    """tests/drills/test_NAME.py (a drill named db-node lives in test_db_node.py)."""
    pattern = f"test_{drill_stem(name)}.py" if name else "test_*.py"
    return sorted(paths.DRILL_TESTS.glob(pattern))


def drill_stem(name: str) -> str:
    """The module name of drill ``name`` (Python modules have no '-')."""
    return name.replace("-", "_")


def drill_names() -> list[str]:
    """Every drill there is, by name (test_db_node.py -> db-node)."""
    return [p.stem.removeprefix("test_").replace("_", "-") for p in drill_tests()]


def run_pytest(name: str, paths: list[Path], lab: Lab, extra: list[str] | None = None,
               ssh_config: Path = SSH_CONFIG) -> CheckResult:
    """pytest over ``paths`` with the lab's profile; counts come from the JUnit report."""
    if not paths:
        raise FileNotFoundError(f"no test files for {name}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    junit = RESULTS / f"{name}.xml"
    env = dict(os.environ, WEBFARM_PROFILE=lab.profile, WEBFARM_SSH_CONFIG=str(ssh_config))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "testpaths=",
           f"--junitxml={junit}", "-rfEs", *(extra or []), *map(str, paths)]
    # in the foreground on this terminal (pytest's own output); its exit code is not needed:
    # the counts come from the JUnit report
    sh.Command(cmd[0])(*cmd[1:], _fg=True, _env=env, _ok_code=range(256))
    return parse_junit(name, junit)


def parse_junit(name: str, junit: Path) -> CheckResult:
    if not junit.exists():
        return CheckResult(name, 0, 1, 0, 0.0, junit)
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    seconds = sum(float(s.get("time", 0.0)) for s in suites)
    return CheckResult(name, total - failed - skipped, failed, skipped, seconds, junit)


def run_chapter_checks(lab: Lab, chapter: Chapter) -> CheckResult:
    return run_pytest(f"chapter-{chapter.tag}", chapter_tests(chapter), lab)


def run_drill(lab: Lab, name: str) -> CheckResult:
    return run_pytest(f"drill-{name}", drill_tests(name), lab)
