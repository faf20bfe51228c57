"""Fixtures of the browser test: the built site, a local server for it, and one headless
Chromium that opens every page (two tabs at a time).

The site: ``WEBFARM_BROWSER_SITE`` names a folder already built (``invoke test`` sets it to
the ``site/`` its docs step has just built from the fixture lab); without it the site is
built here, into a temporary folder, the same way (``mkdocs build --strict``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from browser_cdp import Browser, BrowserError, PageResult

from webfarm.screenshot import MIN_COLOURS, png_info

ROOT = Path(__file__).resolve().parents[2]
DOCS_LAB = "tests/fixtures/lab.yml"
BUILD_TIMEOUT = 600.0  # seconds; mkdocs build --strict of the whole site
PAGE_TIMEOUT = 60.0  # seconds; one page: load, quiet network, screenshot
TOTAL_TIMEOUT = 1500.0  # seconds; every page (about 170 under TCG load: ~2 s each)
CONCURRENCY = 2  # tabs open at once
NO_CHROMIUM = ("chromium is not installed (Debian package chromium). "
               "Fix: bash webfarm/scripts/setup-host.sh test")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: opens the built site in headless Chromium")


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(NO_CHROMIUM)
    return found


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("WEBFARM_BROWSER_SITE")
    if given:
        site = (ROOT / given).resolve()
        assert (site / "index.html").is_file(), f"WEBFARM_BROWSER_SITE={given}: no index.html"
        return site
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", WEBFARM_DOCS_LAB=DOCS_LAB)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(site)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT, check=False)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-3000:]}"
    return site


@dataclass
class Server:
    root: Path
    base: str
    clients: set[str] = field(default_factory=set)  # addresses that connected


@pytest.fixture(scope="session")
def server(site_dir: Path) -> Iterator[Server]:
    seen: set[str] = set()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            seen.add(self.client_address[0])

    httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                functools.partial(Handler, directory=str(site_dir)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="site-server", daemon=True)
    thread.start()
    try:
        yield Server(site_dir, f"http://127.0.0.1:{httpd.server_address[1]}/", seen)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def page_paths(site: Path) -> list[str]:
    """URL path (relative to the site's root) of every built HTML page."""
    out = []
    for page in sorted(site.rglob("*.html")):
        rel = page.relative_to(site).as_posix()
        out.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return out


def looks_rendered(png: bytes) -> bool:
    """The test's own measure of a painted page (test_screenshots_are_not_blank)."""
    try:
        return png_info(png, colour_limit=MIN_COLOURS).colours >= MIN_COLOURS
    except (ValueError, zlib.error):
        return False


@dataclass
class Visits:
    results: dict[str, PageResult]
    failures: dict[str, str]  # path -> why it could not be opened
    pages: list[str]


@pytest.fixture(scope="session")
def visits(chromium_binary: str, server: Server,
           tmp_path_factory: pytest.TempPathFactory) -> Visits:
    pages = page_paths(server.root)
    results: dict[str, PageResult] = {}
    failures: dict[str, str] = {}
    work = tmp_path_factory.mktemp("chromium")
    deadline = time.monotonic() + TOTAL_TIMEOUT
    with Browser(chromium_binary, work) as browser, \
            ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="page") as pool:
        todo = list(pages)
        running: dict[Future[PageResult], str] = {}
        while todo or running:
            while todo and len(running) < CONCURRENCY and time.monotonic() < deadline:
                path = todo.pop(0)
                running[pool.submit(browser.visit, server.base + path, PAGE_TIMEOUT,
                                    rendered=looks_rendered)] = path
            if not running:
                break
            done, _ = wait(running, timeout=PAGE_TIMEOUT + 30, return_when=FIRST_COMPLETED)
            if not done:
                failures.update({p: "no result in time" for p in running.values()})
                break
            for fut in done:
                path = running.pop(fut)
                try:
                    results[path] = fut.result()
                except BrowserError as err:
                    failures[path] = str(err)
        for path in todo:
            failures[path] = f"not opened: the whole test's {TOTAL_TIMEOUT:.0f} s were spent"
    shots = os.environ.get("WEBFARM_BROWSER_SHOTS")
    if shots:  # keep the screenshots for a look (e.g. WEBFARM_BROWSER_SHOTS=/tmp/shots)
        for path, res in results.items():
            name = (path.strip("/").replace("/", "_") or "index").removesuffix(".html")
            Path(shots).mkdir(parents=True, exist_ok=True)
            (Path(shots) / f"{name}.png").write_bytes(res.png)
    return Visits(results, failures, pages)
