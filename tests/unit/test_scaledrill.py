"""Drill `scale` without a VM: its probe (who served each request), the early stop, and the
figures computed from a probe log (webfarm.scaledrill)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from webfarm import drills, scaledrill
from webfarm.drills import Served

LOG = """1000.0 200 app1
1000.2 200 app2
1000.4 000
1000.6 200 app1
junk
1000.8 503 <html>
"""


def test_parse_served_with_each_request_s_duration() -> None:
    got = drills.parse_served("1000.0 200 0.312 app1\n1000.5 000 5.001 \n1001.0 200 1.7 app2\n")
    assert [(s.ok, s.server, s.seconds) for s in got] == [
        (True, "app1", 0.312), (False, "", 5.001), (True, "app2", 1.7)]
    fig = scaledrill.figures(got, "app3", {})
    assert (fig["failed_requests"], fig["slow_requests"], fig["slowest_s"]) == (1, 1, 1.7)


def test_parse_served() -> None:
    got = drills.parse_served(LOG)
    assert [(s.t, s.ok, s.server) for s in got] == [
        (1000.0, True, "app1"), (1000.2, True, "app2"), (1000.4, False, ""),
        (1000.6, True, "app1"), (1000.8, False, "")]


def test_the_served_probe_logs_who_answered(tmp_path: Path) -> None:
    """The loop itself, run here against a file:// URL (no network): it logs code and
    server, and ends early once LOG.stop exists."""
    (tmp_path / "health").write_text("app3\n", encoding="utf-8")
    log = tmp_path / "probe.log"
    script = drills.probe_script("http-served", f"file://{tmp_path}/health", 30, 0.1,
                                 str(log))
    assert script.startswith("nohup bash -c ")
    subprocess.run(["bash", "-c", script], check=True, timeout=10)
    time.sleep(0.5)
    (tmp_path / "probe.log.stop").touch()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not log.read_text().rstrip().endswith("done"):
        time.sleep(0.1)
    text = log.read_text()
    assert text.rstrip().endswith("done")
    lines = [ln.split() for ln in text.splitlines()[:-1]]
    # EPOCH CODE SECONDS SERVER
    assert lines and all(parts[3] == "app3" and float(parts[2]) >= 0 for parts in lines)
    # curl's file:// answers have no HTTP code: 000, which the parser counts as failed
    assert {parts[1] for parts in lines} == {"000"}
    assert all(s.seconds is not None and not s.ok for s in drills.parse_served(text))


def served(*rows: tuple[float, bool, str]) -> list[Served]:
    return [Served(t, ok, who) for t, ok, who in rows]


MARKS = {"out-start": 100.0, "out-vms-up": 160.0, "out-new-hosts-built": 700.0,
         "out-pools-updated": 900.0, "out-done": 905.0, "in-start": 935.0,
         "in-drained": 940.0, "in-pools-updated": 1100.0, "in-destroyed": 1120.0,
         "in-done": 1125.0}


def test_figures_of_a_good_run() -> None:
    rows = [(t, True, "app1" if int(t) % 2 else "app2") for t in range(90, 1140, 5)]
    rows += [(902.0, True, "app3"), (910.0, True, "app3"), (930.0, True, "app3"),
             (941.0, True, "app3")]  # in flight when the drain ended: within the slack
    fig = scaledrill.figures(served(*sorted(rows)), "app3", MARKS)
    assert fig["failed_requests"] == 0
    assert fig["serving_s"] == 202.0  # 902 - 700
    assert fig["serving_from_start_s"] == 802.0
    assert fig["serving_after_scale_s"] == -3.0
    assert fig["scale_out_s"] == 805.0 and fig["scale_in_s"] == 190.0
    assert fig["served_after_drain"] == 0
    assert 0 < fig["new_share"] < 1
    assert fig["served_by"]["app3"] == 4
    assert scaledrill.verdict(fig) == []


def test_figures_of_a_bad_run() -> None:
    rows = [(800.0, True, "app1"), (950.0, False, ""), (960.0, True, "app3"),
            (990.0, True, "app1")]
    fig = scaledrill.figures(served(*rows), "app3", MARKS)
    assert fig["failed_requests"] == 1 and fig["outage_s"] > 0
    assert fig["served_after_drain"] == 1
    assert fig["serving_after_scale_s"] == 55.0
    bad = scaledrill.verdict(fig)
    assert any("1 request(s) failed" in b for b in bad)
    assert any("after its drain" in b for b in bad)
    assert any("answered 55.0 s after the scale out ended" in b for b in bad)


def test_a_new_server_that_never_answers_fails_the_drill() -> None:
    fig = scaledrill.figures(served((800.0, True, "app1")), "app3", MARKS)
    assert fig["serving_s"] is None
    assert "the new server never answered through the VIP" in scaledrill.verdict(fig)
    assert scaledrill.verdict(scaledrill.figures([], "", {}))[0] == "the probe logged no request"


def test_parse_samples_reads_codes_and_ok_and_skips_broken_lines() -> None:
    from webfarm.drills import Sample, outage, parse_samples

    text = "100.0 200\n100.5 000\nnot-a-time 200\n101.0\n101.5 fail\n102.0 ok\n"
    assert parse_samples(text) == [Sample(100.0, True), Sample(100.5, False),
                                   Sample(101.5, False), Sample(102.0, True)]
    assert outage(parse_samples(text)) == 2.0


def test_the_fast_probe_asks_with_the_host_header_and_counts_a_dead_port(tmp_path: Path) -> None:
    """The http-fast loop, run here against a loopback HTTP server: each request carries the
    Host header and is logged with its code; against a closed port every request fails
    (000); the loop ends early once LOG.stop exists."""
    import http.server
    import socket
    import threading

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"app1\n")

        def log_message(self, *_a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    try:
        for port, want in ((server.server_address[1], "200"), (dead, "000")):
            log = tmp_path / f"fast-{port}.log"
            script = drills.probe_script("http-fast", f"http://127.0.0.1:{port}/health", 30,
                                         0.05, str(log), "www.lab.example")
            subprocess.run(["bash", "-c", script], check=True, timeout=10)
            deadline = time.monotonic() + 25  # a few requests (slow on a busy host: nice 19)
            while time.monotonic() < deadline and not (
                    log.exists() and len(log.read_text().splitlines()) >= 5):
                time.sleep(0.1)
            (tmp_path / f"fast-{port}.log.stop").touch()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                    log.exists() and log.read_text().rstrip().endswith("done")):
                time.sleep(0.1)
            samples = drills.parse_samples(log.read_text())
            assert len(samples) >= 5, log.read_text()
            assert {ln.split()[1] for ln in log.read_text().splitlines()[:-1]} == {want}
    finally:
        server.shutdown()
    assert seen and set(seen) == {"www.lab.example"}
