"""What the invoke tasks show. ``tasks.py`` only parses arguments and calls one function here;
each one checks the options (webfarm.args), calls the module that does the work and prints
the outcome. Nothing but tasks.py (and tests) imports this module.

Every task is wrapped in :func:`webfarm.ui.friendly`: a known error is one clear message with
its fix and exit code 2; a traceback means a bug in webfarm itself.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rich.markup import escape
from rich.text import Text

from webfarm import args, chapters, checks, paths, render, session, topology
from webfarm import state as lab_state
from webfarm.args import UserError
from webfarm.livelab import check_secrets, live_lab, load_lab
from webfarm.ui import console, friendly, out, say

__all__ = ["UserError", "console", "friendly", "out", "say"]  # they live in args / ui


# ---------------------------------------------------------------------------------------------
# validate / render


@friendly
def validate(lab_file: str | None = None, profile: str | None = None) -> None:
    """``lab_file`` None: the project's lab.yml; else a file relative to the working folder."""
    lab_file = args.lab_file(lab_file)
    profile = args.profile_name(profile)
    base = topology.load(lab_file, profile)
    for name in [base.profile] if profile else base.profiles:
        lab = topology.load(lab_file, name)
        out.print(Text.assemble(("ok", "green"), f" {lab_file}: profile ", (name, "bold"),
                                f" - {len(lab.hosts)} hosts, "
                                f"{sum(h.memory for h in lab.hosts.values())} MB RAM, "
                                f"{len(lab.vips)} VIPs"), highlight=False, soft_wrap=True)


@friendly
def render_files(check: bool = False, lab_file: Path | str = paths.LAB_FILE,
                 profile: str | None = None) -> None:
    if check:
        try:
            diff = render.vagrantfile_drift(Path(lab_file))
        except render.RenderError as err:
            raise UserError(str(err)) from None
        if diff:
            console.print(diff, highlight=False, markup=False)
            raise UserError("the committed Vagrantfile differs from what lab.yml generates. "
                            "Fix: invoke render (then commit the Vagrantfile)")
        out.print("[green]Vagrantfile is up to date with lab.yml[/]")
        return
    from webfarm import secrets as lab_secrets

    # All or nothing: the Vagrantfile and every host file are rendered in memory first; only
    # when all of them succeeded is each one written (atomically: temp file + rename).
    if profile is not None:
        args.profile_name(profile)
    lab = load_lab(profile, lab_file=lab_file)
    try:
        files = render.all_files(Path(lab_file), lab, lab_secrets.load(), lab_state.load())
    except render.RenderError as err:
        raise UserError(f"nothing was written: {err}") from None
    changed = render.write_files(files)
    out.print("Vagrantfile " + ("regenerated" if render.VAGRANTFILE in changed else "unchanged"))
    out.print(f"host files for profile {lab.profile}: {len(files) - 1} files "
              f"in {render.HOSTS_DIR}/")


# ---------------------------------------------------------------------------------------------
# up / chapter / check / drill


@friendly
def up(profile: str | None = None, upto: str | int | None = None, provider: str = "libvirt",
       check: bool = True, driver: str | None = None) -> None:
    from webfarm import preflight, vagrant
    from webfarm import secrets as lab_secrets

    profile = args.profile_name(profile)
    last = args.upto(upto)
    provider = args.provider(provider)
    driver = args.driver(driver, provider)
    st = lab_state.load()
    if driver:
        st.provider.setdefault("libvirt", {})["driver"] = driver
    lab = load_lab(profile, st=st)
    secrets = lab_secrets.load()
    st.profile = lab.profile
    preflight.preflight(lab, provider)
    st.save()
    render.render_lab(lab, secrets, st)
    if provider == "libvirt":
        say(preflight.isolate_management_network(lab))
    with console.status(f"vagrant up: {len(lab.hosts)} VMs of profile {escape(lab.profile)} "
                        f"(log: {escape(str(paths.LOG_DIR / 'vagrant-up.log'))})"):
        t = time.monotonic()
        vagrant.up(lab, provider=provider)
    out.print(f"[green]{len(lab.hosts)} VMs up in {time.monotonic() - t:.0f} s[/]")
    session.run_chapters(lab, [c.number for c in chapters.upto(last)], check)
    out.print("[bold green]lab is up[/]: invoke status, invoke ssh HOST, invoke drill NAME")


@friendly
def chapter(number: str, check: bool = True, profile: str | None = None) -> None:
    ch = args.chapter(number)
    session.run_chapters(live_lab(profile), [ch.number], check)


@friendly
def check(number: str | None = None, profile: str | None = None) -> None:
    """Chapter checks: ``number`` is a chapter, or None / 'all' for every chapter."""
    from webfarm.vagrant import write_ssh_config

    ch = args.chapter_or_all(number) if number is not None else None
    targets = [c for c in ([ch] if ch else chapters.CHAPTERS) if checks.chapter_tests(c)]
    lab = live_lab(profile)
    write_ssh_config(lab)
    failed = 0
    for ch in targets:
        res = checks.run_chapter_checks(lab, ch)
        failed += res.failed
        out.print(f"chapter {ch.tag}: {res.passed} passed, {res.failed} failed")
    if failed:
        raise UserError(f"{failed} check(s) failed; see {checks.RESULTS}/")


@friendly
def drill(name: str | None = None, profile: str | None = None) -> None:
    """Failover drills: ``name`` is a drill, or None / 'all' for every drill."""
    from webfarm.vagrant import write_ssh_config

    known = checks.drill_names()
    chosen = args.drill_name("all" if name is None else name, known)
    lab = live_lab(profile)
    write_ssh_config(lab)
    bad = []
    on_demand = chapters.on_demand_drills()
    if not chosen and on_demand:
        say(f"not in 'all' (run them by name): {', '.join(on_demand)}", to=out)
    for n in [chosen] if chosen else [d for d in known if d not in on_demand]:
        ok = checks.run_drill(lab, n).ok
        say(f"drill {n}: {'passed' if ok else 'FAILED'} ({paths.DRILLS_DIR / n}.json)", to=out)
        bad += [] if ok else [n]
    if bad:
        raise UserError(f"drill(s) failed: {', '.join(bad)}")


@friendly
def scale(role: str, count: str | int, profile: str | None = None, provider: str = "libvirt",
          check: bool = True) -> None:
    """``invoke scale ROLE N``: the tier of ROLE to N hosts on the lab that is up
    (webfarm.scale), then a table of what ran where."""
    from rich.table import Table

    from webfarm import scale as scale_mod

    role = args.scale_role(role)
    number = args.scale_count(count)
    provider = args.provider(provider)
    live_lab(profile)  # checks the run state and secrets; enters the lab's namespace
    job = scale_mod.Scale(role, number, profile=profile, provider=provider, check=check,
                          log=lambda m: say(m))
    report = job.run()
    if not report.runs and not report.drained:
        return
    table = Table(title=f"invoke scale {role} {number}: profile {report.profile}, "
                        f"{report.old_count} -> {report.new_count} hosts")
    for column in ("chapter", "new hosts (every chapter)", "re-ran: files changed", "s"):
        table.add_column(column)
    for run in report.runs:
        table.add_row(run["chapter"], ", ".join(run["new"]), ", ".join(run["rerun"]),
                      f"{run['seconds']:.0f}")
    out.print(table)
    for line in report.drained:
        say(f"drained: {line}", to=out)
    gone = f"; destroyed: {', '.join(report.removed)}" if report.removed else ""
    added = f"; added: {', '.join(report.added)}" if report.added else ""
    say(f"{role}: {report.new_count} hosts{added}{gone} (report: "
        f"{scale_mod.REPORT_FILE})", style="green", to=out)


# ---------------------------------------------------------------------------------------------
# status / ssh / down / destroy


@friendly
def status(profile: str | None = None) -> None:
    from webfarm import nagiosstatus
    from webfarm import status as lab_status

    lab = live_lab(profile, secrets=False)
    states, unknown = lab_status.vm_states(lab)
    if unknown:
        say(f"VM state unknown: {unknown}", style="yellow")
    owners = lab_status.vip_owners(lab, states)
    out.print(lab_status.table(lab, states, owners))
    for line in lab_status.vip_lines(lab, states, owners):
        say(line, to=out)
    monitor = nagiosstatus.monitor_host(lab)
    if monitor and states.get(monitor) == "running" and paths.SSH_CONFIG.exists():
        nagios = nagiosstatus.read(lab_status.ssh_run, lab)
        if nagios is None:
            say("monitor: Nagios has no status yet (run chapter 08)", style="yellow", to=out)
            return
        out.print(lab_status.monitor_table(lab, nagios))
        for problem in lab_status.problem_lines(nagios):
            out.print(problem, highlight=False, soft_wrap=True)


@friendly
def ssh(host: str, profile: str | None = None) -> None:
    from webfarm import vagrant

    args.host_name(host)
    lab = live_lab(profile, secrets=False)
    args.host_name(host, lab.hosts)
    cfg = vagrant.write_ssh_config(lab) if not paths.SSH_CONFIG.exists() else paths.SSH_CONFIG
    os.execvp("ssh", ["ssh", "-F", str(cfg), host])


@friendly
def down(profile: str | None = None) -> None:
    from webfarm import vagrant

    vagrant.halt(live_lab(profile, secrets=False))
    out.print("VMs halted; `invoke up` starts them again (chapters already done are skipped "
              "quickly: they are idempotent)")


@friendly
def destroy(yes: bool = False, profile: str | None = None) -> None:
    from webfarm import vagrant

    lab = live_lab(profile, secrets=False)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError("destroy deletes every VM of the lab; run with --yes to confirm")
        answer = input(f"Destroy all {len(lab.hosts)} VMs of profile {lab.profile}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            out.print("nothing destroyed")
            return
    vagrant.destroy(lab)
    st = lab_state.load()
    st.profile = None
    st.save()
    out.print(f"[green]lab destroyed[/] (secrets in {escape(str(paths.SECRETS_FILE))} are kept)")


# ---------------------------------------------------------------------------------------------
# box / e2e / bench / test


@friendly
def box(os_name: str = "debian12", provider: str = "libvirt", force: bool = False) -> None:
    from webfarm import boxes, ownership

    provider = args.provider(provider)
    lab = topology.load(paths.LAB_FILE)
    os_name = args.box_os(os_name, lab.boxes)
    family = lab.boxes[os_name].family
    if family == "debian12" and provider != "libvirt":
        raise args.problem("--provider", f"the debian12 box is built for libvirt only (asked: "
                           f"{provider})", "use --provider libvirt, or an EL9 box (e.g. --os "
                           "almalinux9) with VirtualBox")
    if family == "debian12":  # the box is then added to the caller's Vagrant, .lab/ given back
        ownership.rerun_as_root()
    try:
        boxes.ensure_box(os_name, lab.boxes[os_name].box, force=force, provider=provider)
    finally:
        ownership.give_back_run_state()


@friendly
def e2e(profile: str | None = "mini", upto: str | int | None = None, keep: bool = False,
        drills: bool = True, reuse: bool = False, serial: bool = False) -> None:
    """``invoke e2e``: every option, lab.yml, the run state and the secrets are checked here,
    before webfarm.e2e creates a namespace or starts a daemon."""
    from webfarm import e2e as e2e_mod

    profile, last = args.e2e_options(profile, upto)
    topology.load(paths.LAB_FILE, profile)
    lab_state.load()
    check_secrets()
    e2e_mod.main(profile, last, keep, drills, reuse, serial)


@friendly
def e2e_down() -> None:
    """``invoke e2e-down``: end a lab left by ``invoke e2e --keep`` (run state checked first)."""
    from webfarm import e2e as e2e_mod

    lab_state.load()
    e2e_mod.down()


@friendly
def bench(parts: list[str] | str | None = None, profile: str | None = None) -> None:
    """``invoke bench``: the generator, and on a live lab its figures (webfarm.bench)."""
    from webfarm import bench as bench_mod

    bench_mod.main(parts, profile)


def self_test(fast: bool = False) -> None:
    """``invoke test``: the project's own tests, no VM (webfarm.selftest)."""
    from webfarm import selftest

    selftest.run(console, fast)


def main(argv: list[str] | None = None) -> None:
    """``python -m webfarm.cli validate [--lab FILE] [--profile P]`` (no invoke needed)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m webfarm.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check lab.yml and report every problem")
    val.add_argument("--lab", default=None)
    val.add_argument("--profile", default=None)
    parsed = parser.parse_args(argv)
    if parsed.command == "validate":
        validate(parsed.lab, parsed.profile)


if __name__ == "__main__":
    main()
