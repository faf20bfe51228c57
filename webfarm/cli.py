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
from rich.table import Table

from webfarm import chapters, checks, render, runner, topology
from webfarm import state as lab_state
from webfarm.topology import Lab, LabFileError
from webfarm.vagrant import VagrantError

console = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A problem the user can fix; the message says how."""


def friendly(func: F) -> F:
    """Turn known errors into a clear message and exit code 2 (never a traceback)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LabFileError as err:
            console.print(f"[bold red]{len(err.problems)} problem(s) in {err.file}:[/]")
            for problem in err.problems:
                console.print(f"  [red]-[/] {problem.render(err.file)}", highlight=False,
                              soft_wrap=True)
            sys.exit(2)
        except (UserError, VagrantError, runner.ChapterFailed, *_tool_errors()) as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def _tool_errors() -> tuple[type[Exception], ...]:
    """Errors of the box builders, whose messages already name the fix."""
    from webfarm.boxes import BoxError
    from webfarm.packer import PackerError

    return (BoxError, PackerError)


# ---------------------------------------------------------------------------------------------
# Loading the lab and entering its network namespace


def load_lab(profile: str | None = None, lab_file: str = "lab.yml") -> Lab:
    """The lab for ``profile``, else the profile that is up (.lab/state.yml), else lab.yml's."""
    st = lab_state.load()
    lab = topology.load(lab_file, profile or st.profile)
    for provider, options in st.provider.items():
        lab = lab.with_provider(provider, **options)
    return lab


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
def validate(lab_file: str = "lab.yml", profile: str | None = None) -> None:
    base = topology.load(lab_file, profile)
    for name in base.profiles:
        lab = topology.load(lab_file, name)
        out.print(f"[green]ok[/] {lab_file}: profile [bold]{name}[/] - {len(lab.hosts)} hosts, "
                  f"{sum(h.memory for h in lab.hosts.values())} MB RAM, "
                  f"{len(lab.vips)} VIPs")


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
    """Run chapters in order, each followed by its checks; returns one summary per chapter."""
    from webfarm.vagrant import write_ssh_config

    st = lab_state.load()
    write_ssh_config(lab)
    summaries = []
    for n in numbers:
        ch = chapters.get(n)
        start = time.monotonic()
        runner.run_chapter(lab, ch, st)
        summary: dict[str, Any] = {"number": ch.number, "title": ch.title,
                                   "checks_passed": 0, "checks_failed": 0}
        if check:
            if not checks.chapter_tests(ch):
                raise UserError(f"chapter {ch.tag} has no checks in tests/chapters/")
            res = checks.run_chapter_checks(lab, ch)
            summary |= {"checks_passed": res.passed, "checks_failed": res.failed,
                        "checks_skipped": res.skipped}
            if not res.ok:
                summary["seconds"] = round(time.monotonic() - start, 1)
                raise runner.ChapterFailed(
                    f"chapter {ch.tag}: {res.failed} check(s) failed, {res.passed} passed "
                    f"(report: {res.junit}). Fix the cause and run `invoke chapter {ch.number}` "
                    "again.", summary)
        summary["seconds"] = round(time.monotonic() - start, 1)
        summaries.append(summary)
    return summaries


@friendly
def up(profile: str | None = None, upto: int | None = None, provider: str = "libvirt",
       check: bool = True, driver: str | None = None) -> None:
    from webfarm import vagrant

    st = lab_state.load()
    if driver:
        if driver not in topology.LIBVIRT_DRIVERS:
            raise UserError(f"unknown driver {driver!r}; use kvm or qemu")
        st.provider.setdefault("libvirt", {})["driver"] = driver
        st.save()
    lab = load_lab(profile)
    st.profile = lab.profile
    preflight(lab, provider)
    st.save()
    render.render_lab(lab, _secrets(), st)
    with console.status(f"vagrant up: {len(lab.hosts)} VMs of profile {lab.profile} "
                        f"(log: .lab/logs/vagrant-up.log)"):
        t = time.monotonic()
        vagrant.up(lab, provider=provider)
    out.print(f"[green]{len(lab.hosts)} VMs up in {time.monotonic() - t:.0f} s[/]")
    run_chapters(lab, [c.number for c in chapters.upto(upto)], check)
    out.print("[bold green]lab is up[/]: invoke status, invoke ssh HOST, invoke drill NAME")


@friendly
def chapter(number: str, check: bool = True, profile: str | None = None) -> None:
    ch = _chapter(number)
    enter_lab_namespace()
    run_chapters(load_lab(profile), [ch.number], check)


def _chapter(number: str) -> chapters.Chapter:
    if number.startswith("-"):
        raise UserError(f"{number!r} is not a chapter; for a task's options use "
                        "`invoke --help TASK`")
    try:
        return chapters.get(number)
    except KeyError as err:
        raise UserError(str(err.args[0])) from None


@friendly
def check(number: str | None = None, profile: str | None = None) -> None:
    from webfarm.vagrant import write_ssh_config

    targets = [_chapter(number)] if number else list(chapters.CHAPTERS)
    enter_lab_namespace()
    lab = load_lab(profile)
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
    from webfarm.vagrant import write_ssh_config

    enter_lab_namespace()
    lab = load_lab(profile)
    if name and name.startswith("-"):
        raise UserError(f"{name!r} is not a drill; for a task's options use `invoke --help drill`")
    names = [name] if name else [p.stem.removeprefix("test_") for p in checks.drill_tests()]
    if not names or (name and not checks.drill_tests(name)):
        known = ", ".join(p.stem.removeprefix("test_") for p in checks.drill_tests())
        raise UserError(f"no drill {name!r}; drills are: {known}")
    write_ssh_config(lab)
    bad = []
    for n in names:
        res = checks.run_drill(lab, n)
        out.print(f"drill {n}: {'passed' if res.ok else 'FAILED'} (.lab/drills/{n}.json)")
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

    enter_lab_namespace()
    lab = load_lab(profile)
    states: dict[str, str] = {}
    try:
        states = {s.name: s.state for s in vagrant.status(lab)}
    except VagrantError as err:
        console.print(f"[yellow]VM state unknown: {err}[/]")
    vip_owner = _vip_owners(lab, states)
    table = Table(title=f"webfarm lab - profile {lab.profile}")
    for col in ("host", "roles", *lab.networks, "VM", "holds VIP"):
        table.add_column(col)
    for h in lab.hosts.values():
        state = states.get(h.name, "unknown")
        colour = "green" if state == "running" else "yellow"
        held = ", ".join(v for v, owner in vip_owner.items() if owner == h.name)
        table.add_row(h.name, ", ".join(h.roles),
                      *(str(h.addresses.get(n, "")) for n in lab.networks),
                      f"[{colour}]{state}[/]", held)
    out.print(table)
    for name, vip in lab.vips.items():
        owner = vip_owner.get(name)
        where = owner or ("not held yet (chapter 04 / DB chapters)" if states else "unknown")
        out.print(f"VIP {name} {vip.address}: {where}")


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

    enter_lab_namespace()
    lab = load_lab(profile)
    if host not in lab.hosts:
        raise UserError(f"no host {host!r} in profile {lab.profile}; hosts: "
                        f"{', '.join(lab.hosts)}")
    cfg = vagrant.write_ssh_config(lab) if not vagrant.SSH_CONFIG.exists() else vagrant.SSH_CONFIG
    os.execvp("ssh", ["ssh", "-F", str(cfg), host])


@friendly
def down(profile: str | None = None) -> None:
    from webfarm import vagrant

    enter_lab_namespace()
    vagrant.halt(load_lab(profile))
    out.print("VMs halted; `invoke up` starts them again (chapters already done are skipped "
              "quickly: they are idempotent)")


@friendly
def destroy(yes: bool = False, profile: str | None = None) -> None:
    from webfarm import vagrant

    enter_lab_namespace()
    lab = load_lab(profile)
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

    lab = topology.load("lab.yml")
    if os_name not in lab.boxes:
        raise UserError(f"unknown OS {os_name!r}; lab.yml boxes: {', '.join(lab.boxes)}")
    if lab.boxes[os_name].family == "debian12" and os.geteuid() != 0:
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
        env = dict(os.environ, VAGRANT_DEFAULT_PROVIDER="libvirt", NO_MKDOCS_2_WARNING="1")
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
