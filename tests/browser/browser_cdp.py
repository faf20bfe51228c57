"""A minimal headless-Chromium driver for the browser test: the DevTools protocol over
``--remote-debugging-pipe`` (JSON messages separated by NUL bytes on file descriptors 3 and
4), standard library only - no websocket client, no Selenium, no downloaded browser.

One Chromium process serves every page; each page gets its own tab (target) and session.
:meth:`Browser.visit` opens a URL and returns what the test asserts on: console errors,
uncaught exceptions, every URL the page requested, failed and non-2xx loads, and a PNG
screenshot. Chromium runs in its own process group, ended by its PID (TERM, then KILL).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WINDOW = (1280, 900)
# No name resolves, except the local server's address: nothing the site asks for can leave
# this machine, and an attempt still shows up as a request (the test fails on it).
RESOLVER_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


class BrowserError(RuntimeError):
    """Chromium failed, timed out or answered a command with an error."""


def command(binary: str, profile_dir: Path, window: tuple[int, int] = WINDOW) -> list[str]:
    return [binary, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
            "--disable-gpu", "--hide-scrollbars", "--mute-audio",
            f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile_dir}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-sync", "--disable-background-networking", "--disable-component-update",
            "--disable-default-apps", "--disable-domain-reliability", "--no-proxy-server",
            "--metrics-recording-only", f"--host-resolver-rules={RESOLVER_RULES}",
            "about:blank"]


@dataclass
class PageResult:
    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failures
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    png: bytes = b""
    shots: int = 0  # screenshots taken: more than 1 when the first did not look rendered
    seconds: float = 0.0


class _Session:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()


class Browser:
    """``with Browser("/usr/bin/chromium", tmp) as b: b.visit(url)``; thread-safe visits."""

    def __init__(self, binary: str, work: Path, window: tuple[int, int] = WINDOW,
                 start_timeout: float = 60.0) -> None:
        self.binary, self.work, self.window = binary, work, window
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_id = 0
        self._lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self._replies = threading.Condition()
        self._sessions: dict[str, _Session] = {}
        self._closed = False
        self._write_fd = -1
        self._read_fd = -1
        self.log_path = work / "chromium.log"

    # -- process ------------------------------------------------------------------------------

    def start(self) -> Browser:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # the child's ends above fd 9, so that moving them onto fds 3 and 4 never clobbers
        to_chrome_r, from_chrome_w = _high(to_chrome_r), _high(from_chrome_w)
        cmd = command(self.binary, self.work / "profile", self.window)
        # bash puts the pipe ends on fds 3 and 4, where --remote-debugging-pipe expects them
        shell = ['/bin/bash', '-c',
                 f'exec 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- '
                 f'{from_chrome_w}>&-; exec "$@"', "bash", *cmd]
        env = os.environ | {"HOME": str(self.work), "XDG_CONFIG_HOME": str(self.work / "cfg"),
                            "XDG_CACHE_HOME": str(self.work / "cache")}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(shell, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.work,
                                         pass_fds=(to_chrome_r, from_chrome_w),
                                         start_new_session=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._write_fd, self._read_fd = to_chrome_w, from_chrome_r
        threading.Thread(target=self._reader, name="cdp-reader", daemon=True).start()
        self.call("Target.setDiscoverTargets", {"discover": False},
                  timeout=self.start_timeout)
        return self

    def stop(self) -> None:
        self._closed = True
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(BrowserError):
                self.call("Browser.close", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if self.proc is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):  # its own group: Chromium's helpers
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=5)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for fd in (self._write_fd, self._read_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._write_fd = self._read_fd = -1

    def __enter__(self) -> Browser:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "no log"
        return " | ".join(text[-lines:]) or "no output"

    # -- protocol -----------------------------------------------------------------------------

    def _reader(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._read_fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._replies:
                        self._pending[msg["id"]] = msg
                        self._replies.notify_all()
                else:
                    session = self._sessions.get(msg.get("sessionId", ""))
                    if session is not None:
                        msg["_t"] = time.monotonic()  # when it arrived
                        with session.cond:
                            session.events.append(msg)
                            session.cond.notify_all()
        with self._replies:  # Chromium went away: wake every waiter
            self._closed = True
            self._replies.notify_all()

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            msg: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            data = json.dumps(msg).encode() + b"\0"
            try:
                while data:
                    data = data[os.write(self._write_fd, data):]
            except OSError as err:
                raise BrowserError(f"{method}: cannot write to chromium ({err}); "
                                   f"log: {self.log_tail()}") from None
        deadline = time.monotonic() + timeout
        with self._replies:
            while ident not in self._pending:
                left = deadline - time.monotonic()
                if left <= 0 or (self._closed and ident not in self._pending):
                    why = "chromium exited" if self._closed else f"no answer in {timeout:.0f} s"
                    raise BrowserError(f"{method}: {why}; log: {self.log_tail()}")
                self._replies.wait(min(left, 1.0))
            reply = self._pending.pop(ident)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    # -- one page -----------------------------------------------------------------------------

    def visit(self, url: str, timeout: float = 60.0, settle: float = 1.0,
              rendered: Callable[[bytes], bool] | None = None) -> PageResult:
        """Open ``url`` in a new tab, wait for its load event and a quiet network, take a
        screenshot, close the tab. Raises :class:`BrowserError` on a timeout.

        ``rendered(png)`` says whether a screenshot shows a painted page; until it does, the
        screenshot is taken again every :data:`RESHOOT_S` seconds while the page's
        ``timeout`` lasts, and the last one is returned (a starved browser on a busy host
        can take a shot before the first paint; a page that never paints stays blank)."""
        start = time.monotonic()
        deadline = start + timeout
        result = PageResult(url)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = ""
        try:
            sid = self.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
            session = self._sessions.setdefault(sid, _Session())
            for method in ("Runtime.enable", "Log.enable", "Network.enable", "Page.enable"):
                self.call(method, session=sid)
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": self.window[0], "height": self.window[1],
                       "deviceScaleFactor": 1, "mobile": False}, session=sid)
            nav = self.call("Page.navigate", {"url": url}, session=sid,
                            timeout=max(1.0, deadline - time.monotonic()))
            if nav.get("errorText"):
                result.errors.append(f"navigation failed: {nav['errorText']}")
            self._wait_loaded(session, deadline, settle, url)
            # the fonts, then two animation frames: the page is painted, not just loaded (a
            # starved browser on a busy host took a shot of a page not painted yet)
            self.call("Runtime.evaluate", {"expression": PAINTED, "awaitPromise": True},
                      session=sid, timeout=max(1.0, deadline - time.monotonic()))
            while True:
                shot = self.call("Page.captureScreenshot", {"format": "png"}, session=sid,
                                 timeout=max(1.0, deadline - time.monotonic()))
                result.png = base64.b64decode(shot["data"])
                result.shots += 1
                if (rendered is None or rendered(result.png)
                        or time.monotonic() + RESHOOT_S >= deadline):
                    break
                time.sleep(RESHOOT_S)
            with session.cond:
                events = list(session.events)
            _collect(events, result)
        finally:
            with contextlib.suppress(BrowserError):
                self.call("Target.closeTarget", {"targetId": target}, timeout=10)
            self._sessions.pop(sid, None)
        result.seconds = round(time.monotonic() - start, 1)
        return result

    def _wait_loaded(self, session: _Session, deadline: float, settle: float,
                     url: str) -> None:
        """Until the load event fired and ``settle`` seconds passed without a network event
        (a worker's script never reports its end to the page's session, so quiet time is
        the measure, not every request's end)."""
        with session.cond:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise BrowserError(f"{url}: not loaded before the page's timeout")
                loaded = any(e["method"] == "Page.loadEventFired" for e in session.events)
                last_net = max((e["_t"] for e in session.events
                                if e["method"].startswith("Network.")), default=0.0)
                if loaded and now - last_net >= settle:
                    return
                session.cond.wait(min(0.25, deadline - now))


RESHOOT_S = 1.0  # seconds between two screenshots of a page that did not look rendered
# ... or 5 s, whichever comes first (a tab that gets no frames must not hang the visit)
PAINTED = ("Promise.race([document.fonts.ready.then(() => new Promise(done => "
           "requestAnimationFrame(() => requestAnimationFrame(() => done(true))))), "
           "new Promise(done => setTimeout(() => done(false), 5000))])")


def _high(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return new


def _collect(events: list[dict[str, Any]], result: PageResult) -> None:
    for e in events:
        method, p = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", "")))
                            for a in p.get("args", []))
            result.errors.append(f"console.{p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = p.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            result.errors.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            result.errors.append(f"{entry.get('source')}: {entry.get('text')} "
                                 f"{entry.get('url', '')}".rstrip())
        elif method == "Network.requestWillBeSent":
            result.requests.append(p["request"]["url"])
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            result.errors.append(f"load failed: {p.get('errorText')} "
                                 f"({p.get('blockedReason') or p.get('type', '')})")
        elif method == "Network.responseReceived":
            status = p.get("response", {}).get("status", 0)
            if status >= 400:
                result.errors.append(f"HTTP {status}: {p['response'].get('url')}")
