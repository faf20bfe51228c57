"""The measured figures of the latest ``invoke e2e`` run, on the tutorial's pages.

The report (``.lab/e2e/report.json``) lives on the machine that ran e2e and is not in git,
so at its end ``invoke e2e`` also writes a snapshot into the checkout,
``docs/assets/e2e-report.json`` (:func:`write_snapshot`: the report plus the date and the
commit it ran), to be committed with the work it measured. The docs hook then shows it
(:func:`expand_page`):

- the drills page: ``<!-- e2e-report -->`` becomes a table of every drill of that run
  (drill, passed, outage_s, its other figures, date, profile, commit);
- each chapter page with drills: a box with that chapter's drills from the same run.

Without a snapshot the pages say so: no number is ever made up.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webfarm import chapters, paths

SNAPSHOT = Path("docs") / "assets" / "e2e-report.json"
MARKER = "<!-- e2e-report -->"
NONE_YET = "No e2e report committed yet: run `invoke e2e` and commit `{path}`."
# the row's own columns; every other plain number of a drill is a "key figure"
_OWN = ("name", "passed", "outage_s")


def snapshot_path(root: Path = paths.ROOT) -> Path:
    return root / SNAPSHOT


def commit(root: Path = paths.ROOT) -> str | None:
    """The checkout's commit (``-dirty`` when tracked files differ), or None without git."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=root, capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def write_snapshot(report: dict[str, Any], root: Path = paths.ROOT,
                   now: datetime | None = None) -> Path | None:
    """Copy ``report`` with its date and commit to ``docs/assets/e2e-report.json``; only a
    run that measured drills replaces the snapshot (an interrupted or drill-less run keeps
    the last measured one). Returns the path written, or None."""
    if not report.get("drills"):
        return None
    data = {"date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "commit": commit(root), **report}
    out = snapshot_path(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


def load(path: Path) -> dict[str, Any] | None:
    """The committed snapshot, or None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _figures(drill: dict[str, Any]) -> str:
    out = [f"{k} {_number(v)}" for k, v in drill.items()
           if k not in _OWN and isinstance(v, int | float) and not isinstance(v, bool)]
    return ", ".join(out) or "-"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def drills_table(report: dict[str, Any], names: list[str] | None = None) -> str:
    """A Markdown table of the report's drills (only ``names``, in that order, if given)."""
    drills = list(report.get("drills") or [])
    if names is not None:
        drills = [d for n in names for d in drills if d.get("name") == n]
    date = str(report.get("date") or "-")[:10]
    profile, rev = str(report.get("profile") or "-"), str(report.get("commit") or "-")
    rows = ["| drill | passed | outage_s | key figures | date | profile | commit |",
            "|---|---|---|---|---|---|---|"]
    for d in drills:
        rows.append("| " + " | ".join(_cell(x) for x in (
            str(d.get("name", "?")), "yes" if d.get("passed") else "**no**",
            _number(d.get("outage_s")), _figures(d), date, profile, f"`{rev}`")) + " |")
    return "\n".join(rows) + "\n"


def report_section(report: dict[str, Any] | None, shown_path: str = SNAPSHOT.as_posix()
                   ) -> str:
    """The drills page's block: the run in one sentence, then the table."""
    if report is None:
        return NONE_YET.format(path=shown_path) + "\n"
    if not report.get("drills"):
        return (f"The committed e2e report ({shown_path}) measured no drill.\n")
    total = (report.get("seconds") or {}).get("total")
    result = "passed" if not report.get("error") else f"failed ({report['error'][:200]})"
    took = f" in {total / 60:.0f} min" if isinstance(total, int | float) else ""
    return (f"The latest committed `invoke e2e` run ({str(report.get('date', '?'))[:10]}, "
            f"profile {report.get('profile', '?')}, box {report.get('box', '?')}, commit "
            f"`{report.get('commit') or '?'}`) {result}{took}; its drills measured "
            f"(raw: [e2e-report.json](assets/e2e-report.json)):\n\n"
            + drills_table(report))


def chapter_box(chapter: chapters.Chapter, report: dict[str, Any] | None) -> str:
    """The chapter page's box with its drills' figures ("" for a chapter without drills)."""
    if not chapter.drills:
        return ""
    head = '\n\n!!! info "Measured in the latest e2e run"\n\n'
    if report is None:
        body = NONE_YET.format(path=SNAPSHOT.as_posix())
    else:
        names = list(chapter.drills)
        found = {d.get("name") for d in report.get("drills") or []}
        missing = [n for n in names if n not in found]
        body = drills_table(report, names) if len(missing) < len(names) else ""
        if missing:
            body += ("\n" if body else "") + (
                f"Not in the latest committed e2e report: {', '.join(missing)}.")
    return head + "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())


def expand_page(markdown: str, uri: str, path: Path | None = None) -> str:
    """The marker on any page becomes the whole run's table; a chapter page with drills
    gets its own drills' figures at the end."""
    report = load(path or snapshot_path())
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, report_section(report))
    for chapter in chapters.CHAPTERS:
        if uri == f"chapters/{chapter.slug}.md" and chapter.drills:
            markdown = markdown.rstrip("\n") + chapter_box(chapter, report)
    return markdown
