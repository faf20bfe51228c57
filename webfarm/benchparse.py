"""Reading what the benchmark's tools print (``invoke bench``): wrk, mysqlslap, ``ipvsadm -Ln
--stats``, HAProxy's ``show stat`` and keepalived's journal. Pure functions, no lab needed;
each raises :class:`ParseError` (naming the tool) when the text is not what that tool prints,
so a changed tool is one clear message, never a made-up number.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from webfarm import lvs


class ParseError(ValueError):
    """The text is not the tool's output as expected; the message names the tool."""


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"n", "min", "median", "max"}`` of the values (None for an empty list)."""
    xs = [float(v) for v in values]
    if not xs:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(xs), "min": round(min(xs), 3), "median": round(statistics.median(xs), 3),
            "max": round(max(xs), 3)}


# ---------------------------------------------------------------------------------------------
# wrk

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([0-9.]+)(us|ms|s|m|h)"


def ms(value: str, unit: str) -> float:
    """A wrk duration (``33.12ms``, ``1.20s``, ``850.00us``) in milliseconds."""
    return round(float(value) * _TIME_UNITS[unit], 3)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    requests_per_s: float
    latency_ms: dict[str, float]  # avg, stdev, max, and p50/p75/p90/p99 with --latency
    socket_errors: dict[str, int] = field(default_factory=dict)  # connect, read, write, timeout
    non_2xx_3xx: int = 0

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values()) + self.non_2xx_3xx

    def as_dict(self) -> dict[str, object]:
        return {"requests": self.requests, "seconds": self.seconds,
                "requests_per_s": self.requests_per_s, "latency_ms": self.latency_ms,
                "socket_errors": self.socket_errors, "non_2xx_3xx": self.non_2xx_3xx,
                "errors": self.errors}


def parse_wrk(text: str) -> WrkResult:
    """wrk's report (``wrk -t1 -c8 -d20s --latency URL``)."""
    total = re.search(r"^\s*(\d+) requests in " + _TIME, text, re.M)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    if not total or not rate:
        raise ParseError("wrk: no 'N requests in T' or 'Requests/sec:' line in its output "
                         f"({_first_line(text)})")
    latency: dict[str, float] = {}
    row = re.search(r"^\s*Latency\s+" + _TIME + r"\s+" + _TIME + r"\s+" + _TIME, text, re.M)
    if row:
        g = row.groups()
        latency |= {"avg": ms(g[0], g[1]), "stdev": ms(g[2], g[3]), "max": ms(g[4], g[5])}
    for pct, value, unit in re.findall(r"^\s*(50|75|90|99)%\s+" + _TIME, text, re.M):
        latency[f"p{pct}"] = ms(value, unit)
    errors: dict[str, int] = {}
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     text)
    if sock:
        errors = dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()),
                          strict=True))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkResult(requests=int(total.group(1)), seconds=ms(total.group(2),
                                                               total.group(3)) / 1000,
                     requests_per_s=float(rate.group(1)), latency_ms=latency,
                     socket_errors=errors, non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return repr(lines[0][:120]) if lines else "empty"


# ---------------------------------------------------------------------------------------------
# mysqlslap (mariadb-slap)


@dataclass(frozen=True)
class SlapResult:
    avg_s: float
    min_s: float
    max_s: float
    clients: int
    queries_per_client: int

    @property
    def queries(self) -> int:
        return self.clients * self.queries_per_client

    @property
    def queries_per_s(self) -> float:
        """Queries per second over the average run (every client's queries together)."""
        return round(self.queries / self.avg_s, 1) if self.avg_s > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"avg_s": self.avg_s, "min_s": self.min_s, "max_s": self.max_s,
                "clients": self.clients, "queries_per_client": self.queries_per_client,
                "queries": self.queries, "queries_per_s": self.queries_per_s}


def parse_slap(text: str) -> SlapResult:
    """mysqlslap's "Benchmark" block (its default output, one concurrency level)."""
    def number(label: str, pattern: str = r"([0-9.]+)") -> str:
        found = re.search(label + r":\s*" + pattern, text)
        if not found:
            raise ParseError(f"mysqlslap: no '{label.replace(chr(92), '')}' line in its output "
                             f"({_first_line(text)})")
        return found.group(1)

    return SlapResult(
        avg_s=float(number(r"Average number of seconds to run all queries")),
        min_s=float(number(r"Minimum number of seconds to run all queries")),
        max_s=float(number(r"Maximum number of seconds to run all queries")),
        clients=int(number(r"Number of clients running queries", r"(\d+)")),
        queries_per_client=int(number(r"Average number of queries per client", r"(\d+)")))


# ---------------------------------------------------------------------------------------------
# IPVS (ipvsadm -Ln --stats / -Ln)


def parse_ipvs_weights(text: str, service: str) -> dict[str, int]:
    """{real server address: weight} of ``service`` (``ADDR:PORT``) in ``ipvsadm -Ln``."""
    _head, rows = lvs.ipvs_table(text).get(service, ([], {}))
    return {real.rsplit(":", 1)[0]: int(f[3]) for real, f in rows.items()
            if len(f) >= 4 and f[3].isdigit()}


def parse_ipvs_conns(text: str, service: str) -> dict[str, int]:
    """{real server address: connections scheduled} of ``service`` in ``ipvsadm -Ln --stats``
    (the service's own total under the key ``"total"``)."""
    head, rows = lvs.ipvs_table(text).get(service, ([], {}))
    out = {"total": int(head[2])} if len(head) > 2 and head[2].isdigit() else {}
    return out | {real.rsplit(":", 1)[0]: int(f[2]) for real, f in rows.items()
                  if f[2].isdigit()}


# ---------------------------------------------------------------------------------------------
# HAProxy's runtime API: show stat (CSV)


def parse_haproxy_stat(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """{(proxy, server): row} from ``show stat``; the header line starts with ``# ``."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ParseError(f"HAProxy show stat: no '# pxname,svname,...' header "
                         f"({_first_line(text)})")
    reader = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    return {(row["pxname"], row["svname"]): dict(row) for row in reader
            if row.get("pxname") and row.get("svname")}


# ---------------------------------------------------------------------------------------------
# keepalived's VRRP state changes (journalctl -o short-unix)

_TRANSITION = re.compile(r"^(?P<t>\d+(?:\.\d+)?)\s.*?(?:\((?P<i1>[\w.-]+)\) Entering|"
                         r"VRRP_Instance\((?P<i2>[\w.-]+)\) Transition to) "
                         r"(?P<state>MASTER|BACKUP|FAULT) STATE")


@dataclass(frozen=True)
class Transition:
    t: float  # seconds since the epoch, on the director's clock
    instance: str
    state: str  # MASTER | BACKUP | FAULT


def parse_transitions(text: str) -> list[Transition]:
    """VRRP state changes in ``journalctl -u keepalived -o short-unix`` output (keepalived 2:
    ``(VI_FRONT) Entering MASTER STATE``; 1.x: ``VRRP_Instance(VI_1) Transition to MASTER
    STATE``)."""
    out = []
    for line in text.splitlines():
        m = _TRANSITION.search(line)
        if m:
            out.append(Transition(float(m["t"]), m["i1"] or m["i2"], m["state"]))
    return out
