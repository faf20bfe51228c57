"""Chapter 07-app checks against the live lab: from the client, through the www VIP, a
guestbook entry posted (with the form's CSRF token and the session cookie) is listed after
the redirect, escaped, written by the DB node that takes the writes and read back through the
read port; the pages name the app server and the DB nodes that answered; a session started on
one app server goes on on the other (it lives in the database); /api/db-health says 200 with
both ports reachable; db.php is 0640 root:nginx's group and never served; chapter 03's page
shows the real database; the schema is there with a primary key on every table; a second run
changes nothing."""

from __future__ import annotations

import html
import json
import re
import shlex
import uuid
from dataclasses import dataclass, field

import pytest

from webfarm import dblb, dbplan
from webfarm import os as osdata
from webfarm.labtest import current_lab, remote, remote_root, rerun_chapter, role_hosts
from webfarm.topology import Host, Vip

pytestmark = pytest.mark.lab

CHAPTER = "07-app"
ROLE = "app"
TIMEOUT_S = 30  # per request: a causal read on a TCG guest may wait a few seconds
REQUESTS = 8  # through the www VIP: with the directors' rr/wrr both app servers answer


def host(name: str) -> Host:
    return current_lab().hosts[name]


def www() -> Vip:
    return current_lab().vips_served_by(ROLE)[0]


def site() -> str:
    return f"{www().name}.{current_lab().domain}"


def app_dir(name: str) -> str:
    return f"{osdata.get(host(name).os.family).paths['www_root']}/app"


def writer() -> str:
    return dblb.writer(current_lab()).name


def db_nodes() -> set[str]:
    return {h.name for h in dbplan.nodes(current_lab())}


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: str = ""

    def cookie(self) -> str:
        """``WFSESSID=...`` from Set-Cookie ('' when the answer set none)."""
        m = re.search(r"\b(WFSESSID=[^;\s]+)", self.headers.get("set-cookie", ""))
        return m.group(1) if m else ""

    def json(self) -> dict:
        return json.loads(self.body)


def http(url: str, cookie: str = "", form: dict[str, str] | None = None) -> Answer:
    """One request from the client host (the visitor) with the app's Host header; a POST of
    ``form`` when given. Redirects are not followed."""
    args = ["curl", "-sS", "-i", "--max-time", str(TIMEOUT_S), "-H", f"Host: {site()}",
            "-H", "Connection: close"]
    if cookie:
        args += ["-H", f"Cookie: {cookie}"]
    for key, value in (form or {}).items():
        args += ["--data-urlencode", f"{key}={value}"]
    out = remote(role_hosts("client")[0]).check_output(" ".join(map(shlex.quote, [*args, url])))
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Answer(int(lines[0].split()[1]), headers, body)


def via_vip(path: str) -> str:
    return f"http://{www().address}:{www().port}{path}"


def direct(name: str, path: str) -> str:
    """A URL of one real server's own front address (no director in between)."""
    return f"http://{host(name).addresses[www().network]}:{www().port}{path}"


def served(page: str) -> tuple[str, str]:
    """(app server, read node) a guestbook page names."""
    m = re.search(r'<p id="served" data-app-host="([^"]*)" data-read-node="([^"]*)"', page)
    assert m, f"the guestbook page names no app server / read node:\n{page[:2000]}"
    return m.group(1), m.group(2)


# ---------------------------------------------------------------------------------------------
# The guestbook, through the www VIP


def test_guestbook_entry_posted_and_listed_through_the_www_vip() -> None:
    form_page = http(via_vip("/guestbook"))
    assert form_page.status == 200, form_page.body
    cookie = form_page.cookie()
    assert cookie, f"no session cookie: {form_page.headers}"
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form_page.body)
    assert token, "the form carries no CSRF token"

    mark = uuid.uuid4().hex[:12]
    message = f"<b>check {mark}</b> & 'quotes'"
    posted = http(via_vip("/guestbook"), cookie,
                  {"csrf": token.group(1), "name": f"chk-{mark}", "message": message})
    assert posted.status == 303, (posted.status, posted.body)
    location = posted.headers.get("location", "")
    m = re.fullmatch(r"/guestbook\?posted=(\d+)", location)
    assert m, f"POST answered Location {location!r}, want /guestbook?posted=ID (PRG)"
    entry = m.group(1)

    page = http(via_vip(location), cookie)
    assert page.status == 200, page.body
    escaped = html.escape(message, quote=True).replace("&#x27;", "&apos;")
    assert escaped in page.body, f"entry {entry} ({message!r}) not listed, escaped"
    assert message not in page.body, "the message reached the page unescaped"
    app_host, read_node = served(page.body)
    assert app_host in role_hosts(ROLE) and read_node in db_nodes(), (app_host, read_node)
    # read-your-writes: the entry is found on the read node (causal reads with Galera)
    mine = re.search(r'<p id="posted" data-id="(\d+)" data-found="(\w+)"\s+'
                     r'data-write-node="([^"]*)"', page.body)
    assert mine and mine.group(1) == entry and mine.group(2) == "yes", page.body[:3000]
    assert mine.group(3) == writer(), (
        f"entry {entry} was written by {mine.group(3)}, but {writer()} takes the writes")
    row = re.search(rf'<tr data-id="{entry}" data-app-host="([^"]*)" '
                    rf'data-write-node="([^"]*)">', page.body)
    assert row and row.group(1) in role_hosts(ROLE) and row.group(2) == writer()


def test_guestbook_refuses_a_post_without_the_session_token() -> None:
    first = http(via_vip("/guestbook"))
    mark = uuid.uuid4().hex[:12]
    forged = http(via_vip("/guestbook"), first.cookie(),
                  {"csrf": "0" * 32, "name": "forged", "message": f"forged {mark}"})
    assert forged.status == 403, (forged.status, forged.body)
    assert mark not in http(via_vip("/guestbook")).body


def test_pages_name_the_app_servers_and_db_nodes() -> None:
    """Through the VIP the directors spread the requests: every app server makes some
    guestbook pages, each naming the DB node (a real one) that served its read."""
    seen = set()
    for _ in range(REQUESTS):
        page = http(via_vip("/guestbook"))
        assert page.status == 200, page.body
        app_host, read_node = served(page.body)
        assert read_node in db_nodes(), read_node
        seen.add(app_host)
    assert seen == set(role_hosts(ROLE)), f"only {sorted(seen)} answered {REQUESTS} requests"


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_front_page_database_section_is_real(name: str) -> None:
    page = http(direct(name, "/"))
    assert page.status == 200
    assert 'data-state="ok"' in page.body, re.findall(r"database: [^<]*", page.body)
    assert "not configured" not in page.body
    text = re.search(r"database: ok: this visit written via (\S+) by node (\S+), "
                     r"read via (\S+) from node (\S+), (\d+) visits", page.body)
    assert text, re.findall(r"database: [^<]*", page.body)
    v = dblb.vip(current_lab())
    db_name = f"{v.name}.{current_lab().domain}"
    assert text.group(1) == f"{db_name}:{v.port}" and text.group(3) == f"{db_name}:{v.read_port}"
    assert text.group(2) == writer() and text.group(4) in db_nodes()
    assert json.loads(http(direct(name, "/api/whoami")).body)["db_configured"] is True


# ---------------------------------------------------------------------------------------------
# Sessions in the database


def test_session_goes_on_across_app_servers() -> None:
    """Start a session on one app server (its own address: no director picks), carry the
    cookie to the next: the same session, the counter goes on."""
    apps = role_hosts(ROLE)
    assert len(apps) >= 2, "needs two app servers"
    first = http(direct(apps[0], "/api/session"))
    assert first.status == 200, first.body
    state = first.json()
    cookie = first.cookie()
    assert cookie == f"WFSESSID={state['session_id']}"
    assert state["counter"] == 1 and state["app_host"] == apps[0]
    assert state["session_node"] == writer()
    for i, name in enumerate([*apps[1:], apps[0]], start=2):
        answer = http(direct(name, "/api/session"), cookie)
        assert answer.status == 200, answer.body
        now = answer.json()
        assert now["session_id"] == state["session_id"], f"{name} started another session"
        assert now["counter"] == i and now["app_host"] == name, now
    # the session is a row of the sessions table (asked from an app server with PHP's CLI)
    sid = state["session_id"]
    code = (f"require '{app_dir(apps[-1])}/lib/database.php'; "
            "$q = webfarm_db('read')->prepare('SELECT COUNT(*) FROM sessions WHERE id = ?'); "
            f"$q->execute(['{sid}']); echo $q->fetchColumn();")
    assert remote_root(apps[-1]).check_output(f"php -r {shlex.quote(code)}").strip() == "1"


def test_a_made_up_session_id_is_refused() -> None:
    """use_strict_mode: an id the database does not know gets a fresh session, not adopted."""
    fake = "wfcheck" + uuid.uuid4().hex
    answer = http(via_vip("/api/session"), f"WFSESSID={fake}")
    assert answer.status == 200, answer.body
    assert answer.json()["session_id"] != fake and answer.json()["counter"] == 1


# ---------------------------------------------------------------------------------------------
# Health, credentials, schema


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_db_health_both_ports(name: str) -> None:
    answer = http(direct(name, "/api/db-health"))
    health = answer.json()
    assert answer.status == 200 and health["ok"] is True, health
    v = dblb.vip(current_lab())
    db_name = f"{v.name}.{current_lab().domain}"
    assert health["write"]["endpoint"] == f"{db_name}:{v.port}"
    assert health["read"]["endpoint"] == f"{db_name}:{v.read_port}"
    assert health["write"]["node"] == writer()
    assert health["read"]["node"] in db_nodes()
    if current_lab().engine == dbplan.GALERA:
        assert health["write"]["state"] == health["read"]["state"] == "Synced", health


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_db_php_is_private_and_never_served(name: str) -> None:
    f = remote_root(name).file(f"{app_dir(name)}/db.php")
    group = osdata.get(host(name).os.family).paths["nginx_group"]
    assert f.exists and f.mode == 0o640 and f.user == "root" and f.group == group
    for url in (direct(name, "/db.php"), direct(name, "/guestbook.php"),
                direct(name, "/lib/database.php"), via_vip("/db.php")):
        answer = http(url)
        assert answer.status == 404, (url, answer.status)
        assert "password" not in answer.body


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_schema_is_there_with_primary_keys(name: str) -> None:
    """migrate.php --check: every table exists and has a primary key (Galera needs one)."""
    out = remote_root(name).check_output(f"php {app_dir(name)}/bin/migrate.php --check")
    assert "schema: unchanged" in out, out


@pytest.mark.parametrize("name", role_hosts(ROLE))
def test_idempotent(name: str) -> None:
    assert rerun_chapter(name, CHAPTER).endswith("changed=0")
