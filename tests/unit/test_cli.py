"""The CLI layer: clear errors with exit code 2, never a traceback; small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webfarm import cli


def test_unknown_chapter_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.chapter("9")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no chapter '9'" in err and "04-lvs" in err


def test_option_in_place_of_a_chapter(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.check("--help")
    assert info.value.code == 2
    assert "invoke --help TASK" in capsys.readouterr().err


def test_destroy_without_yes_and_without_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr(cli, "enter_lab_namespace", lambda: None)
    with pytest.raises(SystemExit) as info:
        cli.destroy(yes=False)
    assert info.value.code == 2
    assert "--yes" in capsys.readouterr().err


def test_unknown_driver_for_up(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.up(driver="xen")
    assert info.value.code == 2
    assert "unknown driver 'xen'" in capsys.readouterr().err


def test_run_state_goes_back_to_the_sudo_user(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".lab" / "boxes").mkdir(parents=True)
    (tmp_path / ".lab" / "boxes" / "x.box").write_text("x")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SUDO_UID", "4242")
    monkeypatch.setenv("SUDO_GID", "4343")
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(os, "chown", lambda p, u, g, follow_symlinks=True:
                        calls.append((str(p), u, g)))
    cli._give_back_run_state()
    assert {c[0] for c in calls} == {".lab", ".lab/boxes", ".lab/boxes/x.box"}
    assert all(c[1:] == (4242, 4343) for c in calls)


def test_no_sudo_no_chown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".lab").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.setattr(os, "chown", lambda *a, **k: pytest.fail("must not chown"))
    cli._give_back_run_state()
