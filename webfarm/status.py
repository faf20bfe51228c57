"""What the lab looks like right now: each VM's state and which host holds each VIP.

:func:`holds` is the one answer to "does host H hold VIP X": the VIP is an address on the
host's interface to the VIP's network (``lo`` on a host that is not on it), read with
``ip -4 -o addr show dev IFACE``. ``invoke status`` asks over ssh (:func:`vip_owners`); the
checks and drills ask through testinfra, passing their own ``run``.

With a ``monitor`` host up, :func:`monitor_table` and :func:`problem_lines` show what Nagios
there sees (parsed by :mod:`webfarm.nagiosstatus`, chapter 08-monitor).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import TYPE_CHECKING

import sh
from rich.table import Table
from rich.text import Text

from webfarm import paths, runner
from webfarm.topology import Host, Lab, Vip
from webfarm.vagrant import VagrantError

if TYPE_CHECKING:  # nagiosstatus imports Run from here
    from webfarm.nagiosstatus import NagiosStatus

Run = Callable[[str, str], str]  # run(host name, shell command) -> its standard output


def vip_command(host: Host, vip: Vip) -> str:
    """The command that lists the addresses where ``vip`` would sit on ``host``."""
    iface = host.interface(vip.network) if host.on(vip.network) else "lo"
    return f"ip -4 -o addr show dev {iface}"


def has_address(ip_output: str, address: IPv4Address | str) -> bool:
    """Whether ``ip -o addr show`` output lists ``address`` (any prefix length)."""
    return re.search(rf"\binet {re.escape(str(address))}/", ip_output) is not None


def holds(run: Run, host: Host, vip: Vip) -> bool:
    """Whether ``host`` holds ``vip`` right now."""
    return has_address(run(host.name, vip_command(host, vip)), vip.address)


def holders(run: Run, lab: Lab, vip: Vip, hosts: list[str] | None = None) -> list[str]:
    """The hosts of the VIP's holder role (or ``hosts``) that hold it right now."""
    names = hosts if hosts is not None else [h.name for h in lab.hosts_with(vip.holder)]
    return [n for n in names if holds(run, lab.hosts[n], vip)]


def ssh_run(host: str, command: str) -> str:
    """``run`` over the lab's ssh-config (an unreachable host answers nothing)."""
    cmd = runner.ssh_cmd(host, command)
    try:
        out = sh.Command(cmd[0])(*cmd[1:], _tty_out=False, _ok_code=range(256), _timeout=30,
                                 _err=os.devnull)
    except sh.TimeoutException:
        return ""
    return str(out)


def vm_states(lab: Lab) -> tuple[dict[str, str], str | None]:
    """{host: Vagrant state}, and why it is empty when Vagrant could not tell."""
    from webfarm import vagrant

    try:
        return {s.name: s.state for s in vagrant.status(lab)}, None
    except VagrantError as err:
        return {}, str(err)


def vip_owners(lab: Lab, states: dict[str, str], run: Run = ssh_run) -> dict[str, str]:
    """{VIP name: host holding it}, asking the running hosts of each holder role (empty while
    there is no ssh-config, i.e. no lab up)."""
    owners: dict[str, str] = {}
    if not paths.SSH_CONFIG.exists():
        return owners
    for name, vip in lab.vips.items():
        running = [h.name for h in lab.hosts_with(vip.holder) if states.get(h.name) == "running"]
        for host in holders(run, lab, vip, running):
            owners[name] = host
    return owners


def table(lab: Lab, states: dict[str, str], owners: dict[str, str]) -> Table:
    """The status table: host, roles, addresses, VM state, VIPs held. Every cell is Text:
    names come from lab.yml and states from Vagrant, never markup."""
    out = Table(title=Text(f"webfarm lab - profile {lab.profile}"))
    for col in ("host", "roles", *lab.networks, "VM", "holds VIP"):
        out.add_column(Text(col))
    for h in lab.hosts.values():
        state = states.get(h.name, "unknown")
        held = ", ".join(v for v, owner in owners.items() if owner == h.name)
        out.add_row(Text(h.name), Text(", ".join(h.roles)),
                    *(Text(str(h.addresses.get(n, ""))) for n in lab.networks),
                    Text(state, style="green" if state == "running" else "yellow"), Text(held))
    return out


def vip_lines(lab: Lab, states: dict[str, str], owners: dict[str, str]) -> list[str]:
    """One line per VIP: where it is, or why nobody holds it."""
    idle = "not held yet (chapter 04 / DB chapters)" if states else "unknown"
    return [f"VIP {name} {vip.address}: {owners.get(name) or idle}"
            for name, vip in lab.vips.items()]


STATE_STYLES = {"UP": "green", "OK": "green", "WARNING": "yellow", "CRITICAL": "red",
                "DOWN": "red", "UNREACHABLE": "red", "UNKNOWN": "magenta", "PENDING": "cyan"}
COUNT_COLUMNS = ("OK", "WARNING", "CRITICAL", "UNKNOWN", "PENDING")
MAX_PROBLEMS = 20


def _plain(text: str) -> str:
    """Text from the VM with control characters (escape sequences, CR...) made visible."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _count(state: str, n: int) -> Text:
    return Text(str(n), style=STATE_STYLES[state] if n else "dim")


def monitor_table(lab: Lab, nagios: NagiosStatus) -> Table:
    """Per host, as Nagios reports it: the host state and how many services are in each state.
    Lab hosts first, in lab.yml order, then any other host Nagios knows. Every cell is Text:
    host names, states and outputs come from the VM."""
    from webfarm.nagiosstatus import monitor_host

    age = nagios.age()
    written = f"status.dat written {age} s ago" if age is not None else "status.dat undated"
    out = Table(title=Text("monitor"),
                caption=Text(f"as Nagios on {monitor_host(lab) or '?'} sees it, {written}"))
    for col in ("Host", "State", *COUNT_COLUMNS):
        out.add_column(Text(col), justify="left" if col in ("Host", "State") else "right")
    names = [n for n in lab.hosts if n in nagios.hosts]
    names += sorted(n for n in {*nagios.hosts, *(s.host for s in nagios.services)}
                    if n not in names)
    for name in names:
        host = nagios.hosts.get(name)
        state = host.state if host else "?"
        if host and host.checked and not host.hard:
            state += " (soft)"
        counts = nagios.counts(name)
        out.add_row(Text(_plain(name)), Text(state, style=STATE_STYLES.get(state.split()[0], "")),
                    *(_count(c, counts[c]) for c in COUNT_COLUMNS))
    return out


def problem_lines(nagios: NagiosStatus, limit: int = MAX_PROBLEMS) -> list[Text]:
    """One line per checked service that is not OK (host, service, state, plugin output), the
    worst first; at most ``limit`` lines, the last one saying how many were left out."""
    order = {"CRITICAL": 0, "UNKNOWN": 1, "WARNING": 2}
    problems = sorted(nagios.problems(), key=lambda s: (order.get(s.state, 3), s.host,
                                                         s.description))
    shown = problems if len(problems) <= limit else problems[:limit - 1]
    lines = [Text.assemble(f"{_plain(s.host)} / {_plain(s.description)}: ",
                           (s.state, STATE_STYLES.get(s.state, "")),
                           "" if s.hard else " (soft)",
                           f" - {_plain(s.output)}" if s.output else "")
             for s in shown]
    if len(shown) < len(problems):
        lines.append(Text(f"... and {len(problems) - len(shown)} more (see the Nagios web UI)"))
    return lines
