"""webfarm lab tasks. Thin on purpose: each task parses its options and calls webfarm.cli.

    invoke --list            every task
    invoke up                build the whole lab (VMs, then every chapter and its checks)
    invoke chapter 4         one chapter, tier by tier, then its checks
"""

from invoke import task

from webfarm import cli


@task(help={"profile": "profile from lab.yml (default: lab.profile)",
            "upto": "run chapters 1..N only", "provider": "libvirt (default) or virtualbox",
            "no-check": "skip the checks after each chapter",
            "driver": "libvirt driver: kvm (default) or qemu (software emulation, no KVM)"})
def up(c, profile=None, upto=None, provider="libvirt", no_check=False, driver=None):
    """Start the lab: box present? -> vagrant up -> chapters in order -> checks."""
    cli.up(profile, upto, provider, not no_check, driver)


@task(help={"number": "chapter number (e.g. 4) or slug (04-lvs)",
            "no-check": "do not run the chapter's checks afterwards",
            "profile": "profile (default: the one that is up)",
            "files": "only list the chapter's files by kind (no VM needed)"})
def chapter(c, number, no_check=False, profile=None, files=False):
    """Run one chapter on the hosts of its roles, tier by tier, then its checks."""
    if files:
        from webfarm import chapterfiles

        chapterfiles.print_files(number)
        return
    cli.chapter(number, not no_check, profile)


@task(help={"number": "chapter number (e.g. 4) or slug (04-lvs)",
            "no-check": "do not run the chapter's checks afterwards",
            "profile": "profile (default: the one that is up)"})
def record(c, number, no_check=False, profile=None):
    """Run one chapter on the lab (as `invoke chapter`) and record it: docs/assets/casts/."""
    from webfarm import recording

    recording.record(number, profile, not no_check)


@task(name="verify-capture",
      help={"chapter": "only this chapter (number or slug; default: every chapter with steps)",
            "profile": "profile (default: the one that is up)"})
def verify_capture(c, chapter=None, profile=None):
    """Run the chapters' Verify commands on the lab, keep the real output: docs/assets/verify/."""
    from webfarm import verify

    verify.verify_capture(chapter, profile)


@task(help={"number": "a chapter number, or 'all'", "profile": "profile"})
def check(c, number, profile=None):
    """Run the testinfra checks against the live lab: invoke check 2 | invoke check all."""
    cli.check(number, profile)


@task(help={"name": "drill name: directors, dns, web, db-node, dblb, nagios, scale (only by "
                    "name: it adds and removes an app server), or 'all'",
            "profile": "profile"})
def drill(c, name, profile=None):
    """Failover drill: break one member of a pair and measure the outage (or 'all')."""
    cli.drill(name, profile)


@task(help={"role": "the tier's role: app, media, dns, dblb, db_data or db_sql",
            "count": "the tier's new number of hosts (lab.yml: profiles.PROFILE.scale.ROLE)",
            "profile": "profile (default: the one that is up)",
            "provider": "libvirt (default) or virtualbox",
            "no-check": "skip every chapter's checks afterwards"})
def scale(c, role, count, profile=None, provider="libvirt", no_check=False):
    """Grow or shrink a tier of the running lab: new VMs get every chapter, the pools learn
    of them; departing hosts are drained, then destroyed (docs/scale.md)."""
    cli.scale(role, count, profile, provider, not no_check)


@task(help={"profile": "profile (default: the one that is up)"})
def status(c, profile=None):
    """Table of hosts, roles, addresses, VM state and which director holds each VIP."""
    cli.status(profile)


@task(help={"host": "host name from lab.yml", "profile": "profile (default: the one that is up)"})
def ssh(c, host, profile=None):
    """Open a shell on a lab host."""
    cli.ssh(host, profile)


@task(help={"check": "only compare: exit 1 if the committed Vagrantfile is out of date",
            "profile": "render the host files of this profile (default: the one that is up, "
                       "else lab.profile)"})
def render(c, check=False, profile=None):
    """Regenerate the Vagrantfile and the host files from lab.yml."""
    cli.render_files(check, profile=profile)


@task(help={"lab": "lab file, relative to the current folder (default: the project's lab.yml)",
            "profile": "only this profile"})
def validate(c, lab=None, profile=None):
    """Check lab.yml and report every problem with its fix."""
    cli.validate(lab, profile)


@task(help={"os": "debian12 (built here from Debian's archive) | almalinux9 | rocky9 | "
                  "centos-stream9 (Packer >= 1.7, internet, KVM or VirtualBox)",
            "provider": "libvirt (default) or virtualbox (EL9 only)",
            "force": "rebuild even if the box exists and its inputs are unchanged"})
def box(c, os="debian12", provider="libvirt", force=False):
    """Build the base box and add it to Vagrant (skipped when present)."""
    cli.box(os, provider, force)


@task(help={"profile": "profile (default: the one that is up)"})
def down(c, profile=None):
    """Halt every VM of the lab (keeps disks)."""
    cli.down(profile)


@task(help={"yes": "do not ask for confirmation", "profile": "profile"})
def destroy(c, yes=False, profile=None):
    """Destroy every VM of the lab (asks unless --yes)."""
    cli.destroy(yes, profile)


@task(help={"fast": "skip the docs build and vagrant validate"})
def test(c, fast=False):
    """The project's own test suite, no VM: ruff, shellcheck, unit/config tests, docs."""
    cli.self_test(fast)


@task(help={"serve": "serve on http://127.0.0.1:8000 instead of building into site/"})
def docs(c, serve=False):
    """Build the tutorial (MkDocs Material) into site/, or serve it."""
    import shlex
    import sys

    # this venv's Python (invoke runs from .venv/bin/, `python` on PATH may have no mkdocs);
    # mkdocs serve rebuilds and reloads the page on every change, on 127.0.0.1:8000 only
    mkdocs = f"{shlex.quote(sys.executable)} -m mkdocs"
    cmd = (f"{mkdocs} serve --livereload -a 127.0.0.1:8000" if serve
           else f"{mkdocs} build --strict -d site")
    c.run(cmd, env={"NO_MKDOCS_2_WARNING": "1"})


@task(help={"profile": "profile (default mini)", "upto": "last chapter (default: all)",
            "keep": "leave the lab running for debugging", "drills": "run the drills too",
            "reuse": "keep VMs an earlier run left (default: remove them first)",
            "record": "write each chapter's terminal recording into docs/assets/casts/",
            "serial": "bring the lab up one VM, then one host at a time (bench P1; slow)"})
def e2e(c, profile="mini", upto=None, keep=False, drills=True, reuse=False, record=False,
        serial=False):
    """The whole lab on this machine, in its own network namespace (TCG, no KVM needed)."""
    if record:
        from webfarm import e2e as e2e_mod

        e2e_mod.record_chapters()
    cli.e2e(profile, upto, keep, drills, reuse, serial)


@task(help={"page": "services (default), tac or hosts",
            "out": "PNG to write (default: docs/assets/08-monitor/nagios-PAGE.png)",
            "profile": "profile (default: the one that is up)"})
def screenshot(c, page="services", out=None, profile=None):
    """Screenshot a Nagios page of the running lab with headless Chromium (chapter 08)."""
    from webfarm import screenshot as shot

    shot.run(page, out, profile)


@task(help={"host": "host name from lab.yml",
            "iface": "interface (default: the host's on its first lab network, e.g. eth1)",
            "filter": "tcpdump filter: words, addresses, ( ) and/or/not, e.g. 'tcp port 80'",
            "count": "stop after N packets (default 50, at most 10000)",
            "seconds": "stop after S seconds (default 30, at most 300)",
            "profile": "profile (default: the one that is up)"})
def capture(c, host, iface=None, filter=None, count=None, seconds=None, profile=None):
    """Bounded tcpdump on a lab host; the pcap lands in .lab/captures/HOST-IFACE-UTC.pcap."""
    from webfarm import capture as cap

    cap.run(host, iface, filter, count, seconds, profile)


@task(name="capture-dr", help={"profile": "profile (default: the one that is up)"})
def capture_dr(c, profile=None):
    """Chapter 04: capture direct routing on the wire; writes docs/assets/04-lvs/."""
    from webfarm import capture as cap

    cap.dr_run(profile)


@task(iterable=["part"],
      help={"part": "generator, p5, p3, db, p4 (the default set), or the opt-in sweep, "
                    "up-again, serial; repeatable or a comma list",
            "profile": "profile (default: the one that is up, else mini)"})
def bench(c, part=None, profile=None):
    """Measure the lab: req/s, DB reads/s, failover outage, RAM; .lab/bench/results.json."""
    cli.bench(part, profile)


@task(help={"no-upgrade": "keep the pinned versions; only add what pyproject.toml added"})
def lock(c, no_upgrade=False):
    """Re-resolve requirements.lock (uv, hashes); commit the result on its own."""
    from webfarm import lockfile

    raise SystemExit(lockfile.relock(upgrade=not no_upgrade))


@task(name="e2e-down")
def e2e_down(c):
    """End a lab left running by `invoke e2e --keep` (VMs, libvirtd, namespace)."""
    cli.e2e_down()
