"""A real screenshot of the lab's Nagios web UI, taken with headless Chromium (chapter 08).

Nagios's pages need HTTP Basic auth (user ``nagiosadmin``). Chromium does not send
credentials given in a URL for a page's subresources, and the password must never appear on
a command line, so Chromium talks to :class:`AuthProxy`: a small reverse proxy on 127.0.0.1
that forwards each GET to the monitor's Apache and adds the ``Authorization`` header itself.

    invoke screenshot                    docs/assets/08-monitor/nagios-services.png
    invoke screenshot --page tac --out /tmp/tac.png

The monitor is only reachable inside the lab's network namespace: the task enters it first
(webfarm.livelab.live_lab), so proxy and Chromium both run there. Before Chromium starts,
the page is fetched once through the proxy (:func:`check_page`): a wrong password or a
missing chapter 08 is a clear error, not a screenshot of an error page. Afterwards the PNG
is checked (:func:`check_png`): a valid PNG of the expected size with more than a handful
of colours, i.e. not a blank page.
"""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from webfarm import args, paths
from webfarm import os as osdata
from webfarm.args import UserError
from webfarm.topology import Host, Lab

USER = "nagiosadmin"
SECRET = "nagios_admin_password"
ROLE = "monitor"
NETWORK = "front"  # Apache serves Nagios's UI on the monitor's front address
PORT = 80

# page name -> (OS table path key, the part after it)
PAGES: dict[str, tuple[str, str]] = {
    "services": ("nagios_cgi_url", "status.cgi?host=all"),
    "tac": ("nagios_cgi_url", "tac.cgi"),
    "hosts": ("nagios_cgi_url", "status.cgi?hostgroup=all&style=hostdetail"),
}
DEFAULT_OUT = {name: Path("docs/assets/08-monitor") / f"nagios-{name}.png" for name in PAGES}

WINDOW = (1400, 900)
CHROMIUM_TIMEOUT = 120.0  # seconds; the whole Chromium run (a TCG host is slow)
UPSTREAM_TIMEOUT = 30.0  # seconds; connect and each read from the monitor's Apache
CLIENT_TIMEOUT = 60.0  # seconds; an idle connection from Chromium to the proxy
MAX_BODY = 32 * 1024 * 1024  # bytes; no Nagios page or asset comes close
MIN_COLOURS = 16  # a blank or nearly blank page has fewer distinct colours than this
NO_CHROMIUM = "chromium is not installed. Fix: bash webfarm/scripts/setup-host.sh lab"
# Nagios answers 200 with this text when the user is not in cgi.cfg's authorized_for_* lists
NO_PERMISSION = b"do not have permission"

# RFC 9110 section 7.6.1 (plus the old proxy ones): never forwarded either way
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "proxy-connection", "te", "trailer", "trailers", "transfer-encoding",
                        "upgrade"})


class ScreenshotError(UserError):
    """The screenshot could not be taken; the message says why and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Options


def page_name(value: str | None, option: str = "--page") -> str:
    """``--page``: one of :data:`PAGES` (default services)."""
    if value is None:
        return "services"
    if value not in PAGES:
        raise args.problem(option, f"unknown page {args.shown(value)}",
                           f"use one of: {', '.join(PAGES)}")
    return value


def out_path(value: str | Path | None, page: str, option: str = "--out") -> Path:
    """``--out FILE.png``: where to write the screenshot (default: the chapter 08 page's
    asset for ``page``, under the project's top folder)."""
    if value is None:
        return paths.ROOT / DEFAULT_OUT[page]
    text = str(value)
    fix = "give a file name ending in .png, e.g. --out /tmp/nagios.png"
    if not text.strip():
        raise args.problem(option, "is empty", fix)
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise args.problem(option, f"{args.shown(text)} does not end in .png", fix)
    if path.is_dir():
        raise args.problem(option, f"{args.shown(text)} is a directory", fix)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the first folder that exists
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise args.problem(option, f"cannot write {args.shown(text)}",
                           args.write_fix(path))
    return path


def chromium() -> str:
    """The Chromium binary, or a :class:`ScreenshotError` saying how to install it."""
    found = shutil.which("chromium")
    if found is None:
        raise ScreenshotError(NO_CHROMIUM)
    return found


# ---------------------------------------------------------------------------------------------
# Where the page is


def monitor(lab: Lab) -> Host:
    """The monitor host whose Apache serves Nagios's UI (the first host with role monitor)."""
    hosts = lab.hosts_with(ROLE)
    if not hosts:
        raise ScreenshotError(f"profile {lab.profile} has no host with role {ROLE}, so no "
                              "Nagios UI. Fix: use a profile with a monitor host, e.g. "
                              "--profile mini")
    host = hosts[0]
    if NETWORK not in host.addresses:
        raise ScreenshotError(f"{host.name} (role {ROLE}) has no {NETWORK} address, where "
                              f"Apache serves Nagios. Fix: put {host.name} on the {NETWORK} "
                              "network in lab.yml")
    return host


def page_url_path(host: Host, page: str) -> str:
    """The URL path of ``page`` on ``host``, from its OS table (paths.nagios_cgi_url...)."""
    key, rest = PAGES[page]
    base = osdata.get(host.os.family).paths[key]
    return f"{base.rstrip('/')}/{rest}"


# ---------------------------------------------------------------------------------------------
# The authenticating reverse proxy


def basic_auth(user: str, password: str) -> str:
    """The value of an ``Authorization: Basic`` header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _hop_by_hop(headers: Any) -> set[str]:
    """Hop-by-hop header names: the fixed ones and those a Connection header lists."""
    names = set(HOP_BY_HOP)
    for value in headers.get_all("Connection") or []:
        names |= {n.strip().lower() for n in value.split(",") if n.strip()}
    return names


@dataclass
class AuthProxy:
    """A reverse proxy on 127.0.0.1 (a free port) to ``http://upstream:port``, adding
    ``Authorization`` to every request. Use it as a context manager::

        with AuthProxy("192.168.56.51", 80, basic_auth(USER, pw)) as proxy:
            proxy.url("/nagios4/")   # http://127.0.0.1:PORT/nagios4/

    Only GET and HEAD of origin-form paths ("/...") are forwarded: it is no open proxy.
    ``log`` records (method, path, status) of each request, for error messages."""

    upstream: str
    upstream_port: int
    authorization: str = field(repr=False)
    timeout: float = UPSTREAM_TIMEOUT
    log: list[tuple[str, str, int]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + (path if path.startswith("/") else "/" + path)

    def start(self) -> AuthProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = CLIENT_TIMEOUT  # an idle client connection is closed after this

            def do_GET(self) -> None:  # the name http.server calls
                proxy._forward(self, "GET")

            def do_HEAD(self) -> None:
                proxy._forward(self, "HEAD")

            def log_message(self, format: str, *a: Any) -> None:
                pass  # quiet; requests are recorded in proxy.log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="webfarm-auth-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> AuthProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path
        if not path.startswith("/") or path.startswith("//"):
            self._reply(handler, method, 400, [], b"only paths on this server are proxied\n")
            return
        drop = _hop_by_hop(handler.headers) | {"host", "authorization", "content-length"}
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in drop}
        headers["Authorization"] = self.authorization
        headers["Connection"] = "close"
        conn = http.client.HTTPConnection(self.upstream, self.upstream_port,
                                          timeout=self.timeout)
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(MAX_BODY + 1)
            status, reason = resp.status, resp.reason
            out = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in _hop_by_hop(resp.msg) | {"content-length"}]
        except (OSError, http.client.HTTPException) as err:
            text = f"webfarm proxy: {self.upstream}:{self.upstream_port}: {err}\n"
            self._reply(handler, method, 502, [], text.encode(), path)
            return
        finally:
            conn.close()
        if len(body) > MAX_BODY:
            self._reply(handler, method, 502, [], b"webfarm proxy: response too large\n", path)
            return
        out = [(k, self._local_location(v) if k.lower() == "location" else v) for k, v in out]
        self._reply(handler, method, status, out, body, path, reason)

    def _local_location(self, value: str) -> str:
        """A redirect to the monitor itself points back at the proxy."""
        for origin in (f"http://{self.upstream}:{self.upstream_port}",
                       f"http://{self.upstream}"):
            if value.startswith(origin) and value[len(origin):len(origin) + 1] in ("", "/"):
                return self.origin + value[len(origin):]
        return value

    def _reply(self, handler: BaseHTTPRequestHandler, method: str, status: int,
               headers: list[tuple[str, str]], body: bytes, path: str | None = None,
               reason: str | None = None) -> None:
        self.log.append((method, path if path is not None else handler.path, status))
        try:
            handler.send_response(status, reason or None)
            if not headers:
                handler.send_header("Content-Type", "text/plain; charset=utf-8")
            for key, value in headers:
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # the client went away


@contextmanager
def proxy_to(upstream: str, port: int, user: str, password: str) -> Iterator[AuthProxy]:
    """:class:`AuthProxy` to ``upstream:port`` with ``user``'s Basic credentials."""
    with AuthProxy(upstream, port, basic_auth(user, password)) as proxy:
        yield proxy


def fetch(proxy: AuthProxy, path: str, timeout: float = UPSTREAM_TIMEOUT + 10
          ) -> tuple[int, bytes]:
    """GET ``path`` through ``proxy`` (no Chromium): (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(MAX_BODY + 1)
    finally:
        conn.close()


def check_page(proxy: AuthProxy, path: str, where: str = "the Nagios UI") -> bytes:
    """Fetch ``path`` through ``proxy`` and make sure it is a page Nagios shows to an
    authorised user: 200, not Nagios's "no permission" text. Returns the body."""
    target = f"http://{proxy.upstream}:{proxy.upstream_port}{path}"
    try:
        status, body = fetch(proxy, path)
    except (OSError, http.client.HTTPException) as err:
        raise ScreenshotError(f"{where}: {target}: no answer through the local proxy "
                              f"({err})") from None
    if status == 401:
        raise ScreenshotError(f"{where}: {target}: 401, the password was refused. Fix: run "
                              "chapter 08 again (invoke chapter 8) so Apache's password file "
                              f"matches .lab/secrets.yml's {SECRET}")
    if status == 502:
        raise ScreenshotError(f"{where}: {target}: cannot connect: "
                              f"{body.decode(errors='replace').strip()}. Fix: run chapter 08 "
                              "(invoke chapter 8), and check the lab is up (invoke status)")
    if status != 200:
        raise ScreenshotError(f"{where}: {target}: HTTP {status}, expected 200. Fix: run "
                              "chapter 08 again (invoke chapter 8) and its checks "
                              "(invoke check 8)")
    if NO_PERMISSION in body:
        raise ScreenshotError(f"{where}: {target}: Nagios says {USER} may not see this page. "
                              f"Fix: run chapter 08 again (invoke chapter 8): cgi.cfg must "
                              f"name {USER} in its authorized_for_* lists")
    return body


# ---------------------------------------------------------------------------------------------
# PNG checks (stdlib only)


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    colours: int  # distinct pixel values seen (counting stops at the limit it was given)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# colour type -> samples per pixel (8-bit); a palette image counts its distinct indices
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(chunk) != length or len(crc) != 4:
            raise ValueError("truncated chunk")
        if zlib.crc32(kind + chunk) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"bad CRC in chunk {kind!r}")
        yield kind, chunk
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError("no IEND chunk")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind: int, row: bytearray, prev: bytes, bpp: int) -> None:
    """Undo one row's PNG filter in place (RFC 2083, section 6)."""
    n = len(row)
    if kind == 0:
        return
    if kind == 1:
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 2:
        row[:] = bytes((x + y) & 0xFF for x, y in zip(row, prev, strict=True))
    elif kind == 3:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            up_left = prev[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + _paeth(left, prev[i], up_left)) & 0xFF
    else:
        raise ValueError(f"unknown filter type {kind}")


def png_info(data: bytes, colour_limit: int = 256) -> PngInfo:
    """Size and distinct colours of a PNG (8-bit grey, RGB, palette, with or without alpha;
    not interlaced, as Chromium writes them); counting stops at ``colour_limit``.
    Raises ValueError for anything that is not such a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    chunks = list(_chunks(data))
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise ValueError("no IHDR chunk first")
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB",
                                                                         chunks[0][1])
    if width == 0 or height == 0:
        raise ValueError("empty image")
    if depth != 8 or ctype not in _CHANNELS or interlace:
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, "
                         f"interlace {interlace})")
    bpp = _CHANNELS[ctype]
    stride = width * bpp
    raw = zlib.decompress(b"".join(c for k, c in chunks if k == b"IDAT"))
    if len(raw) < height * (stride + 1):
        raise ValueError("image data is shorter than the image")
    seen: set[bytes] = set()
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(raw[start], row, prev, bpp)
        seen.update(bytes(row[i:i + bpp]) for i in range(0, stride, bpp))
        if len(seen) >= colour_limit:
            break
        prev = bytes(row)
    return PngInfo(width, height, len(seen))


def check_png(path: Path, size: tuple[int, int] | None = None,
              min_colours: int = MIN_COLOURS) -> PngInfo:
    """``path`` is a valid PNG (of ``size`` when given) with at least ``min_colours``
    distinct colours - a rendered page, not a blank one. Raises :class:`ScreenshotError`."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ScreenshotError(f"{path}: no screenshot was written ({err.strerror})") from None
    try:
        info = png_info(data, colour_limit=min_colours)
    except (ValueError, zlib.error) as err:
        raise ScreenshotError(f"{path}: not a valid PNG: {err}") from None
    if size is not None and (info.width, info.height) != size:
        raise ScreenshotError(f"{path}: {info.width}x{info.height} pixels, expected "
                              f"{size[0]}x{size[1]}")
    if info.colours < min_colours:
        raise ScreenshotError(f"{path}: looks blank ({info.colours} colour(s)); the page did "
                              "not render")
    return info


# ---------------------------------------------------------------------------------------------
# Chromium


def chromium_command(binary: str, url: str, out: Path, profile_dir: Path,
                     window: tuple[int, int] = WINDOW, budget_ms: int = 3000) -> list[str]:
    """Headless Chromium writing one screenshot of ``url`` to ``out``. No secret in it."""
    return [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--window-size={window[0]},{window[1]}", f"--screenshot={out}",
            f"--virtual-time-budget={budget_ms}", f"--user-data-dir={profile_dir}",
            "--no-first-run", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--no-proxy-server", url]


def _end(proc: subprocess.Popen[bytes]) -> None:
    """End Chromium and its helpers: its own process group (started with
    start_new_session, so the group is ours alone), TERM then KILL."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def render(url: str, out: Path, window: tuple[int, int] = WINDOW,
           timeout: float = CHROMIUM_TIMEOUT, budget_ms: int = 3000,
           min_colours: int = MIN_COLOURS) -> Path:
    """Screenshot ``url`` with headless Chromium into ``out`` (written only when the PNG
    passes :func:`check_png`). Returns ``out``."""
    binary = chromium()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="webfarm-chromium-") as tmp:
        work = Path(tmp)
        shot = work / "shot.png"
        log = work / "chromium.log"
        env = os.environ | {"HOME": str(work), "XDG_CONFIG_HOME": str(work / "config"),
                            "XDG_CACHE_HOME": str(work / "cache")}
        cmd = chromium_command(binary, url, shot, work / "profile", window, budget_ms)
        with log.open("wb") as log_file:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, env=env, cwd=work,
                                    start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _end(proc)
                raise ScreenshotError(f"chromium did not finish within {timeout:.0f} s "
                                      f"({_tail(log)}). Fix: try again; a TCG host is slow "
                                      "when the lab is busy") from None
            finally:
                if proc.poll() is None:
                    _end(proc)
        if code != 0 or not shot.exists():
            raise ScreenshotError(f"chromium exited with code {code} and "
                                  f"{'a' if shot.exists() else 'no'} screenshot "
                                  f"({_tail(log)})")
        check_png(shot, size=window, min_colours=min_colours)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, out)
    return out


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


# ---------------------------------------------------------------------------------------------
# Public API


def nagios_page(lab: Lab, password: str, out: Path, page: str = "services") -> Path:
    """A screenshot of Nagios's ``page`` (services, tac, hosts) on the lab's monitor,
    written to ``out``. Call it inside the lab's network namespace (live_lab)."""
    page = page_name(page, "page")
    chromium()  # before anything connects: the clear error first
    host = monitor(lab)
    address = str(host.addresses[NETWORK])
    path = page_url_path(host, page)
    with proxy_to(address, PORT, USER, password) as proxy:
        check_page(proxy, path, where=f"{host.name} Nagios {page} page")
        try:
            return render(proxy.url(path), Path(out))
        except ScreenshotError as err:
            failed = [f"{p} {s}" for _m, p, s in proxy.log if s >= 400]
            if failed:
                raise ScreenshotError(f"{err}; failed requests: {', '.join(failed[:5])}"
                                      ) from None
            raise


def run(page: str | None = None, out: str | None = None, profile: str | None = None) -> None:
    """``invoke screenshot``: check the options, enter the lab, take the screenshot."""
    from webfarm import secrets as lab_secrets
    from webfarm.livelab import live_lab
    from webfarm.ui import friendly, say

    @friendly
    def task() -> None:
        name = page_name(page)
        target = out_path(out, name)
        chromium()
        lab = live_lab(profile)
        password = lab_secrets.read().get(SECRET)
        if password is None:
            raise ScreenshotError(f"{paths.SECRETS_FILE} has no {SECRET}, so chapter 08 has "
                                  "not run on this lab. Fix: invoke chapter 8")
        written = nagios_page(lab, password, target, name)
        say(f"ok {written}", style="green")

    task()
