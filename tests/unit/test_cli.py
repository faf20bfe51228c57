"""The CLI layer: clear errors with exit code 2, never a traceback; small helpers."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
import yaml

from webfarm import args, cli, labns, ownership
from webfarm import secrets as lab_secrets
from webfarm import state as lab_state
from webfarm.topology import LabFileError, Problem

LAB_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "lab.yml"


def test_destroy_without_yes_and_without_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    shutil.copy(LAB_FILE, tmp_path / "lab.yml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr(labns, "enter_lab_namespace", lambda: None)
    monkeypatch.setattr("webfarm.vagrant.destroy", lambda lab: pytest.fail("destroyed"))
    with pytest.raises(SystemExit) as info:
        cli.destroy(yes=False)
    assert info.value.code == 2
    assert "--yes" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Errors are printed literally: user text is never rich markup


@pytest.mark.parametrize("text", ["no host '[/]'. Fix: use [app] or [bold]x[/bold]",
                                  "a [/] b [red] c \\[d]"])
def test_user_error_text_is_printed_as_is(text: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    @cli.friendly
    def fails() -> None:
        raise cli.UserError(text)

    with pytest.raises(SystemExit) as info:
        fails()
    assert info.value.code == 2
    assert capsys.readouterr().err == f"error: {text}\n"


def test_lab_file_problems_are_printed_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    problem = Problem("roles.[app]", "unknown role '[/]'", "use [app] or [media]")

    @cli.friendly
    def fails() -> None:
        raise LabFileError("[lab].yml", [problem])

    with pytest.raises(SystemExit):
        fails()
    err = capsys.readouterr().err
    assert "1 problem(s) in [lab].yml:" in err
    assert problem.render("[lab].yml") in err


# ---------------------------------------------------------------------------------------------
# Good arguments get through (the refusals are in test_bad_cli_inputs.py)


@pytest.mark.parametrize(("given", "expected"), [(None, None), ("1", 1), ("04", 4), (" 2 ", 2),
                                                 (3, 3)])
def test_upto_accepts_chapter_numbers(given: str | int | None, expected: int | None) -> None:
    assert args.upto(given) == expected


@pytest.mark.parametrize("given", ["4", "04", "04-lvs"])
def test_chapter_by_number_tag_or_slug(given: str) -> None:
    assert args.chapter(given).slug == "04-lvs"
    assert args.chapter_or_all(given).slug == "04-lvs"  # type: ignore[union-attr]


def test_all_means_every_chapter_or_drill() -> None:
    assert args.chapter_or_all("all") is None
    assert args.drill_name("all", ["dns", "web"]) is None
    assert args.drill_name("dns", ["dns", "web"]) == "dns"


def test_e2e_options() -> None:
    assert args.e2e_options("mini", None) == ("mini", None)
    assert args.e2e_options(None, "2") == ("mini", 2)
    assert args.e2e_options("full", 4) == ("full", 4)


@pytest.mark.parametrize("given", [None, "full", "mini", "web-2", "lab_3a"])
def test_profile_names(given: str | None) -> None:
    assert args.profile_name(given) == given


def test_provider_and_driver() -> None:
    assert args.provider(None) == "libvirt"
    assert args.provider("virtualbox") == "virtualbox"
    assert args.driver(None) is None
    assert args.driver("qemu") == "qemu"


def test_shown_keeps_a_value_on_one_short_line() -> None:
    assert args.shown("a\nb") == "'a\\nb'"
    long = args.shown("x" * 500)
    assert len(long) <= 40 and long.endswith("...'")


# ---------------------------------------------------------------------------------------------
# Run state and secrets: what is written can be read back


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.yml"
    state = lab_state.State(profile="mini", package_source="offline", namespace="webfarm-e2e",
                            provider={"libvirt": {"driver": "qemu",
                                                  "emulator_path": "/usr/bin/qemu"}})
    state.save(path)
    assert lab_state.load(path) == state


def test_missing_or_empty_state_is_the_default(tmp_path: Path) -> None:
    assert lab_state.load(tmp_path / "none.yml") == lab_state.State()
    (tmp_path / "empty.yml").write_text("", encoding="utf-8")
    assert lab_state.load(tmp_path / "empty.yml") == lab_state.State()


def test_generated_secrets_pass_their_own_checks(tmp_path: Path) -> None:
    for i in range(30):
        path = tmp_path / f"{i}.yml"
        assert lab_secrets.read(path) == {}
        generated = lab_secrets.load(path)
        assert lab_secrets.read(path) == generated


def test_hand_set_secrets_in_the_right_format_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yml"
    mine = {"vrrp_auth": "s3cr.t-8", "tsig_key": base64.b64encode(b"k" * 32).decode(),
            "db_app_password": "long_enough-pass.word~"}
    path.write_text(yaml.safe_dump(mine), encoding="utf-8")
    loaded = lab_secrets.load(path)
    assert {k: loaded[k] for k in mine} == mine


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
    ownership.give_back_run_state()
    assert {c[0] for c in calls} == {".lab", ".lab/boxes", ".lab/boxes/x.box"}
    assert all(c[1:] == (4242, 4343) for c in calls)


def test_no_sudo_no_chown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".lab").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.setattr(os, "chown", lambda *a, **k: pytest.fail("must not chown"))
    ownership.give_back_run_state()
