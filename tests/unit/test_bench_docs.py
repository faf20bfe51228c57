"""The benchmark page: SVG plots that are valid XML and carry the numbers, the page with and
without a committed snapshot (no number made up), the snapshot itself."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from webfarm import benchdocs
from webfarm.benchplot import Bar, hbars, nice_step

SVG = "{http://www.w3.org/2000/svg}"


def cpu(host: float, **vms: float) -> dict:
    return {"seconds": 20.5, "host_cores": 2, "host_busy_pct": host, "host_cores_busy": 1.9,
            "vms_pct_of_one_core": vms}


RESULTS = {
    "generated_by": "invoke bench", "profile": "mini",
    "host": {"cores": 2, "mem_mb": 24000, "accel": "TCG, software emulation"},
    "parts": {
        "generator": {"status": "measured", "date": "2026-11-28T18:00:00+00:00",
                      "method": "median of 5 runs", "figures": {"validate_ms": 12.5}},
        "p3": {"status": "measured", "date": "2026-11-28T18:05:00+00:00", "method": "wrk <b>",
               "configs": [
                   {"label": "2 app servers", "valid_runs": 3,
                    "requests_per_s": {"n": 3, "min": 230.1, "median": 236.4, "max": 240.2},
                    "runs": [{"requests_per_s": r, "cpu": cpu(97.0, app1=60.0, lb1=20.0)}
                             for r in (230.1, 236.4, 240.2)]},
                   {"label": "1 app server", "valid_runs": 3,
                    "requests_per_s": {"n": 3, "min": 180.0, "median": 181.5, "max": 190.0},
                    "runs": [{"requests_per_s": r, "cpu": cpu(95.0, app1=99.0, lb1=18.0)}
                             for r in (180.0, 181.5, 190.0)]}]},
        "p4": {"status": "measured", "date": "2026-11-28T18:20:00+00:00", "method": "probes",
               "advert_int_s": 1.0, "vrrp_version": 2, "backup_priority": 100, "skew_s": 0.609,
               "crash_bound_s": 3.609, "clean_bound_s": 0.609,
               "quiet": {"seconds": 120, "failovers": 0},
               "crash": {"bound_s": 3.609, "goal_s": 4.0, "within_bound": 2,
                         "outage_s": {"n": 3, "min": 3.1, "median": 3.5, "max": 4.3},
                         "runs": [{"outage_s": x} for x in (3.1, 3.5, 4.3)]},
               "clean": {"bound_s": 0.609, "goal_s": 1.0, "within_bound": 3,
                         "outage_s": {"n": 3, "min": 0.2, "median": 0.3, "max": 0.5},
                         "runs": [{"outage_s": x} for x in (0.2, 0.3, 0.5)]}},
        "p5": {"status": "measured", "date": "2026-11-28T18:00:00+00:00", "method": "rss",
               "profile": "mini", "vm_rss_now_mb": {"lb1": 455}, "vm_rss_now_total_mb": 455,
               "guest_ram_configured_mb": {"lb1": 384}, "host_used_now_mb": 5000,
               "e2e": {"vm_rss_boot_mb": {"lb1": 440}, "vm_rss_after_chapters_mb": {"lb1": 470},
                       "host_peak_mb": 6500, "host_baseline_mb": 800}},
        "db": {"status": "failed", "error": "HAProxy on db1 refused"},
        "sweep": {"status": "not measured", "reason": "opt-in (invoke bench --part sweep)"},
    },
}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> str:
    return " ".join(t.text or "" for t in root.iter(f"{SVG}text"))


def test_plot_is_valid_svg_with_its_numbers() -> None:
    svg = hbars("req/s <through> the VIP & more", "req/s", [
        Bar("2 app servers", 236.4, 230.1, 240.2, (230.1, 236.4, 240.2)),
        Bar("1 app server", 181.5, 180.0, 190.0, (180.0, 181.5, 190.0), mark=200.0,
            mark_label="bound", color=1),
        Bar("not yet", None)])
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    words = texts(root)
    assert "236 (230-240)" in words and "182 (180-190); bound 200" in words
    assert "not measured" in words and "req/s <through> the VIP & more" in words
    assert len(list(root.iter(f"{SVG}circle"))) == 6
    assert "<script" not in svg and "http://" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_empty_plot_is_still_valid() -> None:
    assert parse(hbars("nothing", "s", [])).tag == f"{SVG}svg"


def test_nice_steps() -> None:
    assert [nice_step(x) for x in (240.2, 4.3, 0.9, 0)] == [50, 1, 0.2, 1.0]


def test_page_without_a_snapshot_shows_no_number(tmp_path: Path) -> None:
    page = benchdocs.expand_page(f"# B\n\n{benchdocs.MARKER}\n", "bench.md",
                                 tmp_path / "none.json")
    assert "No benchmark results committed yet" in page and benchdocs.MARKER not in page
    assert not any(c.isdigit() for c in page.replace("docs/assets/bench/results.json", ""))
    assert benchdocs.docs_files(tmp_path / "none.json") == {}


def test_other_pages_are_left_alone(tmp_path: Path) -> None:
    text = f"# D\n{benchdocs.MARKER}\n"
    assert benchdocs.expand_page(text, "drills.md", tmp_path / "none.json") == text


def test_page_with_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**RESULTS, "date": "2026-11-28T18:30:00+00:00",
                                "commit": "abc123"}))
    page = benchdocs.expand_page(f"# B\n\n{benchdocs.MARKER}\n", "bench.md", path)
    assert "profile `mini` (snapshot of commit `abc123`, 2026-11-28" in page
    assert "| 2 app servers | 3 | 3 | 230.1 | 236.4 | 240.2 |" in page
    assert "| 1 app server | 3 | 3 | 180 | 181.5 | 190 |" in page
    assert "| 2 app servers | 97 | 60 | 20 |" in page  # CPU medians: host, app1, lb1
    assert "| 1 | crash | 3.609 | 3 | 3.1 | 3.5 | 4.3 | 2 | 4 | 0 |" in page
    assert "**Failed**: HAProxy on db1 refused." in page
    assert "**Not measured**: opt-in (invoke bench --part sweep)." in page
    assert "| lb1 | 384 | 455 | 440 | 470 |" in page
    assert "**Not measured**: not run yet." in page  # up-again: absent from the results
    files = benchdocs.docs_files(path)
    for name in files:
        assert f"]({name})" in page
        parse(files[name])
    assert set(files) == {"bench-plots/p3.svg", "bench-plots/p3-cpu.svg", "bench-plots/p4.svg",
                          "bench-plots/p5.svg"}
    assert "3.61" in texts(parse(files["bench-plots/p4.svg"]))


def test_snapshot_only_after_a_lab_measurement(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)
    only_generator = {"parts": {"generator": RESULTS["parts"]["generator"],
                                "p3": {"status": "not measured", "reason": "no lab"}}}
    assert benchdocs.write_snapshot(only_generator, tmp_path, now) is None
    out = benchdocs.write_snapshot(RESULTS, tmp_path, now)
    assert out == tmp_path / "docs" / "assets" / "bench" / "results.json"
    data = json.loads(out.read_text())
    assert data["date"] == "2026-11-28T19:00:00+00:00" and "commit" in data
    assert data["profile"] == "mini" and data["parts"]["p3"]["status"] == "measured"


def test_p5_matches_e2e_figures_keyed_by_libvirt_domain_to_hosts() -> None:
    """The e2e report keys RSS by libvirt domain (webfarm_lb1); the P5 table is by host."""
    from webfarm import benchdocs, benchmem

    report = {"profile": "mini", "vm_rss_idle_mb": {"webfarm_lb1": 449},
              "vm_rss_mb": {"webfarm_lb1": 573}, "host_ram_mb": {"peak": 6477, "baseline": 568}}
    e2e = benchmem.from_report(report, "mini")
    assert e2e["vm_rss_boot_mb"] == {"lb1": 449}
    md, _ = benchdocs.section_p5({"e2e": e2e, "vm_rss_now_mb": {"lb1": 569},
                                  "guest_ram_configured_mb": {"lb1": 384}})
    assert "| lb1 | 384 | 569 | 449 | 573 |" in md.replace("  ", " ")
