"""What the invoke tasks do. ``tasks.py`` only parses arguments and calls one function here.

Every user-facing failure is a :class:`UserError` (or a lab-file error) printed as a clear
message with its fix and exit code 2; a traceback means a bug in webfarm itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from webfarm import args, chapters, checks, render, runner, topology
from webfarm import state as lab_state
from webfarm.args import UserError
from webfarm.topology import Lab, LabFileError
from webfarm.vagrant import VagrantError

console = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["UserError", "friendly"]  # UserError lives in webfarm.args; callers use cli's


def friendly(func: F) -> F:
    """Turn known errors into a clear message and exit code 2 (never a traceback).

    Messages are printed literally (no rich markup): they carry names and values the user
    typed, and a ``[`` in those must neither vanish nor break the printer."""

    @wraps(func)
    def wrapper(*a: Any, **kw: Any) -> Any:
        try:
            return func(*a, **kw)
        except LabFileError as err:
            say(f"{len(err.problems)} problem(s) in {err.file}:", style="bold red")
            for problem in err.problems:
                say(f"  - {problem.render(err.file)}")
            sys.exit(2)
        except (UserError, VagrantError, runner.ChapterFailed, *_tool_errors()) as err:
            console.print(Text.assemble(("error:", "bold red"), " ", str(err)),
                          highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            say("interrupted", style="yellow")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def say(text: str, style: str = "", to: Console = console) -> None:
    """Print ``text`` literally (no markup, no highlighting), on one logical line."""
    to.print(Text(text, style=style), highlight=False, soft_wrap=True)


def _tool_errors() -> tuple[type[Exception], ...]:
    """Errors of the box builders, whose messages already name the fix."""
    from webfarm.boxes import BoxError
    from webfarm.packer import PackerError

    return (BoxError, PackerError)


# ---------------------------------------------------------------------------------------------
# Loading the lab and entering its network namespace


def load_lab(profile: str | None = None, lab_file: str = "lab.yml",
             st: lab_state.State | None = None) -> Lab:
    """The lab for ``profile``, else the profile that is up (.lab/state.yml), else lab.yml's.
    ``st`` is the run state to apply (default: .lab/state.yml, checked)."""
    st = st if st is not None else lab_state.load()
    if profile is None and st.profile is not None:
        known = topology.load(lab_file).profiles
        if st.profile not in known:
            raise UserError(f"{lab_state.STATE_FILE}: profile: {args.shown(st.profile)} is not "
                            f"a profile of {lab_file} (profiles: {', '.join(known)}). Fix: pass "
                            "--profile NAME, or delete .lab/state.yml (it is run state and is "
                            "rebuilt)")
    lab = topology.load(lab_file, profile or st.profile)
    for provider, options in st.provider.items():
        lab = lab.with_provider(provider, **options)
    return lab


def check_secrets() -> None:
    """Refuse a damaged .lab/secrets.yml now, before anything starts (generates nothing)."""
    from webfarm import secrets as lab_secrets

    lab_secrets.read()


def current_namespace() -> str | None:
    try:
        proc = subprocess.run(["ip", "netns", "identify", str(os.getpid())],
                              capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return None
    return proc.stdout.strip() or None


def enter_lab_namespace() -> None:
    """Re-run this command inside the lab's network namespace when the lab lives in one
    (``invoke e2e --keep``); lab addresses are only reachable there."""
    ns = lab_state.load().namespace
    if not ns or os.environ.get("WEBFARM_IN_NETNS") == ns or current_namespace() == ns:
        return
    if not Path(f"/run/netns/{ns}").exists():
        raise UserError(f"the lab's network namespace {ns} is gone (.lab/state.yml says the "
                        "lab lives there). Fix: invoke destroy --yes, or start it again with "
                        "invoke e2e --keep")
    os.environ["WEBFARM_IN_NETNS"] = ns
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "invoke", *sys.argv[1:]]
    sys.stdout.flush()
    os.execvp("ip", argv)


# ---------------------------------------------------------------------------------------------
# validate / render


@friendly
def validate(lab_file: str | None = "lab.yml", profile: str | None = None) -> None:
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
def render_files(check: bool = False, lab_file: str = "lab.yml") -> None:
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
    lab = load_lab(lab_file=lab_file)
    try:
        files = render.all_files(Path(lab_file), lab, lab_secrets.load(), lab_state.load())
    except render.RenderError as err:
        raise UserError(f"nothing was written: {err}") from None
    changed = render.write_files(files)
    out.print("Vagrantfile " + ("regenerated" if render.VAGRANTFILE in changed else "unchanged"))
    out.print(f"host files for profile {lab.profile}: {len(files) - 1} files "
              f"in {render.HOSTS_DIR}/")


# ---------------------------------------------------------------------------------------------
# Preflight: what `up` needs before a VM starts


def preflight(lab: Lab, provider: str = "libvirt") -> None:
    from webfarm import boxes

    if not shutil.which("vagrant"):
        raise UserError("vagrant is not installed. Fix: bash webfarm/scripts/setup-host.sh lab "
                        "(installs vagrant, vagrant-libvirt, libvirt and qemu from your distro)")
    if provider == "libvirt":
        driver = lab.provider.get("libvirt", {}).get("driver", "kvm")
        if driver == "kvm" and not _kvm_usable():
            raise UserError(
                "this host has no usable hardware virtualization (/dev/kvm is missing or not "
                "accessible). Fix: enable VT-x/AMD-V in the firmware and load kvm_intel or "
                "kvm_amd; or run `invoke up --driver qemu` (software emulation, several times "
                "slower); or run the whole lab in its own namespace with `invoke e2e`")
        if subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True,
                          check=False, timeout=60).returncode != 0:
            raise UserError("libvirt does not answer on qemu:///system. Fix: systemctl start "
                            "libvirtd (and add yourself to the libvirt group), or use "
                            "`invoke e2e` which starts its own libvirtd")
    for box in {h.os for h in lab.hosts.values()}:
        if not boxes.box_added(box.box, provider):
            raise UserError(f"the Vagrant box {box.box} ({provider}) is missing (lab.yml "
                            f"boxes.{box.name}). Fix: invoke box --os {box.name}")


def _kvm_usable() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


# ---------------------------------------------------------------------------------------------
# up / chapter / check


def run_chapters(lab: Lab, numbers: list[int], check: bool = True) -> list[dict[str, Any]]:
    """Run chapters in order, each followed by its checks (webfarm.session does the work)."""
    from webfarm import session

    return session.run_chapters(lab, numbers, check)


@friendly
def up(profile: str | None = None, upto: str | int | None = None, provider: str = "libvirt",
       check: bool = True, driver: str | None = None) -> None:
    from webfarm import vagrant

    profile = args.profile_name(profile)
    last = args.upto(upto)
    provider = args.provider(provider)
    driver = args.driver(driver, provider)
    st = lab_state.load()
    if driver:
        st.provider.setdefault("libvirt", {})["driver"] = driver
    lab = load_lab(profile, st=st)
    secrets = _secrets()
    st.profile = lab.profile
    preflight(lab, provider)
    st.save()
    render.render_lab(lab, secrets, st)
    if provider == "libvirt":
        say(_isolate_management_network(lab))
    with console.status(f"vagrant up: {len(lab.hosts)} VMs of profile {escape(lab.profile)} "
                        f"(log: .lab/logs/vagrant-up.log)"):
        t = time.monotonic()
        vagrant.up(lab, provider=provider)
    out.print(f"[green]{len(lab.hosts)} VMs up in {time.monotonic() - t:.0f} s[/]")
    run_chapters(lab, [c.number for c in chapters.upto(last)], check)
    out.print("[bold green]lab is up[/]: invoke status, invoke ssh HOST, invoke drill NAME")


def _isolate_management_network(lab: Lab) -> str:
    """Guests on the management network reach the host, never each other (webfarm.mgmtnet)."""
    from webfarm import mgmtnet
    from webfarm.virsh import virsh

    lv = lab.provider["libvirt"]
    try:
        return mgmtnet.ensure_isolated(virsh, lv["management_network_name"],
                                       lv["management_network_address"])
    except mgmtnet.ManagementNetworkError as err:
        raise UserError(str(err)) from None


@friendly
def chapter(number: str, check: bool = True, profile: str | None = None) -> None:
    ch = args.chapter(number)
    lab = _live_lab(profile)
    run_chapters(lab, [ch.number], check)


def _live_lab(profile: str | None, secrets: bool = True) -> Lab:
    """For tasks on a lab that is up: check the profile option, the run state and (when the
    task uses them) the secrets, load the lab, then enter its network namespace if it lives
    in one."""
    lab = load_lab(args.profile_name(profile))
    if secrets:
        check_secrets()
    enter_lab_namespace()
    return lab


@friendly
def check(number: str | None = None, profile: str | None = None) -> None:
    """Chapter checks: ``number`` is a chapter, or None / 'all' for every chapter."""
    from webfarm.vagrant import write_ssh_config

    ch = args.chapter_or_all(number) if number is not None else None
    targets = [ch] if ch else list(chapters.CHAPTERS)
    lab = _live_lab(profile)
    write_ssh_config(lab)
    failed = 0
    for ch in targets:
        if not checks.chapter_tests(ch):
            continue
        res = checks.run_chapter_checks(lab, ch)
        failed += res.failed
        out.print(f"chapter {ch.tag}: {res.passed} passed, {res.failed} failed")
    if failed:
        raise UserError(f"{failed} check(s) failed; see .lab/checks/")


@friendly
def drill(name: str | None = None, profile: str | None = None) -> None:
    """Failover drills: ``name`` is a drill, or None / 'all' for every drill."""
    from webfarm.vagrant import write_ssh_config

    known = [p.stem.removeprefix("test_") for p in checks.drill_tests()]
    chosen = args.drill_name("all" if name is None else name, known)
    names = [chosen] if chosen else known
    lab = _live_lab(profile)
    write_ssh_config(lab)
    bad = []
    for n in names:
        res = checks.run_drill(lab, n)
        say(f"drill {n}: {'passed' if res.ok else 'FAILED'} (.lab/drills/{n}.json)", to=out)
        if not res.ok:
            bad.append(n)
    if bad:
        raise UserError(f"drill(s) failed: {', '.join(bad)}")


def _secrets() -> dict[str, str]:
    from webfarm import secrets as lab_secrets

    return lab_secrets.load()


# ---------------------------------------------------------------------------------------------
# status / ssh / down / destroy


@friendly
def status(profile: str | None = None) -> None:
    from webfarm import vagrant

    lab = _live_lab(profile, secrets=False)
    states: dict[str, str] = {}
    try:
        states = {s.name: s.state for s in vagrant.status(lab)}
    except VagrantError as err:
        say(f"VM state unknown: {err}", style="yellow")
    vip_owner = _vip_owners(lab, states)
    # every cell is Text: names come from lab.yml and states from vagrant, never markup
    table = Table(title=Text(f"webfarm lab - profile {lab.profile}"))
    for col in ("host", "roles", *lab.networks, "VM", "holds VIP"):
        table.add_column(Text(col))
    for h in lab.hosts.values():
        state = states.get(h.name, "unknown")
        colour = "green" if state == "running" else "yellow"
        held = ", ".join(v for v, owner in vip_owner.items() if owner == h.name)
        table.add_row(Text(h.name), Text(", ".join(h.roles)),
                      *(Text(str(h.addresses.get(n, ""))) for n in lab.networks),
                      Text(state, style=colour), Text(held))
    out.print(table)
    for name, vip in lab.vips.items():
        owner = vip_owner.get(name)
        where = owner or ("not held yet (chapter 04 / DB chapters)" if states else "unknown")
        say(f"VIP {name} {vip.address}: {where}", to=out)


def _vip_owners(lab: Lab, states: dict[str, str]) -> dict[str, str]:
    """Which host holds each VIP right now (asks the holders over ssh; empty if not up)."""
    from webfarm.vagrant import SSH_CONFIG

    owners: dict[str, str] = {}
    if not SSH_CONFIG.exists():
        return owners
    for name, vip in lab.vips.items():
        for h in lab.hosts_with(vip.holder):
            if states.get(h.name) != "running":
                continue
            iface = h.interface(vip.network) if h.on(vip.network) else "lo"
            proc = subprocess.run(runner.ssh_cmd(h.name, f"ip -4 -o addr show dev {iface}"),
                                  capture_output=True, text=True, timeout=30, check=False)
            if f" {vip.address}/" in proc.stdout:
                owners[name] = h.name
    return owners


@friendly
def ssh(host: str, profile: str | None = None) -> None:
    from webfarm import vagrant

    args.host_name(host)
    lab = _live_lab(profile, secrets=False)
    args.host_name(host, lab.hosts)
    cfg = vagrant.write_ssh_config(lab) if not vagrant.SSH_CONFIG.exists() else vagrant.SSH_CONFIG
    os.execvp("ssh", ["ssh", "-F", str(cfg), host])


@friendly
def down(profile: str | None = None) -> None:
    from webfarm import vagrant

    vagrant.halt(_live_lab(profile, secrets=False))
    out.print("VMs halted; `invoke up` starts them again (chapters already done are skipped "
              "quickly: they are idempotent)")


@friendly
def destroy(yes: bool = False, profile: str | None = None) -> None:
    from webfarm import vagrant

    lab = _live_lab(profile, secrets=False)
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
    out.print("[green]lab destroyed[/] (secrets in .lab/secrets.yml are kept)")


# ---------------------------------------------------------------------------------------------
# box


@friendly
def box(os_name: str = "debian12", provider: str = "libvirt", force: bool = False) -> None:
    from webfarm import boxes

    provider = args.provider(provider)
    lab = topology.load("lab.yml")
    os_name = args.box_os(os_name, lab.boxes)
    family = lab.boxes[os_name].family
    if family == "debian12" and provider != "libvirt":
        raise args.problem("--provider", f"the debian12 box is built for libvirt only (asked: "
                           f"{provider})", "use --provider libvirt, or an EL9 box (e.g. --os "
                           "almalinux9) with VirtualBox")
    if family == "debian12" and os.geteuid() != 0:
        # debootstrap, loop devices and chroot need root: go through sudo when there is one
        # (the box is then added to the caller's Vagrant and .lab/ handed back).
        if not shutil.which("sudo"):
            raise UserError("building the debian12 box needs root and sudo is not installed. "
                            "Fix: run `.venv/bin/invoke box` as root")
        sys.stdout.flush()
        os.execvp("sudo", ["sudo", sys.executable, "-m", "invoke", *sys.argv[1:]])
    try:
        boxes.ensure_box(os_name, lab.boxes[os_name].box, force=force, provider=provider)
    finally:
        _give_back_run_state()


def _give_back_run_state() -> None:
    """Under sudo, hand .lab/ back to the user who ran sudo, so their later `invoke up`
    can write its state and logs there."""
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if os.geteuid() != 0 or not uid or not gid or not Path(".lab").is_dir():
        return
    for path in [Path(".lab"), *Path(".lab").rglob("*")]:
        os.chown(path, int(uid), int(gid), follow_symlinks=False)


# ---------------------------------------------------------------------------------------------
# e2e


@friendly
def e2e(profile: str | None = "mini", upto: str | int | None = None, keep: bool = False,
        drills: bool = True, reuse: bool = False) -> None:
    """``invoke e2e``: every option, lab.yml, the run state and the secrets are checked here,
    before webfarm.e2e creates a namespace or starts a daemon."""
    from webfarm import e2e as e2e_mod

    profile, last = args.e2e_options(profile, upto)
    topology.load("lab.yml", profile)
    lab_state.load()
    check_secrets()
    e2e_mod.main(profile, last, keep, drills, reuse)


@friendly
def e2e_down() -> None:
    """``invoke e2e-down``: end a lab left by ``invoke e2e --keep`` (run state checked first)."""
    from webfarm import e2e as e2e_mod

    lab_state.load()
    e2e_mod.down()


@friendly
def bench(profile: str | None = "mini") -> None:
    """``invoke bench``: the generator and validation benchmarks (no VM)."""
    from webfarm import bench as bench_mod

    bench_mod.main(args.profile_name(profile) or "mini")


# ---------------------------------------------------------------------------------------------
# The project's own tests (no VM)


def self_test(fast: bool = False) -> None:
    """ruff, shellcheck, the generated-Vagrantfile check, unit + config tests, the docs build,
    and `vagrant validate`. Exits non-zero on the first failing step."""
    py = sys.executable
    bindir = Path(py).parent
    shellcheck = shutil.which("shellcheck") or str(bindir / "shellcheck")
    shell_files = sorted(str(p) for p in Path(".").glob("provision/**/*.sh")) + sorted(
        str(p) for p in Path(".").glob("packer/**/*.sh")) + sorted(
        str(p) for p in Path(".").glob("webfarm/scripts/*.sh")) + [".ci/run"]
    steps: list[tuple[str, list[str]]] = [
        ("ruff", [py, "-m", "ruff", "check", "."]),
        ("shellcheck", [shellcheck, "-x", *shell_files]),
        ("Vagrantfile is generated from lab.yml", [py, "-m", "invoke", "render", "--check"]),
        ("unit and config tests", [py, "-m", "pytest", "-q", "tests/unit", "tests/configs"]),
    ]
    if not fast:
        steps.append(("docs build (mkdocs --strict)",
                      [py, "-m", "mkdocs", "build", "--strict", "-q", "-d", "site"]))
        if shutil.which("vagrant"):
            steps.append(("vagrant validate", ["vagrant", "validate"]))
    for title, cmd in steps:
        console.rule(title)
        # the docs build from the frozen fixture lab: a reader's lab.yml never turns this red
        env = dict(os.environ, VAGRANT_DEFAULT_PROVIDER="libvirt", NO_MKDOCS_2_WARNING="1",
                   WEBFARM_DOCS_LAB="tests/fixtures/lab.yml")
        if subprocess.run(cmd, check=False, env=env).returncode != 0:
            console.print(f"[bold red]FAILED:[/] {title}")
            sys.exit(1)
    console.print("[bold green]all project tests passed[/]")


def main(argv: list[str] | None = None) -> None:
    """``python -m webfarm.cli validate [--lab FILE] [--profile P]`` (no invoke needed)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m webfarm.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="check lab.yml and report every problem")
    val.add_argument("--lab", default="lab.yml")
    val.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    if args.command == "validate":
        validate(args.lab, args.profile)


if __name__ == "__main__":
    main()
