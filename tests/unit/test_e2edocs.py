"""The drills page and chapter pages show the committed e2e report's figures, and only those:
without a snapshot they say so."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from webfarm import chapters, e2edocs

REPORT = {"profile": "mini", "box": "webfarm/debian12", "hosts": ["lb1"],
          "seconds": {"total": 3600.0}, "chapters": [], "error": None,
          "drills": [{"name": "directors", "passed": True, "outage_s": 3.2, "seconds": 61.5},
                     {"name": "db-node", "passed": False, "outage_s": 9.4, "seconds": 140.0,
                      "acked_writes": 412, "lost_writes": 0, "rejoin_s": 71.3}]}


def test_snapshot_has_date_and_commit(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    out = e2edocs.write_snapshot(REPORT, root=tmp_path, now=now)
    assert out == tmp_path / "docs" / "assets" / "e2e-report.json"
    data = json.loads(out.read_text())
    assert data["date"] == "2026-11-28T12:00:00+00:00"
    assert "commit" in data  # None here: tmp_path is no git checkout
    assert data["drills"] == REPORT["drills"]


def test_a_run_without_drills_keeps_the_last_snapshot(tmp_path: Path) -> None:
    assert e2edocs.write_snapshot({**REPORT, "drills": []}, root=tmp_path) is None
    assert not (tmp_path / "docs").exists()


def test_drills_page_table(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**REPORT, "date": "2026-11-28T12:00:00+00:00",
                                "commit": "abc123"}))
    page = e2edocs.expand_page(f"# Drills\n\n{e2edocs.MARKER}\n", "drills.md", path)
    assert e2edocs.MARKER not in page
    assert "| directors | yes | 3.2 | seconds 61.5 | 2026-11-28 | mini | `abc123` |" in page
    assert ("| db-node | **no** | 9.4 | seconds 140, acked_writes 412, lost_writes 0, "
            "rejoin_s 71.3 |") in page


def test_no_snapshot_no_numbers(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    page = e2edocs.expand_page(f"# Drills\n\n{e2edocs.MARKER}\n", "drills.md", missing)
    assert "No e2e report committed yet" in page
    assert "|" not in page
    chapter = next(c for c in chapters.CHAPTERS if c.drills)
    text = e2edocs.expand_page("# Ch\n", f"chapters/{chapter.slug}.md", missing)
    assert "No e2e report committed yet" in text


def test_chapter_page_shows_its_own_drills(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(REPORT))
    lvs = chapters.get("04-lvs")
    text = e2edocs.expand_page("# 04\n", f"chapters/{lvs.slug}.md", path)
    assert "| directors | yes |" in text and "db-node" not in text
    assert '!!! info "Measured in the latest e2e run"' in text
    body = text.split("!!! info", 1)[1].splitlines()[1:]
    assert all(not line or line.startswith("    ") for line in body)  # inside the box
    without = next(c for c in chapters.CHAPTERS if not c.drills)
    assert e2edocs.expand_page("# x\n", f"chapters/{without.slug}.md", path) == "# x\n"


def test_drills_page_has_the_marker() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "drills.md").read_text()
    assert e2edocs.MARKER in page
