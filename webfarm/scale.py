"""``invoke scale ROLE N``: bring one tier of the lab that is up to N hosts, with no visitor
noticing.

The count lives in lab.yml (``profiles.P.scale.ROLE``, the rule in webfarm/tiers.py); this
module changes it and makes the running lab match. What must re-run is computed, never
listed: every host's files are rendered twice in memory, for the lab before and after, and a
chapter re-runs on a host that stays only where that host's files for that chapter differ
(``.lab/hosts/HOST/files/NN-slug/``; env.sh, read by every chapter, counts for all of them).

**Scale out** (N above the tier's size):

1. lab.yml gets the count; the Vagrantfile and the diagrams are regenerated from it.
2. ``vagrant up`` of the new VMs only and, *while they boot*, the chapters of the hosts that
   stay whose files changed and that need nothing from the new hosts (/etc/hosts, the zone,
   the DB grants, HAProxy's client list), in chapter order. Those hosts learn the new names
   before they answer; nothing sends them traffic yet.
3. Every chapter in order on the new hosts.
4. What had to wait for the new hosts to be complete (:func:`late_from`), in chapter order:
   on a balancer of a pool the new hosts join (the directors for app and media, the DB
   balancers for SQL nodes), its pool chapter and every later one, so it sends a visitor to
   a new server only once every chapter ran on it (keepalived takes a new real server as
   alive at once; HAProxy would health-check it first); on the monitor, its monitoring
   chapter (no alert for a host still being built).
5. Every chapter's checks (skip with ``check=False``).

**Scale in** (N below the tier's size; the last hosts of the tier go, app4 before app3):

1. Drain, on the live lab (:func:`drain_plan`): a departing VIP holder stops keepalived (its
   VIPs move to a peer); on every director, IPVS weight 0 for the departing real server, then
   a bounded wait until its active connections end; on every DB balancer that stays, HAProxy
   ``set server ... state drain`` through the admin socket, a bounded wait until its sessions
   end, then ``state maint``; a departing Galera node stops mariadb, which leaves the cluster
   cleanly (the others keep their quorum).
2. lab.yml gets the count; the changed chapters re-run on the hosts that stay (pools,
   zones, Galera membership, Nagios objects).
3. ``vagrant destroy -f`` of the departing VMs only (from a Vagrantfile that still defines
   them), then the Vagrantfile and diagrams of the new lab.yml; then the checks.

A refusal (a bad count, a range that runs out, an NDB cluster, a host that is not running,
another scale unfinished) is raised before anything changes: no file is written, no VM
touched. **Resuming.** Before its first change a scale writes ``.lab/scale.json`` (profile,
role, the count before and after) and removes it once the hosts are built or gone. After a
failure, fix the cause and run the same ``invoke scale ROLE N`` again: it computes the same
plan from the saved "before" count and runs every step again (chapters are idempotent;
``vagrant up`` of a running VM and ``vagrant destroy`` of a gone one do nothing; a drain step
on a server already out of a pool is skipped). An unfinished scale out can also be undone
with ``invoke scale ROLE OLD`` (that is a scale in of the new hosts); an unfinished scale in
can only be finished (its host may already have left the cluster).
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from webfarm import chapters, dblb, dbplan, fsutil, labedit, lvs, paths, render, tiers, topology
from webfarm import os as osdata
from webfarm.args import UserError
from webfarm.monitor import ROLE as MONITOR_ROLE
from webfarm.runner import ChapterFailed
from webfarm.topology import Host, Lab

SCALE_FILE = paths.SCALE_FILE
REPORT_FILE = paths.SCALE_REPORT
DRAIN_S = 60  # longest wait for a departing server's connections / sessions to end
DB_ROLES = ("db_mgmt", "db_data", "db_sql")


# ---------------------------------------------------------------------------------------------
# What changed: the render of the lab before and after, host by host, chapter by chapter


def chapter_changes(old: dict[str, dict[Path, str]], new: dict[str, dict[Path, str]],
                    out_dir: Path = render.HOSTS_DIR) -> dict[str, set[str]]:
    """{host: chapter slugs whose rendered files differ} for every host in both renders
    (``render.lab_files`` of the lab before and after). A file is compared by its path under
    ``out_dir/HOST/files/SLUG/``; a change to env.sh (sourced by every chapter) marks every
    chapter the host has."""
    out: dict[str, set[str]] = {}
    for host in old.keys() & new.keys():
        before = {p.relative_to(out_dir / host): t for p, t in old[host].items()}
        after = {p.relative_to(out_dir / host): t for p, t in new[host].items()}
        slugs: set[str] = set()
        for rel in before.keys() | after.keys():
            if before.get(rel) == after.get(rel):
                continue
            if rel.parts[0] == "files" and len(rel.parts) > 2:
                slugs.add(rel.parts[1])
            else:  # env.sh: every chapter reads it
                slugs |= {p.parts[1] for p in (before.keys() | after.keys())
                          if p.parts[0] == "files" and len(p.parts) > 2}
                slugs.add("*")
        if slugs:
            out[host] = slugs
    return out


def holder_roles(lab: Lab, hosts: list[Host]) -> set[str]:
    """The holder roles (director, dblb) of every VIP whose pool role one of ``hosts``
    carries: the roles that send traffic to them."""
    return {v.holder for v in lab.vips.values() if any(v.pool in h.roles for h in hosts)}


def balancers_of(lab: Lab, hosts: list[Host]) -> list[str]:
    """The hosts that send traffic to ``hosts`` (:func:`holder_roles`), in lab.yml order."""
    holders = holder_roles(lab, hosts)
    return [h.name for h in lab.hosts.values() if holders & set(h.roles)]


# The chapter in which a watcher of every host learns of a new one: the monitor's Nagios
# objects (chapter 08). It runs once the new hosts are built, so Nagios raises no alert
# for a host that is still being provisioned.
WATCHER_CHAPTERS = {MONITOR_ROLE: "08-monitor"}


def pool_chapter(role: str) -> chapters.Chapter | None:
    """The chapter that provisions a VIP holder role (director: 04, dblb: 06): its pool."""
    return next((c for c in chapters.CHAPTERS if role in c.roles), None)


# The chapter in which the Galera arbitrator's host (garbd on db_mgmt) learns of a new node:
# with an odd count garbd stops. It waits until the new node has joined, so the cluster
# never runs without its tie-breaker while it still has an even number of nodes.
ARBITRATOR_CHAPTER = ("db_mgmt", "05-db")


def late_from(lab: Lab, added: list[Host]) -> dict[str, int]:
    """{host that stays: the first chapter number at which it waits for the new hosts}.

    A balancer of a pool the new hosts join waits from its pool chapter on (and so does
    every later chapter of it, which may look at the pool: the directors' IPVS check in
    Nagios); the monitor waits from its monitoring chapter on; with new Galera nodes, the
    arbitrator's host waits from the DB chapter on. Every other run of a host that stays
    needs nothing from the new hosts and goes while they boot."""
    out: dict[str, int] = {}
    holders = holder_roles(lab, added)
    new = {a.name for a in added}
    new_nodes = lab.engine == dbplan.GALERA and any(dbplan.is_node(lab, a) for a in added)
    for host in lab.hosts.values():
        if host.name in new:
            continue
        numbers = [ch.number for role in holders & set(host.roles)
                   if (ch := pool_chapter(role)) is not None]
        numbers += [chapters.get(slug).number for role, slug in WATCHER_CHAPTERS.items()
                    if role in host.roles]
        role, slug = ARBITRATOR_CHAPTER
        if new_nodes and role in host.roles:
            numbers.append(chapters.get(slug).number)
        if numbers:
            out[host.name] = min(numbers)
    return out


# ---------------------------------------------------------------------------------------------
# The plan (pure)


@dataclass(frozen=True)
class Run:
    """One chapter on some hosts: ``new`` hosts (every chapter) and hosts that stay whose
    files for the chapter changed (``rerun``)."""

    chapter: str  # slug
    new: tuple[str, ...]
    rerun: tuple[str, ...]

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.new + self.rerun


@dataclass
class Plan:
    profile: str
    role: str
    old_count: int
    new_count: int
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]  # chapter slug -> hosts that stay whose files changed
    deferred: list[str]  # hosts that stay and send traffic to the new ones (balancers)
    late: dict[str, int] = field(default_factory=dict)  # host -> chapter number it waits from

    @property
    def out(self) -> bool:
        return self.new_count > self.old_count


def make_plan(old: Lab, new: Lab, role: str, old_files: dict[str, dict[Path, str]],
              new_files: dict[str, dict[Path, str]],
              out_dir: Path = render.HOSTS_DIR) -> Plan:
    changes = chapter_changes(old_files, new_files, out_dir)
    added = [h for h in new.hosts if h not in old.hosts]
    removed = [h for h in old.hosts if h not in new.hosts]
    changed: dict[str, list[str]] = {}
    for ch in chapters.CHAPTERS:
        hosts = [h.name for h in ch.hosts(new)
                 if h.name in changes and ({ch.slug, "*"} & changes[h.name])]
        if hosts:
            changed[ch.slug] = hosts
    fresh = [new.hosts[a] for a in added]
    deferred = [h for h in balancers_of(new, fresh) if h in old.hosts]
    late = late_from(new, fresh) if added else {}
    return Plan(new.profile, role, len(old.hosts_with(role)), len(new.hosts_with(role)),
                added, removed, changed, deferred, late)


@dataclass(frozen=True)
class Passes:
    """The chapter runs of a scale, each list in chapter order: ``early`` on hosts that
    stay (while the new VMs boot), ``new`` on the new hosts, ``late`` on hosts that stay
    and wait for the new ones to be complete (:func:`late_from`). A scale in has only
    ``early`` (the changed chapters on the hosts that stay, after the drain)."""

    early: list[Run]
    new: list[Run]
    late: list[Run]


def runs(plan: Plan, new: Lab) -> Passes:
    early: list[Run] = []
    fresh: list[Run] = []
    late: list[Run] = []
    for ch in chapters.CHAPTERS:
        targets = {h.name for h in ch.hosts(new)}
        changed = plan.changed.get(ch.slug, [])
        added = tuple(h for h in plan.added if h in targets)
        now = tuple(h for h in changed if ch.number < plan.late.get(h, ch.number + 1))
        later = tuple(h for h in changed if h not in now)
        if now:
            early.append(Run(ch.slug, (), now))
        if added:
            fresh.append(Run(ch.slug, added, ()))
        if later:
            late.append(Run(ch.slug, (), later))
    return Passes(early, fresh, late)


# ---------------------------------------------------------------------------------------------
# Draining a departing host (pure plan, then run through a Shell)


@dataclass(frozen=True)
class Step:
    """One drain action on one host (``host`` runs the command)."""

    kind: str  # keepalived-stop | ipvs-weight-0 | ipvs-wait | haproxy-drain | haproxy-wait |
    #            haproxy-maint | galera-leave
    host: str
    target: str  # the departing host
    detail: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        d = self.detail
        return {
            "keepalived-stop": f"{self.host}: stop keepalived (its VIPs move to a peer)",
            "ipvs-weight-0": f"{self.host}: IPVS weight 0 for {d.get('real')} in "
                             f"{d.get('service')}",
            "ipvs-wait": f"{self.host}: wait until {d.get('real')} has no active connection",
            "haproxy-drain": f"{self.host}: HAProxy {d.get('backend')}/{self.target} drain",
            "haproxy-wait": f"{self.host}: wait until {self.target} has no session",
            "haproxy-maint": f"{self.host}: HAProxy {d.get('backend')}/{self.target} maint",
            "galera-leave": f"{self.host}: stop mariadb (leaves the Galera cluster cleanly)",
        }[self.kind]


def drain_plan(old: Lab, removed: list[str]) -> list[Step]:
    """What takes the departing hosts out of service, in order, last host first:
    VIPs they hold move away, pools stop sending them anything new and their open
    connections end (bounded), a database node leaves its cluster."""
    steps: list[Step] = []
    for name in reversed(removed):
        host = old.hosts[name]
        if any(v.holder in host.roles for v in old.vips.values()):
            steps.append(Step("keepalived-stop", name, name))
        for vip in lvs.virtual_services(old):
            if vip.pool not in host.roles:
                continue
            service = f"{vip.address}:{vip.port}"
            real = f"{host.addresses[vip.network]}:{vip.port}"
            directors = [d.name for d in lvs.directors(old) if d.name not in removed]
            steps += [Step("ipvs-weight-0", d, name, {"service": service, "real": real})
                      for d in directors]
            steps += [Step("ipvs-wait", d, name, {"service": service, "real": real})
                      for d in directors]
        if dbplan.is_node(old, host) and any(v.holder == dblb.ROLE and v.pool in host.roles
                                             for v in old.vips.values()):
            stay = [b.name for b in dblb.balancers(old) if b.name not in removed]
            steps += [Step("haproxy-drain", b, name, {"backend": dblb.WRITE_BACKEND})
                      for b in stay]
            steps += [Step("haproxy-wait", b, name) for b in stay]
            steps += [Step("haproxy-maint", b, name, {"backend": dblb.WRITE_BACKEND})
                      for b in stay]
        if dbplan.is_node(old, host) and old.engine == "galera":
            steps.append(Step("galera-leave", name, name))
    return steps


class Shell(Protocol):
    """Runs a command as root on a lab host: (exit code, output). Exit 255: ssh failed."""

    def __call__(self, host: str, command: str) -> tuple[int, str]: ...


def haproxy_command(socket: str, command: str) -> str:
    """Shell that sends one command to HAProxy's admin socket (python3: every box has it;
    no socat needed) and prints the answer."""
    code = ("import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
            "s.sendall(sys.argv[2].encode()+b'\\n');print(s.makefile().read())")
    return f"python3 -c {shlex.quote(code)} {shlex.quote(socket)} {shlex.quote(command)}"


def active_connections(ipvsadm_out: str, real: str) -> int | None:
    """ActiveConn of real server ``real`` (ADDRESS:PORT) in ``ipvsadm -L -n`` output (None
    when it is not in the table)."""
    for _head, rows in lvs.ipvs_table(ipvsadm_out).values():
        f = rows.get(real)
        if f is not None and len(f) >= 5:
            return int(f[4]) if f[4].isdigit() else None
    return None


def sessions(stat_csv: str, server: str) -> int:
    """Current sessions of ``server`` over every backend in HAProxy's ``show stat`` CSV."""
    from webfarm.dbdrill import parse_stats_csv

    return sum(int(r.get("scur") or 0) for r in parse_stats_csv(stat_csv)
               if r.get("svname") == server)


def _wait_or_go_on(done: Callable[[], bool], wait_s: float, what: str,
                   say: Callable[[str], None], busy: str) -> None:
    """Wait (bounded) until ``done``; a drain that is still busy at the bound goes on."""
    from webfarm.wait import WaitTimeout, wait_until

    t = time.monotonic()
    try:
        wait_until(done, wait_s, 1, what)
        say(f"{what}: done in {time.monotonic() - t:.0f} s")
    except WaitTimeout:
        say(f"{what}: {busy} after {wait_s:g} s, going on")


class DrainError(UserError):
    """A drain step failed on a host that answers (the message names the step)."""


def run_drain(lab: Lab, steps: list[Step], shell: Shell, wait_s: float = DRAIN_S,
              log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Run the drain steps in order; returns what was done (or skipped) in words. A step on
    a departing host that ssh cannot reach (exit 255: the VM is gone) is skipped; a server
    that is no longer in a pool is skipped; a wait that runs out goes on (said so)."""
    done: list[str] = []

    def say(text: str) -> None:
        done.append(text)
        log(text)

    for step in steps:
        family = osdata.get(lab.hosts[step.host].os.family)
        what = step.describe()
        if step.kind in ("keepalived-stop", "galera-leave"):
            svc = family.services["keepalived" if step.kind == "keepalived-stop" else "mariadb"]
            code, out = shell(step.host, f"systemctl stop {shlex.quote(svc)}")
            if code == 255:  # ssh could not reach it: the VM is gone (a resumed scale in)
                say(f"{what}: skipped ({step.host} cannot be reached: gone already)")
                continue
            if code != 0:
                raise DrainError(f"{what} failed (exit {code}): {out.strip()[-300:]}. Fix: "
                                 f"look at it with invoke ssh {step.host}")
            say(what)
        elif step.kind == "ipvs-weight-0":
            code, out = shell(step.host, f"ipvsadm -e -t {step.detail['service']} -r "
                                         f"{step.detail['real']} -g -w 0")
            if code in (124, 255):
                raise DrainError(f"{what}: {step.host} did not answer ({out.strip()[-200:]}). "
                                 f"Fix: invoke status; invoke ssh {step.host}")
            if code != 0:
                say(f"{what}: skipped (not in the pool: {out.strip()[-120:]})")
                continue
            say(what)
        elif step.kind == "ipvs-wait":
            cmd = f"ipvsadm -L -n -t {step.detail['service']}"

            def quiet(cmd: str = cmd, host: str = step.host, real: str = step.detail["real"]
                      ) -> bool:
                code, out = shell(host, cmd)
                return code != 0 or not active_connections(out, real)

            _wait_or_go_on(quiet, wait_s, what, say, "still busy")
        elif step.kind in ("haproxy-drain", "haproxy-maint"):
            state = "drain" if step.kind == "haproxy-drain" else "maint"
            sock = family.paths["haproxy_socket"]
            code, out = shell(step.host, haproxy_command(
                sock, f"set server {step.detail['backend']}/{step.target} state {state}"))
            if code != 0:
                raise DrainError(f"{what} failed (exit {code}): {out.strip()[-300:]}. Fix: "
                                 f"is haproxy running? invoke ssh {step.host}")
            if "No such server" in out:
                say(f"{what}: skipped (not in the pool)")
                continue
            say(what)
        elif step.kind == "haproxy-wait":
            sock = family.paths["haproxy_socket"]

            def idle(host: str = step.host, sock: str = sock, server: str = step.target
                     ) -> bool:
                code, out = shell(host, haproxy_command(sock, "show stat"))
                return code != 0 or sessions(out, server) == 0

            _wait_or_go_on(idle, wait_s, what, say, "sessions still open")
    return done


SSH_TIMEOUT_S = 600  # one drain command (a MariaDB shutdown under TCG can take minutes)


def ssh_shell(ssh_config: Path = paths.SSH_CONFIG, timeout: float = SSH_TIMEOUT_S) -> Shell:
    """The Shell of the live lab: ssh with the lab's ssh-config, the command under sudo.
    Exit 124 when it was killed after ``timeout`` seconds; ssh's own 255 when the host did
    not answer."""
    import sh

    from webfarm import runner

    def run(host: str, command: str) -> tuple[int, str]:
        cmd = runner.ssh_cmd(host, f"sudo bash -c {shlex.quote(command)}", ssh_config)
        try:
            res = runner._sh.Command(cmd[0])(*cmd[1:], _err_to_out=True, _timeout=timeout)
        except sh.TimeoutException:
            return 124, f"timed out after {timeout:g} s"
        return int(res.exit_code), str(res)

    return run


# ---------------------------------------------------------------------------------------------
# The scale in progress (.lab/scale.json)


@dataclass(frozen=True)
class Pending:
    profile: str
    role: str
    old: int
    new: int

    def save(self, path: Path | None = None) -> None:
        path = path or SCALE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)) + "\n", encoding="utf-8")


def pending(path: Path | None = None) -> Pending | None:
    """The scale that did not finish (``.lab/scale.json``), or None."""
    path = path or SCALE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pending(str(data["profile"]), str(data["role"]), int(data["old"]),
                       int(data["new"]))
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path} is damaged (it records an unfinished invoke scale). Fix: "
                        "look at lab.yml's profiles.PROFILE.scale and invoke status, then "
                        f"delete {path}") from None


def before_count(now: int, want: int, role: str, profile: str, saved: Pending | None) -> int:
    """The tier's size the plan starts from: lab.yml's now, or the saved one of a scale that
    did not finish (resume). Raises UserError for a request that does not fit it."""
    if saved is None:
        return now
    again = f"invoke scale {saved.role} {saved.new}"
    if (saved.profile, saved.role) != (profile, role):
        raise UserError(f"a scale of {saved.role} in profile {saved.profile} from {saved.old} "
                        f"to {saved.new} did not finish ({SCALE_FILE}). Fix: run `{again}` to "
                        "finish it first")
    if want == saved.new:
        return saved.old  # resume: the same plan again
    if want == saved.old and saved.new > saved.old:
        return now  # undo an unfinished scale out: a scale in of the new hosts
    undo = f" or `invoke scale {role} {saved.old}` to undo it" if saved.new > saved.old else ""
    raise UserError(f"a scale of {role} from {saved.old} to {saved.new} did not finish "
                    f"({SCALE_FILE}). Fix: run `{again}` to finish it{undo}")


# ---------------------------------------------------------------------------------------------
# Running it on the live lab


@dataclass
class Report:
    profile: str
    role: str
    old_count: int
    new_count: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    drained: list[str] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)  # seconds since the start
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None

    def save(self, path: Path | None = None) -> None:
        path = path or REPORT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def _labs(text: str, lab_file: Path, profile: str,
          provider: dict[str, dict[str, Any]]) -> tuple[Lab, dict[str, Lab]]:
    """The lab of ``profile`` and of every profile, from lab.yml's ``text``."""
    lab = topology.parse(text, lab_file, profile)
    every = {p: topology.parse(text, lab_file, p) for p in lab.profiles}
    for name, options in provider.items():
        lab = lab.with_provider(name, **options)
    return lab, every


def vagrantfile_for(text: str, lab_file: Path) -> str:
    default = topology.parse(text, lab_file)
    return render.vagrantfile_text(render.vagrant_data(
        default, {p: topology.parse(text, lab_file, p) for p in default.profiles}))


def check_request(lab: Lab, role: str, count: int) -> None:
    """Refusals that lab.yml's validation cannot make (it knows no running lab)."""
    members = lab.hosts_with(role)
    if members and lab.engine == "ndb" and set(members[0].roles) & set(DB_ROLES):
        raise UserError(f"the {role} hosts are NDB Cluster nodes: NDB adds data nodes in node "
                        "groups (CREATE NODEGROUP) and chapter 05 builds a cluster from "
                        "scratch, so invoke scale does not change it live. Fix: set "
                        f"profiles.{lab.profile}.scale.{role}: {count} in lab.yml and rebuild "
                        "(invoke destroy, invoke up)")


class Scale:
    """One ``invoke scale`` on the live lab; :meth:`run` does it (see the module docstring).
    ``on_event(name)`` is called at each milestone (the drill times them): vms-up,
    new-hosts-built, pools-updated (out); drained, pools-updated, destroyed (in); done."""

    def __init__(self, role: str, count: int, *, profile: str | None = None,
                 provider: str = "libvirt", check: bool = True,
                 on_event: Callable[[str], None] | None = None,
                 log: Callable[[str], None] = print, lab_file: Path = paths.LAB_FILE) -> None:
        self.role, self.count, self.profile = role, count, profile
        self.provider, self.check, self.lab_file = provider, check, Path(lab_file)
        self.on_event, self.log = on_event, log
        self.t0 = time.monotonic()
        self.report: Report | None = None

    def event(self, name: str) -> None:
        if self.report is not None:
            self.report.events[name] = round(time.monotonic() - self.t0, 1)
            self.report.save()
        if self.on_event is not None:
            self.on_event(name)

    def prepare(self) -> tuple[Plan, Lab, Lab, str]:
        """Everything checked and computed, nothing changed: (plan, old lab, new lab, the new
        lab.yml text). Raises UserError for every refusal."""
        from webfarm import secrets as lab_secrets
        from webfarm import state as lab_state
        from webfarm.livelab import load_lab

        st = lab_state.load()
        current = load_lab(self.profile, lab_file=self.lab_file, st=st)
        profile = current.profile
        if self.role in tiers.CANNOT_SCALE:
            raise UserError(f"invoke scale {self.role}: role {self.role} cannot scale: "
                            f"{tiers.CANNOT_SCALE[self.role]}. Fix: scale one of: "
                            + ", ".join(r for r in tiers.SCALABLE if current.hosts_with(r)))
        if not current.hosts_with(self.role):
            raise UserError(f"invoke scale {self.role}: no host of profile {profile} has the "
                            f"{self.role} role. Fix: scale one of: "
                            + ", ".join(r for r in tiers.SCALABLE if current.hosts_with(r)))
        text = self.lab_file.read_text(encoding="utf-8")
        old_count = before_count(len(current.hosts_with(self.role)), self.count, self.role,
                                 profile, pending())
        try:
            old_text = labedit.set_count(text, profile, self.role, old_count)
            new_text = labedit.set_count(text, profile, self.role, self.count)
            old, _ = _labs(old_text, self.lab_file, profile, st.provider)
            new, _ = _labs(new_text, self.lab_file, profile, st.provider)
        except labedit.EditError as err:
            raise UserError(f"{self.lab_file}: {err}") from None
        except topology.LabFileError as err:
            raise UserError(f"invoke scale {self.role} {self.count} is refused, nothing was "
                            f"changed:\n{err}") from None
        check_request(new, self.role, self.count)
        secrets = lab_secrets.load()
        try:
            old_files = render.lab_files(old, secrets, st)
            new_files = render.lab_files(new, secrets, st)
        except render.RenderError as err:
            raise UserError(f"nothing was changed: {err}") from None
        plan = make_plan(old, new, self.role, old_files, new_files)
        return plan, old, new, new_text

    def run(self) -> Report:
        from webfarm import state as lab_state
        from webfarm import vagrant

        plan, old, new, new_text = self.prepare()
        report = self.report = Report(plan.profile, plan.role, plan.old_count, plan.new_count,
                                      plan.added, plan.removed)
        if not plan.added and not plan.removed and pending() is None:
            self.log(f"the {plan.role} tier of profile {plan.profile} has {plan.new_count} "
                     "hosts already: nothing to do")
            return report
        self._require_running(old, [h for h in old.hosts if h in new.hosts])
        if plan.out:  # refusals first: Vagrant, libvirt and the box must be there
            from webfarm import preflight

            preflight.preflight(new, self.provider)
        Pending(plan.profile, plan.role, plan.old_count, plan.new_count).save()
        st = lab_state.load()
        try:
            if plan.out:
                self._out(plan, new, new_text, st)
            else:
                self._in(plan, old, new, new_text, st)
        except (UserError, vagrant.VagrantError, ChapterFailed, topology.LabFileError) as err:
            report.error = str(err)[:4000]
            report.save()
            raise UserError(f"{err}\ninvoke scale {plan.role} {plan.new_count} stopped there "
                            f"({SCALE_FILE} remembers it). Fix the cause, then run it again: "
                            "it resumes (every step can run twice)") from None
        SCALE_FILE.unlink(missing_ok=True)
        vagrant.write_ssh_config(new)
        self.event("done")
        if self.check:
            self._checks(new)
        report.save()
        return report

    # -- the steps ---------------------------------------------------------------------------

    def _require_running(self, lab: Lab, names: list[str]) -> None:
        from webfarm import vagrant

        states = {s.name: s.state for s in vagrant.status(lab)}
        down = [n for n in names if states.get(n) != "running"]
        if down:
            raise UserError(f"{', '.join(down)} of profile {lab.profile} not running "
                            f"({', '.join(states.get(n, 'unknown') for n in down)}): invoke "
                            "scale changes a lab that is up. Fix: invoke up (or invoke status)")

    def _write_lab_yml(self, new_text: str) -> None:
        if self.lab_file.read_text(encoding="utf-8") != new_text:
            fsutil.write_atomic(self.lab_file, new_text, None)

    def _write_lab(self, new_text: str) -> None:
        """lab.yml (when it changes), then the Vagrantfile and the diagrams it generates."""
        from webfarm import diagram

        self._write_lab_yml(new_text)
        files: dict[Path, tuple[str, int | None]] = {
            render.VAGRANTFILE: (vagrantfile_for(new_text, self.lab_file), None)}
        files |= {p: (t, None) for p, t in diagram.committed(self.lab_file).items()}
        render.write_files(files)

    def _run_pass(self, lab: Lab, todo: list[Run], st: Any) -> None:
        from webfarm import runner

        assert self.report is not None
        for run in todo:
            ch = chapters.get(run.chapter)
            what = ", ".join([*(f"{h} (new)" for h in run.new),
                              *(f"{h} (files changed)" for h in run.rerun)])
            self.log(f"chapter {ch.tag} on {what}")
            res = runner.run_chapter(lab, ch, st, only=set(run.hosts))
            self.report.runs.append({"chapter": run.chapter, "new": list(run.new),
                                     "rerun": list(run.rerun),
                                     "seconds": round(res.seconds, 1),
                                     "changes": {h.host: h.changed for h in res.hosts}})
            self.report.save()

    def _out(self, plan: Plan, new: Lab, new_text: str, st: Any) -> None:
        from webfarm import preflight, vagrant

        self._write_lab(new_text)
        if self.provider == "libvirt":
            self.log(preflight.isolate_management_network(new))
        passes = runs(plan, new)
        self.log(f"vagrant up {' '.join(plan.added)} (log: {paths.LOG_DIR / 'vagrant-up.log'})"
                 + (", meanwhile the hosts that stay" if passes.early else ""))
        with ThreadPoolExecutor(max_workers=1) as pool:
            boot = pool.submit(vagrant.up, new, hosts=plan.added, provider=self.provider)
            try:
                self._run_pass(new, passes.early, st)
            finally:
                wait([boot])  # never leave a vagrant up running behind an error
            boot.result()  # its own error, when the early pass went well
        self.event("vms-up")
        vagrant.write_ssh_config(new)
        self._run_pass(new, passes.new, st)
        self.event("new-hosts-built")
        self._run_pass(new, passes.late, st)
        self.event("pools-updated")

    def _in(self, plan: Plan, old: Lab, new: Lab, new_text: str, st: Any) -> None:
        from webfarm import vagrant

        assert self.report is not None
        vagrant.write_ssh_config(old)
        steps = drain_plan(old, plan.removed)
        self.report.drained = run_drain(old, steps, ssh_shell(), log=self.log)
        self.event("drained")
        # lab.yml and the host files of the new lab; the Vagrantfile keeps defining the
        # departing VMs until they are destroyed
        self._write_lab_yml(new_text)
        self._run_pass(new, runs(plan, new).early, st)
        self.event("pools-updated")
        render.write_files({render.VAGRANTFILE: (vagrantfile_for(
            labedit.set_count(new_text, plan.profile, plan.role, plan.old_count),
            self.lab_file), None)})
        self.log(f"vagrant destroy -f {' '.join(plan.removed)}")
        vagrant.destroy(old, hosts=plan.removed)
        for name in plan.removed:  # its rendered files (secrets among them) go with it
            shutil.rmtree(render.HOSTS_DIR / name, ignore_errors=True)
        self.event("destroyed")
        self._write_lab(new_text)

    def _checks(self, lab: Lab) -> None:
        from webfarm import checks

        assert self.report is not None
        failed = []
        for ch in chapters.CHAPTERS:
            if not checks.chapter_tests(ch):
                continue
            res = checks.run_chapter_checks(lab, ch)
            self.report.checks[ch.tag] = {"passed": res.passed, "failed": res.failed}
            self.report.save()
            if not res.ok:
                failed.append(f"{ch.tag} ({res.failed} failed; {res.junit})")
        self.event("checked")
        if failed:
            raise ChapterFailed(f"the scale is done, but checks failed after it: "
                                f"{', '.join(failed)}. Fix the cause and run invoke check all")

