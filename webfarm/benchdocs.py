"""The benchmark page of the tutorial (``docs/bench.md``), from the committed snapshot.

``invoke bench`` writes ``.lab/bench/results.json`` (run state, not in git) and, when it
measured something on a lab, a copy with its date, commit and profile into the checkout,
``docs/assets/bench/results.json`` (:func:`write_snapshot`), to be committed with the work it
measured (as webfarm.e2edocs does for the e2e report). The docs hook then

- replaces ``<!-- bench-results -->`` on the page with tables and plots (:func:`expand_page`);
- adds the plots as generated SVG files under ``bench-plots/`` (:func:`docs_files`).

Without a snapshot the page says so and shows no number.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webfarm import benchmem, e2edocs, paths
from webfarm.benchplot import Bar, hbars

SNAPSHOT = Path("docs") / "assets" / "bench" / "results.json"
MARKER = "<!-- bench-results -->"
PLOTS = "bench-plots"
PAGE = "bench.md"
NONE_YET = ("No benchmark results committed yet: run `invoke bench` on a live lab and commit "
            f"`{SNAPSHOT.as_posix()}`. Until then this page shows no figure.")
ORDER = ("p3", "db", "p4", "sweep", "p5", "up-again", "serial", "generator")
TITLES = {
    "p3": "P3: HTTP requests per second through the www VIP",
    "db": "DB reads per second through the read port",
    "p4": "P4: director failover, client-seen outage against the VRRP bound",
    "sweep": "P4 sweep: outage and false failovers per vrrp.advert_int",
    "p5": "P5: host RAM per VM",
    "up-again": "P2: a second bring-up of the complete lab",
    "serial": "P1: naive serial bring-up against tier-parallel",
    "generator": "The generator (no VM)",
}


def snapshot_path(root: Path = paths.ROOT) -> Path:
    return root / SNAPSHOT


def measured_any(results: dict[str, Any]) -> bool:
    """Whether a part that needs the lab was measured (only then is a snapshot worth one)."""
    return any(p.get("status") == "measured" for name, p in (results.get("parts") or {}).items()
               if name != "generator")


def write_snapshot(results: dict[str, Any], root: Path = paths.ROOT,
                   now: datetime | None = None) -> Path | None:
    """Copy ``results`` with date and commit to docs/assets/bench/results.json when a lab part
    was measured; returns the path, or None (the last snapshot is kept)."""
    if not measured_any(results):
        return None
    data = {**results, "date": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "commit": e2edocs.commit(root)}
    out = snapshot_path(root)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return out


# ---------------------------------------------------------------------------------------------
# helpers


def _n(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")
            .replace("\n", " "))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_n(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _s(summary: dict[str, Any] | None) -> list[Any]:
    s = summary or {}
    return [s.get("n"), s.get("min"), s.get("median"), s.get("max")]


def _points(runs: list[dict[str, Any]], key: str) -> tuple[float, ...]:
    return tuple(float(r[key]) for r in runs if isinstance(r.get(key), int | float))


def _bar(label: str, summary: dict[str, Any] | None, runs: list[dict[str, Any]], key: str,
         color: int = 0, mark: float | None = None, mark_label: str = "") -> Bar:
    s = summary or {}
    return Bar(label, s.get("median"), s.get("min"), s.get("max"), _points(runs, key), mark,
               mark_label, color)


def _median(values: list[float]) -> float | None:
    import statistics

    return round(statistics.median(values), 1) if values else None


def cpu_rows(configs: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Per config: the host's busy share and each VM's CPU, medians over the runs."""
    vms: list[str] = []
    for c in configs:
        for r in c.get("runs", []):
            for vm in (r.get("cpu") or {}).get("vms_pct_of_one_core", {}):
                if vm not in vms:
                    vms.append(vm)
    cores = next((r["cpu"].get("host_cores") for c in configs for r in c.get("runs", [])
                  if r.get("cpu")), None)
    head = ["pool", f"host busy, % of {cores or '?'} cores", *[f"{v} %" for v in vms]]
    rows = []
    for c in configs:
        runs = [r.get("cpu") or {} for r in c.get("runs", [])]
        rows.append([c.get("label"),
                     _median([r["host_busy_pct"] for r in runs if "host_busy_pct" in r]),
                     *[_median([r["vms_pct_of_one_core"][v] for r in runs
                                if v in r.get("vms_pct_of_one_core", {})]) for v in vms]])
    return head, rows


def cpu_bars(configs: list[dict[str, Any]]) -> list[Bar]:
    head, rows = cpu_rows(configs)
    bars = []
    for i, row in enumerate(rows):
        names = ["host", *(h.removesuffix(" %") for h in head[2:])]
        for name, value in zip(names, row[1:], strict=True):
            if value is not None:
                bars.append(Bar(f"{row[0]}: {name}", value, color=i))
    return bars


# ---------------------------------------------------------------------------------------------
# one section per part: (markdown, {plot file: svg})


def _load_section(part: dict[str, Any], key: str, unit: str, name: str
                  ) -> tuple[str, dict[str, str]]:
    configs = part.get("configs") or []
    rows = [[c.get("label"), len(c.get("runs", [])), c.get("valid_runs"), *_s(c.get(key))[1:]]
            for c in configs]
    md = (_table(["pool", "runs", "valid", f"min {unit}", f"median {unit}", f"max {unit}"],
                 rows) + "\n")
    bars = [_bar(c.get("label", "?"), c.get(key), c.get("runs", []), key, color=i)
            for i, c in enumerate(configs)]
    plots = {f"{name}.svg": hbars(TITLES[name], unit, bars)}
    cpu = cpu_bars(configs)
    if cpu:
        head, crow = cpu_rows(configs)
        md += ("CPU during the runs (medians; a VM's figure is % of one host core, its qemu "
               "process):\n\n" + _table(head, crow) + "\n")
        plots[f"{name}-cpu.svg"] = hbars(f"CPU during {name} (median of the runs)",
                                         "% (host: of all cores; VM: of one core)", cpu)
    return md, plots


def section_p3(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return _load_section(part, "requests_per_s", "req/s", "p3")


def section_db(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return _load_section(part, "queries_per_s", "queries/s", "db")


def _vrrp_rows(setting: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for kind in ("crash", "clean"):
        k = setting.get(kind) or {}
        s = k.get("outage_s") or {}
        rows.append([setting.get("advert_int_s"), kind, k.get("bound_s"), s.get("n"),
                     s.get("min"), s.get("median"), s.get("max"), k.get("within_bound"),
                     k.get("goal_s"), (setting.get("quiet") or {}).get("failovers")])
    return rows


VRRP_HEAD = ["advert_int s", "failure", "bound s", "runs", "min s", "median s", "max s",
             "within bound", "goal s", "false failovers (quiet)"]


def _vrrp_bars(settings: list[dict[str, Any]]) -> list[Bar]:
    bars = []
    for i, st in enumerate(settings):
        for kind in ("crash", "clean"):
            k = st.get(kind) or {}
            bars.append(_bar(f"{kind}, advert_int {_n(st.get('advert_int_s'))} s",
                             k.get("outage_s"), k.get("runs", []), "outage_s", color=i,
                             mark=k.get("bound_s"), mark_label="bound"))
    return bars


def section_p4(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    quiet = part.get("quiet") or {}
    md = (_table(VRRP_HEAD, _vrrp_rows(part)) + "\n"
          f"VRRPv{_n(part.get('vrrp_version'))}, the BACKUP's priority "
          f"{_n(part.get('backup_priority'))}: skew {_n(part.get('skew_s'))} s, crash bound "
          f"3 x advert_int + skew = {_n(part.get('crash_bound_s'))} s, clean-stop bound = skew. "
          f"False failovers: {_n(quiet.get('failovers'))} in {_n(quiet.get('seconds'))} s "
          "without a fault.\n\n")
    return md, {"p4.svg": hbars(TITLES["p4"], "seconds without an answer (dashed: the bound)",
                                _vrrp_bars([part]))}


def section_sweep(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    settings = part.get("settings") or []
    rows = [row for st in settings for row in _vrrp_rows(st)]
    rec = part.get("recommended")
    md = _table(VRRP_HEAD, rows) + "\n"
    md += (f"Recommended here: **advert_int {_n(rec['advert_int_s'])} s** ({rec['why']}).\n\n"
           if rec else "No setting passed its quiet period without a false failover: no "
           "recommendation.\n\n")
    bars = _vrrp_bars(settings)
    bars += [Bar(f"false failovers, advert_int {_n(st.get('advert_int_s'))} s",
                 float((st.get("quiet") or {}).get("failovers") or 0), color=5)
             for st in settings]
    return md, {"sweep.svg": hbars(TITLES["sweep"], "seconds / count", bars)}


def section_p5(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    e2e = part.get("e2e") or {}
    boot = benchmem.by_host(e2e.get("vm_rss_boot_mb") or {})
    after = benchmem.by_host(e2e.get("vm_rss_after_chapters_mb") or {})
    now, conf = part.get("vm_rss_now_mb") or {}, part.get("guest_ram_configured_mb") or {}
    hosts = list(conf) or list(now)
    md = _table(["VM", "guest RAM MB", "RSS now MB", "RSS after boot MB (e2e)",
                 "RSS after chapters MB (e2e)"],
                [[h, conf.get(h), now.get(h), boot.get(h), after.get(h)] for h in hosts])
    md += (f"\nAll VMs now: {_n(part.get('vm_rss_now_total_mb'))} MB; host RAM in use now "
           f"{_n(part.get('host_used_now_mb'))} MB; host peak during the last e2e run "
           f"{_n(e2e.get('host_peak_mb'))} MB (baseline {_n(e2e.get('host_baseline_mb'))} MB)."
           f" Profile {_n(part.get('profile'))}; other profiles were not up, so not measured."
           "\n\n")
    bars = [Bar(h, float(now[h]) if h in now else None, points=tuple(
        float(x) for x in (boot.get(h), after.get(h)) if x is not None),
        mark=float(conf[h]) if h in conf else None, mark_label="guest RAM") for h in hosts]
    return md, {"p5.svg": hbars(TITLES["p5"], "MB (bar: RSS now; dots: e2e boot/after "
                                "chapters; dashed: guest RAM)", bars)}


def section_up_again(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    rows = [[c.get("number"), c.get("title"), c.get("first_s"), c.get("again_s"),
             c.get("ratio"), c.get("all_zero")] for c in part.get("chapters") or []]
    md = _table(["chapter", "title", "first run s", "again s", "ratio", "changed=0 everywhere"],
                rows)
    md += (f"\nTotal {_n(part.get('again_total_s'))} s against {_n(part.get('first_total_s'))}"
           f" s: ratio {_n(part.get('ratio'))}; idempotent: {_n(part.get('idempotent'))}.\n\n")
    bars = [Bar("first run", part.get("first_total_s")),
            Bar("again", part.get("again_total_s"), color=1)]
    return md, {"up-again.svg": hbars(TITLES["up-again"], "seconds of provisioning", bars)}


def section_serial(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    md = (f"Serial {_n(part.get('serial_total_s'))} s (vagrant up {_n(part.get('up_s'))} s) "
          f"against tier-parallel {_n(part.get('parallel_total_s'))} s (vagrant up "
          f"{_n(part.get('parallel_up_s'))} s): ratio "
          f"{_n(part.get('ratio'))}.\n\n")
    bars = [Bar("serial", part.get("serial_total_s")),
            Bar("tier-parallel", part.get("parallel_total_s"), color=1)]
    return md, {"serial.svg": hbars(TITLES["serial"], "seconds", bars)}


def section_generator(part: dict[str, Any]) -> tuple[str, dict[str, str]]:
    figures = part.get("figures") or {}
    return _table(["step", "median ms (5 runs)"], [[k, v] for k, v in figures.items()]) + "\n", {}


SECTIONS = {"p3": section_p3, "db": section_db, "p4": section_p4, "sweep": section_sweep,
            "p5": section_p5, "up-again": section_up_again, "serial": section_serial,
            "generator": section_generator}


def sections(data: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The page's generated part and its plots ({file name under PLOTS/: svg})."""
    parts = data.get("parts") or {}
    host = data.get("host") or {}
    md = [f"Measured by `invoke bench` on profile `{_n(data.get('profile'))}` (snapshot of "
          f"commit `{_n(data.get('commit'))}`, {str(data.get('date') or '?')[:10]}; each part "
          "keeps its last measurement, with its own date), on a host with "
          f"{_n(host.get('cores'))} cores and {_n(host.get('mem_mb'))} MB of RAM "
          f"({_n(host.get('accel'))}). Raw figures: "
          f"[results.json](assets/bench/results.json).\n"]
    plots: dict[str, str] = {}
    for name in ORDER:
        part = parts.get(name) or {"status": "not measured", "reason": "not run yet"}
        md.append(f"\n## {TITLES[name]}\n\n")
        status = part.get("status")
        if status != "measured":
            why = part.get("error") if status == "failed" else part.get("reason")
            md.append(f"**{'Failed' if status == 'failed' else 'Not measured'}**: "
                      f"{_n(why or 'no reason recorded')}.\n")
            continue
        when = str(part.get("date") or "?")[:16].replace("T", " ")
        at = f", commit `{part['commit']}`" if part.get("commit") else ""
        md.append(f"How: {_n(part.get('method'))}. Measured {when} UTC{at}.\n\n")
        text, figs = SECTIONS[name](part)
        md.append(text)
        for file, svg in figs.items():
            plots[file] = svg
            alt = TITLES[name] + (": CPU during the runs" if file.endswith("-cpu.svg") else "")
            md.append(f"![{alt}]({PLOTS}/{file})\n\n")
    return "".join(md), plots


def expand_page(markdown: str, uri: str, path: Path | None = None) -> str:
    if uri != PAGE or MARKER not in markdown:
        return markdown
    data = e2edocs.load(path or snapshot_path())
    return markdown.replace(MARKER, sections(data)[0] if data else NONE_YET + "\n")


def docs_files(path: Path | None = None) -> dict[str, str]:
    """{URI: svg} of the plots the page links to (none without a snapshot)."""
    data = e2edocs.load(path or snapshot_path())
    if not data:
        return {}
    return {f"{PLOTS}/{name}": svg for name, svg in sections(data)[1].items()}
