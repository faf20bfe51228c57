"""Chapter 06-dblb without a VM: render every DB balancer's haproxy.cfg and keepalived.conf
(the real lab.yml and the test fixture, every profile, topology and OS variants), check each
with the daemon's own checker (``haproxy -c``, ``keepalived -t`` in a throwaway network
namespace named like the VM's interfaces), and check what the files say against the lab
model: one writer, every node reads, the health agent, the VIP, who may connect, VRRP."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from _chapter import render_chapter

# keepalived -t in a namespace and keepalived.conf's reader: chapter 04's config test
# (tests/configs is on sys.path while pytest runs these modules)
from test_04_lvs import _need, keepalived_test, parse_keepalived

from webfarm import dblb, dbplan, render, topology, vrrp
from webfarm import os as osdata
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"fixture": ROOT / "tests/fixtures/lab.yml", "lab.yml": ROOT / "lab.yml"}
RAW = {name: yaml.safe_load(path.read_text(encoding="utf-8")) for name, path in SOURCES.items()}
SECRETS = {name: gen() for name, gen in lab_secrets.GENERATORS.items()}
SECRETS["vrrp_auth_dblb"] = "dblb0001"  # never equal to the directors' (random) one
SECRETS["vrrp_auth"] = "lvs00001"
ROLE = dblb.ROLE
CHAPTER = "06-dblb"

VARIANTS = {
    "as-is": lambda raw: None,
    "unicast": lambda raw: raw["lab"].setdefault("vrrp", {}).update(unicast=True),
    "vrrpv3-half-second": lambda raw: raw["lab"].setdefault("vrrp", {}).update(advert_int=0.5),
    "el9-ndb": lambda raw: raw["lab"].update(os="almalinux9"),  # NDB: the db_sql hosts only
}
CASES = [pytest.param(s, p, v, id=f"{s}-{p}-{v}")
         for s in SOURCES for p, v in itertools.product(RAW[s]["profiles"], VARIANTS)]


def build(source: str, profile: str, variant: str) -> Lab:
    raw = copy.deepcopy(RAW[source])
    VARIANTS[variant](raw)
    return topology.build(raw, str(SOURCES[source]), profile)


def rendered(lab: Lab, host: Host, out: Path, secrets: dict[str, str] = SECRETS) -> Path:
    """This chapter's files for ``host`` (tests/configs/_chapter.py)."""
    return render_chapter(lab, host, CHAPTER, out, secrets)


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


# ---------------------------------------------------------------------------------------------
# A small reader for haproxy.cfg: sections ("global", "defaults", "frontend NAME", ...) and
# their lines, comments dropped.

SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen")


def parse_haproxy(text: str) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] in SECTION_KEYWORDS and not raw_line[:1].isspace():
            name = " ".join(words)
            assert name not in sections, f"section {name!r} twice"
            current = sections[name] = []
        else:
            assert current is not None, f"line outside any section: {raw_line!r}"
            current.append(words)
    return sections


def lines(section: list[list[str]], keyword: str) -> list[list[str]]:
    return [w[1:] for w in section if w[0] == keyword]


def one(section: list[list[str]], keyword: str) -> list[str]:
    found = lines(section, keyword)
    assert len(found) == 1, f"expected one {keyword!r}, got {found}"
    return found[0]


def acl_sources(section: list[list[str]]) -> set[str]:
    """The addresses of ``tcp-request connection reject unless { src ... }`` (exactly one)."""
    rules = [w for w in lines(section, "tcp-request") if w[:3] == ["connection", "reject",
                                                                    "unless"]]
    assert len(rules) == 1, f"expected one reject-unless rule, got {rules}"
    words = rules[0][3:]
    assert words[0] == "{" and words[1] == "src" and words[-1] == "}", words
    return set(words[2:-1])


def servers(section: list[list[str]]) -> dict[str, list[str]]:
    """server NAME ADDR:PORT OPTIONS... -> {NAME: [ADDR:PORT, OPTIONS...]}"""
    return {w[0]: w[1:] for w in lines(section, "server")}


def option_value(words: list[str], keyword: str) -> str:
    return words[words.index(keyword) + 1]


# ---------------------------------------------------------------------------------------------
# The daemons' own checkers


@pytest.mark.parametrize(("source", "profile", "variant"), CASES)
def test_haproxy_accepts_every_balancer_config(source: str, profile: str, variant: str,
                                               tmp_path: Path) -> None:
    """``haproxy -c`` parses the file, resolves the user, checks every keyword and option
    (it binds nothing, so the VIP need not exist here)."""
    haproxy = _need("haproxy", "haproxy")
    lab = build(source, profile, variant)
    hosts = lab.hosts_with(ROLE)
    assert len(hosts) >= 2, "the dblb role is a pair"
    for host in hosts:
        cfg = rendered(lab, host, tmp_path) / "haproxy.cfg"
        result = run(haproxy, "-c", "-f", str(cfg))
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 0, f"haproxy -c rejected {host.name}'s config " \
                                       f"(exit {result.returncode}):\n{output}"
        assert not re.search(r"WARNING|ALERT", output), \
            f"haproxy -c complained about {host.name}'s config:\n{output}"


@pytest.mark.parametrize(("source", "profile", "variant"), CASES)
def test_keepalived_accepts_every_balancer_config(source: str, profile: str, variant: str,
                                                  tmp_path: Path) -> None:
    lab = build(source, profile, variant)
    for host in lab.hosts_with(ROLE):
        conf = rendered(lab, host, tmp_path) / "keepalived.conf"
        text = conf.read_text(encoding="utf-8")
        # The script user exists on the VM only (dblb.sh creates it), and keepalived 2.2.7's
        # -t kills itself with SIGTERM after switching to any non-root script user; the check
        # runs as root, everything else unchanged (the user is asserted in the model test).
        want = f"script_user {dblb.SCRIPT_USER}\n"
        assert want in text
        conf.write_text(text.replace(want, "script_user root\n"), encoding="utf-8")
        result = keepalived_test(conf, lab, host)
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 0, f"keepalived -t rejected {host.name}'s config " \
                                       f"(exit {result.returncode}):\n{output}"
        assert not re.search(r"(?i)warning|unknown keyword|error|not found|removing", output), \
            f"keepalived -t complained about {host.name}'s config:\n{output}"


# ---------------------------------------------------------------------------------------------
# What the files say


@pytest.mark.parametrize(("source", "profile", "variant"), CASES)
def test_haproxy_config_matches_the_model(source: str, profile: str, variant: str,
                                          tmp_path: Path) -> None:
    lab = build(source, profile, variant)
    vip = dblb.vip(lab)
    nodes = dbplan.nodes(lab)
    node_addrs = {f"{dbplan.address(h)}:{dbplan.SQL_PORT}": h.name for h in nodes}
    apps = {str(h.addresses["db"]) for h in lab.hosts_with("app")}
    monitors = {str(h.addresses["db"]) for h in lab.hosts_with("monitor") if h.on("db")}
    balancers = {str(dbplan.address(h)) for h in lab.hosts_with(ROLE)}
    writer = dblb.writer(lab)
    for host in lab.hosts_with(ROLE):
        cfg = parse_haproxy((rendered(lab, host, tmp_path) / "haproxy.cfg")
                            .read_text(encoding="utf-8"))
        own = str(dbplan.address(host))

        socket = next(w for w in lines(cfg["global"], "stats") if w[0] == "socket")
        assert socket[:2] == ["socket", osdata.get(host.os.family).paths["haproxy_socket"]]
        assert option_value(socket, "level") == "admin" and option_value(socket, "mode") == "660"
        defaults = cfg["defaults"]
        assert one(defaults, "mode") == ["tcp"]
        for name, seconds in dblb.TIMEOUTS_S.items():
            assert [f"{name}", f"{seconds}s"] in lines(defaults, "timeout"), name

        # the two front ends: on the VIP, for the app servers and monitor hosts only
        fronts = {(dblb.WRITE_FRONTEND, vip.port, dblb.WRITE_BACKEND),
                  (dblb.READ_FRONTEND, vip.read_port, dblb.READ_BACKEND)}
        for name, port, backend in fronts:
            section = cfg[f"frontend {name}"]
            assert one(section, "bind") == [f"{vip.address}:{port}"]
            assert one(section, "default_backend") == [backend]
            allowed = acl_sources(section)
            assert allowed == apps | monitors, f"{name}: clients {sorted(allowed)}"
            assert not allowed & {str(dbplan.address(h)) for h in nodes}, \
                "a DB node may not use the VIP"

        # health: the node's agent, httpchk GET /, 200 only; dead nodes' sessions are cut.
        # The write pool checks every node; the read pool follows those checks (track).
        write_section = cfg[f"backend {dblb.WRITE_BACKEND}"]
        assert ["httpchk", "GET", "/"] in lines(write_section, "option")
        assert one(write_section, "http-check") == ["expect", "status", "200"]
        ds = one(write_section, "default-server")
        assert option_value(ds, "port") == str(dbplan.HEALTH_PORT)
        assert option_value(ds, "inter") == f"{dblb.CHECK['inter_ms']}ms"
        assert option_value(ds, "fall") == str(dblb.CHECK["fall"])
        assert option_value(ds, "rise") == str(dblb.CHECK["rise"])
        write = servers(write_section)
        read_section = cfg[f"backend {dblb.READ_BACKEND}"]
        read = servers(read_section)
        for backend, found in ((dblb.WRITE_BACKEND, write), (dblb.READ_BACKEND, read)):
            section = cfg[f"backend {backend}"]
            assert option_value(one(section, "default-server"), "on-marked-down") == \
                "shutdown-sessions", backend
            assert {v[0]: k for k, v in found.items()} == node_addrs, \
                f"{backend}: every node, by its DB address and SQL port"
        assert all("check" in v[1:] for v in write.values()), "unchecked server"
        for name, v in read.items():
            assert option_value(v, "track") == f"{dblb.WRITE_BACKEND}/{name}", name

        active = [name for name, v in write.items() if "backup" not in v[1:]]
        assert active == [writer.name], f"one writer ({writer.name}), got {active}"
        assert option_value(write[writer.name], "on-marked-up") == "shutdown-backup-sessions"
        assert ["allbackups"] not in lines(write_section, "option")
        assert one(read_section, "balance") == ["leastconn"]
        assert not any("backup" in v for v in read.values())

        # stats: this balancer's own DB address (not the VIP, not every address), read only
        stats = cfg[f"listen {dblb.STATS_PROXY}"]
        assert one(stats, "bind") == [f"{own}:{vip.stats_port}"]
        assert one(stats, "mode") == ["http"]
        assert ["enable"] in lines(stats, "stats")
        assert not [w for w in lines(stats, "stats") if w[0] == "admin"], "no admin over HTTP"
        assert acl_sources(stats) == monitors | balancers

        # every listener on a specific address; none collides with the co-located node's
        # MariaDB or health agent (mini: the balancer is a Galera node too)
        binds = [w[0] for s in cfg.values() for w in lines(s, "bind")]
        assert len(binds) == len(set(binds)) == 3
        for b in binds:
            addr, _, port = b.rpartition(":")
            assert addr not in ("", "*", "0.0.0.0", "::"), f"{b}: bound to every address"
            assert (addr, int(port)) not in {(own, dbplan.SQL_PORT), (own, dbplan.HEALTH_PORT)}
        assert sorted(int(b.rpartition(":")[2]) for b in binds) == \
            sorted(int(p.split("/")[0]) for p in dblb.firewall_ports(lab))


@pytest.mark.parametrize(("source", "profile", "variant"), CASES)
def test_keepalived_config_matches_the_model(source: str, profile: str, variant: str,
                                             tmp_path: Path) -> None:
    lab = build(source, profile, variant)
    vip = dblb.vip(lab)
    hosts = lab.hosts_with(ROLE)
    priorities = {}
    for host in hosts:
        conf = parse_keepalived((rendered(lab, host, tmp_path) / "keepalived.conf")
                                .read_text(encoding="utf-8"))
        gd = conf.one("global_defs")
        assert gd.value("router_id") == host.name
        assert gd.all("enable_script_security")
        assert gd.value("script_user") == dblb.SCRIPT_USER
        assert not gd.all("lvs_sync_daemon") and not conf.all("virtual_server"), "VRRP only"

        script = conf.one("vrrp_script")
        assert script.args == [dblb.TRACK_SCRIPT]
        assert script.value("script") == f'"{dblb.TRACK_COMMAND}"'
        weight = int(script.value("weight"))

        inst = conf.one("vrrp_instance")
        assert inst.args == [vrrp.instance_name(vip.network)]
        iface = host.interface(vip.network)
        assert inst.value("state") == "BACKUP"
        assert inst.value("interface") == iface
        router_id = int(inst.value("virtual_router_id"))
        assert router_id == vrrp.router_id(lab, vip.network, ROLE) == 62
        directors = {vrrp.router_id(lab, n, "director") for n in vrrp.networks(lab, "director")}
        assert router_id not in directors, "the DB pair shares a router id with the directors"
        priority = int(inst.value("priority"))
        assert priority == lab.priority(host, ROLE)
        priorities[host.name] = (priority, weight)
        if vrrp.version(lab) == 2:
            auth = inst.one("authentication")
            assert auth.value("auth_pass") == SECRETS["vrrp_auth_dblb"]
            assert auth.value("auth_pass") != SECRETS["vrrp_auth"]
        else:
            assert inst.value("version") == "3" and not inst.all("authentication")
        assert [n.key for n in inst.one("virtual_ipaddress").children] == \
            [f"{vip.address}/{lab.networks[vip.network].prefixlen}"]
        assert [n.key for n in inst.one("track_script").children] == [dblb.TRACK_SCRIPT]
        if lab.vrrp.unicast:
            assert [n.key for n in inst.one("unicast_peer").children] == \
                [str(p.addresses[vip.network]) for p in lab.peers(host, ROLE)]
        else:
            assert not inst.all("unicast_peer")

    # a balancer whose haproxy died falls below every healthy one
    lowest_healthy = min(p for p, _ in priorities.values())
    for name, (priority, weight) in priorities.items():
        assert weight < 0 and priority + weight < lowest_healthy, name


@pytest.mark.parametrize("profile", RAW["fixture"]["profiles"])
def test_env_names_the_ports_and_no_conflict(profile: str, tmp_path: Path) -> None:
    lab = build("fixture", profile, "as-is")
    for host in lab.hosts_with(ROLE):
        env = rendered(lab, host, tmp_path) / "dblb.env"
        out = run("bash", "-c", f'set -eu; source "{env}"; '
                  'echo "$DBLB_PORTS|$DBLB_SCRIPT_USER|$DBLB_CONFLICT"')
        assert out.returncode == 0, out.stderr
        ports, user, conflict = out.stdout.rstrip("\n").split("|")
        vip = dblb.vip(lab)
        assert ports.split() == [f"{p}/tcp" for p in (vip.port, vip.read_port, vip.stats_port)]
        assert user == dblb.SCRIPT_USER
        assert conflict == ""


def test_a_director_that_is_also_a_balancer_is_refused(tmp_path: Path) -> None:
    """One keepalived.conf per host: chapters 04 and 06 cannot share a host. The chapter
    stops with the reason (dblb.env DBLB_CONFLICT) instead of overwriting chapter 04's file."""
    lab = build("fixture", "mini", "as-is")
    host = lab.hosts_with(ROLE)[0]
    assert dblb.keepalived_conflict(host) is None
    both = dataclasses.replace(host, roles=(*host.roles, "director"))
    reason = dblb.keepalived_conflict(both)
    assert reason and "director" in reason and both.name in reason
    env = tmp_path / "dblb.env"
    env.write_text(render.environment().get_template(f"{CHAPTER}/dblb/dblb.env.j2").render(
        render.context(lab, both, SECRETS, State(profile=lab.profile))), encoding="utf-8")
    out = run("bash", "-c", f'source "{env}"; printf %s "$DBLB_CONFLICT"')
    assert out.stdout == reason


def test_docs_render_with_redacted_secrets(tmp_path: Path) -> None:
    lab = topology.load(SOURCES["fixture"])
    host = lab.primary(ROLE)
    text = (rendered(lab, host, tmp_path, lab_secrets.redacted()) / "keepalived.conf") \
        .read_text(encoding="utf-8")
    assert "<vrrp_auth_dblb from .lab/secrets.yml>" in text
    assert SECRETS["vrrp_auth_dblb"] not in text


def test_only_balancers_get_the_chapter_files(tmp_path: Path) -> None:
    for profile in RAW["fixture"]["profiles"]:
        lab = build("fixture", profile, "as-is")
        for host in lab.hosts.values():
            files = rendered(lab, host, tmp_path / profile)
            for name in ("haproxy.cfg", "keepalived.conf", "dblb.env"):
                assert (files / name).exists() == host.has_role(ROLE), (profile, host.name)
