"""The built tutorial in a real browser: every HTML page of ``site/`` is opened in headless
Chromium (the distribution's package) from a server on 127.0.0.1, and must

- log no console error, throw no uncaught exception, have no failed or non-2xx load;
- ask for nothing that is not on 127.0.0.1 (names resolve to nothing else here anyway:
  ``--host-resolver-rules``), and reference no other origin for a subresource;
- render: a screenshot with more than a handful of colours (not a blank page);
- link only to things that exist: every same-origin href/src answers 200 from the local
  server and every ``#anchor`` names an id on its target page.

Run by ``invoke test`` after the docs build; skipped (with the reason) without chromium.
"""

from __future__ import annotations

import http.client
import posixpath
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from browser_cdp import WINDOW

from webfarm.screenshot import MIN_COLOURS, png_info

if TYPE_CHECKING:  # the fixtures' types (conftest.py is not imported by name)
    from conftest import Server, Visits

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1"}
LOCAL_SCHEMES = {"data", "blob", "about"}  # never leave the browser
# (tag, attribute) that make the browser fetch something when the page loads
SUBRESOURCES = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
                ("video", "src"), ("video", "poster"), ("audio", "src"), ("track", "src"),
                ("embed", "src"), ("object", "data"), ("input", "src")}
FETCHING_RELS = {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "manifest",
                 "apple-touch-icon", "shortcut"}


class Links(HTMLParser):
    """Every href/src of a page (with whether loading the page fetches it), and its ids."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str, bool]] = []  # (tag, url, fetched on load)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        for key in ("id", "name") if tag in ("a", "map") else ("id",):
            if key in a:
                self.ids.add(a[key])
        for attr in ("href", "src", "data", "poster"):
            if attr not in a:
                continue
            fetched = (tag, attr) in SUBRESOURCES or (
                tag == "link" and attr == "href"
                and bool(FETCHING_RELS & set(a.get("rel", "").lower().split())))
            self.links.append((tag, a[attr].strip(), fetched))


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    parser.close()
    return parser


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


def _where(path: str) -> str:
    return "/" + path


def test_every_page_was_opened(visits: Visits) -> None:
    assert len(visits.pages) >= 10, f"only {len(visits.pages)} pages were built"
    assert not visits.failures, "pages Chromium could not open:\n" + "\n".join(
        f"{_where(p)}: {why}" for p, why in visits.failures.items())


def test_no_console_errors(visits: Visits) -> None:
    found = [f"{_where(p)}: {err}" for p, res in sorted(visits.results.items())
             for err in res.errors]
    assert not found, "console errors, exceptions or failed loads:\n" + "\n".join(found[:50])


def test_no_request_leaves_localhost(visits: Visits, server: Server) -> None:
    found = sorted({f"{_where(p)}: {url[:200]}" for p, res in visits.results.items()
                    for url in res.requests if not is_local(url)})
    assert not found, "requests to other hosts:\n" + "\n".join(found[:50])
    assert server.clients <= LOCAL_HOSTS, server.clients


def test_no_page_references_another_origin(server: Server) -> None:
    """What the browser did not happen to fetch (a CDN font behind a media query...) still
    must not be on another host: every subresource in the HTML is local."""
    found = []
    for html in sorted(server.root.rglob("*.html")):
        for tag, url, fetched in parse(html.read_text(encoding="utf-8")).links:
            parts = urlsplit(url)
            if fetched and (parts.netloc or parts.scheme not in ("", *LOCAL_SCHEMES)):
                found.append(f"{html.relative_to(server.root)}: <{tag}> {url}")
    assert not found, "subresources from other origins:\n" + "\n".join(found[:50])


def test_screenshots_are_not_blank(visits: Visits) -> None:
    found = []
    for path, res in sorted(visits.results.items()):
        try:
            info = png_info(res.png, colour_limit=MIN_COLOURS)
        except ValueError as err:
            found.append(f"{_where(path)}: not a PNG ({err})")
            continue
        if (info.width, info.height) != WINDOW or info.colours < MIN_COLOURS:
            found.append(f"{_where(path)}: {info.width}x{info.height}, {info.colours} "
                         f"colour(s), the last of {res.shots} screenshot(s) in "
                         f"{res.seconds} s")
    assert not found, "blank or odd screenshots:\n" + "\n".join(found)


class _Fetcher:
    """GET from the local server, each URL path once."""

    def __init__(self, server: Server) -> None:
        parts = urlsplit(server.base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cache: dict[str, tuple[int, str]] = {}

    def get(self, path: str) -> tuple[int, str]:
        if path not in self.cache:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                html = "html" in (resp.getheader("Content-Type") or "")
                self.cache[path] = (resp.status, body.decode("utf-8", "replace") if html
                                    else "")
            finally:
                conn.close()
        return self.cache[path]


def test_internal_links_resolve(server: Server) -> None:
    fetch = _Fetcher(server)
    origin = urlsplit(server.base).netloc
    ids: dict[str, set[str]] = {}
    broken = []
    for html in sorted(server.root.rglob("*.html")):
        rel = html.relative_to(server.root).as_posix()
        page_url = server.base + (rel.removesuffix("index.html"))
        for _tag, url, _fetched in parse(html.read_text(encoding="utf-8")).links:
            if not url or url.startswith(("mailto:", "javascript:", "tel:")):
                continue
            target = urlsplit(urljoin(page_url, url))
            if target.netloc != origin or target.scheme not in ("http", "https"):
                continue  # another site's page: a link, not a request (checked above)
            path = target.path or "/"
            status, body = fetch.get(path + (f"?{target.query}" if target.query else ""))
            if status != 200:
                broken.append(f"/{rel}: {url} -> {path}: HTTP {status}")
                continue
            anchor = unquote(target.fragment)
            if not anchor or not body:
                continue
            if path not in ids:
                ids[path] = parse(body).ids
            if anchor not in ids[path]:
                broken.append(f"/{rel}: {url} -> no id {anchor!r} on "
                              f"{posixpath.normpath(path)}")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:50])


def test_pages_were_served_from_this_site(visits: Visits, server: Server) -> None:
    """Sanity: every visited page's first request is the page itself, on the local server."""
    for path, res in visits.results.items():
        assert res.requests, f"{_where(path)}: Chromium asked for nothing"
        assert res.requests[0] == server.base + path, (path, res.requests[0])
