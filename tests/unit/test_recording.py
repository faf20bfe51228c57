"""Terminal recordings (issue 12), built from synthetic timing files as the runner writes
them: a valid asciicast v2, secrets redacted, long pauses shortened, a recording flagged when
its chapter's files changed, the chapter page's "Watch it run" section, the vendored player
at the locked version, and a strict docs build with a recording in place."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from _sitecopy import build_strict, copy_site

from webfarm import chapters, recording, runner

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"
VENDOR = ROOT / "docs" / "assets" / "vendor" / "asciinema-player"
CHAPTER = chapters.get(4)
SECRETS = {"db_root_password": "Sup3rSecretRootPw_x", "vrrp_auth": "ab12cd34",
           "tsig_key": "c2VjcmV0LWtleS1mb3ItdGhlLWxhYi1vbmx5IQ=="}


def _lab_logs(logs: Path, timings: dict[str, list[list[Any]]],
              tiers: list[list[str]] | None = None, ok: bool = True) -> Path:
    """A chapter run as the runner leaves it: chapter-04.json and HOST/04.timing.jsonl."""
    tiers = tiers or [list(timings)]
    hosts = {h: {"start": rows[0][0] if rows else 0.0, "end": rows[-1][0] if rows else 0.0,
                 "ok": True, "changed": 1} for h, rows in timings.items()}
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "chapter-04.json").write_text(json.dumps({
        "chapter": CHAPTER.slug, "number": CHAPTER.number, "profile": "mini",
        "started": 1_700_000_000.0, "ended": 1_700_000_000.0 + 120, "ok": ok,
        "tiers": tiers, "hosts": hosts}), encoding="utf-8")
    for host, rows in timings.items():
        (logs / host).mkdir(exist_ok=True)
        (logs / host / "04.timing.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return logs


TIMINGS: dict[str, list[list[Any]]] = {
    "lb1": [[10.0, "webfarm: chapter 04-lvs on lb1\n"],
            [10.5, f"auth_pass {SECRETS['vrrp_auth']}\n"],
            [11.0, "password=Sup3rSecret"],  # a secret split over two chunks
            [11.2, "RootPw_x ok\n"],
            [70.0, "webfarm: chapter 04-lvs on lb1: changed=2\n"]],
    "lb2": [[72.0, "webfarm: chapter 04-lvs on lb2\n"],  # tier 2: after tier 1
            [73.0, f"secret \"{SECRETS['tsig_key']}\";\r\n"],
            [90.0, "no newline at the end"]],
}


@pytest.fixture
def cast(tmp_path: Path) -> tuple[Path, list[Any]]:
    logs = _lab_logs(tmp_path / "logs", TIMINGS, tiers=[["lb1"], ["lb2"]])
    path = recording.write(CHAPTER, "e2e", tmp_path / "casts", logs, SECRETS)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return path, rows


# ---------------------------------------------------------------------------------------------
# The cast


def test_cast_is_asciicast_v2(cast: tuple[Path, list[Any]]) -> None:
    path, (header, *events) = cast
    assert path.name == "04-lvs.cast"
    assert header["version"] == 2 and header["width"] == 120 and header["height"] == 36
    assert header["timestamp"] == 1_700_000_000
    assert header["title"] == "invoke chapter 4 (04-lvs) on mini"
    assert isinstance(header["env"], dict)
    assert events, "no events"
    times = [e[0] for e in events]
    assert all(isinstance(e, list) and len(e) == 3 and e[1] == "o" and isinstance(e[2], str)
               and isinstance(e[0], int | float) for e in events)
    assert times == sorted(times) and times[0] >= 0, "event times must not go back"
    text = "".join(e[2] for e in events)
    assert re.sub(r"\x1b\[[0-9;]*m", "", text).startswith("$ invoke chapter 4\r\n")
    assert "\n" not in text.replace("\r\n", ""), "every line break is \\r\\n"


def test_lines_carry_their_host_in_real_order_tier_by_tier(cast: tuple[Path, list[Any]]) -> None:
    plain = [re.sub(r"\x1b\[[0-9;]*m", "", e[2]) for e in cast[1][1:]]
    lines = [p.rstrip("\r\n") for p in plain if "|" in p]
    assert lines[0] == "lb1 | webfarm: chapter 04-lvs on lb1"
    assert "lb1 | password=<redacted: db_root_password> ok" in lines  # the chunks joined
    assert lines[-1] == "lb2 | no newline at the end"
    assert [ln.split(" |")[0] for ln in lines] == ["lb1"] * 4 + ["lb2"] * 3
    tiers = [p for p in plain if "tier" in p]
    assert [t.strip() for t in tiers] == ["── tier 1/2: lb1 ──", "── tier 2/2: lb2 ──"]
    assert plain.index(tiers[1]) > plain.index("lb1 | webfarm: chapter 04-lvs on lb1: "
                                               "changed=2\r\n")


def test_secrets_are_redacted(cast: tuple[Path, list[Any]]) -> None:
    path, _ = cast
    for text in (path.read_text(encoding="utf-8"),
                 recording.sidecar_path(CHAPTER, path.parent).read_text(encoding="utf-8")):
        for name, value in SECRETS.items():
            assert value not in text, name
            assert "Sup3rSecret" not in text
    text = path.read_text(encoding="utf-8")
    for name in SECRETS:
        assert f"<redacted: {name}>" in text


def test_redact_replaces_the_longest_value_first() -> None:
    assert recording.redact("x=abcdef12 y=abcdef", {"short": "abcdef", "long": "abcdef12"}) \
        == "x=<redacted: long> y=<redacted: short>"


def test_long_pauses_are_shortened_and_said(cast: tuple[Path, list[Any]]) -> None:
    events = cast[1][1:]
    times = [e[0] for e in events]
    assert max(b - a for a, b in itertools.pairwise(times)) <= recording.IDLE_MAX + 1e-6
    marks = [e[2] for e in events if "later" in e[2]]
    # 10 s of render + sync before the first line, 59 s of quiet before lb1's last line,
    # 17 s before lb2's; the 2 s between the tiers is kept as it is, unmarked
    assert [re.sub(r"\x1b\[[0-9;]*m", "", m) for m in marks] == [
        "[… 10 s later …]\r\n", "[… 59 s later …]\r\n", "[… 17 s later …]\r\n"]
    assert times[-1] < 30, "120 s of real run, mostly quiet, plays in far less"
    assert "in 120 s" in events[-1][2]  # the real duration is said


def test_compress_keeps_short_gaps_and_reports_long_ones() -> None:
    assert recording.compress([0.5, 1.0, 31.0, 31.5], idle_max=2.0) == [
        (0.5, 0.0), (1.0, 0.0), (3.0, 30.0), (3.5, 0.0)]


def test_a_failed_or_missing_run_is_not_recorded(tmp_path: Path) -> None:
    with pytest.raises(recording.RecordingError, match="invoke record 4"):
        recording.write(CHAPTER, "lab", tmp_path / "casts", tmp_path / "none", SECRETS)
    logs = _lab_logs(tmp_path / "logs", TIMINGS, ok=False)
    with pytest.raises(recording.RecordingError, match="failed or did not finish"):
        recording.write(CHAPTER, "lab", tmp_path / "casts", logs, SECRETS)
    assert not (tmp_path / "casts").exists()


# ---------------------------------------------------------------------------------------------
# What ties a recording to its scripts


def test_sidecar_names_the_files_the_run_used(cast: tuple[Path, list[Any]]) -> None:
    meta = json.loads(recording.sidecar_path(CHAPTER, cast[0].parent).read_text())
    assert meta["chapter"] == "04-lvs" and meta["profile"] == "mini"
    assert meta["run"]["source"] == "e2e" and meta["run"]["seconds"] == 120
    used = {f.path for f in chapters.files(CHAPTER) if f.kind in recording.HASHED_KINDS}
    assert set(meta["files"]) == used
    assert "provision/04-lvs/director.sh" in used
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in meta["files"].values())


def _copy_project_files(root: Path) -> None:
    for f in chapters.files(CHAPTER):
        if f.kind in recording.HASHED_KINDS:
            (root / f.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / f.path, root / f.path)


def test_staleness(tmp_path: Path) -> None:
    root, casts = tmp_path / "root", tmp_path / "casts"
    _copy_project_files(root)
    assert recording.stale(CHAPTER, casts, root) is None  # no recording
    logs = _lab_logs(tmp_path / "logs", TIMINGS)
    recording.write(CHAPTER, "lab", casts, logs, SECRETS, root=root)
    assert recording.stale(CHAPTER, casts, root) == []
    script = root / "provision" / "04-lvs" / "director.sh"
    script.write_text(script.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert recording.stale(CHAPTER, casts, root) == ["provision/04-lvs/director.sh"]
    section = recording.watch_section(CHAPTER, casts, root)
    assert '!!! warning "This recording predates changes to: provision/04-lvs/director.sh"' \
        in section
    assert "](../assets/casts/04-lvs.cast){ .wf-cast }" in section


def test_watch_section_without_a_recording_says_so(tmp_path: Path) -> None:
    section = recording.watch_section(CHAPTER, tmp_path)
    assert "## Watch it run" in section and '!!! note "No recording' in section
    assert ".wf-cast" not in section and "invoke record 4" in section


# ---------------------------------------------------------------------------------------------
# The runner's timing capture


def test_runner_keeps_the_plain_log_and_its_timing(tmp_path: Path) -> None:
    log, timing = tmp_path / "04.log", tmp_path / "04.timing.jsonl"
    t0 = time.monotonic()
    with log.open("w", encoding="utf-8") as fh, timing.open("w", encoding="utf-8") as tf:
        fh.write("$ header\n")
        code = runner._logged(["bash", "-c", "echo héllo; sleep 0.2; printf 'a'; echo b >&2; "
                               "echo c; exit 3"], runner._Timed(fh, tf, t0), 30)
    assert code == 3
    assert log.read_text(encoding="utf-8") == "$ header\nhéllo\nab\nc\n" or \
        log.read_text(encoding="utf-8") == "$ header\nhéllo\nb\nac\n"
    chunks = recording.read_timing(timing)
    assert "".join(t for _, t in chunks) == log.read_text(encoding="utf-8")[len("$ header\n"):]
    times = [t for t, _ in chunks]
    assert times == sorted(times) and times[-1] - times[0] >= 0.15


# ---------------------------------------------------------------------------------------------
# The vendored player and the docs


def test_vendored_player_is_the_locked_version_with_its_licence() -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/asciinema-player"]["version"]
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["asciinema-player"]
    assert pinned == locked, "package.json pins an exact version, the lock file's"
    readme = (VENDOR / "README.txt").read_text(encoding="utf-8")
    assert readme.startswith(f"asciinema-player {locked} ")
    assert "Apache License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert (VENDOR / "LICENSE.solid-js").exists()
    for name in ("asciinema-player.min.js", "asciinema-player.css"):
        assert (VENDOR / name).stat().st_size > 1000
        installed = ROOT / "node_modules" / "asciinema-player" / "dist" / "bundle" / name
        if installed.exists():  # after npm ci: the copy is the package's file
            assert installed.read_bytes() == (VENDOR / name).read_bytes()
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in ("asciinema-player.css", "asciinema-player.min.js"):
        assert f"assets/vendor/asciinema-player/{name}" in mkdocs
    assert "//cdn" not in mkdocs and "http" not in (ROOT / "docs/assets/webfarm-player.js"
                                                    ).read_text(encoding="utf-8")


def test_strict_build_with_a_recording(tmp_path: Path) -> None:
    """A real ``mkdocs build --strict`` of a copy of the site with a recording of chapter 04
    (up to date) and one of chapter 03 whose files changed since."""
    copy_site(tmp_path)
    casts = tmp_path / "docs" / "assets" / "casts"
    for stale_file in casts.glob("*.cast*"):
        stale_file.unlink()
    recording.write(CHAPTER, "e2e", casts, _lab_logs(tmp_path / "logs", TIMINGS), SECRETS)
    web = chapters.get(3)
    side = recording.sidecar_path(web, casts)
    shutil.copy(casts / "04-lvs.cast", recording.cast_path(web, casts))
    meta = json.loads(recording.sidecar_path(CHAPTER, casts).read_text()) | {
        "chapter": web.slug, "files": {**recording.hashes(web), "provision/03-web/app.sh": "0"}}
    side.write_text(json.dumps(meta), encoding="utf-8")
    run = build_strict(tmp_path, FIXTURE)
    assert run.returncode == 0, run.stdout + run.stderr
    site = tmp_path / "site"
    lvs = (site / "chapters" / "04-lvs" / "index.html").read_text(encoding="utf-8")
    assert 'class="wf-cast"' in lvs and 'href="../../assets/casts/04-lvs.cast"' in lvs
    assert "predates" not in lvs
    assert "This recording predates changes to: provision/03-web/app.sh" in (
        site / "chapters" / "03-web" / "index.html").read_text(encoding="utf-8")
    assert "No recording of this chapter yet" in (
        site / "chapters" / "01-base" / "index.html").read_text(encoding="utf-8")
    assert (site / "assets" / "casts" / "04-lvs.cast").exists()
    assert (site / "assets" / "vendor" / "asciinema-player" / "asciinema-player.min.js").exists()
    assert 'src="../../assets/vendor/asciinema-player/asciinema-player.min.js"' in lvs
