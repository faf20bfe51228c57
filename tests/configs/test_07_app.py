"""Chapter 07-app without a VM: render every app server of both profiles (Galera on Debian 12,
NDB on EL9) and check the result with the real tools installed here:

- ``php -l`` on every PHP file of the chapter (and chapter 03's, which now reads db.php);
- ``nginx -t`` on chapter 03's app site with this chapter's locations included, in a
  throwaway network namespace that owns the host's addresses (as chapter 03's test does),
  then the same nginx serving it, with a tiny FastCGI responder in place of PHP-FPM: the
  three URLs reach exactly their scripts, every ``.php`` URL and db.php are 404;
- db.php, read by PHP itself: the db VIP's DNS name, the write port for writes, the read
  port for reads, the app user and its secret; the app's scripts write only through the
  write connection and the session handler is registered on it; no secret under public/;
- the app run by PHP's CLI without a database: it says so (503, the error), never fakes.

Needs (Debian packages): nginx-light (or nginx), php-cli, iproute2; run as root.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

# the netns, nginx and tool helpers both chapters' tests share
# (tests/configs is on sys.path while pytest runs these modules)
from _netns import host_netns, in_ns, nginx_serving, tool, write_nginx_conf

from webfarm import dblb, dbplan, render, topology
from webfarm import os as osdata
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab, Vip

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests/fixtures/lab.yml"  # never the user-editable lab.yml
RAW = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
SECRETS = {name: gen() for name, gen in lab_secrets.GENERATORS.items()}
CHAPTER = "07-app"

VARIANTS = {
    "debian12-galera": lambda raw: None,
    "el9-ndb": lambda raw: raw["lab"].update(os="almalinux9"),
}
PHP_FILES = {"app/db.php", "app/lib/database.php", "app/lib/session.php",
             "app/bin/migrate.php", "app/public/guestbook.php", "app/public/api/session.php",
             "app/public/api/db-health.php"}
# URL -> the script under public/ it runs (nginx/07-app.conf)
URLS = {"/guestbook": "guestbook.php", "/api/session": "api/session.php",
        "/api/db-health": "api/db-health.php"}
TABLES = {"visits", "guestbook", "sessions"}


def build(profile: str, variant: str) -> Lab:
    raw = copy.deepcopy(RAW)
    VARIANTS[variant](raw)
    return topology.build(raw, str(LAB_FILE), profile)


def _cases() -> list[tuple[str, str, str]]:
    return [(p, v, h.name) for p, v in itertools.product(RAW["profiles"], VARIANTS)
            for h in build(p, v).hosts_with("app")]


CASES = [pytest.param(c, id="-".join(c)) for c in _cases()]


@dataclass
class Rendered:
    lab: Lab
    host: Host
    os: osdata.OSFamily
    files: Path  # .../files (03-web/ and 07-app/ below)

    @property
    def app(self) -> Path:
        return self.files / CHAPTER / "app"

    @property
    def vip(self) -> Vip:
        return dblb.vip(self.lab)

    @property
    def db_name(self) -> str:
        return f"{self.vip.name}.{self.lab.domain}"

    @property
    def www(self) -> Vip:
        return self.lab.vips_served_by("app")[0]


def render_case(profile: str, variant: str, name: str, out: Path) -> Rendered:
    """Chapter 03's and this chapter's files for ``name``, rendered as `invoke render` does
    (only those two chapters: another chapter's template being edited fails no test here)."""
    lab = build(profile, variant)
    host = lab.hosts[name]
    ctx = render.context(lab, host, SECRETS, State(profile=lab.profile))
    files = out / host.name / "files"
    for template, rel in render.template_sources(host):
        if rel.startswith((f"{CHAPTER}/", "03-web/")):
            path = files / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render.environment().get_template(template).render(ctx),
                            encoding="utf-8")
    return Rendered(lab, host, osdata.get(host.os.family), files)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_case(*request.param, tmp_path / "render")


def php(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("php", "php-cli"), *args], capture_output=True, text=True,
                          timeout=60, check=False, cwd=cwd)


def php_value(case: Rendered, expr: str) -> object:
    """The JSON of a PHP expression evaluated with the app's lib loaded (as the pages do)."""
    code = (f"require '{case.app}/lib/session.php'; echo json_encode({expr});")
    result = php("-r", code)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------------------------------------
# PHP: syntax, db.php, who writes where


def test_php_files_lint(case: Rendered) -> None:
    files = sorted((case.files / CHAPTER).rglob("*.php"))
    assert {f.relative_to(case.files / CHAPTER).as_posix() for f in files} == PHP_FILES
    files += sorted((case.files / "03-web").rglob("*.php"))
    for f in files:
        result = php("-l", str(f))
        assert result.returncode == 0, f"php -l {f}:\n{result.stdout}{result.stderr}"


def test_db_php_names_the_vip_ports_and_secret(case: Rendered) -> None:
    cfg = php_value(case, "webfarm_db_config()")
    assert isinstance(cfg, dict)
    v = case.vip
    assert v.read_port and v.read_port != v.port
    assert cfg["write"] == {"host": case.db_name, "port": v.port}  # writes: the write port
    assert cfg["read"] == {"host": case.db_name, "port": v.read_port}  # reads: the read port
    assert cfg["user"] == dbplan.APP_USER and cfg["name"] == dbplan.DATABASE
    assert cfg["password"] == SECRETS["db_app_password"]
    assert cfg["engine"] == case.lab.engine
    assert cfg["causal_reads"] is (case.lab.engine == dbplan.GALERA)
    assert php_value(case, "[webfarm_db_endpoint('write'), webfarm_db_endpoint('read')]") == [
        f"{case.db_name}:{v.port}", f"{case.db_name}:{v.read_port}"]


def _statements(text: str) -> list[tuple[str, str]]:
    """(variable, SQL text up to the first quote) for every ``$var->prepare('...`` /
    ``$var->query('...`` / ``$var->exec('...`` in a PHP file."""
    return re.findall(r"\$(\w+)\s*->\s*(?:prepare|query|exec)\(\s*'([^']*)'", text)


def test_writes_go_to_the_write_connection_reads_to_the_read_one(case: Rendered) -> None:
    public = case.app / "public"
    for script in [public / "guestbook.php", case.files / "03-web/app/public/index.php"]:
        text = script.read_text(encoding="utf-8")
        sides = dict(re.findall(
            r"\$(\w+)\s*=\s*(?:webfarm_db|db_connect)\((?:\$db,\s*)?'(\w+)'\)", text))
        assert set(sides.values()) == {"write", "read"}, (script.name, sides)
        verbs = _statements(text)
        assert verbs, script.name
        for var, sql in verbs:
            if sql == "SELECT @@hostname" or sql.startswith("SET "):  # either side
                continue
            want = "read" if sql.split()[0].upper() == "SELECT" else "write"
            assert sides.get(var) == want, f"{script.name}: ${var} ({sides.get(var)}) runs {sql}"
    # guestbook: the INSERT records the node that executed it
    assert "VALUES (?, ?, ?, @@hostname)" in (public / "guestbook.php").read_text()


def test_causal_reads_only_on_the_read_connection_with_galera(case: Rendered) -> None:
    lib = (case.app / "lib" / "database.php").read_text(encoding="utf-8")
    assert re.search(r"if \(\$side === 'read' && \$cfg\['causal_reads'\]\) \{\s*(//[^\n]*\n\s*)*"
                     r"\$pdo->exec\('SET SESSION wsrep_sync_wait = 1'\);", lib)
    assert "PDO::ATTR_EMULATE_PREPARES => false" in lib  # prepared by the server


def test_sessions_handler_registered_on_the_write_connection(case: Rendered) -> None:
    assert php_value(case, "class_implements('DbSessionHandler')") == {
        "SessionHandlerInterface": "SessionHandlerInterface",
        "SessionUpdateTimestampHandlerInterface": "SessionUpdateTimestampHandlerInterface"}
    lib = (case.app / "lib" / "session.php").read_text(encoding="utf-8")
    assert "session_set_save_handler(new DbSessionHandler(webfarm_db('write')), true);" in lib
    assert "ini_set('session.use_strict_mode', '1');" in lib
    assert "ini_set('session.gc_probability', '1');" in lib  # Debian's 0 would keep them all
    for script in ("guestbook.php", "api/session.php"):
        text = (case.app / "public" / script).read_text(encoding="utf-8")
        assert "webfarm_session_start();" in text, script
        assert "session_start(" not in text.replace("webfarm_session_start(", ""), script


def test_migration_creates_every_table_with_a_primary_key(case: Rendered) -> None:
    text = (case.app / "bin" / "migrate.php").read_text(encoding="utf-8")
    creates = dict(re.findall(r"'(\w+)' => 'CREATE TABLE IF NOT EXISTS (\w+) \(", text))
    assert set(creates) == TABLES and all(k == v for k, v in creates.items())
    blocks = re.findall(r"CREATE TABLE IF NOT EXISTS \w+ \((.*?)\n    \)',", text, re.S)
    assert len(blocks) == len(TABLES) and all("PRIMARY KEY (" in b for b in blocks)
    engine = "NDBCLUSTER" if case.lab.engine == dbplan.NDB else "InnoDB"
    assert re.search(rf"^const ENGINE = '{engine}';", text, re.M)
    assert 'echo "created table $name\\n";' in text  # what app.sh counts as a change


def test_app_env(case: Rendered) -> None:
    env = dict(line.split("=", 1) for line in
               (case.files / CHAPTER / "app.env").read_text(encoding="utf-8").splitlines()
               if line and not line.startswith("#"))
    first = case.lab.hosts_with("app")[0].name
    assert env == {"DB_HOST": case.db_name, "DB_WRITE_PORT": str(case.vip.port),
                   "DB_READ_PORT": str(case.vip.read_port),
                   "APP_SITE": f"{case.www.name}.{case.lab.domain}",
                   "APP_MIGRATE": "1" if case.host.name == first else "0"}


def test_no_secret_outside_db_php(case: Rendered) -> None:
    secret = SECRETS["db_app_password"]
    holders = [p.relative_to(case.files).as_posix() for p in case.files.rglob("*")
               if p.is_file() and secret in p.read_text(encoding="utf-8")]
    assert holders == [f"{CHAPTER}/app/db.php"]
    assert not any("/public/" in h for h in holders)


def test_db_php_installed_0640_root_nginx_group() -> None:
    script = (ROOT / "provision" / CHAPTER / "app.sh").read_text(encoding="utf-8")
    assert ('wf_put "$WF_FILES/07-app/app/db.php" "$app/db.php" 0640 '
            '"root:$WF_PATH_NGINX_GROUP"') in script
    for line in script.splitlines():  # nothing else of the app is group-readable only
        if "wf_put" in line and "db.php" not in line and "$app/" in line:
            assert "0644 root:root" in line, line


# ---------------------------------------------------------------------------------------------
# The app run by PHP's CLI with no database to reach: it says so


def _run_script(script: Path, method: str = "GET") -> tuple[int, str]:
    code = ("$_SERVER['REMOTE_ADDR'] = '192.0.2.100'; $_SERVER['SERVER_ADDR'] = '192.0.2.10'; "
            f"$_SERVER['REQUEST_METHOD'] = '{method}'; "
            "register_shutdown_function(function () { "
            "fwrite(STDERR, 'STATUS ' . (http_response_code() ?: 200) . \"\\n\"); }); "
            f"chdir('{script.parent}'); require '{script}';")
    result = php("-d", "mysqlnd.net_read_timeout=5", "-r", code)
    status = re.search(r"^STATUS (\d+)$", result.stderr, re.M)
    assert status, result.stdout + result.stderr
    return int(status.group(1)), result.stdout


def _unreachable(case: Rendered, tmp_path: Path) -> Path:
    """A copy of the app whose db.php points at a port where nothing listens."""
    app = tmp_path / "app"
    shutil.copytree(case.files / "03-web" / "app", app)
    shutil.copytree(case.app, app, dirs_exist_ok=True)
    db = app / "db.php"
    db.write_text(db.read_text(encoding="utf-8").replace(f"'{case.db_name}'", "'127.0.0.1'")
                  .replace(f"'port' => {case.vip.port}]", "'port' => 9]")
                  .replace(f"'port' => {case.vip.read_port}]", "'port' => 9]"),
                  encoding="utf-8")
    return app


def test_app_reports_an_unreachable_database(case: Rendered, tmp_path: Path) -> None:
    app = _unreachable(case, tmp_path)
    status, body = _run_script(app / "public" / "api" / "db-health.php")
    health = json.loads(body)
    assert status == 503 and health["ok"] is False and health["configured"] is True
    assert health["write"]["endpoint"] == "127.0.0.1:9" and health["write"]["ok"] is False
    assert health["read"]["ok"] is False and health["read"]["error"]
    status, body = _run_script(app / "public" / "api" / "session.php")
    assert status == 503 and "error" in json.loads(body)
    status, body = _run_script(app / "public" / "guestbook.php")
    assert status == 503 and "database error (session)" in body
    status, body = _run_script(app / "public" / "index.php")
    assert 'data-state="error"' in body and "not configured" not in body
    who = json.loads(_run_script(app / "public" / "api" / "whoami.php")[1])
    assert who["db_configured"] is True

    (app / "db.php").unlink()  # before this chapter: chapter 03's page says so
    status, body = _run_script(app / "public" / "index.php")
    assert "database: not configured yet" in body
    status, body = _run_script(app / "public" / "api" / "db-health.php")
    assert status == 503 and json.loads(body)["configured"] is False
    status, body = _run_script(app / "public" / "guestbook.php")
    assert status == 503 and "no database configured yet" in body


# ---------------------------------------------------------------------------------------------
# nginx: chapter 03's site with this chapter's locations, checked and served


@pytest.fixture
def netns(case: Rendered) -> Iterator[str]:
    served = [v for v in case.lab.vips.values() if v.pool in case.host.roles]
    with host_netns("wf-test-07", case.lab, case.host, lo_vips=served) as ns:
        yield ns


def nginx_conf(case: Rendered, prefix: Path, www_root: Path, fpm_socket: Path) -> Path:
    """nginx.conf around chapter 03's rendered sites, its include of webfarm-app.d/*.conf
    pointed at this chapter's rendered 07-app.conf (all paths moved into ``prefix``)."""
    conf_d = case.os.paths["nginx_conf_d"]
    sites = prefix / "conf.d"
    (sites / "webfarm-app.d").mkdir(parents=True, exist_ok=True)
    fpm = case.os.paths["php_fpm_socket"]

    def moved(text: str) -> str:
        return (text.replace(f"root {case.os.paths['www_root']}/", f"root {www_root}/")
                .replace(f"{conf_d}/webfarm-app.d/", f"{sites}/webfarm-app.d/")
                .replace(f"unix:{fpm};", f"unix:{fpm_socket};"))

    for conf in sorted((case.files / "03-web" / "nginx").glob("*.conf")):
        (sites / conf.name).write_text(moved(conf.read_text(encoding="utf-8")))
    ours = case.files / CHAPTER / "nginx" / "07-app.conf"
    (sites / "webfarm-app.d" / "07-app.conf").write_text(moved(ours.read_text(encoding="utf-8")))
    return write_nginx_conf(prefix, sites)


def test_nginx_accepts_site_with_and_without_the_included_locations(
        case: Rendered, netns: str, tmp_path: Path) -> None:
    nginx = tool("nginx", "nginx-light")
    prefix = tmp_path / "nginx"
    conf = nginx_conf(case, prefix, tmp_path / "www", tmp_path / "fpm.sock")
    result = in_ns(netns, nginx, "-t", "-p", str(prefix), "-c", str(conf))
    assert result.returncode == 0, f"nginx -t failed for {case.host.name}:\n{result.stderr}"
    assert "[warn]" not in result.stderr, f"nginx -t warns:\n{result.stderr}"
    # before this chapter: the include's pattern matches no file, and nginx accepts that
    shutil.rmtree(prefix / "conf.d" / "webfarm-app.d")
    result = in_ns(netns, nginx, "-t", "-p", str(prefix), "-c", str(conf))
    assert result.returncode == 0, f"nginx -t without webfarm-app.d:\n{result.stderr}"


class FastCgiEcho:
    """The smallest FastCGI responder: answers every request with the SCRIPT_FILENAME and
    REQUEST_METHOD nginx sent (stands in for PHP-FPM: shows which script a URL would run)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self._answer(conn)

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise ConnectionError("short FastCGI record")
            data += chunk
        return data

    def _answer(self, conn: socket.socket) -> None:
        params = b""
        request_id = 1
        while True:
            _v, kind, request_id, length, padding, _r = struct.unpack(
                ">BBHHBB", self._read(conn, 8))
            body = self._read(conn, length + padding)[:length]
            if kind == 4:  # FCGI_PARAMS
                params += body
            if kind == 5 and length == 0:  # the end of FCGI_STDIN: the request is complete
                break
        env = {}
        i = 0
        while i < len(params):
            lengths = []
            for _ in range(2):
                if params[i] >> 7:
                    lengths.append(struct.unpack(">I", params[i:i + 4])[0] & 0x7FFFFFFF)
                    i += 4
                else:
                    lengths.append(params[i])
                    i += 1
            name = params[i:i + lengths[0]].decode()
            env[name] = params[i + lengths[0]:i + lengths[0] + lengths[1]].decode()
            i += lengths[0] + lengths[1]
        out = (b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
               + f"{env.get('SCRIPT_FILENAME')} {env.get('REQUEST_METHOD')}\n".encode())
        conn.sendall(struct.pack(">BBHHBB", 1, 6, request_id, len(out), 0, 0) + out)
        conn.sendall(struct.pack(">BBHHBB", 1, 6, request_id, 0, 0, 0))
        conn.sendall(struct.pack(">BBHHBB", 1, 3, request_id, 8, 0, 0) + bytes(8))


def _fetch_all(ns: str, host: str,
               requests: list[tuple[str, str, str]]) -> list[tuple[int, str]]:
    """(status, body) of each (address, path, method) request, sent with Host ``host`` from
    inside the namespace (Python's http.client, one process for all of them)."""
    code = (
        "import http.client, json, sys\n"
        "out = []\n"
        "for address, path, method in json.loads(sys.argv[2]):\n"
        "    c = http.client.HTTPConnection(address, 80, timeout=5)\n"
        "    body = 'a=b' if method == 'POST' else None\n"
        "    h = {'Host': sys.argv[1], 'Content-Type': 'application/x-www-form-urlencoded'}\n"
        "    c.request(method, path, body=body, headers=h)\n"
        "    r = c.getresponse(); out.append([r.status, r.read().decode('latin-1')])\n"
        "print(json.dumps(out))\n"
    )
    result = in_ns(ns, sys.executable, "-c", code, host, json.dumps(requests))
    assert result.returncode == 0, result.stderr
    return [(status, body) for status, body in json.loads(result.stdout)]


def test_nginx_runs_exactly_the_chapter_scripts(case: Rendered, netns: str,
                                                tmp_path: Path) -> None:
    nginx = tool("nginx", "nginx-light")
    www = tmp_path / "www"
    shutil.copytree(case.files / "03-web" / "app", www / "app")
    shutil.copytree(case.app, www / "app", dirs_exist_ok=True)
    prefix = tmp_path / "nginx"
    fpm = FastCgiEcho(tmp_path / "fpm.sock")
    conf = nginx_conf(case, prefix, www, tmp_path / "fpm.sock")
    own = str(case.host.addresses["front"])
    # on the way out: nginx terminated, then the responder closed
    with contextlib.closing(fpm), nginx_serving(netns, nginx, prefix, conf, own):
        site = f"{case.www.name}.{case.lab.domain}"
        public = www / "app" / "public"
        routed = {(url, method): f"{public / script} {method}\n"
                  for url, script in URLS.items() for method in ("GET", "POST")}
        routed["/api/whoami", "GET"] = f"{public / 'api/whoami.php'} GET\n"  # chapter 03's
        refused = ("/db.php", "/guestbook.php", "/api/session.php", "/api/db-health.php",
                   "/lib/database.php", "/bin/migrate.php", "/guestbook/", "/api/session/x",
                   "/../db.php", "/%2e%2e/db.php")
        for address in (str(case.www.address), own):
            asks = [(address, url, method) for url, method in routed]
            asks += [(address, url, "GET") for url in refused]
            answers = dict(zip([(url, method) for _, url, method in asks],
                               _fetch_all(netns, site, asks), strict=True))
            for key, want in routed.items():
                assert answers[key] == (200, want), (address, key, answers[key])
            for url in refused:
                status, body = answers[url, "GET"]
                # 404, or 400 where nginx refuses a path climbing above the root
                assert status == 404 or (status == 400 and ".." in url.replace("%2e", ".")), (
                    address, url, status, body)
                assert SECRETS["db_app_password"] not in body
