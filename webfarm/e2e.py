"""``invoke e2e``: the whole lab on this machine, inside a network namespace, then torn down.

Outside the namespace (it needs Debian's archive): build/add the Debian 12 box. Then create
the namespace with its own libvirtd, and re-run this module inside it ("inner" phase) to do
``vagrant up`` with the qemu (TCG) driver, chapters 1..N with their checks, and the drills.
The outer phase samples host RAM, writes ``.lab/e2e/report.json`` and tears everything down
(VMs, volumes, libvirtd/virtlogd by PID, the namespace) even on failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from webfarm import chapters, checks, paths, preflight, render, runner, topology
from webfarm import secrets as lab_secrets
from webfarm import state as lab_state
from webfarm import vagrant as lab_vagrant
from webfarm.args import UserError
from webfarm.virsh import VirshError
from webfarm.wait import WaitTimeout, wait_until

console = Console(stderr=True)
E2E_DIR = paths.E2E_DIR
REPORT = E2E_DIR / "report.json"
INNER = E2E_DIR / "inner.json"
NAMESPACE = "webfarm-e2e"
E2E_OS = "debian12"
RECORD_EVERY = 15  # seconds between updates of what the run created in libvirt
RECORD_ENV = "WEBFARM_E2E_RECORD"  # "1": write each chapter's recording (invoke e2e --record)


def record_chapters() -> None:
    """``invoke e2e --record``: the inner phase, which inherits this environment, writes each
    chapter's terminal recording into this checkout's docs/assets/casts/ once it passed."""
    os.environ[RECORD_ENV] = "1"


@dataclass
class Report:
    profile: str
    box: str
    hosts: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    drills: list[dict[str, Any]] = field(default_factory=list)
    host_ram_mb: dict[str, int] = field(default_factory=dict)
    vm_rss_mb: dict[str, int] = field(default_factory=dict)  # after the chapters
    vm_rss_idle_mb: dict[str, int] = field(default_factory=dict)  # right after boot
    fresh: bool | None = None  # every VM created by this run (False: --reuse or leftovers)
    boot: dict[str, Any] = field(default_factory=dict)  # per-VM boot seconds, retries
    serial: bool = False  # --serial: one VM, then one host at a time (invoke bench's P1)
    leftovers_removed: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def save(self, path: Path = REPORT) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n", encoding="utf-8")


class RamSampler(threading.Thread):
    """Samples host RAM in use (MemTotal - MemAvailable) every second; keeps the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0
        self.baseline_mb = used_mb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_mb = max(self.peak_mb, used_mb())
            self._stop_event.wait(1.0)

    def stop(self) -> None:
        self._stop_event.set()


def used_mb() -> int:
    info: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) // 1024


def qemu_rss_mb() -> dict[str, int]:
    """RSS of every qemu process by guest name (-name guest=...)."""
    out: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if not cmd or b"qemu-system" not in cmd[0]:
                continue
            status = (proc / "status").read_text()
        except OSError:
            continue
        name = "?"
        for i, arg in enumerate(cmd):
            if arg == b"-name" and i + 1 < len(cmd):
                name = cmd[i + 1].decode().split("guest=", 1)[-1].split(",", 1)[0]
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                out[name] = int(line.split()[1]) // 1024
    return out


# ---------------------------------------------------------------------------------------------
# Outer phase (root, outside the namespace)


def _load(profile: str) -> topology.Lab:
    """The lab (cli.e2e checked the options, lab.yml, run state and secrets already)."""
    try:
        return topology.load(paths.LAB_FILE, profile)
    except topology.LabFileError as err:
        console.print(str(err), highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


def main(profile: str = "mini", upto: int | None = None, keep: bool = False,
         drills: bool = True, reuse: bool = False, serial: bool = False) -> None:
    from webfarm import boxes, netns

    if os.geteuid() != 0:
        console.print("error: invoke e2e creates a network namespace and runs libvirtd: "
                      "run it as root (as root: .venv/bin/invoke e2e)", markup=False)
        sys.exit(2)
    base = _load(profile)
    if upto is None:
        upto = chapters.CHAPTERS[-1].number
    total_start = time.monotonic()
    box = base.boxes[E2E_OS]
    report = Report(profile=base.profile, box=box.box, hosts=list(base.hosts), serial=serial)
    ram = RamSampler()
    ram.start()
    ns = netns.LabNamespace(NAMESPACE, remove_leftovers=not reuse)
    owned = False  # True once this run started the namespace: only then may it tear down
    code = 1
    try:
        t = time.monotonic()
        boxes.ensure_box(E2E_OS, box.box)
        report.seconds["box"] = round(time.monotonic() - t, 1)
        console.rule(f"network namespace {NAMESPACE} with its own libvirtd")
        ns.start()
        owned = True
        for stale in (REPORT, INNER):
            stale.unlink(missing_ok=True)
        report.leftovers_removed = ns.leftovers
        if ns.leftovers:
            console.print("removed what an earlier, interrupted run left in libvirt: "
                          + "; ".join(f"{k}: {', '.join(x.replace(chr(9), '/') for x in v)}"
                                      for k, v in ns.leftovers.items()),
                          markup=False, highlight=False)
        if not reuse:
            _forget_vagrant_machines()
        st = lab_state.State(
            profile=base.profile, package_source="offline", namespace=NAMESPACE,
            provider={"libvirt": {"driver": "qemu",
                                  "emulator_path": str(netns.qemu_wrapper_path())}})
        st.save()
        cmd = [*ns.exec_prefix(), sys.executable, "-m", "webfarm.e2e", "inner",
               base.profile, str(upto), "1" if drills else "0", "1" if reuse else "0",
               "1" if serial else "0"]
        env = dict(os.environ, WEBFARM_IN_NETNS=NAMESPACE)
        code = _run_recording(cmd, env, ns)
    except KeyboardInterrupt:
        report.error = "interrupted"
        console.print("[yellow]interrupted: tearing the lab down[/]")
    except netns.NamespaceError as err:
        report.error = str(err)
        console.print(f"e2e refused: {err}", markup=False, highlight=False, soft_wrap=True)
        code = 2
    except Exception as err:  # report and tear down whatever this run made
        report.error = f"{type(err).__name__}: {err}"
        console.print(f"e2e failed: {report.error}", markup=False, highlight=False,
                      soft_wrap=True)
    finally:
        ram.stop()
        if owned:
            report.vm_rss_mb = qemu_rss_mb()
            _merge_inner(report)
            if keep and ns.exists() and report.error != "interrupted":
                console.print(f"[yellow]--keep: the lab stays up in namespace {NAMESPACE}.[/] "
                              "Reach it with: invoke status | invoke ssh HOST | invoke chapter "
                              "N; end it with: invoke e2e-down (or python -m webfarm.e2e down)")
            else:
                teardown(ns)
        report.host_ram_mb = {"peak": ram.peak_mb, "baseline": ram.baseline_mb}
        report.seconds["total"] = round(time.monotonic() - total_start, 1)
        if owned:
            report.save()
            console.print(f"report: {REPORT}")
            _snapshot(report)
    if not owned:  # refused (or failed before the namespace was ours): nothing was touched
        console.print("[bold red]e2e did not start[/]: nothing was changed or torn down")
        sys.exit(code if code == 2 else 1)
    failed = sum(c.get("checks_failed", 0) for c in report.chapters)
    passed = sum(c.get("checks_passed", 0) for c in report.chapters)
    passed += sum(1 for d in report.drills if d["passed"])
    failed += sum(1 for d in report.drills if not d["passed"])
    ok = code == 0 and report.error is None and failed == 0
    # the plain closing line CI reads: checks of every chapter plus one per drill
    print(f"e2e: {passed} passed, {failed} failed", flush=True)
    console.print(("[bold green]e2e passed[/]" if ok else "[bold red]e2e FAILED[/]")
                  + f" in {report.seconds['total']:.0f} s")
    sys.exit(0 if ok else 1)


def _snapshot(report: Report) -> None:
    """The report's copy in the checkout, docs/assets/e2e-report.json, for the drills page
    and the chapter pages (webfarm.e2edocs); only a run that measured drills writes one, and
    never a --serial run (bench's P1 compares it with the tier-parallel snapshot)."""
    from webfarm import e2edocs

    if report.serial:
        return
    try:
        written = e2edocs.write_snapshot(dict(report.__dict__))
    except Exception as err:  # a side output for the docs: it never fails a finished run
        console.print(f"could not write the report's snapshot for the docs: {err}",
                      markup=False, highlight=False, style="yellow")
        return
    if written is not None:
        console.print(f"snapshot for the docs: {written} (commit it with the work it measured)",
                      markup=False, highlight=False)


def _run_recording(cmd: list[str], env: dict[str, str], ns: Any) -> int:
    """Run the inner phase; meanwhile keep the namespace's record of what the run created in
    libvirt up to date, so that a run killed from outside leaves a list for the next one.

    Kept on subprocess.Popen, not sh: the inner phase must inherit this terminal (its rich
    live status, Ctrl-C) while this process wakes up every RECORD_EVERY seconds; with sh
    that is ``_bg=True`` plus ``_out``/``_err``/``_in`` pointed back at our own streams and
    sh's polling ``wait(timeout)``, which says the same thing less plainly."""
    with subprocess.Popen(cmd, env=env) as proc:
        while True:
            try:
                return proc.wait(timeout=RECORD_EVERY)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(Exception):
                    ns.record_created()
            except KeyboardInterrupt:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
                raise


def _forget_vagrant_machines() -> None:
    """This checkout's Vagrant state of earlier runs (.vagrant/machines): its VMs were removed
    or belong to the run being replaced; a fresh run must not adopt them."""
    machines = paths.VAGRANT_MACHINES
    if machines.is_dir():
        shutil.rmtree(machines)
        console.print("removed this checkout's stale .vagrant/machines (a fresh run starts new "
                      "VMs; use --reuse to keep them)", markup=False, highlight=False)


def _merge_inner(report: Report) -> None:
    if not INNER.exists():
        return
    data = json.loads(INNER.read_text(encoding="utf-8"))
    report.seconds |= data.get("seconds", {})
    report.chapters = data.get("chapters", [])
    report.drills = data.get("drills", [])
    if data.get("error") and not report.error:
        report.error = data["error"]
    if data.get("vm_rss_mb"):
        report.vm_rss_mb = data["vm_rss_mb"]
    report.vm_rss_idle_mb = data.get("vm_rss_mb_boot", {})
    report.fresh = data.get("fresh")
    report.boot = data.get("boot", {})


def teardown(ns: Any) -> None:
    """Destroy the VMs, then stop what the namespace runs and delete it."""
    console.rule("teardown")
    try:
        st = lab_state.load()
    except UserError as err:  # a broken state file must not keep the lab running
        console.print(f"{err} (tearing down anyway)", markup=False, style="yellow")
        st = lab_state.State(profile="mini")
    if ns.exists():
        try:
            lab = topology.load(paths.LAB_FILE, st.profile)
            for provider, options in st.provider.items():
                lab = lab.with_provider(provider, **options)
            # python-vagrant, inside the namespace, given 600 s (coreutils timeout: Vagrant
            # has no timeout of its own; SIGKILL 10 s after the SIGTERM, as the old
            # subprocess timeout killed); output in .lab/logs/vagrant-destroy.log
            code = lab_vagrant.stream(lab, ["destroy", "-f"], "vagrant-destroy",
                                      prefix=["timeout", "-k", "10", "600", *ns.exec_prefix()])
            if code != 0:
                what = "timed out after 600 s" if code == 124 else f"exit {code}"
                console.print(f"vagrant destroy: {what}; see .lab/logs/vagrant-destroy.log "
                              "(tearing down anyway)", markup=False, style="yellow")
        except Exception as err:
            console.print(f"vagrant destroy: {err}", markup=False, style="yellow")
        _end_ssh_masters(ns)
        ns.stop(remove_created=True)
    st.namespace = None
    st.profile = None
    st.save()
    console.print("[green]lab torn down: no VM, libvirtd or namespace left[/]")


def _end_ssh_masters(ns: Any) -> None:
    """ssh ControlMaster processes (testinfra, our runner) linger in the namespace: they are
    ours, end them by PID."""
    from webfarm.netns import process_comm

    ended = []
    for pid in ns.namespace_pids():
        if process_comm(pid) == "ssh":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                ended.append(pid)
    with contextlib.suppress(WaitTimeout):  # at most 1 s, as the fixed sleep it replaces
        wait_until(lambda: not any(process_comm(p) == "ssh" for p in ended), 1, 0.1,
                   "the lab's ssh masters to end")


# ---------------------------------------------------------------------------------------------
# Inner phase (inside the namespace)


def _existing_domains(lab: topology.Lab) -> list[str]:
    """The lab's VMs that already exist in libvirt (vagrant-libvirt names them LAB_HOST)."""
    from webfarm.virsh import virsh

    names = {ln.strip() for ln in virsh("list", "--all", "--name").splitlines()}
    return [h for h in lab.hosts if f"{lab.name}_{h}" in names]


def inner(profile: str, upto: int, run_drills: bool, reuse: bool = False,
          serial: bool = False) -> int:
    """The run inside the namespace. ``serial``: one VM at a time, then each chapter one
    host at a time (the naive bring-up ``invoke bench --part serial`` compares with)."""
    from webfarm import benchup, session

    data: dict[str, Any] = {"seconds": {}, "chapters": [], "drills": []}

    def save() -> None:
        INNER.parent.mkdir(parents=True, exist_ok=True)
        INNER.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    try:
        st = lab_state.load()
        lab = topology.load(paths.LAB_FILE, profile)
        for provider, options in st.provider.items():
            lab = lab.with_provider(provider, **options)
        render.render_lab(lab, lab_secrets.load(), st)
        existing = _existing_domains(lab)
        data["fresh"] = not existing
        if existing:
            console.print(f"reusing existing VMs ({', '.join(existing)}): this run is not "
                          "from fresh VMs (report: fresh=false)", markup=False, style="yellow")
        console.print(preflight.isolate_management_network(lab), markup=False, highlight=False)
        size = 1 if serial else lab_vagrant.batch_size(lab, len(lab.hosts))
        console.rule(escape(f"vagrant up: {len(lab.hosts)} VMs ({lab.profile}, TCG, "
                            f"{size} at a time)"))
        t = time.monotonic()
        with console.status("booting VMs (log: .lab/logs/vagrant-up.log)") as status:
            ready: list[str] = []

            def on_ready(host: str, seconds: float) -> None:
                ready.append(host)
                status.update(escape(f"booting VMs: {len(ready)}/{len(lab.hosts)} ready "
                                     f"({host} in {seconds:.0f} s)"))

            boot = lab_vagrant.up(lab, batch=size, on_ready=on_ready)
        data["seconds"]["up"] = round(time.monotonic() - t, 1)
        data["boot"] = {"batch_size": size, "batches": boot.batches,
                        "vm_seconds": boot.seconds, "retried": boot.retried,
                        "boot_timeout": lab.provider.get("libvirt", {}).get("boot_timeout")}
        save()
        retried = f"; retried: {', '.join(boot.retried)}" if boot.retried else ""
        console.print(f"{len(lab.hosts)} VMs up in {data['seconds']['up']:.0f} s{retried}",
                      markup=False, style="green")
        data["vm_rss_mb_boot"] = qemu_rss_mb()
        save()
        for ch in chapters.upto(upto):
            console.rule(escape(f"chapter {ch.tag}: {ch.title}"
                                + (" (one host at a time)" if serial else "")))
            try:
                with benchup.one_host_at_a_time() if serial else contextlib.nullcontext():
                    data["chapters"] += session.run_chapters(lab, [ch.number])
                if os.environ.get(RECORD_ENV) == "1":
                    _record(ch)
            except runner.ChapterFailed as err:
                summary = err.summary or {"number": ch.number, "title": ch.title,
                                          "checks_passed": 0, "checks_failed": 1,
                                          "seconds": 0.0}  # provisioning itself failed
                data["chapters"].append({**summary, "error": str(err)[:2000]})
                raise
            finally:
                save()
        data["vm_rss_mb"] = qemu_rss_mb()
        # the drills of the chapters that ran (a drill of chapter 04 needs the directors)
        drill_names = [d for ch in chapters.upto(upto) for d in ch.drills] if run_drills else []
        if drill_names:
            for name in drill_names:
                console.rule(escape(f"drill {name}"))
                res = checks.run_drill(lab, name)
                result_file = paths.DRILLS_DIR / f"{name}.json"
                outage, figures = None, {}
                if result_file.exists():
                    saved = json.loads(result_file.read_text())
                    outage = saved.get("outage_s")
                    figures = _figures(saved.get("details", {}))
                data["drills"].append({"name": name, "passed": res.ok, "outage_s": outage,
                                       "seconds": round(res.seconds, 1), **figures})
                save()
        failed = [d["name"] for d in data["drills"] if not d["passed"]]
        if failed:
            data["error"] = f"drills failed: {', '.join(failed)}"
            save()
            return 1
        return 0
    except (runner.ChapterFailed, lab_vagrant.VagrantError, topology.LabFileError,
            UserError, VirshError) as err:
        data["error"] = str(err)[:4000]
        console.print(str(err), markup=False, highlight=False, soft_wrap=True, style="red")
        save()
        return 1


def _record(ch: chapters.Chapter) -> None:
    """Write the chapter's recording (webfarm.recording); a failure to write it is reported,
    it does not fail the run."""
    from webfarm import recording

    try:
        path = recording.write(ch, "e2e")
        console.print(f"recording: {paths.in_project(path)}", markup=False, highlight=False)
    except Exception as err:  # a side output for the docs: it never fails the run
        console.print(f"recording of chapter {ch.tag} not written: {err}", markup=False,
                      highlight=False, style="yellow")


def _figures(details: dict[str, Any]) -> dict[str, Any]:
    """The plain numbers a drill recorded at the top of its details (acked_writes,
    lost_writes, rejoin_s...), for the report; nested scenario data stays in the drill's
    own file."""
    return {k: v for k, v in details.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def down() -> None:
    """End a lab left running by ``invoke e2e --keep`` in this checkout (never another's)."""
    from webfarm import netns

    ns = netns.LabNamespace(NAMESPACE)
    owner = ns.owner()
    if ns.exists() and owner and Path(owner).resolve() != Path.cwd().resolve():
        console.print(f"error: the lab in namespace {NAMESPACE} belongs to the checkout "
                      f"{owner}, not this one; nothing was touched. Fix: run `invoke e2e-down` "
                      f"in {owner}", markup=False, highlight=False)
        sys.exit(2)
    teardown(ns)


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "inner":
        sys.exit(inner(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1",
                       len(sys.argv) >= 7 and sys.argv[6] == "1"))
    if len(sys.argv) >= 2 and sys.argv[1] == "down":
        down()
        sys.exit(0)
    print("usage: invoke e2e  (python -m webfarm.e2e inner|down is internal)", file=sys.stderr)
    sys.exit(2)
