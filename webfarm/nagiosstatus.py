"""What Nagios itself sees: its status.dat, parsed for ``invoke status`` (chapter 08-monitor).

Nagios 4 rewrites its status file (``os.paths.nagios_status``) every few seconds: one block per
object, ``TYPE {`` then ``\\tkey=value`` lines then ``\\t}``. We read the ``info`` block (when
the file was written), ``hoststatus`` (UP / DOWN / UNREACHABLE) and ``servicestatus`` (OK /
WARNING / CRITICAL / UNKNOWN) blocks and take the states as Nagios reports them: nothing is
recomputed here. An object Nagios has not checked yet (``has_been_checked=0``) is PENDING,
whatever its ``current_state`` says. Other block types (``programstatus``, ``contactstatus``,
comments, downtimes...) are skipped; a block cut short at the end of the text is dropped.

Everything in the file comes from the VM (plugin output especially): callers print it as plain
text, never as markup.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field

from webfarm import os as osdata
from webfarm.status import Run
from webfarm.topology import Lab

HOST_STATES = {0: "UP", 1: "DOWN", 2: "UNREACHABLE"}
SERVICE_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
COUNT_KEYS = ("OK", "WARNING", "CRITICAL", "UNKNOWN", "PENDING")
MONITOR_ROLE = "monitor"
CLOCK_BLOCK = "webfarm_clock"  # appended by read(): the monitor's time, for the file's age


@dataclass(frozen=True)
class HostStatus:
    name: str
    state: str  # UP, DOWN, UNREACHABLE or PENDING (never checked)
    checked: bool
    hard: bool  # state_type=1: confirmed after max_check_attempts, not a soft retry
    output: str


@dataclass(frozen=True)
class ServiceStatus:
    host: str
    description: str
    state: str  # OK, WARNING, CRITICAL, UNKNOWN or PENDING (never checked)
    checked: bool
    hard: bool
    output: str
    last_check: int  # epoch seconds, 0 when never checked
    last_hard_state_change: int = 0  # epoch seconds of the last confirmed change (drills)
    last_notification: int = 0  # epoch seconds of the last notification sent, 0 if none


@dataclass
class NagiosStatus:
    created: int  # epoch seconds when Nagios wrote the file (0 if the info block is missing)
    hosts: dict[str, HostStatus] = field(default_factory=dict)
    services: list[ServiceStatus] = field(default_factory=list)
    now: int = 0  # the monitor's own clock when the file was read (0: unknown)

    def age(self) -> int | None:
        """Seconds since Nagios wrote the file, by the monitor's clock when known (the VM's
        clock may differ from the workstation's), else by this machine's; None if unknown."""
        if not self.created:
            return None
        return max(0, (self.now or int(time.time())) - self.created)

    def counts(self, host: str) -> dict[str, int]:
        """{OK, WARNING, CRITICAL, UNKNOWN, PENDING: number of ``host``'s services}."""
        out = dict.fromkeys(COUNT_KEYS, 0)
        for s in self.services:
            if s.host == host:
                out[s.state] = out.get(s.state, 0) + 1
        return out

    def service(self, host: str, description: str) -> ServiceStatus | None:
        return next((s for s in self.services
                     if s.host == host and s.description == description), None)

    def problems(self) -> list[ServiceStatus]:
        """The checked services that are not OK (PENDING is not a problem, only not known)."""
        return [s for s in self.services if s.checked and s.state != "OK"]


def _blocks(text: str) -> list[tuple[str, dict[str, str]]]:
    """[(block type, {key: value})] for every complete block; a truncated last one is dropped."""
    blocks: list[tuple[str, dict[str, str]]] = []
    kind: str | None = None
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if kind is None:
            if line.endswith("{"):
                kind, values = line[:-1].strip(), {}
            continue
        if line == "}":
            blocks.append((kind, values))
            kind = None
            continue
        key, sep, value = raw.lstrip().partition("=")  # values may contain '=' themselves
        if sep:
            values[key.strip()] = value.rstrip("\r\n")
    return blocks


def _int(values: dict[str, str], key: str, default: int = 0) -> int:
    try:
        return int(values.get(key, "").strip())
    except ValueError:
        return default


def _state(values: dict[str, str], names: dict[int, str]) -> tuple[str, bool]:
    checked = _int(values, "has_been_checked") == 1
    if not checked:
        return "PENDING", False
    code = _int(values, "current_state", -1)
    return names.get(code, "UNKNOWN"), True


def parse(text: str) -> NagiosStatus:
    """A Nagios 4 status.dat as data. Never raises on odd input: what it cannot read, it skips."""
    status = NagiosStatus(created=0)
    for kind, values in _blocks(text):
        if kind == "info":
            status.created = _int(values, "created")
        elif kind == CLOCK_BLOCK:
            status.now = _int(values, "now")
        elif kind == "hoststatus" and values.get("host_name"):
            state, checked = _state(values, HOST_STATES)
            name = values["host_name"]
            status.hosts[name] = HostStatus(name=name, state=state, checked=checked,
                                            hard=_int(values, "state_type") == 1,
                                            output=values.get("plugin_output", ""))
        elif kind == "servicestatus" and values.get("host_name"):
            state, checked = _state(values, SERVICE_STATES)
            status.services.append(ServiceStatus(
                host=values["host_name"], description=values.get("service_description", ""),
                state=state, checked=checked, hard=_int(values, "state_type") == 1,
                output=values.get("plugin_output", ""), last_check=_int(values, "last_check"),
                last_hard_state_change=_int(values, "last_hard_state_change"),
                last_notification=_int(values, "last_notification")))
    return status


def monitor_host(lab: Lab) -> str | None:
    """The host whose Nagios ``invoke status`` asks: the first ``monitor`` host, if any."""
    hosts = lab.hosts_with(MONITOR_ROLE)
    return hosts[0].name if hosts else None


def status_command(lab: Lab, host: str) -> str:
    path = osdata.get(lab.hosts[host].os.family).paths["nagios_status"]
    # the clock block only follows a file that could be read: no file, no output at all
    return (f"sudo -n cat {shlex.quote(path)} 2>/dev/null && "
            f"printf '\\n{CLOCK_BLOCK} {{\\n\\tnow=%s\\n\\t}}\\n' \"$(date +%s)\"")


def read(run: Run, lab: Lab) -> NagiosStatus | None:
    """Nagios's view from the first monitor host, or None: no monitor host in the lab, or no
    status file yet (Nagios not installed or not started: chapter 08 not run)."""
    host = monitor_host(lab)
    if host is None:
        return None
    text = run(host, status_command(lab, host))
    if not text.strip():
        return None
    status = parse(text)
    if not status.created and not status.hosts and not status.services:
        return None  # not a status file at all
    return status
