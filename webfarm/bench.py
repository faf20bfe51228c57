"""``invoke bench``: what this lab achieves on this machine, measured, with how it was measured.

Parts (``--part NAME``, repeatable or a comma list; default: ``generator,p5,p3,db,p4``):

==========  ==================================================================  ===========
part        what                                                                module
==========  ==================================================================  ===========
generator   validate + render speed, no VM                                      here
p5          host RAM per VM (qemu RSS now; boot/after-chapters/peak from e2e)   benchmem
p3          HTTP req/s through the www VIP, 2 app servers vs 1 (wrk)            benchweb
db          reads/s through the db VIP's read port, every node vs 1 (mysqlslap) benchdb
p4          director failover outage (crash, clean stop) vs the VRRP bound      benchvrrp
sweep       p4 at several vrrp.advert_int values (opt-in, ~25 min)              benchvrrp
up-again    P2: every chapter again on the complete lab (opt-in, ~15 min)       benchup
serial      P1: a lab brought up by invoke e2e --serial vs tier-parallel (opt-in)  benchup
==========  ==================================================================  ===========

Every part is bounded in time and restores what it changed (IPVS weights, HAProxy servers,
keepalived, links, keepalived.conf) in ``finally`` blocks; each has its log in
``.lab/logs/bench/PART.log``. Results: ``.lab/bench/results.json`` (each part keeps its last
result, with its date, until measured again), and, when a lab part was measured, the snapshot
``docs/assets/bench/results.json`` for the docs page (webfarm.benchdocs). Without a lab up,
only the generator runs and the others are listed as needing one. Goals are reported, never
asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from webfarm import args, paths, render, topology
from webfarm import secrets as lab_secrets
from webfarm import state as lab_state
from webfarm.args import UserError
from webfarm.state import State

RESULTS = paths.LAB_DIR / "bench" / "results.json"
PARTS = ("generator", "p5", "p3", "db", "p4", "sweep", "up-again", "serial")  # run order
DEFAULT = ("generator", "p5", "p3", "db", "p4")
ALIASES = {"p1": "serial", "p2": "up-again", "p4-sweep": "sweep", "gen": "generator"}
LIVE = ("p5", "p3", "db", "p4", "sweep", "up-again", "serial")  # need the lab that is up
PAUSE_S = 10.0  # between two load parts: let the lab settle
PART_FIX = (f"use one or more of {', '.join(PARTS)} (or {', '.join(ALIASES)}), e.g. "
            "--part p3,db or --part p3 --part db")


# ---------------------------------------------------------------------------------------------
# Options (checked before anything runs)


def parse_parts(values: Iterable[str] | str | None, option: str = "--part") -> list[str]:
    """``--part`` values (repeatable, comma lists, aliases) -> part names in run order."""
    if values is None or (not isinstance(values, str) and not list(values)):
        return list(DEFAULT)
    chosen: list[str] = []
    for value in [values] if isinstance(values, str) else values:
        for word in str(value).split(","):
            name = word.strip().lower()
            if not name:
                raise args.problem(option, f"{args.shown(value)} has an empty part name",
                                   PART_FIX)
            name = ALIASES.get(name, name)
            if name not in PARTS:
                raise args.problem(option, f"{args.shown(word.strip())} is not a part",
                                   PART_FIX)
            if name not in chosen:
                chosen.append(name)
    return [p for p in PARTS if p in chosen]


# ---------------------------------------------------------------------------------------------
# The generator (no VM)


def _time(func: Callable[[], Any], repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        runs.append(time.perf_counter() - t)
    return round(statistics.median(runs) * 1000, 2)


def generator(profile: str) -> dict[str, Any]:
    lab = topology.load(paths.LAB_FILE, profile)
    secrets = lab_secrets.redacted()
    with tempfile.TemporaryDirectory() as tmp:
        figures = {
            "validate_ms": _time(lambda: topology.load(paths.LAB_FILE, profile)),
            "vagrantfile_ms": _time(render.vagrantfile),
            "render_hosts_ms": _time(lambda: render.render_lab(lab, secrets, State(),
                                                                Path(tmp))),
        }
    return {"method": f"median of 5 runs each, profile {profile}", "figures": figures}


# ---------------------------------------------------------------------------------------------
# Results


def load_results(path: Path | None = None) -> dict[str, Any]:
    path = path or RESULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"parts": {}}
    if not isinstance(data, dict) or not isinstance(data.get("parts"), dict):
        return {"parts": {}}
    return data


def host_facts(lab: topology.Lab | None) -> dict[str, Any]:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    driver = (lab.provider.get("libvirt", {}).get("driver") if lab else None) or "?"
    accel = {"qemu": "TCG, software emulation", "kvm": "KVM"}.get(driver, driver)
    return {"cores": os.cpu_count(), "mem_mb": mem, "accel": accel}


def not_measured(results: dict[str, Any], name: str, reason: str) -> None:
    """Record why ``name`` was not measured, keeping an earlier measurement if there is one."""
    if (results["parts"].get(name) or {}).get("status") != "measured":
        results["parts"][name] = {"status": "not measured", "reason": reason}


def save(results: dict[str, Any], path: Path | None = None) -> None:
    path = path or RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    results["generated_by"] = "invoke bench"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def table(results: dict[str, Any], ran: list[str]) -> Table:
    out = Table(title=Text(f"webfarm bench ({RESULTS})"))
    for col in ("part", "status", "figure"):
        out.add_column(Text(col))
    for name in ran:
        part = results["parts"].get(name) or {}
        out.add_row(Text(name), Text(str(part.get("status")),
                                     style="green" if part.get("status") == "measured"
                                     else "yellow"),
                    Text(headline(name, part)))
    return out


def headline(name: str, part: dict[str, Any]) -> str:
    """One line per part for the terminal."""
    if part.get("status") != "measured":
        return str(part.get("error") or part.get("reason") or "")[:200]
    if name in ("p3", "db"):
        key = "requests_per_s" if name == "p3" else "queries_per_s"
        return "; ".join(f"{c['label']}: median {(c.get(key) or {}).get('median')}/s"
                         for c in part.get("configs", []))
    if name == "p4":
        return "; ".join(f"{k}: median {((part.get(k) or {}).get('outage_s') or {}).get('median')}"
                         f" s (bound {(part.get(k) or {}).get('bound_s')} s)"
                         for k in ("crash", "clean")) + (
            f"; false failovers {(part.get('quiet') or {}).get('failovers')}")
    if name == "sweep":
        return f"recommended: {part.get('recommended')}"
    if name == "p5":
        return (f"VMs now {part.get('vm_rss_now_total_mb')} MB in all, median "
                f"{(part.get('vm_rss_now_summary_mb') or {}).get('median')} MB")
    if name in ("up-again", "serial"):
        return f"ratio {part.get('ratio')}"
    return ", ".join(f"{k} {v}" for k, v in (part.get("figures") or {}).items())


# ---------------------------------------------------------------------------------------------
# Running


def main(parts_option: Iterable[str] | str | None = None, profile_option: str | None = None
         ) -> None:
    """``invoke bench``: options checked first, then the lab entered (its namespace), then
    each part in order; a failed part is recorded and the others still run."""
    from webfarm.ui import say

    parts = requested = parse_parts(parts_option)
    profile = args.profile_name(profile_option)
    st = lab_state.load()
    results = load_results()
    lab_up = st.profile is not None
    live = [p for p in parts if p in LIVE]
    if live and not lab_up:
        say(f"no lab is up ({paths.STATE_FILE} names none): {', '.join(live)} need a live lab "
            "(invoke up, or invoke e2e --keep); only the generator runs", style="yellow")
        for name in live:
            not_measured(results, name, "needs a live lab; none was up when invoke bench ran")
        parts = [p for p in parts if p not in LIVE]
        live = []
    lab = _lab(profile, bool(live), st)
    results["profile"] = lab.profile
    results["host"] = host_facts(lab)
    for name in PARTS:
        if name not in parts and name not in results["parts"]:
            not_measured(results, name, _why_not(name))
    failed = run_parts(lab, parts, results)
    save(results)
    written = [RESULTS]
    from webfarm import benchdocs

    if any(results["parts"].get(p, {}).get("status") == "measured" for p in parts
           if p != "generator"):
        snap = benchdocs.write_snapshot(results)
        if snap:
            written.append(snap)
            say(f"snapshot for the docs page: {snap} (commit it with the work it measured)")
    _give_back(written)
    from webfarm.ui import out

    out.print(table(results, requested))
    if failed:
        raise UserError(f"bench part(s) failed: {', '.join(failed)} (recorded in {RESULTS}). "
                        f"Fix: see {paths.LOG_DIR / 'bench'}/PART.log, then run invoke bench "
                        f"--part {','.join(failed)}")


def _commit() -> str | None:
    """The checkout's commit, for each part: a part keeps its result until measured again,
    so the parts of one snapshot may come from different commits."""
    from webfarm import e2edocs

    return e2edocs.commit(paths.ROOT)


def _why_not(name: str) -> str:
    if name in ("sweep", "up-again", "serial"):
        return (f"opt-in (invoke bench --part {name}); not run yet"
                + ("; needs a lab brought up by invoke e2e --serial" if name == "serial"
                   else ""))
    return "not run yet"


def _lab(profile: str | None, live: bool, st: lab_state.State) -> topology.Lab:
    from webfarm.livelab import live_lab, load_lab

    if live:
        return live_lab(profile)  # enters the lab's namespace (re-runs this command there)
    if profile is None and st.profile is None:
        profile = "mini"
    return load_lab(profile)


def run_parts(lab: topology.Lab, parts: list[str], results: dict[str, Any]) -> list[str]:
    from webfarm.benchlab import open_log

    failed: list[str] = []
    if any(p in LIVE for p in parts) and not paths.SSH_CONFIG.exists():
        from webfarm import vagrant

        vagrant.write_ssh_config(lab)
    loaded = False
    for name in parts:
        if name in ("p3", "db", "p4", "sweep") and loaded:
            time.sleep(PAUSE_S)
        log = open_log(name)
        start = time.monotonic()
        _progress(name, f"started (log: {log.name})")
        try:
            data = _run_one(name, lab, log)
            results["parts"][name] = {"status": "measured", "date": now_iso(),
                                      "commit": _commit(),
                                      "seconds": round(time.monotonic() - start, 1),
                                      "log": log.name, **data}
            _progress(name, f"done in {time.monotonic() - start:.0f} s")
        except KeyboardInterrupt:
            results["parts"][name] = {"status": "failed", "date": now_iso(),
                                      "error": "interrupted", "log": log.name}
            save(results)
            raise
        except Exception as err:  # recorded; the next part still runs
            if not _known(err):
                raise
            results["parts"][name] = {"status": "failed", "date": now_iso(), "error": str(err),
                                      "log": log.name}
            failed.append(name)
            _progress(name, f"FAILED: {err}")
        finally:
            log.close()
        loaded = loaded or name in ("p3", "db", "p4", "sweep")
        save(results)
    return failed


def _known(err: Exception) -> bool:
    from webfarm.runner import ChapterFailed
    from webfarm.vagrant import VagrantError

    return isinstance(err, UserError | ChapterFailed | VagrantError | TimeoutError)


def _progress(part: str, text: str) -> None:
    from webfarm.ui import say

    say(f"{time.strftime('%H:%M:%S')} bench {part}: {text}")


def _run_one(name: str, lab: topology.Lab, log: Any) -> dict[str, Any]:
    from webfarm.benchlab import Shell

    shell = Shell(log)

    def progress(text: str) -> None:
        shell.note(text)
        _progress(name, text)

    if name == "generator":
        return generator(lab.profile)
    if name == "p5":
        from webfarm import benchmem

        return benchmem.run(lab)
    if name == "p3":
        from webfarm import benchweb

        return benchweb.run(lab, shell)
    if name == "db":
        from webfarm import benchdb

        return benchdb.run(lab, shell, lab_secrets.load())
    if name in ("p4", "sweep"):
        from webfarm import benchvrrp

        if name == "p4":
            return benchvrrp.run(lab, shell, progress)
        return benchvrrp.sweep(lab, shell, progress)
    from webfarm import benchmem, benchup

    report = benchmem.load_report()
    if name == "up-again":
        return benchup.up_again(lab, report, progress)
    from webfarm import e2edocs

    return benchup.serial(lab, report, e2edocs.load(e2edocs.snapshot_path()))


def _give_back(files: list[Path]) -> None:
    """Run as root in the namespace: the files go back to the project's owner."""
    from webfarm.capture import give_back

    give_back(*files, RESULTS.parent, paths.LOG_DIR / "bench",
              *(paths.LOG_DIR / "bench").glob("*.log"), *(f.parent for f in files))
