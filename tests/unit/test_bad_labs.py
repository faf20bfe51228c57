"""Every bad lab in the corpus (tests/unit/bad_labs/cases.py) is refused by the command-line
entry ``python -m webfarm.cli validate --lab FILE``: exit code 2, no traceback, and output that
names the file, the key (or line) and says how to fix it.

Most cases run in-process through ``webfarm.cli.main`` (fast); a few run in a real subprocess
so the contract also holds for the command as users type it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webfarm import cli, topology

sys.path.insert(0, str(Path(__file__).parent))
from bad_labs.cases import CASES, TEXT, Case, write

ROOT = Path(__file__).resolve().parents[2]
SUBPROCESS_CASES = {"host-64-chars", "billion-laughs", "non-utf8-latin1",
                    "linked-clone-quoted-false"}


def _argv(case: Case, folder: Path) -> tuple[list[str], str]:
    """The validate arguments for ``case`` (run from ``folder``: the file is given by its
    short relative name, as users type it) and the file name the output must carry."""
    if case.kind == "empty-path":
        return ["validate", "--lab", ""], ""
    name = write(case, folder).name
    argv = ["validate", "--lab", name]
    if case.profile is not None:
        argv += ["--profile", case.profile]
    return argv, name


def _check(case: Case, code: int | str | None, output: str, file: str) -> None:
    assert code == 2, f"exit code {code!r}, expected 2:\n{output}"
    assert "Traceback" not in output, output
    if case.profile is None:  # a bad --profile may be refused before the file is read
        assert file in output, f"the file {file!r} is not named:\n{output}"
    assert any(key in output for key in case.key.split("|")), \
        f"the key {case.key!r} is not named:\n{output}"
    assert "Fix:" in output, output
    if case.fragment:
        assert case.fragment in output, f"{case.fragment!r} not in:\n{output}"
    for line in output.splitlines()[1:]:  # after the "N problem(s) in FILE:" header
        assert "Fix:" in line, f"a problem line without a fix: {line!r}"
        assert len(line) < 1000, f"a problem line of {len(line)} characters"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole corpus (case ids are unique file names)."""
    return tmp_path_factory.mktemp("bad_labs")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_lab_is_refused(case: Case, folder: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(folder)
    argv, file = _argv(case, folder)
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    captured = capsys.readouterr()
    _check(case, info.value.code, captured.out + captured.err, file)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_CASES],
                         ids=lambda c: c.id)
def test_bad_lab_is_refused_by_the_real_command(case: Case, tmp_path: Path) -> None:
    argv, file = _argv(case, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "webfarm.cli", *argv], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    _check(case, result.returncode, result.stdout + result.stderr, file)


def test_the_corpus_is_large_and_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique (they are file names)"
    assert len(CASES) >= 130


def test_every_mutation_changes_the_fixture() -> None:
    """A mutation whose anchor text vanished from the fixture would test the good lab."""
    for case in CASES:
        if case.kind == "file" and case.profile is None:
            assert case.mutate(TEXT) != TEXT, case.id


def test_billion_laughs_is_refused_at_the_first_anchor() -> None:
    """Refused while composing, before any alias is expanded (so in well under a second and a
    few MB; no timing assertion: the message proves where it stopped)."""
    case = next(c for c in CASES if c.id == "billion-laughs")
    text = case.mutate(TEXT)
    assert isinstance(text, str)
    with pytest.raises(topology.LabFileError) as info:
        topology.parse(text, "lab.yml")
    first_anchor = text.splitlines().index(next(
        line for line in text.splitlines() if line.startswith("a: &a"))) + 1
    assert str(info.value).startswith(f"lab.yml: line {first_anchor}: YAML anchors and aliases")


def test_the_fixture_itself_passes(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["validate", "--lab", str(ROOT / "tests/fixtures/lab.yml")])
    assert "ok" in capsys.readouterr().out
