"""webfarm.screenshot without a lab: the authenticating proxy against a local fake server that
wants Basic auth, the PNG checks on PNGs written here, the options, and (when Chromium is
installed) a real headless render of a local page through the proxy."""

from __future__ import annotations

import dataclasses
import ipaddress
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from webfarm import screenshot as shot
from webfarm import topology
from webfarm.args import UserError
from webfarm.topology import Lab

LAB_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "lab.yml"
PASSWORD = "fake-Pass_word.9"  # a test value, not a lab secret
NO_CHROMIUM = "chromium not installed (bash webfarm/scripts/setup-host.sh lab installs it)"
SERVICES = "/cgi-bin/nagios4/status.cgi?host=all"


# ---------------------------------------------------------------------------------------------
# A fake Apache: Basic auth or 401


def _page() -> bytes:
    rows = "".join(f"<tr><td>host{i}</td><td class='{'ok' if i % 3 else 'crit'}'>"
                   f"service {i}</td></tr>" for i in range(25))
    return ("<html><head><link rel='stylesheet' href='/nagios4/stylesheets/status.css'>"
            f"</head><body><h1>Service Status Details</h1><table>{rows}</table></body></html>"
            ).encode()


CSS = b"body{background:#eef} td{border:1px solid #888} .ok{background:#8f8} .crit{background:#f88}"


class FakeNagios(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, str]]] = []  # request headers, per request

    def do_GET(self) -> None:  # the name http.server calls
        self.seen.append(dict(self.headers.items()))
        if self.headers.get("Authorization") != shot.basic_auth(shot.USER, PASSWORD):
            self._send(401, b"Unauthorized", "text/plain",
                       [("WWW-Authenticate", 'Basic realm="Nagios4"')])
        elif self.path == "/redirect":
            port = self.server.server_address[1]
            self._send(302, b"", "text/plain",
                       [("Location", f"http://127.0.0.1:{port}/nagios4/")])
        elif self.path == "/denied":
            self._send(200, b"<p>It appears as though you do not have permission to view "
                            b"information for any of the services</p>", "text/html")
        elif self.path.endswith(".css"):
            self._send(200, CSS, "text/css")
        else:
            self._send(200, _page(), "text/html",
                       [("Keep-Alive", "timeout=5"), ("X-Nagios", "yes")])

    def _send(self, status: int, body: bytes, ctype: str,
              extra: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra or []:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *a: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[ThreadingHTTPServer]:
    FakeNagios.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNagios)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _port(server: ThreadingHTTPServer) -> int:
    return int(server.server_address[1])


@pytest.fixture
def proxy(fake: ThreadingHTTPServer) -> Iterator[shot.AuthProxy]:
    with shot.proxy_to("127.0.0.1", _port(fake), shot.USER, PASSWORD) as running:
        yield running


# ---------------------------------------------------------------------------------------------
# The proxy


def test_the_fake_server_wants_the_password(fake: ThreadingHTTPServer) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", _port(fake), timeout=10)
    conn.request("GET", SERVICES)
    assert conn.getresponse().status == 401
    conn.close()


def test_the_proxy_adds_basic_auth(proxy: shot.AuthProxy) -> None:
    status, body = shot.fetch(proxy, SERVICES)
    assert status == 200
    assert body == _page()
    assert FakeNagios.seen[-1]["Authorization"] == shot.basic_auth(shot.USER, PASSWORD)
    assert proxy.log == [("GET", SERVICES, 200)]


def test_the_proxy_drops_hop_by_hop_headers(proxy: shot.AuthProxy) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", SERVICES, headers={"Proxy-Authorization": "Basic eDp5",
                                           "Authorization": "Basic d3Jvbmc6d3Jvbmc=",
                                           "X-Drop-Me": "1", "Connection": "X-Drop-Me"})
    resp = conn.getresponse()
    assert resp.status == 200  # the client's own Authorization is replaced, not forwarded
    assert resp.getheader("X-Nagios") == "yes"
    assert resp.getheader("Keep-Alive") is None
    assert int(resp.getheader("Content-Length") or 0) == len(resp.read())
    conn.close()
    sent = {k.lower() for k in FakeNagios.seen[-1]}
    assert "proxy-authorization" not in sent and "x-drop-me" not in sent


def test_a_wrong_password_is_a_401_and_check_page_says_so(fake: ThreadingHTTPServer) -> None:
    with shot.proxy_to("127.0.0.1", _port(fake), shot.USER, "not-the-password") as bad:
        assert shot.fetch(bad, SERVICES)[0] == 401
        with pytest.raises(shot.ScreenshotError) as info:
            shot.check_page(bad, SERVICES)
    message = str(info.value)
    assert "401" in message and "Fix:" in message and shot.SECRET in message
    assert "not-the-password" not in message


def test_check_page_refuses_nagios_no_permission_page(proxy: shot.AuthProxy) -> None:
    with pytest.raises(shot.ScreenshotError, match="authorized_for"):
        shot.check_page(proxy, "/denied")
    assert b"Service Status Details" in shot.check_page(proxy, SERVICES)


def test_a_redirect_to_the_monitor_comes_back_to_the_proxy(proxy: shot.AuthProxy) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", "/redirect")
    resp = conn.getresponse()
    assert resp.status == 302
    assert resp.getheader("Location") == f"{proxy.origin}/nagios4/"
    conn.close()


def test_the_proxy_is_not_an_open_proxy(proxy: shot.AuthProxy) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    conn.request("GET", "http://example.invalid/")
    assert conn.getresponse().status == 400
    conn.close()
    assert FakeNagios.seen == []


def test_no_upstream_is_a_502_and_a_clear_error() -> None:
    with shot.proxy_to("127.0.0.1", _free_port(), shot.USER, PASSWORD) as lonely:
        lonely.timeout = 5
        assert shot.fetch(lonely, SERVICES)[0] == 502
        with pytest.raises(shot.ScreenshotError, match=r"cannot connect.*Fix: run chapter 08"):
            shot.check_page(lonely, SERVICES)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# PNG checks on PNGs written here


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _filtered(kind: int, row: bytes, prev: bytes, bpp: int) -> bytes:
    """The PNG encoder's side of filter ``kind`` (the decoder under test undoes it)."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if kind == 0:
            pred = 0
        elif kind == 1:
            pred = a
        elif kind == 2:
            pred = b
        elif kind == 3:
            pred = (a + b) >> 1
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out.append((x - pred) & 0xFF)
    return bytes([kind]) + bytes(out)


def write_png(path: Path, pixels: list[list[tuple[int, int, int]]],
              filters: tuple[int, ...] = (0,)) -> Path:
    """An 8-bit RGB PNG; row y uses filter ``filters[y % len(filters)]``."""
    height, width = len(pixels), len(pixels[0])
    rows = [bytes(v for px in line for v in px) for line in pixels]
    prev = bytes(width * 3)
    raw = b""
    for y, row in enumerate(rows):
        raw += _filtered(filters[y % len(filters)], row, prev, 3)
        prev = row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(shot.PNG_SIGNATURE + _chunk(b"IHDR", ihdr)
                     + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))
    return path


def _varied(width: int = 24, height: int = 12) -> list[list[tuple[int, int, int]]]:
    return [[((x * 37) % 256, (y * 53) % 256, ((x + y) * 11) % 256) for x in range(width)]
            for y in range(height)]


def test_a_uniform_png_is_blank(tmp_path: Path) -> None:
    png = write_png(tmp_path / "white.png", [[(255, 255, 255)] * 24 for _ in range(12)])
    assert shot.png_info(png.read_bytes()) == shot.PngInfo(24, 12, 1)
    with pytest.raises(shot.ScreenshotError, match="looks blank"):
        shot.check_png(png)


def test_a_varied_png_is_not_blank(tmp_path: Path) -> None:
    png = write_png(tmp_path / "page.png", _varied())
    info = shot.check_png(png, size=(24, 12))
    assert (info.width, info.height) == (24, 12)
    assert info.colours >= shot.MIN_COLOURS
    with pytest.raises(shot.ScreenshotError, match="expected 1400x900"):
        shot.check_png(png, size=(1400, 900))


@pytest.mark.parametrize("filters", [(0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4)])
def test_every_png_filter_is_undone(tmp_path: Path, filters: tuple[int, ...]) -> None:
    pixels = _varied()
    distinct = {px for line in pixels for px in line}
    png = write_png(tmp_path / "f.png", pixels, filters)
    assert shot.png_info(png.read_bytes(), colour_limit=10_000).colours == len(distinct)


def test_not_a_png_or_a_damaged_one(tmp_path: Path) -> None:
    text = tmp_path / "page.png"
    text.write_text("<html>401 Unauthorized</html>")
    with pytest.raises(shot.ScreenshotError, match="not a valid PNG"):
        shot.check_png(text)
    good = write_png(tmp_path / "good.png", _varied()).read_bytes()
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(good[:40] + bytes([good[40] ^ 0xFF]) + good[41:])
    with pytest.raises(shot.ScreenshotError, match="not a valid PNG"):
        shot.check_png(damaged)
    with pytest.raises(shot.ScreenshotError, match="no screenshot was written"):
        shot.check_png(tmp_path / "missing.png")


# ---------------------------------------------------------------------------------------------
# Options and where the page is


def test_page_names() -> None:
    assert shot.page_name(None) == "services"
    for name in ("services", "tac", "hosts"):
        assert shot.page_name(name) == name
    for bad in ("service", "", "../etc", "tac.cgi"):
        with pytest.raises(UserError) as info:
            shot.page_name(bad)
        message = str(info.value)
        assert message.startswith("--page: ") and "Fix: use one of: services, tac, hosts" in message


def test_out_paths(tmp_path: Path) -> None:
    assert shot.out_path(None, "services").parts[-3:] == ("assets", "08-monitor",
                                                          "nagios-services.png")
    assert shot.out_path(None, "tac").name == "nagios-tac.png"
    assert shot.out_path(str(tmp_path / "new" / "x.png"), "tac") == tmp_path / "new" / "x.png"
    (tmp_path / "dir.png").mkdir()
    for bad in ("", "shot.jpg", str(tmp_path / "dir.png")):
        with pytest.raises(UserError) as info:
            shot.out_path(bad, "services")
        assert str(info.value).startswith("--out: ") and "Fix:" in str(info.value)


def test_the_page_urls_come_from_the_os_table() -> None:
    lab = topology.load(LAB_FILE, "mini")
    host = shot.monitor(lab)
    assert host.name == "mon1"
    assert shot.page_url_path(host, "services") == SERVICES
    assert shot.page_url_path(host, "tac") == "/cgi-bin/nagios4/tac.cgi"
    assert shot.page_url_path(host, "hosts") == ("/cgi-bin/nagios4/status.cgi?"
                                                 "hostgroup=all&style=hostdetail")


def test_a_lab_without_a_monitor() -> None:
    lab = topology.load(LAB_FILE, "mini")
    bare = dataclasses.replace(lab, hosts={n: h for n, h in lab.hosts.items()
                                           if "monitor" not in h.roles})
    with pytest.raises(shot.ScreenshotError, match=r"no host with role monitor.*Fix:"):
        shot.monitor(bare)


def test_missing_chromium_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(shot.shutil, "which", lambda name: None)
    with pytest.raises(shot.ScreenshotError) as info:
        shot.render("http://127.0.0.1:9/", tmp_path / "x.png")
    assert str(info.value) == ("chromium is not installed. Fix: bash "
                               "webfarm/scripts/setup-host.sh lab")


def test_the_task_refuses_a_bad_page_with_exit_2(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("webfarm.livelab.live_lab", lambda *a: pytest.fail("lab entered"))
    with pytest.raises(SystemExit) as info:
        shot.run("nope")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--page: unknown page 'nope'" in err and "Fix:" in err


def test_the_chromium_command_has_no_secret(tmp_path: Path) -> None:
    cmd = shot.chromium_command("chromium", "http://127.0.0.1:1/x", tmp_path / "o.png",
                                tmp_path / "p")
    assert "--headless=new" in cmd and "--window-size=1400,900" in cmd
    assert not any(PASSWORD in part or "Authorization" in part for part in cmd)


def _local_lab(fake: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The fixture lab with its monitor moved to the fake server (127.0.0.1:PORT)."""
    lab = topology.load(LAB_FILE, "mini")
    mon = lab.hosts["mon1"]
    local = dataclasses.replace(mon, addresses=mon.addresses
                                | {"front": ipaddress.IPv4Address("127.0.0.1")})
    monkeypatch.setattr(shot, "PORT", _port(fake))
    return dataclasses.replace(lab, hosts=lab.hosts | {"mon1": local})


def test_nagios_page_checks_then_renders_the_right_url(fake: ThreadingHTTPServer,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    lab = _local_lab(fake, monkeypatch)
    monkeypatch.setattr(shot, "chromium", lambda: "chromium")
    asked: list[str] = []

    def fake_render(url: str, out: Path) -> Path:
        asked.append(url)
        return out

    monkeypatch.setattr(shot, "render", fake_render)
    out = tmp_path / "s.png"
    assert shot.nagios_page(lab, PASSWORD, out, "services") == out
    assert len(asked) == 1 and asked[0].endswith(SERVICES)
    assert asked[0].startswith("http://127.0.0.1:") and PASSWORD not in asked[0]
    with pytest.raises(shot.ScreenshotError, match="401"):
        shot.nagios_page(lab, "wrong-password", out, "services")
    assert len(asked) == 1  # no render after a refused password


# ---------------------------------------------------------------------------------------------
# Real Chromium (when installed)


@pytest.mark.skipif(shutil.which("chromium") is None, reason=NO_CHROMIUM)
def test_chromium_renders_a_page_through_the_proxy(fake: ThreadingHTTPServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    lab = _local_lab(fake, monkeypatch)
    out = shot.nagios_page(lab, PASSWORD, tmp_path / "assets" / "services.png")
    info = shot.check_png(out, size=shot.WINDOW)
    assert info.colours >= shot.MIN_COLOURS
    paths = [h for h in FakeNagios.seen if h.get("Authorization")]
    assert len(paths) >= 3  # the check, the page and its stylesheet, all with the password
