"""Verify blocks whose expected output comes from a real run, not typed (issues 12 and 15).

:data:`STEPS` lists, per chapter, the commands a reader types on the VMs to see that the
chapter worked: on which host (a role and an index, ``director[0]``, resolved per profile from
``lab.yml``), the command exactly as typed (placeholders resolved from the lab model, see
:func:`render`), what to look for in its output, and the live check that asserts the same
(``tests/chapters/test_NN_*.py::test_name``; tests/unit/test_verify.py checks that it exists).

``invoke verify-capture [--chapter N] [--profile P]`` runs every step on the live lab through
the lab's ssh config and writes ``docs/assets/verify/NN-slug.json``: per step the command, the
host, the profile, the real output (at most :data:`MAX_LINES` lines, every value of
``.lab/secrets.yml`` replaced by ``<redacted: NAME>``), the exit code and the date; and the
sha256 of the chapter's files at that time (``webfarm.recording.hashes``, as the recordings
keep them), so that :func:`stale` can name the files that changed since.

The docs hook puts :func:`page_block` on each chapter page: after its hand-written
``## Verify`` section ("What the real run printed"), in place of a ``<!-- verify -->`` marker,
or at the end ("Verify it yourself"). With no capture the page says so; it never makes
output up.
"""

from __future__ import annotations

import json
import posixpath
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webfarm import chapters, docsprofiles, recording
from webfarm import os as osdata
from webfarm.args import UserError
from webfarm.chapters import Chapter
from webfarm.topology import Host, Lab

VERIFY_DIR = chapters.ROOT / "docs" / "assets" / "verify"
MARKER = "<!-- verify -->"
MAX_LINES = 40  # output lines kept per step (the rest is counted, not shown)
MAX_WIDTH = 200  # characters kept per output line
TIMEOUT_S = 60.0  # per command; TCG guests are slow
SSH_FAILED = 255  # ssh's own exit code: the host was not reached

# run(host, command, timeout) -> (exit code, or None on timeout; stdout and stderr together)
Runner = Callable[[str, str, float], tuple[int | None, str]]


class VerifyError(UserError):
    """Nothing usable to capture or render; the message names the fix."""


@dataclass(frozen=True)
class Step:
    id: str  # unique within its chapter
    host: str  # ROLE[N] (ROLE may be ROLE|ROLE): the N-th host with it, in lab.yml order
    command: str  # as the reader types it; {{ … }} placeholders, see render()
    look_for: str  # one line: what in the output shows the chapter worked
    check: str  # tests/chapters/test_NN_slug.py::test_name asserting the same
    timeout: float = TIMEOUT_S


_CH = "tests/chapters/"

STEPS: dict[int, tuple[Step, ...]] = {
    1: (
        Step("hostname", "client[0]", "hostname; hostname -f",
             "the short name, then the name in the lab's domain ({{ fqdn.client.0 }})",
             f"{_CH}test_01_base.py::test_hostname"),
        Step("addresses", "client[0]", "ip -4 -o addr show dev {{ iface.client.0.front }}",
             "inet {{ addr.client.0.front }}/{{ lab.networks.front.prefixlen }}: the front "
             "address on the front interface",
             f"{_CH}test_01_base.py::test_addresses_on_the_right_interfaces"),
        Step("hosts-file", "client[0]", "getent ahosts www.{{ lab.domain }}",
             "{{ lab.vips.www.address }}: /etc/hosts answers before any name server",
             f"{_CH}test_01_base.py::test_hosts_file_resolves_the_reachable_hosts"),
        Step("chrony-tracking", "client[0]", "chronyc -n tracking",
             "Reference ID names a lab time server, Leap status : Normal, a small System time",
             f"{_CH}test_01_base.py::test_time_synchronised"),
        Step("chrony-sources", "client[0]", "chronyc -n sources",
             "^* in front of the selected source: the lab's time server",
             f"{_CH}test_01_base.py::test_time_synchronised"),
    ),
    2: (
        Step("soa-primary", "client[0]",
             "dig +norec @{{ addr.dns.0.front }} SOA {{ lab.domain }}",
             "flags: qr aa (authoritative, no recursion), status: NOERROR, one SOA answer",
             f"{_CH}test_02_dns.py::test_server_answers_authoritatively"),
        Step("serials", "client[0]",
             "for ns in {{ addr.dns.0.front }} {{ addr.dns.1.front }}; do "
             "dig +norec +short @$ns SOA {{ lab.domain }}; done",
             "two identical SOA lines: the secondary has the primary's serial",
             f"{_CH}test_02_dns.py::test_servers_have_the_same_serial"),
        Step("names", "client[0]",
             "dig +short www.{{ lab.domain }} media.{{ lab.domain }} db.{{ lab.domain }}",
             "the three VIPs: {{ lab.vips.www.address }}, {{ lab.vips.media.address }}, "
             "{{ lab.vips.db.address }}",
             f"{_CH}test_02_dns.py::test_every_name_resolves"),
        Step("reverse", "client[0]", "dig +short -x {{ addr.app.0.front }}",
             "{{ fqdn.app.0 }}. (the reverse zone)",
             f"{_CH}test_02_dns.py::test_every_name_resolves"),
        Step("axfr-refused", "client[0]", "dig axfr {{ lab.domain }} @{{ addr.dns.0.front }}",
             "; Transfer failed. (no TSIG key, no zone)",
             f"{_CH}test_02_dns.py::test_transfer_refused_without_the_key"),
    ),
    3: (
        Step("vip-on-lo", "app[0]", "ip -4 addr show dev lo",
             "inet {{ lab.vips.www.address }}/32 on lo (and any other VIP it serves), next to "
             "the loopback address",
             f"{_CH}test_03_web.py::test_vip_on_lo"),
        Step("arp-sysctls", "app[0]",
             "sudo sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce",
             "arp_ignore = 1 and arp_announce = 2: the host never answers ARP for the VIP",
             f"{_CH}test_03_web.py::test_arp_sysctls"),
        Step("health", "client[0]",
             "curl -s -H 'Host: www.{{ lab.domain }}' http://{{ addr.app.0.front }}/health",
             "the real server's name ({{ host.app.0 }})",
             f"{_CH}test_03_web.py::test_health_url_names_the_server"),
        Step("whoami", "client[0]",
             "curl -s -H 'Host: www.{{ lab.domain }}' http://{{ addr.app.0.front }}/api/whoami",
             'JSON naming the host ("{{ host.app.0 }}") and its role',
             f"{_CH}test_03_web.py::test_app_page_and_whoami"),
        Step("media-headers", "client[0]",
             "curl -s -o /dev/null -D - -H 'Host: media.{{ lab.domain }}' "
             "http://{{ addr.media.0.front }}/static/site.css",
             "Content-Type: text/css, Cache-Control: public, max-age=86400, "
             "X-Served-By: {{ host.media.0 }}",
             f"{_CH}test_03_web.py::test_media_types_and_caching"),
    ),
    4: (
        Step("ipvs-table", "director[0]", "sudo ipvsadm -Ln",
             "TCP {{ lab.vips.www.address }}:{{ lab.vips.www.port }} and the media VIP, every "
             "real server with Forward Route (direct routing)",
             f"{_CH}test_04_lvs.py::test_ipvs_balances_every_pool_in_dr_mode"),
        Step("vip-on-master", "director[0]",
             "ip -4 addr show dev {{ iface.director.0.front }}",
             "on the MASTER: inet {{ lab.vips.www.address }} and {{ lab.vips.media.address }} "
             "with the labels {{ iface.director.0.front }}:www and :media",
             f"{_CH}test_04_lvs.py::test_vip_on_exactly_one_director_the_highest_priority"),
        Step("vip-not-on-backup", "director[1]",
             "ip -4 addr show dev {{ iface.director.1.front }}",
             "on the BACKUP: its own address only, no VIP",
             f"{_CH}test_04_lvs.py::test_vip_on_exactly_one_director_the_highest_priority"),
        Step("sync-daemon", "director[0]", "sudo ipvsadm -Ln --daemon",
             "master sync daemon on the MASTER (the BACKUP runs the backup one)",
             f"{_CH}test_04_lvs.py::test_connection_sync_daemon_runs"),
        Step("through-the-vip", "client[0]",
             "for i in 1 2 3 4; do curl -s -H 'Connection: close' "
             "-H 'Host: www.{{ lab.domain }}' http://{{ lab.vips.www.address }}/health; done",
             "the app servers' names in turn: the director spreads the requests",
             f"{_CH}test_04_lvs.py::test_client_requests_reach_every_pool_member"),
    ),
    5: (
        Step("wsrep-status", "db_data|db_sql[0]",
             "sudo mariadb -e \"SHOW GLOBAL STATUS WHERE Variable_name IN "
             "('wsrep_cluster_size', 'wsrep_cluster_status', 'wsrep_local_state_comment', "
             "'wsrep_ready')\"",
             "wsrep_cluster_size: the nodes (and garbd, when their number is even); Primary; "
             "Synced; ON",
             f"{_CH}test_05_db.py::test_cluster_size_counts_every_node_and_the_arbitrator"),
        Step("incoming-addresses", "db_data|db_sql[1]",
             "sudo mariadb -e \"SHOW GLOBAL STATUS LIKE 'wsrep_incoming_addresses'\"",
             "every node's DB address and port 3306: one cluster",
             f"{_CH}test_05_db.py::test_one_cluster_not_several"),
        Step("db-ports", "db_data|db_sql[0]",
             "ss -ltn | grep -E ':(3306|4567|4568|4444|9200) '",
             "every port on {{ addr.db_data|db_sql.0.db }} only, never the wildcard address",
             f"{_CH}test_05_db.py::test_db_ports_listen_on_the_db_address_only"),
        Step("health-agent", "dblb[0]",
             "curl -s -i http://{{ addr.db_data|db_sql.0.db }}:9200/",
             "HTTP/1.1 200 OK and {{ host.db_data|db_sql.0 }} Synced Primary ready=ON "
             "read_only=OFF",
             f"{_CH}test_05_db.py::test_health_agent_answers_200_when_synced"),
    ),
    6: (
        Step("vip-holder", "dblb[0]", "ip -4 addr show dev {{ iface.dblb.0.db }}",
             "on the MASTER: inet {{ lab.vips.db.address }} labelled {{ iface.dblb.0.db }}:db",
             f"{_CH}test_06_dblb.py::test_vip_on_exactly_one_balancer_the_highest_priority"),
        Step("haproxy-listens", "dblb[1]", "sudo ss -ltnp | grep haproxy",
             "{{ lab.vips.db.address }}:{{ lab.vips.db.port }} and :{{ lab.vips.db.read_port }}"
             " on the BACKUP too (ip_nonlocal_bind), :{{ lab.vips.db.stats_port }} on its "
             "own address",
             f"{_CH}test_06_dblb.py::test_haproxy_listens_on_the_vip_on_both_balancers"),
        Step("stats-csv", "dblb[0]",
             "curl -s 'http://{{ addr.dblb.0.db }}:{{ lab.vips.db.stats_port }}/;csv' "
             "| cut -d, -f1,2,18,20,21",
             "pxname, svname, status, act, bck: every node UP in db_write_nodes (all but one "
             "bck=1) and in db_read_nodes",
             f"{_CH}test_06_dblb.py::test_every_node_up_in_both_pools"),
        Step("nonlocal-bind", "dblb[1]", "sudo sysctl net.ipv4.ip_nonlocal_bind",
             "= 1: HAProxy may bind the VIP before the host has it",
             f"{_CH}test_06_dblb.py::test_haproxy_listens_on_the_vip_on_both_balancers"),
    ),
    7: (
        Step("front-page-db", "client[0]",
             "curl -s -H 'Host: www.{{ lab.domain }}' http://{{ lab.vips.www.address }}/ "
             "| grep 'database:'",
             "database: ok: written via db.{{ lab.domain }}:{{ lab.vips.db.port }} by node …, "
             "read via :{{ lab.vips.db.read_port }} from node …",
             f"{_CH}test_07_app.py::test_front_page_database_section_is_real"),
        Step("db-health", "client[0]",
             "curl -s -H 'Host: www.{{ lab.domain }}' "
             "http://{{ addr.app.0.front }}/api/db-health",
             '"ok":true, the write endpoint on port {{ lab.vips.db.port }}, the read one on '
             "{{ lab.vips.db.read_port }}, both nodes Synced",
             f"{_CH}test_07_app.py::test_db_health_both_ports"),
        Step("session", "client[0]",
             "h='Host: www.{{ lab.domain }}'; "
             "c=$(curl -si -H \"$h\" http://{{ addr.app.0.front }}/api/session "
             "| sed -n 's/^Set-Cookie: \\(WFSESSID=[^;]*\\).*/\\1/p'); "
             "curl -s -H \"$h\" -H \"Cookie: $c\" http://{{ addr.app.1.front }}/api/session",
             '"counter":2 and "app_host":"{{ host.app.1 }}": the session began on '
             "{{ host.app.0 }} and went on",
             f"{_CH}test_07_app.py::test_session_goes_on_across_app_servers"),
        Step("db-php-hidden", "client[0]",
             "curl -s -o /dev/null -w '%{http_code}\\n' -H 'Host: www.{{ lab.domain }}' "
             "http://{{ lab.vips.www.address }}/db.php",
             "404: the credentials file is never served",
             f"{_CH}test_07_app.py::test_db_php_is_private_and_never_served"),
        Step("schema", "app[0]", "sudo php /srv/www/app/bin/migrate.php --check",
             "schema: unchanged: every table there, each with a primary key",
             f"{_CH}test_07_app.py::test_schema_is_there_with_primary_keys"),
    ),
    8: (
        Step("config-valid", "monitor[0]",
             "sudo {{ os.paths.nagios_bin }} -v {{ os.paths.nagios_conf }} | tail -n 4",
             "Total Warnings: 0 and Total Errors:   0",
             f"{_CH}test_08_monitor.py::test_nagios_runs_with_a_valid_configuration"),
        Step("nrpe-load", "monitor[0]",
             "{{ os.paths.nagios_plugins }}/check_nrpe -H {{ addr.app.0.front }} -t 30 "
             "-c webfarm_load",
             "LOAD OK - scaled load average (per CPU): NRPE on {{ host.app.0 }} answers the "
             "monitor",
             f"{_CH}test_08_monitor.py::test_nrpe_answers_the_monitor_and_refuses_anyone_else"),
        Step("nrpe-vip", "monitor[0]",
             "{{ os.paths.nagios_plugins }}/check_nrpe -H {{ addr.director.0.front }} -t 30 "
             "-c webfarm_holds_www",
             "HOLDS: {{ host.director.0 }}, the MASTER, has the www VIP",
             f"{_CH}test_08_monitor.py::test_the_vip_holder_nagios_reports_is_the_real_one"),
        Step("ui-401", "client[0]",
             "curl -s -o /dev/null -w '%{http_code}\\n' "
             "http://{{ addr.monitor.0.front }}{{ os.monitor.paths.nagios_url }}/",
             "401: the web UI asks for the password",
             f"{_CH}test_08_monitor.py::test_web_ui_asks_for_the_password"),
        Step("nrpe-refuses-client", "client[0]",
             "timeout 10 bash -c 'exec 3<>/dev/tcp/{{ addr.app.0.front }}/5666; "
             "printf hello >&3; head -c 64 <&3 | wc -c'",
             "0: NRPE closes the connection of a host that is not the monitor",
             f"{_CH}test_08_monitor.py::test_nrpe_answers_the_monitor_and_refuses_anyone_else"),
    ),
}


# ---------------------------------------------------------------------------------------------
# Resolving a step for a profile

_SELECTOR = re.compile(r"([a-z_]+(?:\|[a-z_]+)*)\[([0-9]+)\]")
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")


def steps(chapter: Chapter) -> tuple[Step, ...]:
    return STEPS.get(chapter.number, ())


def host_for(lab: Lab, selector: str) -> Host:
    """The host ``ROLE[N]`` names in ``lab``'s profile."""
    m = _SELECTOR.fullmatch(selector)
    if not m:
        raise VerifyError(f"{selector!r} is not a host selector. Fix: write ROLE[N], "
                          "e.g. director[0]")
    try:
        name = docsprofiles.resolve(lab, f"host.{m.group(1)}.{m.group(2)}")
    except docsprofiles.ProfileBlockError as err:
        raise VerifyError(f"{selector}: {err.message}. Fix: {err.fix}") from None
    return lab.hosts[name]


def render(lab: Lab, host: Host, text: str) -> str:
    """``text`` with every placeholder resolved in ``lab``'s profile: the vocabulary of the
    pages' profile blocks (webfarm.docsprofiles: ``{{ addr.dns.0.front }}``, ``{{ lab.… }}``),
    plus ``{{ os.paths.KEY }}`` / ``{{ os.services.KEY }}`` from the OS table of the step's
    host, and ``{{ os.ROLE.paths.KEY }}`` from that of the role's first host."""
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        parts = expr.split(".")
        if parts[0] == "os":
            target = host
            if len(parts) == 4:
                target = host_for(lab, f"{parts[1]}[0]")
                parts = [parts[0], *parts[2:]]
            if len(parts) != 3 or parts[1] not in ("paths", "services"):
                raise VerifyError(f"{{{{ {expr} }}}}: write os.paths.KEY, os.services.KEY or "
                                  "os.ROLE.paths.KEY")
            table = getattr(osdata.get(target.os.family), parts[1])
            if parts[2] not in table:
                raise VerifyError(f"{{{{ {expr} }}}}: no {parts[1]} key {parts[2]!r} in "
                                  f"webfarm/os/{target.os.family}.yml")
            return str(table[parts[2]])
        try:
            return docsprofiles.resolve(lab, expr)
        except docsprofiles.ProfileBlockError as err:
            raise VerifyError(f"{{{{ {expr} }}}}: {err.message}. Fix: {err.fix}") from None
    return _PLACEHOLDER.sub(one, text)


@dataclass(frozen=True)
class Resolved:
    step: Step
    host: str
    command: str
    look_for: str


def resolve(lab: Lab, step: Step) -> Resolved:
    host = host_for(lab, step.host)
    return Resolved(step, host.name, render(lab, host, step.command),
                    render(lab, host, step.look_for))


_ORDINALS = ("first", "second", "third", "fourth")


def describe(selector: str) -> str:
    """``director[0]`` in words: "the first director host"."""
    m = _SELECTOR.fullmatch(selector)
    if not m:
        return selector
    n = int(m.group(2))
    nth = _ORDINALS[n] if n < len(_ORDINALS) else f"number {n + 1}"
    return f"the {nth} {m.group(1).replace('|', '/')} host"


def check_parts(step: Step) -> tuple[str, str]:
    """(test file, test function) of the step's check."""
    path, _, name = step.check.partition("::")
    return path, name


# ---------------------------------------------------------------------------------------------
# Capturing


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def tidy(output: str, secrets: dict[str, str], max_lines: int = MAX_LINES) -> str:
    """The output as the page shows it: secrets redacted, colour codes dropped, other control
    characters made visible, lines shortened, at most ``max_lines`` lines (a last line says
    how many more there were)."""
    text = recording.redact(output.replace("\r\n", "\n"), secrets)
    text = _ANSI.sub("", text)
    lines = ["".join(c if c.isprintable() or c == "\t" else "?" for c in line)
             for line in text.rstrip("\n").split("\n")]
    lines = [ln if len(ln) <= MAX_WIDTH else ln[:MAX_WIDTH - 1] + "…" for ln in lines]
    if len(lines) > max_lines:
        more = len(lines) - (max_lines - 1)
        lines = [*lines[:max_lines - 1], f"… ({more} more lines)"]
    return "\n".join(lines) if lines != [""] else ""


def ssh_runner(host: str, command: str, timeout: float) -> tuple[int | None, str]:
    """Run ``command`` on ``host`` through the lab's ssh config, as the reader's shell would."""
    from webfarm import runner

    try:
        done = subprocess.run(runner.ssh_cmd(host, command), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        out = err.stdout or b""
        return None, out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def capture(chapter: Chapter, lab: Lab, run: Runner, secrets: dict[str, str],
            root: Path = chapters.ROOT) -> dict[str, Any]:
    """Every step of ``chapter`` run on ``lab``: the capture (what :func:`write` stores)."""
    found = steps(chapter)
    if not found:
        raise VerifyError(f"chapter {chapter.tag} has no verify steps. Fix: add them to "
                          "STEPS in webfarm/verify.py")
    out: list[dict[str, Any]] = []
    for step in found:
        r = resolve(lab, step)
        started = datetime.now(UTC)
        code, text = run(r.host, r.command, step.timeout)
        seconds = (datetime.now(UTC) - started).total_seconds()
        out.append({
            "id": step.id, "host": r.host, "selector": step.host, "profile": lab.profile,
            "command": recording.redact(r.command, secrets), "output": tidy(text, secrets),
            "exit": code, "timed_out": code is None, "seconds": round(seconds, 1),
            "date": started.isoformat(timespec="seconds"),
        })
    unreached = sorted({s["host"] for s in out if s["exit"] == SSH_FAILED})
    if unreached:
        raise VerifyError(f"chapter {chapter.tag}: ssh could not reach {', '.join(unreached)} "
                          "(exit 255); nothing was written. Fix: bring the lab up (invoke up "
                          "or invoke e2e --keep) and check `invoke ssh HOST`")
    capture_ = {
        "chapter": chapter.slug, "number": chapter.number, "profile": lab.profile,
        "captured": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": recording._commit(root),
        "files": recording.hashes(chapter, root),
        "steps": out,
    }
    text = json.dumps(capture_)
    leaked = [k for k, v in secrets.items() if len(v) >= 6 and v in text]
    if leaked:  # the last safeguard, as for the recordings
        raise VerifyError(f"a secret ({', '.join(leaked)}) is still in the capture of chapter "
                          f"{chapter.tag}; nothing was written")
    return capture_


def capture_path(chapter: Chapter, directory: Path = VERIFY_DIR) -> Path:
    return directory / f"{chapter.slug}.json"


def write(chapter: Chapter, data: dict[str, Any], directory: Path = VERIFY_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = capture_path(chapter, directory)
    recording._write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return path


def read(chapter: Chapter, directory: Path = VERIFY_DIR) -> dict[str, Any] | None:
    path = capture_path(chapter, directory)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stale(chapter: Chapter, directory: Path = VERIFY_DIR,
          root: Path = chapters.ROOT) -> list[str] | None:
    """The chapter's files that changed (or appeared, or went) since the capture: [] when
    it is up to date, None when there is no capture (as ``recording.stale``)."""
    data = read(chapter, directory)
    if data is None:
        return None
    then = data.get("files") if isinstance(data.get("files"), dict) else {}
    now = recording.hashes(chapter, root)
    return sorted(p for p in then.keys() | now.keys() if then.get(p) != now.get(p))


# ---------------------------------------------------------------------------------------------
# invoke verify-capture


def verify_capture(chapter: str | None = None, profile: str | None = None) -> None:
    """``invoke verify-capture``: errors as one message, exit 2."""
    from webfarm.ui import friendly

    friendly(_verify_capture)(chapter, profile)


def _verify_capture(chapter: str | None, profile: str | None) -> None:
    from webfarm import args, paths
    from webfarm import secrets as lab_secrets
    from webfarm.livelab import live_lab
    from webfarm.ui import say

    if chapter is None:
        wanted = [c for c in chapters.CHAPTERS if steps(c)]
    else:
        wanted = [args.chapter(chapter, "--chapter")]
        if not steps(wanted[0]):
            with_steps = ", ".join(str(n) for n in sorted(STEPS))
            raise args.problem("--chapter", f"chapter {wanted[0].number} has no verify steps",
                               f"use one of {with_steps}, or add steps to webfarm/verify.py")
    lab = live_lab(profile)
    if not paths.SSH_CONFIG.exists():
        raise VerifyError(f"{paths.SSH_CONFIG}: missing, so no lab is up. Fix: invoke up "
                          "(or invoke e2e --keep), then run this again")
    secrets = lab_secrets.read()
    for ch in wanted:
        say(f"chapter {ch.tag}: {len(steps(ch))} verify commands on profile {lab.profile}")
        data = capture(ch, lab, ssh_runner, secrets)
        for s in data["steps"]:
            state = "timed out" if s["timed_out"] else f"exit {s['exit']}"
            say(f"  {s['host']}: {s['command'][:70]} ({state})",
                "" if s["exit"] == 0 else "yellow")
        path = write(ch, data)
        say(f"  wrote {path.relative_to(chapters.ROOT)} (commit it)")


# ---------------------------------------------------------------------------------------------
# The chapter page's block (docs/hooks/webfarm_docs.py)


def _fence(text: str) -> str:
    return "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)


def _code(text: str, lang: str, title: str = "") -> list[str]:
    fence = _fence(text)
    head = f'{fence}{lang} title="{title}"' if title else f"{fence}{lang}"
    return [head, *text.split("\n"), fence]


def _check_link(chapter: Chapter, step: Step) -> str:
    from webfarm import docsgen

    path, name = check_parts(step)
    here = f"chapters/{chapter.slug}.md"
    target = posixpath.relpath(docsgen.file_page(path), posixpath.dirname(here))
    return f"[`{name}`]({target}) in `{path}`"


def block(chapter: Chapter, labs: tuple[Lab, ...], data: dict[str, Any] | None,
          changed: list[str] | None, heading: str) -> str:
    """Markdown: per step the host, the command, the real output, what to look for and the
    check; a note when there is no capture, a warning naming the files changed since."""
    found = steps(chapter)
    if not found:
        return ""
    out = [heading, ""]
    profile = str(data.get("profile")) if data else None
    by_id = {s.get("id"): s for s in data.get("steps", [])} if data else {}
    shown = next((lab for lab in labs if lab.profile == profile), labs[0])
    if data is None:
        out += ['!!! note "No captured output yet"', "",
                "    No real run of these commands has been captured for this chapter, so no "
                "output is shown (none is made up). On a running lab, `invoke verify-capture "
                f"--chapter {chapter.number}` writes `docs/assets/verify/{chapter.slug}.json`.",
                ""]
    else:
        commit = f", commit `{str(data['commit'])[:12]}`" if data.get("commit") else ""
        out += [f"What these commands printed on the `{profile}` lab "
                f"({str(data.get('captured', '?'))[:10]}{commit}), captured by "
                f"`invoke verify-capture --chapter {chapter.number}`; secrets show as "
                "`<redacted: NAME>`.", ""]
        if changed:
            out += [f'!!! warning "Captured before changes to: {", ".join(changed)}"', "",
                    "    These files changed since the output below was captured: "
                    + ", ".join(f"`{p}`" for p in changed) + ". Capture it again: "
                    f"`invoke verify-capture --chapter {chapter.number}`.", ""]
    for i, step in enumerate(found, 1):
        r = resolve(shown, step)
        others = []
        for lab in labs:
            if lab.profile != shown.profile:
                o = resolve(lab, step)
                others.append((lab.profile, o))
        where = ", ".join(f"on {p}: `{o.host}`" for p, o in others if o.host != r.host)
        out += [f"**{i}. On `{r.host}`** (`invoke ssh {r.host}`; {describe(step.host)}"
                + (f"; {where}" if where else "") + ")", ""]
        got = by_id.get(step.id)
        command = str(got["command"]) if got else r.command
        out += _code(command, "bash")
        out.append("")
        different = [(p, o.command) for p, o in others if o.command != r.command]
        for p, cmd in different:
            out += [f'??? note "The same on the {p} profile"', ""]
            out += ["    " + line for line in _code(cmd, "bash")]
            out.append("")
        if data is not None and got is None:
            out += ['!!! note "Not captured yet"', "",
                    "    This command is newer than the capture. Capture again: "
                    f"`invoke verify-capture --chapter {chapter.number}`.", ""]
        elif got is not None:
            if got["command"] != r.command:
                out += ['!!! warning "The command changed since this capture"', "",
                        "    The output below is that of the command above as it was; today's "
                        f"form is `{r.command}`.", ""]
            output = str(got.get("output", ""))
            out += _code(output if output else "(no output)", "text", "output")
            out.append("")
            if got.get("timed_out"):
                out += [f"The command timed out ({step.timeout:g} s) in the captured run.", ""]
            elif got.get("exit") != 0:
                out += [f"Exit code {got.get('exit')} in the captured run.", ""]
        out += [f"Look for: {r.look_for}. Asserted by {_check_link(chapter, step)}.", ""]
    return "\n".join(out).replace("{{", '{{ "{{" }}') + "\n"


def _outside_fences(lines: list[str]) -> list[bool]:
    """For each line, whether it is outside a fenced code block."""
    flags, fence = [], ""
    for line in lines:
        stripped = line.strip()
        if fence:
            flags.append(False)
            if stripped.startswith(fence) and not stripped[len(fence):].strip():
                fence = ""
            continue
        m = re.match(r"(`{3,}|~{3,})", stripped)
        flags.append(m is None)
        if m:
            fence = m.group(1)
    return flags


def place(markdown: str, chapter: Chapter, lab_file: Path | str,
          directory: Path = VERIFY_DIR, root: Path = chapters.ROOT) -> str:
    """The chapter page with its verify block: in place of a ``<!-- verify -->`` line, else
    right after the hand-written ``## Verify`` section ("What the real run printed"), else
    at the end ("Verify it yourself")."""
    if not steps(chapter):
        return markdown
    labs = docsprofiles.labs(lab_file)
    data, changed = read(chapter, directory), stale(chapter, directory, root)
    lines = markdown.split("\n")
    outside = _outside_fences(lines)
    for i, line in enumerate(lines):
        if outside[i] and line.strip() == MARKER:
            text = block(chapter, labs, data, changed, "## Verify it yourself")
            return "\n".join([*lines[:i], text, *lines[i + 1:]])
    start = next((i for i, line in enumerate(lines)
                  if outside[i] and re.match(r"## Verify\b", line)), None)
    if start is None:
        text = block(chapter, labs, data, changed, "## Verify it yourself")
        return markdown.rstrip("\n") + "\n\n" + text
    end = next((i for i in range(start + 1, len(lines))
                if outside[i] and re.match(r"#{1,2} ", lines[i])), len(lines))
    text = block(chapter, labs, data, changed, "### What the real run printed")
    return "\n".join([*lines[:end], "", *text.rstrip("\n").split("\n"), "", *lines[end:]])
