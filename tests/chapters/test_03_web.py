"""Chapter 03-web checks against the live lab: nginx (and PHP-FPM on app servers) run; every
real server holds the VIPs of its pools on lo and has the LVS-DR ARP sysctls; from the client,
each real server's own address answers /health with its name, the app page names its server
and says the database is not configured yet (or, once chapter 07 rendered db.php, is not
"not configured"), the media site sends the right types and caching
headers; no real server answers ARP for a VIP; a second run changes nothing."""

from __future__ import annotations

import json
import re

import pytest

from webfarm import os as osdata
from webfarm.labtest import current_lab, remote, remote_root, rerun_chapter, role_hosts
from webfarm.topology import Host, Vip
from webfarm.web import ASSET_TYPES, WEB_ROLES

pytestmark = pytest.mark.lab

CHAPTER = "03-web"
ARP_SYSCTLS = {"arp_ignore": "1", "arp_announce": "2"}


def web_hosts() -> list[str]:
    seen: dict[str, None] = {}
    for role in WEB_ROLES:
        for name in role_hosts(role):
            seen.setdefault(name, None)
    return list(seen)


def host(name: str) -> Host:
    return current_lab().hosts[name]


def served(name: str) -> list[Vip]:
    return [v for v in current_lab().vips.values() if v.pool in host(name).roles]


def host_vip_pairs() -> list[tuple[str, str]]:
    return [(name, v.name) for name in web_hosts() for v in served(name)]


def site(v: Vip) -> str:
    return f"{v.name}.{current_lab().domain}"


def client() -> str:
    return role_hosts("client")[0]


def curl(args: str) -> str:
    """Run curl on the client host (the visitor) and return its output."""
    return remote(client()).check_output(f"curl -sS --max-time 5 {args}")


def headers(url: str, host_header: str, extra: str = "") -> dict[str, str]:
    """Response headers (lower-case names) of a GET from the client; status under ':status'."""
    out = curl(f"-o /dev/null -D - -H 'Host: {host_header}' {extra} {url}")
    lines = out.replace("\r", "").splitlines()
    found = {":status": lines[0].split()[1]}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            found[k.strip().lower()] = v.strip()
    return found


# ---------------------------------------------------------------------------------------------
# On the real servers


@pytest.mark.parametrize("name", web_hosts())
def test_nginx_running_and_config_valid(name: str) -> None:
    svc = osdata.get(host(name).os.family).services["nginx"]
    h = remote_root(name)
    assert h.service(svc).is_running and h.service(svc).is_enabled
    assert h.run("nginx -t").rc == 0
    assert h.socket("tcp://0.0.0.0:80").is_listening


@pytest.mark.parametrize("name", role_hosts("app"))
def test_php_fpm_pool_running(name: str) -> None:
    paths = osdata.get(host(name).os.family)
    h = remote_root(name)
    svc = h.service(paths.services["php_fpm"])
    assert svc.is_running and svc.is_enabled
    socket = h.file(paths.paths["php_fpm_socket"])
    assert socket.exists and socket.is_socket
    assert socket.user == paths.paths["nginx_user"] or socket.group == paths.paths["nginx_group"]
    # pm = ondemand: the pool has no worker until a request comes, so send one (through
    # nginx, to the app's own address) and look for the worker it spawned.
    app = next(v for v in served(name) if v.pool == "app")
    h.check_output(f"curl -sf -o /dev/null -H 'Host: {site(app)}' "
                   f"http://{host(name).addresses['front']}/")
    assert "php-fpm: pool webfarm" in h.check_output("ps -eo args")


@pytest.mark.parametrize(("name", "vip_name"), host_vip_pairs())
def test_vip_on_lo(name: str, vip_name: str) -> None:
    v = current_lab().vips[vip_name]
    h = remote(name)
    lo = h.check_output("ip -4 -o addr show dev lo")
    assert f"inet {v.address}/32 " in lo, f"{v.name} VIP {v.address}/32 missing on lo:\n{lo}"
    front = h.check_output(f"ip -4 -o addr show dev {host(name).interface(v.network)}")
    assert f"inet {v.address}/" not in front, "a real server must not hold the VIP on its NIC"
    unit = remote_root(name).service("webfarm-vip-lo.service")
    assert unit.is_enabled, "the VIPs on lo must come back after a reboot"


@pytest.mark.parametrize("name", web_hosts())
def test_arp_sysctls(name: str) -> None:
    h = remote(name)
    iface = host(name).interface("front")
    for dev in ("all", "lo", iface):
        for key, want in ARP_SYSCTLS.items():
            got = h.check_output(f"cat /proc/sys/net/ipv4/conf/{dev}/{key}").strip()
            assert got == want, f"net.ipv4.conf.{dev}.{key} = {got}, want {want}"
    persisted = remote_root(name).file("/etc/sysctl.d/60-webfarm-lvs-real-server.conf")
    assert persisted.contains("net.ipv4.conf.all.arp_ignore = 1")
    assert persisted.contains("net.ipv4.conf.all.arp_announce = 2")


# ---------------------------------------------------------------------------------------------
# From the client, through each real server's own address


@pytest.mark.parametrize("name", web_hosts())
def test_health_url_names_the_server(name: str) -> None:
    addr = host(name).addresses["front"]
    for v in served(name):
        h = headers(f"http://{addr}/health", site(v))
        assert h[":status"] == "200" and h["x-served-by"] == name
        assert curl(f"-H 'Host: {site(v)}' http://{addr}/health").strip() == name
    assert curl(f"http://{addr}/health").strip() == name  # no Host header: the catch-all


@pytest.mark.parametrize("name", role_hosts("app"))
def test_app_page_and_whoami(name: str) -> None:
    lab = current_lab()
    addr = host(name).addresses["front"]
    (www,) = lab.vips_served_by("app")
    (media,) = lab.vips_served_by("media")
    page = curl(f"-H 'Host: {site(www)}' http://{addr}/")
    assert f'<span class="host">{name}</span>' in page
    who = json.loads(curl(f"-H 'Host: {site(www)}' http://{addr}/api/whoami"))
    # db.php (chapter 07-app) switches the page to the real database: until then it says so
    db_php = f"{osdata.get(host(name).os.family).paths['www_root']}/app/db.php"
    assert who["db_configured"] is remote_root(name).file(db_php).exists
    if who["db_configured"]:
        assert "not configured" not in page
    else:
        assert "database: not configured yet" in page
    assert str(lab.hosts[client()].addresses["front"]) in page  # the visitor's own address
    for asset in ("site.css", "app.js", "logo.svg"):
        assert f'"http://{site(media)}/static/{asset}"' in page
    assert who["host"] == name and who["role"] == "app"
    assert headers(f"http://{addr}/config.php", site(www))[":status"] == "404"


@pytest.mark.parametrize("name", role_hosts("media"))
def test_media_types_and_caching(name: str) -> None:
    addr = host(name).addresses["front"]
    (media,) = current_lab().vips_served_by("media")
    for asset, allowed in ASSET_TYPES.items():
        h = headers(f"http://{addr}/static/{asset}", site(media))
        assert h[":status"] == "200", asset
        assert h["content-type"].split(";")[0] in allowed, (asset, h["content-type"])
        assert h["cache-control"] == "public, max-age=86400", asset
        assert "etag" in h and "last-modified" in h, asset
        assert h["x-served-by"] == name
    gz = headers(f"http://{addr}/static/site.css", site(media), "-H 'Accept-Encoding: gzip'")
    assert gz.get("content-encoding") == "gzip"
    png = curl(f"-H 'Host: {site(media)}' http://{addr}/static/tile.png | od -An -c -N4")
    assert "P   N   G" in png


# ---------------------------------------------------------------------------------------------
# ARP: the VIPs are answered by a director (chapter 04) or nobody, never by a real server


def _real_server_macs() -> dict[str, str]:
    macs = {}
    for name in web_hosts():
        iface = host(name).interface("front")
        macs[remote(name).check_output(f"cat /sys/class/net/{iface}/address").strip()] = name
    return macs


def _arp_replies(v: Vip) -> set[str]:
    """MAC addresses that answer ARP for the VIP on the client's front network."""
    c = remote_root(client())
    iface = current_lab().hosts[client()].interface(v.network)
    if c.exists("arping"):
        out = c.run(f"arping -c 3 -w 4 -I {iface} {v.address}").stdout
        return {m.lower() for m in re.findall(r"\[([0-9A-Fa-f:]{17})\]", out)}
    # Without arping (package iputils-arping): make the kernel resolve it and read its cache.
    c.run(f"ip neigh flush to {v.address} dev {iface}")
    c.run(f"curl -s -o /dev/null --max-time 2 http://{v.address}/health")
    out = c.check_output(f"ip neigh show to {v.address} dev {iface}")
    return {m.lower() for m in re.findall(r"lladdr ([0-9a-f:]{17})", out)}


@pytest.mark.parametrize("vip_name", sorted({v for _, v in host_vip_pairs()}))
def test_real_servers_do_not_answer_arp_for_vip(vip_name: str) -> None:
    v = current_lab().vips[vip_name]
    macs = _real_server_macs()
    answered = _arp_replies(v)
    wrong = {macs[m] for m in answered if m in macs}
    assert not wrong, f"real servers answer ARP for {v.name} ({v.address}): {sorted(wrong)}"


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", web_hosts())
def test_idempotent(name: str) -> None:
    assert rerun_chapter(name, CHAPTER).endswith("changed=0")
