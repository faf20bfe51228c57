"""Failover drills: measure what a visitor sees while one member of a pair fails.

A drill starts a bounded probe loop on the client host (at most ``duration`` seconds, one
request every ``interval``), breaks something, restores it, then reads the probe log back and
computes the outage: the longest stretch with no successful answer. Results are written to
``.lab/drills/NAME.json`` and collected into the e2e report.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from webfarm import paths
from webfarm.wait import WaitTimeout, wait_until

RESULTS = paths.DRILLS_DIR


class Runner(Protocol):
    """Anything that runs a shell command on a host (a testinfra host fits)."""

    def run(self, command: str, *args: str) -> Any: ...


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the epoch on the probing host
    ok: bool


@dataclass
class DrillResult:
    name: str
    passed: bool
    outage_s: float | None
    requests: int = 0
    failed_requests: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: Path = RESULTS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path


def _probe_lines(text: str) -> Iterator[tuple[float, list[str]]]:
    """``(EPOCH, [RESULT, ...])`` of each probe log line; lines without both are skipped."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        yield t, parts[1:]


def parse_samples(text: str) -> list[Sample]:
    """Parse probe log lines ``EPOCH RESULT`` (RESULT: HTTP code, or ok/fail)."""
    return [Sample(t, rest[0] in ("200", "ok")) for t, rest in _probe_lines(text)]


# --8<-- [start:outage]
def outage(samples: list[Sample]) -> float:
    """Longest time without a successful answer, measured from the last success before a
    failure to the first success after it (0.0 when nothing failed). A failure streak still
    running at the end counts up to the last sample."""
    worst = 0.0
    last_ok: float | None = None
    failing = False
    for s in samples:
        if s.ok:
            if failing and last_ok is not None:
                worst = max(worst, s.t - last_ok)
            failing = False
            last_ok = s.t
        else:
            failing = True
    if failing and last_ok is not None and samples:
        worst = max(worst, samples[-1].t - last_ok)
    return round(worst, 3)
# --8<-- [end:outage]


@dataclass(frozen=True)
class Served:
    t: float  # seconds since the epoch on the probing host
    ok: bool
    server: str  # who answered (the first word of the body), "" when nothing did
    seconds: float | None = None  # how long the request took (curl's time_total)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_served(text: str) -> list[Served]:
    """Parse ``http-served`` probe lines ``EPOCH CODE SECONDS [SERVER]`` (and the older
    ``EPOCH CODE [SERVER]``, without the request's duration)."""
    out = []
    for t, rest in _probe_lines(text):
        ok = rest[0] == "200"
        seconds = _float(rest[1]) if len(rest) > 1 else None
        who = rest[2 if seconds is not None else 1:][:1]
        out.append(Served(t, ok, who[0] if ok and who else "", seconds))
    return out


# The http-fast probe: one Python process, a new connection per request like a visitor's (1 s
# timeout, as curl --max-time 1 in the shell loop). Under TCG the shell loop forks curl, date
# and sleep for each request and so samples every 1.5-2 s; this one takes tens of ms per
# request, so a sub-second outage (a clean VRRP takeover) shows at its real length.
FAST_PROBE = """\
import http.client, os, sys, time, urllib.parse
url, host, duration, interval, stop = sys.argv[1:6]
u = urllib.parse.urlsplit(url)
end = time.time() + int(duration)
while time.time() < end and not os.path.exists(stop):
    code = "000"
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=1)
    try:
        conn.request("GET", u.path or "/", headers={"Host": host or u.hostname})
        resp = conn.getresponse()
        resp.read()
        code = str(resp.status)
    except (OSError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    print("%.6f %s" % (time.time(), code), flush=True)
    time.sleep(float(interval))
print("done", flush=True)
"""


def probe_script(kind: str, target: str, duration: float, interval: float,
                 log: str, extra: str = "", timeout: float = 1) -> str:
    """Shell for a bounded probe loop (runs detached on the client). It ends after
    ``duration`` seconds, or sooner once ``LOG.stop`` exists (:meth:`Probe.stop_and_read`).

    Kinds: ``http`` logs the status code; ``http-served`` also the first word of the body
    (an app server's /health answers its own name: who served the request); ``dns`` logs
    ok or fail; ``http-fast`` logs the status code like ``http`` from one Python process
    (``extra``: the Host header), see :data:`FAST_PROBE`. ``timeout``: how long one HTTP
    request may take before it counts as failed (curl's --max-time)."""
    suffix = ""
    if kind == "http-fast":
        args = " ".join(shlex.quote(str(a)) for a in
                        (target, extra, int(duration), interval, f"{log}.stop"))
        return (f"nohup python3 -u -c {shlex.quote(FAST_PROBE)} {args} > {shlex.quote(log)} "
                "2>&1 &")
    if kind == "http":
        check = (f"code=$(curl -s -o /dev/null -w '%{{http_code}}' --max-time {timeout:g} "
                 f"{shlex.quote(target)} {extra} || true)")
    elif kind == "http-served":
        body = shlex.quote(f"{log}.body")
        check = (f"out=$(curl -s -o {body} -w '%{{http_code}} %{{time_total}}' --max-time "
                 f"{timeout:g} {shlex.quote(target)} {extra} || true); "
                 f"who=$(head -c 64 {body} 2>/dev/null | head -n 1 | tr -cd 'a-z0-9-'); "
                 f"rm -f {body}; code=${{out:-000 0}}")
        suffix = " $who"
    elif kind == "dns":
        # dig prints its errors (";; communications error ...") on stdout: only a line that
        # is not a comment is an answer.
        check = (f"if dig +time=1 +tries=1 +short {extra} {shlex.quote(target)} "
                 "| grep -qv '^;'; "
                 "then code=ok; else code=fail; fi")
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    stop = shlex.quote(f"{log}.stop")
    loop = (f"end=$(( $(date +%s) + {int(duration)} )); "
            f"while [ $(date +%s) -lt $end ] && [ ! -e {stop} ]; do {check}; "
            f"echo \"$(date +%s.%N) $code{suffix}\"; sleep {interval}; done; echo done")
    return f"nohup bash -c {shlex.quote(loop)} > {log} 2>&1 &"


class Probe:
    """A probe loop on a host: start(), then stop_and_read() for the samples."""

    def __init__(self, host: Runner, kind: str, target: str, *, duration: float = 60,
                 interval: float = 0.2, extra: str = "", name: str = "probe",
                 timeout: float = 1) -> None:
        self.host, self.duration = host, duration
        self.log = f"/tmp/webfarm-{name}.log"
        self.script = probe_script(kind, target, duration, interval, self.log, extra, timeout)
        self.started = 0.0

    def start(self) -> None:
        self.host.run(f"rm -f {self.log} {self.log}.stop")
        self.host.run(self.script)
        self.started = time.monotonic()

    def wait(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.duration - (time.monotonic() - self.started))))

    def stop_and_read(self, early: bool = False) -> list[Sample]:
        """Wait for the loop's own end (it is bounded; ``early``: ask it to end now) and
        read the samples."""
        return parse_samples(self._finish(early))

    def stop_and_read_served(self, early: bool = False) -> list[Served]:
        """:meth:`stop_and_read` for an ``http-served`` probe: who answered each request."""
        return parse_served(self._finish(early))

    def _finish(self, early: bool) -> str:
        if early:
            self.host.run(f"touch {self.log}.stop")
        left = self.started + self.duration + 15 - time.monotonic()
        if early:
            left = min(left, 30)
        with contextlib.suppress(WaitTimeout):  # read what there is, done or not
            wait_until(lambda: self.host.run(f"tail -n1 {self.log}").stdout.strip() == "done",
                       left, 1, f"the probe loop in {self.log} to end")
        return str(self.host.run(f"cat {self.log}").stdout)
