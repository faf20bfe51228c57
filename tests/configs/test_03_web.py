"""Chapter 03-web without a VM: render every app and media server of both profiles, for both
OS families, and check the result with the real tools installed here:

- ``nginx -t`` on an nginx.conf that includes the rendered sites, inside a throwaway network
  namespace that owns the host's addresses (``nginx -t`` binds its listen sockets, so the
  VIP and the host's front address must exist), then the same nginx actually serving the
  rendered media site, asked over HTTP for types, caching headers, gzip and X-Served-By;
- ``php -l`` on every PHP file, then the app's page and /api/whoami run by PHP's CLI;
- what the configs say against the lab model: VIPs on lo, the PHP-FPM pool, the media types.

Needs (Debian packages): nginx-light (or nginx), php-cli, iproute2; run as root.
"""

from __future__ import annotations

import base64
import configparser
import dataclasses
import itertools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

# the netns, nginx and tool helpers both chapters' tests share
# (tests/configs is on sys.path while pytest runs these modules)
from _netns import host_netns, in_ns, nginx_serving, tool, write_nginx_conf

from webfarm import os as osdata
from webfarm import render, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab
from webfarm.web import ASSET_TYPES, WEB_ROLES

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests/fixtures/lab.yml"  # never the user-editable lab.yml
RAW = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
SECRETS = {name: f"test-{name}" for name in lab_secrets.GENERATORS}
FAMILY_BOX = {"debian12": "debian12", "el9": "almalinux9"}
CHAPTER = "03-web"



def _cases() -> list[tuple[str, str, str]]:
    out = []
    for profile, family in itertools.product(RAW["profiles"], FAMILY_BOX):
        lab = topology.load(LAB_FILE, profile)
        for host in lab.hosts.values():
            if set(host.roles) & set(WEB_ROLES):
                out.append((profile, family, host.name))
    return out


CASES = [pytest.param(c, id="-".join(c)) for c in _cases()]
_ROLES = {(p, n): set(topology.load(LAB_FILE, p).hosts[n].roles) for p, _, n in _cases()}
APP_CASES = [pytest.param(c, id="-".join(c)) for c in _cases() if "app" in _ROLES[c[0], c[2]]]
MEDIA_CASES = [pytest.param(c, id="-".join(c)) for c in _cases()
               if "media" in _ROLES[c[0], c[2]]]


@dataclasses.dataclass
class Rendered:
    lab: Lab
    host: Host
    os: osdata.OSFamily
    files: Path  # .../files/03-web

    @property
    def served(self) -> list[topology.Vip]:
        return [v for v in self.lab.vips.values() if v.pool in self.host.roles]

    def site(self, vip: topology.Vip) -> str:
        return f"{vip.name}.{self.lab.domain}"


def render_case(profile: str, family: str, name: str, out: Path) -> Rendered:
    lab = topology.load(LAB_FILE, profile)
    host = dataclasses.replace(lab.hosts[name], os=lab.boxes[FAMILY_BOX[family]])
    render.render_host(lab, host, SECRETS, State(profile=profile), out)
    return Rendered(lab, host, osdata.get(family), out / name / "files" / CHAPTER)


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Rendered:
    return render_case(*request.param, tmp_path / "render")


# ---------------------------------------------------------------------------------------------
# A throwaway network namespace holding the host's addresses (VIPs on lo, front on eth1)


@pytest.fixture
def netns(case: Rendered) -> Iterator[str]:
    with host_netns("wf-test-03", case.lab, case.host, lo_vips=case.served) as ns:
        yield ns


def nginx_conf(case: Rendered, prefix: Path, www_root: str | None = None) -> Path:
    """A complete nginx.conf around the rendered sites (temp paths in ``prefix``). On EL9 it
    also carries the distribution's own default server, as EL9's nginx.conf does."""
    sites = prefix / "conf.d"
    sites.mkdir(parents=True, exist_ok=True)
    for conf in sorted((case.files / "nginx").glob("*.conf")):
        text = conf.read_text(encoding="utf-8")
        if www_root is not None:
            text = text.replace(f"root {case.os.paths['www_root']}/", f"root {www_root}/")
        (sites / conf.name).write_text(text, encoding="utf-8")
    el9_default = ("    server { listen 80; server_name _; root /usr/share/nginx/html; }\n"
                   if case.os.family == "el9" else "")
    return write_nginx_conf(prefix, sites, extra_http=el9_default)


# ---------------------------------------------------------------------------------------------
# nginx


def test_nginx_accepts_rendered_sites(case: Rendered, netns: str, tmp_path: Path) -> None:
    nginx = tool("nginx", "nginx-light")
    conf = nginx_conf(case, tmp_path / "nginx")
    result = in_ns(netns, nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf))
    assert result.returncode == 0, f"nginx -t failed for {case.host.name}:\n{result.stderr}"
    assert "[warn]" not in result.stderr, f"nginx -t warns:\n{result.stderr}"


def test_sites_listen_on_vip_and_own_address(case: Rendered) -> None:
    for vip in case.served:
        conf = (case.files / "nginx" / f"webfarm-{vip.pool}.conf").read_text(encoding="utf-8")
        block = conf.split(f"server_name {case.site(vip)};")[0]
        assert f"listen {vip.address}:{vip.port};" in block
        assert f"listen {case.host.addresses[vip.network]}:{vip.port};" in block
        assert f"add_header X-Served-By {case.host.name} always;" in conf
        assert f'return 200 "{case.host.name}\\n";' in conf
    default = (case.files / "nginx" / "webfarm-default.conf").read_text(encoding="utf-8")
    assert "listen 80 default_server;" in default


@pytest.mark.parametrize("case", MEDIA_CASES, indirect=True)
def test_media_config_types_and_caching(case: Rendered) -> None:
    conf = (case.files / "nginx" / "webfarm-media.conf").read_text(encoding="utf-8")
    types = re.search(r"types \{([^}]*)\}", conf)
    assert types, "the /static/ location must spell out its types"
    mapping = {ext: mime for mime, ext in re.findall(r"(\S+)\s+(\w+);", types.group(1))}
    for asset, allowed in ASSET_TYPES.items():
        assert mapping.get(asset.rsplit(".", 1)[1]) in allowed, asset
    assert 'add_header Cache-Control "public, max-age=86400";' in conf
    assert "etag on;" in conf
    assert re.search(r"gzip_types [^;]*text/css[^;]*application/javascript", conf)


def _fetch(ns: str, address: str, path: str, host: str | None = None,
           gzip: bool = False) -> dict[str, object]:
    """GET http://address/path from inside the namespace (Python's http.client, no curl)."""
    code = (
        "import http.client, json, sys\n"
        "c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)\n"
        "h = {'Host': sys.argv[3]} if sys.argv[3] else {}\n"
        "if sys.argv[4] == '1': h['Accept-Encoding'] = 'gzip'\n"
        "c.request('GET', sys.argv[2], headers=h)\n"
        "r = c.getresponse(); body = r.read()\n"
        "print(json.dumps({'status': r.status, 'headers': {k.lower(): v for k, v in "
        "r.getheaders()}, 'body': body.decode('latin-1')}))\n"
    )
    result = in_ns(ns, sys.executable, "-c", code, address, path, host or "", "1" if gzip else "0")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_nginx_serves_media_and_health(case: Rendered, netns: str, tmp_path: Path) -> None:
    """Run the rendered sites for real in the namespace and ask them over HTTP."""
    nginx = tool("nginx", "nginx-light")
    www = tmp_path / "www"
    static = www / "media" / "static"
    static.mkdir(parents=True)
    if "media" in case.host.roles:
        for name in ("site.css", "app.js", "logo.svg"):
            shutil.copy(case.files / "static" / name, static / name)
        (static / "tile.png").write_bytes(
            base64.b64decode((case.files / "static" / "tile.png.b64").read_text()))
    prefix = tmp_path / "nginx"
    conf = nginx_conf(case, prefix, www_root=str(www))
    own = str(case.host.addresses["front"])
    with nginx_serving(netns, nginx, prefix, conf, own):
        # /health with no Host (the catch-all) and by own address: the host's name, plain text
        for address in ("127.0.0.1", own):
            r = _fetch(netns, address, "/health")
            assert r["status"] == 200 and r["body"] == f"{case.host.name}\n", r
            assert r["headers"]["content-type"].startswith("text/plain")  # type: ignore[index]
            assert r["headers"]["x-served-by"] == case.host.name  # type: ignore[index]
        for vip in case.served:
            r = _fetch(netns, str(vip.address), "/health", case.site(vip))
            assert r["status"] == 200 and r["body"] == f"{case.host.name}\n", r
        if "media" not in case.host.roles:
            return
        (vip,) = [v for v in case.served if v.pool == "media"]
        for address in (str(vip.address), own):
            for asset, allowed in ASSET_TYPES.items():
                r = _fetch(netns, address, f"/static/{asset}", case.site(vip))
                h = r["headers"]
                assert r["status"] == 200, (asset, r)
                assert h["content-type"].split(";")[0] in allowed, (asset, h)  # type: ignore
                assert h["cache-control"] == "public, max-age=86400", (asset, h)  # type: ignore
                assert "etag" in h and "last-modified" in h, (asset, h)  # type: ignore
                assert h["x-served-by"] == case.host.name  # type: ignore[index]
        r = _fetch(netns, str(vip.address), "/static/site.css", case.site(vip), gzip=True)
        assert r["headers"].get("content-encoding") == "gzip", r["headers"]  # type: ignore
        assert "Accept-Encoding" in r["headers"].get("vary", "")  # type: ignore[union-attr]
        r = _fetch(netns, str(vip.address), "/static/tile.png", case.site(vip), gzip=True)
        assert "content-encoding" not in r["headers"]  # type: ignore[operator]
        r = _fetch(netns, str(vip.address), "/nothing-here", case.site(vip))
        assert r["status"] == 404


# ---------------------------------------------------------------------------------------------
# PHP


def test_php_files_lint(case: Rendered) -> None:
    php = tool("php", "php-cli")
    files = sorted(case.files.rglob("*.php"))
    if "app" not in case.host.roles:
        assert not files
        return
    assert {f.relative_to(case.files).as_posix() for f in files} == {
        "app/config.php", "app/public/index.php", "app/public/api/whoami.php"}
    for f in files:
        result = subprocess.run([php, "-l", str(f)], capture_output=True, text=True)
        assert result.returncode == 0, f"php -l {f.name}:\n{result.stdout}{result.stderr}"


def _run_php(script: Path, env_server_addr: str = "192.168.56.10") -> str:
    code = (f"$_SERVER['REMOTE_ADDR'] = '192.168.56.100'; "
            f"$_SERVER['SERVER_ADDR'] = '{env_server_addr}'; require '{script}';")
    result = subprocess.run([tool("php", "php-cli"), "-r", code], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("case", APP_CASES, indirect=True)
def test_app_page_and_whoami(case: Rendered, tmp_path: Path) -> None:
    app = case.files / "app"
    page = _run_php(app / "public" / "index.php")
    assert f'<span class="host">{case.host.name}</span>' in page
    assert str(case.host.addresses["front"]) in page
    assert "192.168.56.100" in page  # the visitor's address
    assert "database: not configured yet (chapter 07)" in page
    (media,) = case.lab.vips_served_by("media")
    base = f"http://{media.name}.{case.lab.domain}/static/"
    for asset in ("site.css", "app.js", "logo.svg"):
        assert f'"{base}{asset}"' in page, asset
    whoami = json.loads(_run_php(app / "public" / "api" / "whoami.php"))
    assert whoami == {"host": case.host.name, "role": "app",
                      "address": str(case.host.addresses["front"]), "db_configured": False}

    # Once chapter 07 renders ../db.php, an unreachable database is reported, never faked.
    copy = tmp_path / "app"
    shutil.copytree(app, copy)
    (copy / "db.php").write_text(
        "<?php\nreturn ['engine' => 'galera', 'name' => 'webfarm', 'user' => 'app', "
        "'password' => 'x', 'write' => ['host' => '127.0.0.1', 'port' => 1], "
        "'read' => ['host' => '127.0.0.1', 'port' => 1], 'causal_reads' => true];\n")
    page = _run_php(copy / "public" / "index.php")
    assert "database: error:" in page and "not configured" not in page
    assert json.loads(_run_php(copy / "public" / "api" / "whoami.php"))["db_configured"] is True


@pytest.mark.parametrize("case", APP_CASES, indirect=True)
def test_php_fpm_pool(case: Rendered) -> None:
    pool = configparser.ConfigParser(interpolation=None)
    pool.read_string((case.files / "php-fpm" / "webfarm.conf").read_text(encoding="utf-8"))
    assert pool.sections() == ["webfarm"]
    p = pool["webfarm"]
    assert p["listen"] == case.os.paths["php_fpm_socket"]
    assert p["user"] == p["listen.owner"] == case.os.paths["nginx_user"]
    assert p["group"] == p["listen.group"] == case.os.paths["nginx_group"]
    app_conf = (case.files / "nginx" / "webfarm-app.conf").read_text(encoding="utf-8")
    assert f"fastcgi_pass unix:{case.os.paths['php_fpm_socket']};" in app_conf


# ---------------------------------------------------------------------------------------------
# VIPs on lo


def test_vip_unit_lists_every_served_vip(case: Rendered) -> None:
    unit = (case.files / "webfarm-vip-lo.service").read_text(encoding="utf-8")
    starts = re.findall(r"^ExecStart=/usr/sbin/ip addr replace (\S+) dev lo$", unit, re.M)
    assert starts == [f"{v.address}/32" for v in case.served]
    assert "RemainAfterExit=yes" in unit and "WantedBy=multi-user.target" in unit
    served_roles = {v.pool for v in case.served}
    assert served_roles == set(case.host.roles) & set(WEB_ROLES)


def test_mini_host_carries_both_vips() -> None:
    lab = topology.load(LAB_FILE, "mini")
    both = [h for h in lab.hosts.values() if {"app", "media"} <= set(h.roles)]
    assert both, "the mini profile co-locates app and media"
    for host in both:
        served = {v.name for v in lab.vips.values() if v.pool in host.roles}
        assert served == {v.name for v in lab.vips_served_by("app") + lab.vips_served_by("media")}
