"""Terminal recordings of the real chapter runs (issue 12), as asciicast v2 files the tutorial
plays with asciinema-player (vendored in docs/assets/vendor/, no CDN).

The runner keeps the timing of every host's output (``.lab/logs/HOST/NN.timing.jsonl``) and
the chapter's start, end and tiers (``.lab/logs/chapter-NN.json``). From those this module
writes ``docs/assets/casts/NN-slug.cast``: the typed command (``$ invoke chapter N``), then
every line of every host, prefixed with the host's name in a colour (as ``docker compose``
shows logs), in real time order, tier by tier. Pauses longer than :data:`IDLE_MAX` seconds
are shortened to it, and a dim marker line says how long the real pause was. Every value of
``.lab/secrets.yml`` is replaced by ``<redacted: NAME>`` before anything is written.

Next to it, ``NN-slug.cast.json`` ties the recording to what it shows: the sha256 of each
file of the chapter the run used (scripts, templates, OS tables, shell helpers, facts
modules), the profile, the date and the run (``invoke record`` on a lab, or ``invoke e2e
--record``). :func:`stale` compares those hashes with the files as they are now; the docs
hook shows the result on the chapter page (:func:`watch_section`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webfarm import chapters
from webfarm.args import UserError
from webfarm.chapters import Chapter
from webfarm.paths import LOG_DIR

CASTS_DIR = chapters.ROOT / "docs" / "assets" / "casts"
WIDTH, HEIGHT = 120, 36
IDLE_MAX = 2.0  # seconds: longer pauses are shortened to this
MARK_AFTER = 5.0  # seconds: a real pause longer than this gets a marker line
TYPE_DELAY = 0.07  # seconds between the typed command's keystrokes
HASHED_KINDS = ("script", "template", "os", "helpers", "facts")  # what a run executes
# host name colours (SGR codes), as docker compose cycles through them
COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)
DIM, GREEN, RESET = "\x1b[2m", "\x1b[32m", "\x1b[0m"
SOURCES = ("lab", "e2e")


class RecordingError(UserError):
    """No usable run to record; the message says which file and what to run."""


@dataclass(frozen=True)
class Line:
    t: float  # seconds since the chapter started (when the line was complete)
    host: str
    text: str  # without its line break


# ---------------------------------------------------------------------------------------------
# Paths and hashes


def cast_path(chapter: Chapter, directory: Path = CASTS_DIR) -> Path:
    return directory / f"{chapter.slug}.cast"


def sidecar_path(chapter: Chapter, directory: Path = CASTS_DIR) -> Path:
    return directory / f"{chapter.slug}.cast.json"


def hashes(chapter: Chapter, root: Path = chapters.ROOT) -> dict[str, str]:
    """sha256 of every file of the chapter a run executes or reads, by project path."""
    out: dict[str, str] = {}
    for f in chapters.files(chapter):
        if f.kind in HASHED_KINDS and f.path not in out:
            out[f.path] = hashlib.sha256((root / f.path).read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def stale(chapter: Chapter, directory: Path = CASTS_DIR,
          root: Path = chapters.ROOT) -> list[str] | None:
    """The chapter's files that changed (or appeared, or went) since its recording: [] when
    the recording is up to date, None when there is no recording."""
    side = sidecar_path(chapter, directory)
    if not cast_path(chapter, directory).exists() or not side.exists():
        return None
    try:
        then = json.loads(side.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        then = {}
    now = hashes(chapter, root)
    return sorted(p for p in then.keys() | now.keys() if then.get(p) != now.get(p))


# ---------------------------------------------------------------------------------------------
# Reading what the runner kept


def read_run(chapter: Chapter, log_dir: Path = LOG_DIR) -> dict[str, Any]:
    path = log_dir / f"chapter-{chapter.tag}.json"
    fix = f"run it on the lab first: invoke record {chapter.number}"
    if not path.exists():
        raise RecordingError(f"{path}: no run of chapter {chapter.tag} to record. Fix: {fix}")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise RecordingError(f"{path}: not JSON ({err}). Fix: {fix}") from None
    if run.get("ok") is not True:
        raise RecordingError(f"{path}: the last run of chapter {chapter.tag} failed or did not "
                             f"finish; a recording shows a run that worked. Fix: {fix}")
    return dict(run)


def read_timing(path: Path) -> list[tuple[float, str]]:
    """The ``[seconds, text]`` chunks of one host's timing file."""
    chunks = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            t, text = json.loads(raw)
            chunks.append((float(t), str(text)))
        except (ValueError, TypeError):
            raise RecordingError(f"{path}:{number}: not a [seconds, text] line. Fix: run the "
                                 "chapter again (the runner rewrites the file)") from None
    return chunks


def lines(host: str, chunks: list[tuple[float, str]]) -> list[Line]:
    """Chunks joined into whole lines, each at the time its last part arrived."""
    out: list[Line] = []
    pending, t = "", 0.0
    for t, text in chunks:
        parts = (pending + text).split("\n")
        pending = parts.pop()
        out += [Line(t, host, p.removesuffix("\r")) for p in parts]
    if pending:
        out.append(Line(t, host, pending.removesuffix("\r")))
    return out


def redact(text: str, secrets: dict[str, str]) -> str:
    """Every secret's value replaced by ``<redacted: NAME>`` (longest values first, so that
    a value containing another is replaced whole)."""
    for name, value in sorted(secrets.items(), key=lambda kv: -len(kv[1])):
        if value:
            text = text.replace(value, f"<redacted: {name}>")
    return text


# ---------------------------------------------------------------------------------------------
# Building the cast


def compress(times: list[float], idle_max: float = IDLE_MAX) -> list[tuple[float, float]]:
    """For increasing real times: (time in the recording, real pause before it that was
    shortened, or 0.0). The first time is measured from 0."""
    out, prev, now = [], 0.0, 0.0
    for t in times:
        gap = max(0.0, t - prev)
        now += min(gap, idle_max)
        out.append((now, gap if gap > idle_max else 0.0))
        prev = max(prev, t)
    return out


def build(chapter: Chapter, run: dict[str, Any], by_host: dict[str, list[Line]],
          secrets: dict[str, str]) -> tuple[dict[str, Any], list[list[Any]]]:
    """The asciicast v2 header and events of one chapter run."""
    tiers: list[list[str]] = run.get("tiers") or [list(by_host)]
    order = [h for tier in tiers for h in tier]
    width = max((len(h) for h in order), default=1)
    colour = {h: COLOURS[i % len(COLOURS)] for i, h in enumerate(order)}
    host_times = run.get("hosts", {})

    # (real time, rank, text) in the order they happened; a tier's heading comes first
    items: list[tuple[float, int, str]] = []
    for i, tier in enumerate(tiers, 1):
        first = [host_times[h]["start"] for h in tier if h in host_times]
        first += [ln.t for h in tier for ln in by_host.get(h, [])[:1]]
        start = min(first, default=0.0)
        items.append((start, 0, f"{DIM}── tier {i}/{len(tiers)}: {', '.join(tier)} ──{RESET}"))
    for host in order:
        for ln in by_host.get(host, []):
            prefix = f"\x1b[{colour[host]}m{host:<{width}} |{RESET} "
            items.append((ln.t, 1 + order.index(host), prefix + redact(ln.text, secrets)))
    items.sort(key=lambda it: (it[0], it[1]))
    real_end = max([it[0] for it in items] + [float(run.get("seconds") or 0.0)])
    if run.get("ended") and run.get("started"):
        real_end = max(real_end, float(run["ended"]) - float(run["started"]))

    events: list[list[Any]] = []
    command = f"invoke chapter {chapter.number}"
    events.append([0.0, "o", f"{GREEN}${RESET} "])
    t = 0.6
    for ch in command:
        events.append([round(t, 3), "o", ch])
        t += TYPE_DELAY
    t += 0.3
    events.append([round(t, 3), "o", "\r\n"])
    base = t + 0.2
    times = [it[0] for it in items] + [real_end]
    placed = compress(times)
    for (at, pause), (_, _, text) in zip(placed, items, strict=False):
        if pause > MARK_AFTER:
            events.append([round(base + at - IDLE_MAX / 2, 3), "o",
                           f"{DIM}[… {pause:.0f} s later …]{RESET}\r\n"])
        events.append([round(base + at, 3), "o", text + "\r\n"])
    hosts = len(order)
    cast_end = base + placed[-1][0]
    events.append([round(cast_end, 3), "o",
                   f"{GREEN}chapter {chapter.tag} {chapter.title}: done on {hosts} hosts in "
                   f"{real_end:.0f} s{RESET}{DIM} (pauses over {IDLE_MAX:g} s shortened in "
                   f"this recording){RESET}\r\n"])
    header = {"version": 2, "width": WIDTH, "height": HEIGHT,
              "timestamp": int(float(run.get("started") or 0)),
              "title": f"invoke chapter {chapter.number} ({chapter.slug}) on "
                       f"{run.get('profile', '?')}",
              "env": {"SHELL": "/bin/bash", "TERM": "xterm-256color"}}
    return header, events


def dumps(header: dict[str, Any], events: list[list[Any]]) -> str:
    """The asciicast v2 text: the header line, then one JSON array per event."""
    return "\n".join(json.dumps(x, ensure_ascii=False) for x in [header, *events]) + "\n"


# ---------------------------------------------------------------------------------------------
# Writing


def write(chapter: Chapter, source: str, directory: Path = CASTS_DIR,
          log_dir: Path = LOG_DIR, secrets: dict[str, str] | None = None,
          root: Path = chapters.ROOT) -> Path:
    """Write ``NN-slug.cast`` and its ``.cast.json`` from the chapter's last run."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    if secrets is None:
        from webfarm import secrets as lab_secrets

        secrets = lab_secrets.read()
    run = read_run(chapter, log_dir)
    by_host: dict[str, list[Line]] = {}
    for host in [h for tier in run.get("tiers", []) for h in tier]:
        path = log_dir / host / f"{chapter.tag}.timing.jsonl"
        if not path.exists():
            raise RecordingError(f"{path}: missing, though {host} ran chapter {chapter.tag}. "
                                 f"Fix: run it again: invoke record {chapter.number}")
        by_host[host] = lines(host, read_timing(path))
    header, events = build(chapter, run, by_host, secrets)
    text = dumps(header, events)
    # the last safeguard: nothing secret leaves .lab/ (values too short to be told apart from
    # ordinary text are left to redact(), which replaced them already)
    leaked = [k for k, v in secrets.items() if len(v) >= 6 and v in text]
    if leaked:
        raise RecordingError(f"a secret ({', '.join(leaked)}) is still in the recording; "
                             "nothing was written")
    started = float(run.get("started") or 0)
    ended = float(run.get("ended") or started)
    meta = {
        "chapter": chapter.slug, "number": chapter.number, "profile": run.get("profile"),
        "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {"source": source,
                "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
                "ended": datetime.fromtimestamp(ended, UTC).isoformat(timespec="seconds"),
                "seconds": round(ended - started, 1), "commit": _commit(root)},
        "cast_seconds": events[-1][0], "idle_max": IDLE_MAX,
        "tiers": run.get("tiers", []),
        "files": hashes(chapter, root),
    }
    directory.mkdir(parents=True, exist_ok=True)
    cast, side = cast_path(chapter, directory), sidecar_path(chapter, directory)
    _write_text(cast, text)
    _write_text(side, json.dumps(meta, indent=2) + "\n")
    return cast


def _write_text(path: Path, text: str) -> None:
    """Atomically; under root (``invoke e2e``), owned like the folder, not by root."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    if os.geteuid() == 0:
        st = path.parent.stat()
        os.chown(tmp, st.st_uid, st.st_gid)
    tmp.replace(path)


def _commit(root: Path) -> str | None:
    """The checkout's commit (with ``-dirty`` when files differ from it), or None."""
    import sh

    try:
        # safe.directory: invoke e2e runs as root in a checkout that a user owns
        git = sh.git.bake("-C", str(root), "-c", f"safe.directory={root}", _tty_out=False)
        head = str(git("rev-parse", "HEAD")).strip()
        dirty = str(git("status", "--porcelain", "--untracked-files=no")).strip()
    except (sh.ErrorReturnCode, sh.CommandNotFound):
        return None
    return head + ("-dirty" if dirty else "")


# ---------------------------------------------------------------------------------------------
# The chapter page's "Watch it run" section (docs/hooks/webfarm_docs.py)


def watch_section(chapter: Chapter, directory: Path = CASTS_DIR,
                  root: Path = chapters.ROOT) -> str:
    """Markdown for the end of the chapter's page: the player (a link that
    docs/assets/webfarm-player.js turns into one), or a note that there is no recording;
    a warning naming the files that changed since the recording."""
    out = "\n\n## Watch it run\n\n"
    changed = stale(chapter, directory, root)
    if changed is None:
        return out + ('!!! note "No recording of this chapter yet"\n\n'
                      "    No real run of this chapter has been recorded. `invoke record "
                      f"{chapter.number}` on a running lab (or `invoke e2e --record`) makes "
                      f"one: `docs/assets/casts/{chapter.slug}.cast`.\n")
    meta = json.loads(sidecar_path(chapter, directory).read_text(encoding="utf-8"))
    run = meta.get("run", {})
    how = "an `invoke e2e` run" if run.get("source") == "e2e" else "`invoke record` on a lab"
    commit = f", commit `{str(run['commit'])[:12]}`" if run.get("commit") else ""
    if changed:
        listed = ", ".join(f"`{p}`" for p in changed)
        out += (f'!!! warning "This recording predates changes to: {", ".join(changed)}"\n\n'
                f"    These files changed since the run below was recorded: {listed}. "
                f"Record it again: `invoke record {chapter.number}`.\n\n")
    out += (f"[Recording of chapter {chapter.tag} running on the {meta.get('profile')} lab]"
            f"(../assets/casts/{chapter.slug}.cast){{ .wf-cast }}\n\n"
            f"Recorded from {how} on profile `{meta.get('profile')}`, "
            f"{str(run.get('started', '?'))[:10]}{commit}: the real run took "
            f"{float(run.get('seconds') or 0):.0f} s; pauses over {IDLE_MAX:g} s are "
            "shortened (a dim line says how long each was). Secrets show as "
            "`<redacted: NAME>`.\n")
    return out


# ---------------------------------------------------------------------------------------------
# invoke record N


def record(number: str, profile: str | None = None, check: bool = True) -> None:
    """``invoke record N``: run chapter N on the live lab (as ``invoke chapter N`` does),
    then write its recording into docs/assets/casts/. Errors: one message, exit 2."""
    from webfarm.ui import friendly

    friendly(_record)(number, profile, check)


def _record(number: str, profile: str | None, check: bool) -> None:
    from webfarm import args, session
    from webfarm.livelab import live_lab
    from webfarm.ui import say

    ch = args.chapter(number, "invoke record NUMBER")
    lab = live_lab(profile)
    session.run_chapters(lab, [ch.number], check)
    path = write(ch, "lab")
    say(f"recording: {path.relative_to(chapters.ROOT)} and its .json (commit both)")
