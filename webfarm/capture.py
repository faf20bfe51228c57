"""Bounded packet captures on the lab's guests: ``invoke capture`` and ``invoke capture-dr``.

``invoke capture HOST [--iface IFACE] [--filter FILTER] [--count N] [--seconds S]`` runs, on
HOST, as root (``sudo -n``, never a password prompt)::

    timeout -k 5 S tcpdump -Z root -i IFACE -c N -U -w /tmp/webfarm-capture-TOKEN.pcap -- FILTER

and streams the file back over the same ssh connection (the lab's ssh-config, as
webfarm.runner does), into ``.lab/captures/HOST-IFACE-UTCSTAMP.pcap``. The guest script
removes its temp file on every exit (trap), and the workstation removes it once more
afterwards, also after a timeout. Bounds: at most :data:`COUNT_MAX` packets and
:data:`SECONDS_MAX` seconds. ``-Z root``: tcpdump would otherwise drop to its own user before
opening the root-owned temp file. Every option is checked before anything runs; the filter
follows a small grammar (:func:`filter_expr`) and reaches the guest shell-quoted.

``invoke capture-dr`` is chapter 04's demonstration of direct routing: a capture on the first
app server's front interface while the client fetches ``/health`` from the ``www`` VIP a few
times, analysed by :func:`webfarm.pcap.find_dr`, written to ``docs/assets/04-lvs/``
(``dr-capture.pcap`` and ``dr-capture.json``), which chapter 04's page shows
(:func:`docs_section`, called by the docs hook).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets as tokens
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from webfarm import args, paths, pcap
from webfarm.args import UserError
from webfarm.topology import Host, Lab

COUNT_DEFAULT, COUNT_MAX = 50, 10_000
SECONDS_DEFAULT, SECONDS_MAX = 30, 300
FILTER_MAX = 200  # characters
SSH_MARGIN = 120.0  # seconds on top of --seconds for ssh, sudo and the copy (TCG guests)
CLEANUP_TIMEOUT = 60.0
FIRST_LINES = 10  # decoded lines in the summary
CAPTURES_DIR = paths.LAB_DIR / "captures"
GUEST_PREFIX = "/tmp/webfarm-capture-"
ASSETS = paths.ROOT / "docs" / "assets" / "04-lvs"
DR_JSON, DR_PCAP = "dr-capture.json", "dr-capture.pcap"
DR_VIP = "www"
DR_REQUESTS = 6  # requests from the client: wrr over the pool sends some to the first server
DR_COUNT, DR_SECONDS = 200, 120
MARKER = "<!-- dr-capture -->"  # chapter 04's page: where docs_section() goes

_FILTER_CHARS = re.compile(r"[A-Za-z0-9.: ()]*")
_IFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")  # Linux: at most 15 characters
_NUMBER = re.compile(r"[0-9]{1,6}")
_MAC = re.compile(r"link/ether ([0-9a-f]{2}(?::[0-9a-f]{2}){5})")
FILTER_FIX = ("use tcpdump filter words (letters, digits, dots, colons), spaces, parentheses "
              "and the words and/or/not, e.g. --filter 'tcp port 80 and not arp' (no quotes, no "
              "!, &&, [ ] or other shell characters)")


class CaptureError(UserError):
    """The capture failed on the guest or on the way back; the message says how to fix it."""


# ---------------------------------------------------------------------------------------------
# Options (checked before anything runs)


def _bounded(value: str | int | None, option: str, default: int, most: int, unit: str) -> int:
    if value is None:
        return default
    text = str(value).strip()
    fix = f"give a whole number of {unit} from 1 to {most}, e.g. {option} {default}"
    if not _NUMBER.fullmatch(text):
        raise args.problem(option, f"{args.shown(value)} is not a whole number", fix)
    number = int(text)
    if not 1 <= number <= most:
        raise args.problem(option, f"{number} is out of range (1 to {most})", fix)
    return number


def count(value: str | int | None, option: str = "--count") -> int:
    """``--count N``: packets to capture, 1..COUNT_MAX (default COUNT_DEFAULT)."""
    return _bounded(value, option, COUNT_DEFAULT, COUNT_MAX, "packets")


def seconds(value: str | int | None, option: str = "--seconds") -> int:
    """``--seconds S``: the capture's time limit, 1..SECONDS_MAX (default SECONDS_DEFAULT)."""
    return _bounded(value, option, SECONDS_DEFAULT, SECONDS_MAX, "seconds")


def filter_expr(value: str | None, option: str = "--filter") -> str | None:
    """``--filter``: a tcpdump filter in a conservative grammar: words of letters, digits,
    dots and colons (keywords, numbers, addresses, host names), spaces, balanced
    parentheses; the boolean words and/or/not. No quotes, no shell or tcpdump operators
    (``! && || [ ] = < >``). None (or blank): capture everything."""
    if value is None or not value.strip():
        return None
    if len(value) > FILTER_MAX:
        raise args.problem(option, f"{len(value)} characters is longer than {FILTER_MAX}",
                           "capture with a shorter filter")
    if not _FILTER_CHARS.fullmatch(value):
        bad = next(c for c in value if not _FILTER_CHARS.fullmatch(c))
        raise args.problem(option, f"{args.shown(value)} contains {args.shown(bad)}",
                           FILTER_FIX)
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        raise args.problem(option, f"{args.shown(value)} has unbalanced parentheses",
                           "close every ( with a )")
    words = value.replace("(", " ").replace(")", " ").split()
    if not words or words[-1] in ("and", "or", "not"):
        raise args.problem(option, f"{args.shown(value)} ends without an operand",
                           FILTER_FIX)
    return " ".join(value.split())


def iface_name(value: str | None, option: str = "--iface") -> str | None:
    """``--iface``: a Linux interface name (checked against the host once the lab is known)."""
    if value is None:
        return None
    if value == "any":
        raise args.problem(option, "'any' captures Linux cooked frames without Ethernet "
                           "addresses", "name one interface, e.g. --iface eth1")
    if not _IFACE.fullmatch(value):
        raise args.problem(option, f"{args.shown(value)} is not an interface name",
                           "name one interface, e.g. --iface eth1")
    return value


def host_interfaces(host: Host) -> dict[str, str]:
    """{interface: what it is} on a lab host: Vagrant's management NIC, one per lab network,
    the loopback."""
    return {"eth0": "Vagrant management", **{host.interface(n): n for n in host.networks},
            "lo": "loopback"}


def default_iface(host: Host) -> str:
    """The host's interface on its first lab network."""
    return host.interface(host.networks[0])


def check_iface(host: Host, iface: str | None, option: str = "--iface") -> str:
    """The interface to capture on: ``iface`` if the host has it, else the default."""
    if iface is None:
        return default_iface(host)
    known = host_interfaces(host)
    if iface not in known:
        listed = ", ".join(f"{k} ({v})" for k, v in known.items())
        raise args.problem(option, f"{host.name} has no interface {args.shown(iface)}",
                           f"use one of {listed}, or leave the option out ({default_iface(host)})")
    return iface


# ---------------------------------------------------------------------------------------------
# The guest side


def guest_file(token: str) -> str:
    return f"{GUEST_PREFIX}{token}.pcap"


def guest_script(path: str, iface: str, n: int, secs: int, flt: str | None) -> str:
    """The POSIX sh script run as root on the guest: capture into ``path`` (created
    exclusively, mode 600), write it to stdout, remove it on every exit. tcpdump runs in the
    background under ``timeout`` so that :func:`stop_command` can end it early (TERM to
    ``timeout``, which passes it on; tcpdump then closes the file cleanly)."""
    q = shlex.quote
    expr = f" -- {q(flt)}" if flt else ""
    return "\n".join([
        "umask 077",
        f"f={q(path)}",
        'set -C; : > "$f" || exit 70; set +C',
        "trap 'rm -f \"$f\" \"$f.pid\"' EXIT",
        "trap 'exit 129' HUP",
        "trap 'exit 143' TERM",
        f"timeout -k 5 {secs} tcpdump -Z root -i {q(iface)} -c {n} -U -w \"$f\"{expr} &",
        'echo $! > "$f.pid"',
        "wait $!",
        "rc=$?",
        'rm -f "$f.pid"',
        'cat "$f" || rc=71',
        "exit $rc",
    ]) + "\n"


def stop_command(path: str) -> str:
    """End a running capture early: TERM to its ``timeout`` process (checked by name, so a
    reused pid is never signalled); a capture already over is left alone."""
    q = shlex.quote
    script = (f"p=$(cat {q(path + '.pid')} 2>/dev/null) || exit 0; "
              '[ "$(cat "/proc/$p/comm" 2>/dev/null)" = timeout ] && kill -TERM "$p"; exit 0')
    return f"sudo -n sh -c {q(script)}"


def cleanup_command(path: str) -> str:
    """Stop the capture if it still runs and remove the guest's files."""
    q = shlex.quote
    return f"{stop_command(path)}; sudo -n rm -f {q(path)} {q(path + '.pid')}"


def remote(script: str) -> str:
    return f"sudo -n sh -c {shlex.quote(script)}"


# ---------------------------------------------------------------------------------------------
# The workstation side


def ssh(host: str, command: str) -> list[str]:
    from webfarm import runner

    return runner.ssh_cmd(host, command, paths.SSH_CONFIG)


def _quiet(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


@dataclass
class Capture:
    """A capture running on a guest, its bytes streaming into ``part``."""

    host: str
    iface: str
    count: int
    seconds: int
    filter: str | None
    guest: str
    part: Path
    err: Path
    proc: subprocess.Popen[bytes]
    handles: list[IO[Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def stderr(self) -> str:
        try:
            return self.err.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def listening(self) -> bool:
        return "listening on" in self.stderr()


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def start(host: str, iface: str, n: int, secs: int, flt: str | None,
          directory: Path = CAPTURES_DIR) -> Capture:
    """Start the capture on ``host`` (returns at once; see :func:`wait_listening`)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = guest_file(tokens.token_hex(8))
    base = directory / f"{host}-{iface}-{stamp()}"
    part, err = base.with_suffix(".pcap.part"), base.with_suffix(".stderr")
    out_fh, err_fh = part.open("wb"), err.open("w", encoding="utf-8")
    # stdout and stderr are files, not pipes: an ssh ControlPersist master that inherits
    # them can never make us wait for an end-of-file
    proc = subprocess.Popen(ssh(host, remote(guest_script(path, iface, n, secs, flt))),
                            stdin=subprocess.DEVNULL, stdout=out_fh, stderr=err_fh)
    return Capture(host, iface, n, secs, flt, path, part, err, proc, [out_fh, err_fh])


def wait_listening(cap: Capture, timeout: float = SSH_MARGIN) -> None:
    """Until tcpdump says it listens (or the capture ended, or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and cap.proc.poll() is None and not cap.listening():
        time.sleep(0.2)
    if not cap.listening():
        finish_quietly(cap)
        raise CaptureError(f"tcpdump did not start on {cap.host}: {_last(cap.stderr())}. "
                           f"Fix: check `invoke ssh {cap.host}` and `sudo -n tcpdump -D` there")


def stop(cap: Capture) -> None:
    """Ask the guest to end the capture now (the file is then copied back as usual)."""
    if cap.proc.poll() is None:
        _quiet(ssh(cap.host, stop_command(cap.guest)), CLEANUP_TIMEOUT)


def _last(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _cleanup(cap: Capture) -> bool:
    for fh in cap.handles:
        fh.close()
    done = _quiet(ssh(cap.host, cleanup_command(cap.guest)), CLEANUP_TIMEOUT)
    return done is not None and done.returncode == 0


def finish_quietly(cap: Capture) -> None:
    """End a capture that failed: our ssh, the guest's tcpdump and files, our partial file."""
    if cap.proc.poll() is None:
        cap.proc.kill()
        cap.proc.wait(timeout=30)
    _cleanup(cap)
    cap.part.unlink(missing_ok=True)


def finish(cap: Capture, keep_stderr: bool = False) -> tuple[Path, list[pcap.Packet], str]:
    """Wait for the capture to end (its bounds), then check the file and name it
    ``HOST-IFACE-UTCSTAMP.pcap``. Returns (file, decoded packets, tcpdump's messages)."""
    limit = max(0.0, cap.seconds + 5 + SSH_MARGIN - (time.monotonic() - cap.started))
    try:
        code = cap.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        finish_quietly(cap)
        raise CaptureError(f"the capture on {cap.host} did not end within {limit:.0f} s; "
                           "it was stopped and its guest file removed. Fix: check the host "
                           f"(invoke status, invoke ssh {cap.host})") from None
    cleaned = _cleanup(cap)
    messages = cap.stderr()
    if not keep_stderr:
        cap.err.unlink(missing_ok=True)
    if code not in (0, 124):  # 124: timeout ended it at --seconds, a normal end
        cap.part.unlink(missing_ok=True)
        hint = ("sudo needs a password there; the lab's user has password-less sudo"
                if "sudo" in messages and "password" in messages else
                "see the message; invoke ssh " + cap.host + " to look")
        raise CaptureError(f"the capture on {cap.host} failed (exit {code}): "
                           f"{_last(messages)}. Fix: {hint}")
    if not cleaned:
        from webfarm.ui import say

        say(f"warning: could not confirm that {cap.guest} was removed on {cap.host}",
            style="yellow")
    try:
        packets = pcap.read(cap.part)
    except pcap.PcapError as err:
        cap.part.unlink(missing_ok=True)
        raise CaptureError(f"the file copied from {cap.host} is not a pcap: {err}. Fix: run "
                           f"the same tcpdump by hand there (invoke ssh {cap.host})") from None
    final = cap.part.with_suffix("")  # drop .part
    cap.part.replace(final)
    give_back(final.parent, final)
    return final, packets, messages


def summary(path: Path, packets: list[pcap.Packet], messages: str,
            lines: int = FIRST_LINES) -> list[str]:
    """What ``invoke capture`` prints: the file, how many packets, tcpdump's counters, the
    first frames decoded."""
    size = path.stat().st_size if path.exists() else 0
    shown = ", ".join(m.strip() for m in messages.splitlines()
                      if re.search(r"packets? (captured|received by filter|dropped)", m))
    out = [f"{path}: {len(packets)} packets, {size} bytes" + (f" (tcpdump: {shown})"
                                                              if shown else "")]
    out += [p.line() for p in packets[:lines]]
    if len(packets) > lines:
        out.append(f"... {len(packets) - lines} more: tcpdump -e -n -r {path}")
    return out


def run(host: str, iface: str | None = None, flt: str | None = None,
        n: str | int | None = None, secs: str | int | None = None,
        profile: str | None = None) -> None:
    """``invoke capture``: check every option, enter the lab, capture, copy, summarise."""
    from webfarm.livelab import live_lab
    from webfarm.ui import friendly, say

    @friendly
    def task() -> None:
        args.host_name(host, where="invoke capture HOST")
        wanted, expr = iface_name(iface), filter_expr(flt)
        packets_max, limit = count(n), seconds(secs)
        args.profile_name(profile)
        lab = live_lab(profile, secrets=False)
        args.host_name(host, lab.hosts, where="invoke capture HOST")
        chosen = check_iface(lab.hosts[host], wanted)
        _ssh_config(lab)
        say(f"capturing on {host} {chosen} (at most {packets_max} packets, {limit} s"
            + (f", filter {expr!r}" if expr else "") + ")")
        cap = start(host, chosen, packets_max, limit, expr)
        try:
            path, packets, messages = finish(cap)
        except BaseException:
            if cap.proc.poll() is None or cap.part.exists():
                finish_quietly(cap)
            raise
        for line in summary(path, packets, messages):
            say(line)

    task()


def _ssh_config(lab: Lab) -> None:
    if not paths.SSH_CONFIG.exists():
        from webfarm import vagrant

        vagrant.write_ssh_config(lab)


# ---------------------------------------------------------------------------------------------
# invoke capture-dr: chapter 04's demonstration


@dataclass(frozen=True)
class DrPlan:
    """Who is who in the demonstration, from the lab model."""

    vip_name: str
    vip: str
    port: int
    network: str
    server: Host  # the first real server of the VIP's pool: where the capture runs
    client: Host
    directors: list[Host]
    domain: str

    @property
    def iface(self) -> str:
        return self.server.interface(self.network)

    @property
    def filter(self) -> str:
        return f"tcp port {self.port} and host {self.vip}"

    def tcpdump(self) -> str:
        """The plain command a reader types on the real server."""
        return f"sudo tcpdump -e -n -i {self.iface} -c 20 {shlex.quote(self.filter)}"

    def curl(self, requests: int = DR_REQUESTS) -> str:
        q = shlex.quote
        one = (f"curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 10 -H 'Connection: "
               f"close' -H {q('Host: www.' + self.domain)} {q(f'http://{self.vip}:{self.port}/health')}")
        return f"for i in $(seq {requests}); do {one}; done"


def dr_plan(lab: Lab) -> DrPlan:
    vip = lab.vips.get(DR_VIP)
    fix = "use a profile with directors, app servers and a client (mini or full)"
    if vip is None:
        raise CaptureError(f"lab.yml has no {DR_VIP} VIP. Fix: {fix}")
    servers = [h for h in lab.hosts_with(vip.pool) if h.on(vip.network)]
    clients = [h for h in lab.hosts_with("client") if h.on(vip.network)]
    directors = [h for h in lab.hosts_with(vip.holder) if h.on(vip.network)]
    missing = [what for what, hosts in (("real server", servers), ("client", clients),
                                        ("director", directors)) if not hosts]
    if missing:
        raise CaptureError(f"profile {lab.profile} has no {', '.join(missing)} on the "
                           f"{vip.network} network. Fix: {fix}")
    return DrPlan(DR_VIP, str(vip.address), vip.port, vip.network, servers[0], clients[0],
                  directors, lab.domain)


def mac_of(ip_link_output: str) -> str | None:
    """The MAC address in ``ip -o link show dev IFACE`` output."""
    found = _MAC.search(ip_link_output)
    return found.group(1) if found else None


def read_macs(plan: DrPlan) -> dict[str, dict[str, str]]:
    """{host: {role, iface, mac}} for the directors, the real server and the client, read
    from each guest with ``ip -o link show dev IFACE``."""
    from webfarm import status

    out: dict[str, dict[str, str]] = {}
    for role, hosts in (("director", plan.directors), ("real server", [plan.server]),
                        ("client", [plan.client])):
        for h in hosts:
            iface = h.interface(plan.network)
            mac = mac_of(status.ssh_run(h.name, f"ip -o link show dev {iface}"))
            if mac is None:
                raise CaptureError(f"could not read {h.name}'s MAC on {iface}. Fix: is it "
                                   f"up? invoke status; invoke ssh {h.name}")
            out[h.name] = {"role": role, "iface": iface, "mac": mac}
    return out


def dr_run(profile: str | None = None) -> None:
    """``invoke capture-dr``: capture, request, analyse, write docs/assets/04-lvs/."""
    from webfarm.livelab import live_lab
    from webfarm.ui import friendly, say

    @friendly
    def task() -> None:
        args.profile_name(profile)
        lab = live_lab(profile, secrets=False)
        plan = dr_plan(lab)
        _ssh_config(lab)
        hosts = read_macs(plan)
        owners = {v["mac"]: f"{name} ({v['role']})" for name, v in hosts.items()}
        holder = _holder(lab)
        say(f"capturing on {plan.server.name} {plan.iface} while {plan.client.name} fetches "
            f"/health from the {plan.vip_name} VIP {DR_REQUESTS} times")
        cap = start(plan.server.name, plan.iface, DR_COUNT, DR_SECONDS, plan.filter)
        try:
            wait_listening(cap)
            done = _quiet(ssh(plan.client.name, plan.curl()), SSH_MARGIN)
            time.sleep(1.0)  # the last answers' packets
            stop(cap)
            path, packets, _ = finish(cap)
        except BaseException:
            if cap.proc.poll() is None or cap.part.exists():
                finish_quietly(cap)
            raise
        codes = done.stdout.split() if done is not None else []
        report = pcap.find_dr(packets, plan.vip, plan.port,
                              [hosts[d.name]["mac"] for d in plan.directors], owners,
                              [hosts[plan.client.name]["mac"]])
        for line in summary(path, packets, ""):
            say(line)
        if not report.ok:
            raise CaptureError(f"no direct-routing signature in {path} (HTTP answers: "
                               f"{' '.join(codes) or 'none'}): {'; '.join(report.problems)}. "
                               f"Fix: check chapters 03 and 04 (invoke check 4), then run "
                               "invoke capture-dr again")
        record = dr_record(plan, report, hosts, holder, lab.profile, len(packets), codes)
        written = write_assets(path, record)
        say(f"SYN     {report.syn.line() if report.syn else ''}", style="green")
        say(f"SYN-ACK {report.synack.line() if report.synack else ''}", style="green")
        say(f"ok {', '.join(str(p) for p in written)}", style="green")

    task()


def _holder(lab: Lab) -> str | None:
    from webfarm import status

    held = status.holders(status.ssh_run, lab, lab.vips[DR_VIP])
    return held[0] if held else None


def dr_record(plan: DrPlan, report: pcap.DrReport, hosts: dict[str, dict[str, str]],
              holder: str | None, profile: str, packets: int, codes: list[str]) -> dict[str, Any]:
    """What dr-capture.json holds: the two packets decoded, who owns each MAC, when, where.
    Addresses, names and MACs of lab VMs only: no secret is involved."""
    return {
        "generated_by": "invoke capture-dr",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile,
        "vip": {"name": plan.vip_name, "address": plan.vip, "port": plan.port},
        "vip_holder": holder,
        "capture": {"host": plan.server.name, "iface": plan.iface, "filter": plan.filter,
                    "packets": packets, "pcap": DR_PCAP, "tcpdump": plan.tcpdump()},
        "client": plan.client.name,
        "requests": {"count": DR_REQUESTS, "http_codes": codes},
        "hosts": hosts,
        "syn": report.as_dict()["syn"],
        "synack": report.as_dict()["synack"],
    }


def write_assets(pcap_file: Path, record: dict[str, Any], assets: Path = ASSETS) -> list[Path]:
    assets.mkdir(parents=True, exist_ok=True)
    target_pcap, target_json = assets / DR_PCAP, assets / DR_JSON
    shutil.copyfile(pcap_file, target_pcap)
    target_json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    give_back(assets, target_pcap, target_json)
    return [target_pcap, target_json]


def give_back(*made: Path) -> None:
    """Run as root (a lab in its network namespace: ``ip netns exec`` re-runs the task as
    root), files we made go to the owner of the project's folder, so a later ``git add`` or
    ``invoke capture`` as the user can use them."""
    if os.geteuid() != 0:
        return
    owner = paths.ROOT.stat()
    if owner.st_uid == 0:
        return
    for path in made:
        with contextlib.suppress(OSError):
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


# ---------------------------------------------------------------------------------------------
# Chapter 04's page (docs/hooks/webfarm_docs.py)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def docs_section(assets: Path = ASSETS) -> str:
    """Markdown for :data:`MARKER` on chapter 04's page: the committed capture's SYN and
    SYN-ACK with each MAC's owner and a download link, or a note that none is committed."""
    json_file = assets / DR_JSON
    if not json_file.exists():
        return ('!!! note "No capture committed yet"\n\n'
                "    No real capture has been taken for this page yet. `invoke capture-dr` "
                "on a running lab writes `docs/assets/04-lvs/dr-capture.json` and "
                "`dr-capture.pcap`, and this section then shows its two key packets.\n")
    rec = json.loads(json_file.read_text(encoding="utf-8"))
    cap, vip = rec.get("capture", {}), rec.get("vip", {})
    rows = []
    for label, key in (("SYN (arrives)", "syn"), ("SYN-ACK (leaves)", "synack")):
        p = rec.get(key) or {}
        rows.append(f"| {label} | `{_cell(p.get('ip_src'))}:{_cell(p.get('sport'))}` → "
                    f"`{_cell(p.get('ip_dst'))}:{_cell(p.get('dport'))}` | "
                    f"`{_cell(p.get('eth_src'))}` = {_cell(p.get('eth_src_owner'))} | "
                    f"`{_cell(p.get('eth_dst'))}` = {_cell(p.get('eth_dst_owner'))} |")
    lines = "\n".join(str((rec.get(k) or {}).get("line", "")) for k in ("syn", "synack"))
    link = (f"[Download the capture ({DR_PCAP})](../assets/04-lvs/{DR_PCAP})"
            if (assets / DR_PCAP).exists() else "The pcap file is not committed.")
    holder = f", the VIP held by `{rec['vip_holder']}`" if rec.get("vip_holder") else ""
    return (f"Captured by `{rec.get('generated_by', 'invoke capture-dr')}` on "
            f"`{_cell(cap.get('host'))}` ({_cell(cap.get('iface'))}), profile "
            f"`{_cell(rec.get('profile'))}`, {str(rec.get('date', '?'))[:10]}{holder}: "
            f"{_cell(cap.get('packets'))} packets, filter `{_cell(cap.get('filter'))}`, while "
            f"`{_cell(rec.get('client'))}` fetched `/health` from the `{_cell(vip.get('name'))}`"
            " VIP.\n\n"
            "| packet | IP source → destination | Ethernet source | Ethernet destination |\n"
            "|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"As `tcpdump -e -n` prints them (UTC):\n\n```\n{lines}\n```\n\n{link}\n")
