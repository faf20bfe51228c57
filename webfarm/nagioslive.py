"""Talking to the live Nagios (chapter 08-monitor) from the checks and the ``nagios`` drill:
force a check round through the external command file instead of waiting for the schedule,
read what Nagios concluded (status.dat, :mod:`webfarm.nagiosstatus`), and read the
notification log.

Every function takes ``run(host, command) -> stdout``; commands that need root use ``sudo -n``
(the checks run them as the vagrant user over SSH).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from webfarm import monitor, nagiosstatus
from webfarm import os as osdata
from webfarm.nagiosstatus import NagiosStatus
from webfarm.topology import Lab

Run = Callable[[str, str], str]


def _paths(lab: Lab) -> dict[str, str]:
    mon = monitor.monitor(lab)
    if mon is None:
        raise KeyError("the lab has no monitor host")
    return osdata.get(mon.os.family).paths


STAGGER_S = 0.6  # between two forced checks: a round must not arrive as one burst


def force_command(lab: Lab, now: int, hosts: list[str] | None = None) -> str:
    """A shell command (run as root on the monitor) that asks Nagios to check every host and
    every service of ``hosts`` (default: all of them) again, whatever the schedule says.
    The checks are staggered :data:`STAGGER_S` apart: started all at once, 70 checks on the
    1-vCPU TCG monitor ran for minutes and timed out (measured: load 39)."""
    names = hosts or [h.name for h in monitor.hosts(lab)]
    lines = [f"[{now}] SCHEDULE_FORCED_HOST_CHECK;{name};{now}" for name in names]
    services = [s for s in monitor.services(lab) if s.host in names]
    for i, s in enumerate(services):
        at = now + int(i * STAGGER_S)
        lines.append(f"[{now}] SCHEDULE_FORCED_SVC_CHECK;{s.host};{s.description};{at}")
    text = "\n".join(lines) + "\n"
    cmd_file = _paths(lab)["nagios_cmd"]
    # the command file is a FIFO Nagios reads; `timeout` so a dead Nagios cannot hang us
    return (f"printf %s {shlex.quote(text)} | sudo -n timeout 20 tee -a "
            f"{shlex.quote(cmd_file)} >/dev/null")


def force_round(run: Run, lab: Lab, hosts: list[str] | None = None) -> int:
    """Force a round; returns the monitor's clock at that moment (epoch seconds): results
    checked at or after it belong to the round."""
    mon = monitor.monitor(lab)
    assert mon is not None
    now = int(run(mon.name, "date +%s").strip())
    run(mon.name, force_command(lab, now, hosts))
    return now


def status(run: Run, lab: Lab) -> NagiosStatus | None:
    return nagiosstatus.read(run, lab)


@dataclass(frozen=True)
class Round:
    status: NagiosStatus
    seconds: float  # from the force to the moment every result was in


def wait_round(run: Run, lab: Lab, since: int, timeout: float, interval: float = 5,
               hosts: list[str] | None = None) -> Round:
    """Wait until every service (of ``hosts``) has a result checked at or after ``since``
    (the monitor's clock); raises TimeoutError with what is still missing."""
    start = time.monotonic()
    wanted = set(hosts) if hosts else None
    last: NagiosStatus | None = None
    while True:
        last = status(run, lab)
        if last is not None:
            stale = [s for s in last.services
                     if (wanted is None or s.host in wanted) and s.last_check < since]
            if not stale:
                return Round(last, time.monotonic() - start)
        if time.monotonic() - start > timeout:
            missing = "none read" if last is None else ", ".join(
                f"{s.host}/{s.description}" for s in last.services
                if s.last_check < since)[:600]
            raise TimeoutError(f"Nagios had not re-checked within {timeout:.0f} s: {missing}")
        time.sleep(interval)


def notify_log_path(lab: Lab) -> str:
    return f"{_paths(lab)['nagios_var']}/{monitor.NOTIFY_LOG}"


@dataclass(frozen=True)
class Notification:
    when: str
    kind: str  # PROBLEM, RECOVERY, ...
    host: str
    service: str  # "-" for a host notification
    state: str
    output: str


def notifications(run: Run, lab: Lab) -> list[Notification]:
    """Every line of the notification log (oldest first)."""
    mon = monitor.monitor(lab)
    assert mon is not None
    text = run(mon.name, f"sudo -n cat {shlex.quote(notify_log_path(lab))} 2>/dev/null || true")
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 6:
            out.append(Notification(*parts[:5], "\t".join(parts[5:])))
    return out
