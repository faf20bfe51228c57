"""Chapter 04-lvs without a VM: render the directors' keepalived.conf for every profile (and
topology variants), check each with keepalived's own checker (``keepalived -t``) inside a
throwaway network namespace whose interfaces are named like the VM's, and check what the
configuration says against the lab model (priorities, secret, pools, DR, health checks)."""

from __future__ import annotations

import copy
import itertools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from webfarm import render, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests/fixtures/lab.yml"  # never the user-editable lab.yml
RAW = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
SECRETS = {name: gen() for name, gen in lab_secrets.GENERATORS.items()}
ROLE = "director"

# (profile, variant): variants change lab.yml data the way a reader might.
VARIANTS = {
    "as-is": lambda raw: None,
    "unicast": lambda raw: raw["lab"].setdefault("vrrp", {}).update(unicast=True),
    "multicast": lambda raw: raw["lab"].setdefault("vrrp", {}).update(unicast=False),
    "vrrpv3-half-second": lambda raw: raw["lab"].setdefault("vrrp", {}).update(advert_int=0.5),
}
CASES = [pytest.param(p, v, id=f"{p}-{v}")
         for p, v in itertools.product(RAW["profiles"], VARIANTS)]


def build(profile: str, variant: str) -> Lab:
    raw = copy.deepcopy(RAW)
    VARIANTS[variant](raw)
    return topology.build(raw, "lab.yml", profile)


def rendered(lab: Lab, host: Host, out: Path, secrets: dict[str, str] = SECRETS) -> Path:
    render.render_host(lab, host, secrets, State(profile=lab.profile), out)
    return out / host.name / "files" / "04-lvs"


# ---------------------------------------------------------------------------------------------
# A small reader for keepalived's block syntax: "keyword args... { children }"


@dataclass
class Node:
    key: str
    args: list[str]
    children: list[Node] = field(default_factory=list)

    def all(self, key: str) -> list[Node]:
        return [c for c in self.children if c.key == key]

    def one(self, key: str) -> Node:
        found = self.all(key)
        assert len(found) == 1, f"expected one {key!r} in {self.key} {self.args}, got {found}"
        return found[0]

    def value(self, key: str) -> str:
        return " ".join(self.one(key).args)


def parse_keepalived(text: str) -> Node:
    root = Node("<root>", [])
    stack = [root]
    for raw_line in text.splitlines():
        line = re.split(r"[!#]", raw_line, maxsplit=1)[0].strip()
        if not line:
            continue
        opens = line.endswith("{")
        words = line.rstrip("{").split()
        if words == ["}"] or line == "}":
            stack.pop()
            continue
        if not words:
            continue
        node = Node(words[0], words[1:])
        stack[-1].children.append(node)
        if opens:
            stack.append(node)
    assert len(stack) == 1, "unbalanced braces in keepalived.conf"
    return root


# ---------------------------------------------------------------------------------------------
# keepalived -t in a network namespace


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.path.exists(p)), None)
    if path is None:
        pytest.fail(f"{tool} is not installed: apt-get install {package}")
    return path


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def keepalived_test(conf: Path, lab: Lab, host: Host) -> subprocess.CompletedProcess[str]:
    """``keepalived -t -f conf`` inside a fresh namespace with eth0..ethN like ``host``'s VM
    (eth0 management, then one interface per lab network with the host's address)."""
    keepalived = _need("keepalived", "keepalived")
    ip = _need("ip", "iproute2")
    ns = f"wf-test-{os.getpid()}-{host.name}"
    made = _run(ip, "netns", "add", ns)
    assert made.returncode == 0, f"cannot create network namespace {ns} (root needed): " \
                                 f"{made.stderr}"
    try:
        ifaces = {"eth0": ""} | {host.interface(n): f"{a}/{lab.networks[n].prefixlen}"
                                 for n, a in host.addresses.items()}
        for name, addr in ifaces.items():
            # a dummy interface where the kernel has the module, else one end of a veth pair
            if _run(ip, "-n", ns, "link", "add", name, "type", "dummy").returncode != 0:
                veth = _run(ip, "-n", ns, "link", "add", name, "type", "veth",
                            "peer", "name", f"{name}-peer")
                assert veth.returncode == 0, f"cannot create {name} in {ns}: {veth.stderr}"
            _run(ip, "-n", ns, "link", "set", name, "up")
            if addr:
                _run(ip, "-n", ns, "addr", "add", addr, "dev", name)
        return _run(ip, "netns", "exec", ns, keepalived, "-t", "-l", "-f", str(conf))
    finally:
        _run(ip, "netns", "delete", ns)


# ---------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(("profile", "variant"), CASES)
def test_keepalived_accepts_every_director_config(profile: str, variant: str,
                                                  tmp_path: Path) -> None:
    lab = build(profile, variant)
    directors = lab.hosts_with(ROLE)
    assert len(directors) >= 2, "the director role is a pair"
    for host in directors:
        conf = rendered(lab, host, tmp_path) / "keepalived.conf"
        result = keepalived_test(conf, lab, host)
        output = (result.stdout + result.stderr).strip()
        assert result.returncode == 0, f"keepalived -t rejected {host.name}'s config " \
                                       f"(exit {result.returncode}):\n{output}"
        # a clean config produces no warning at all (unknown keywords are only warned about)
        assert not re.search(r"(?i)warning|unknown keyword|error", output), \
            f"keepalived -t complained about {host.name}'s config:\n{output}"


@pytest.mark.parametrize(("profile", "variant"), CASES)
def test_config_matches_the_model(profile: str, variant: str, tmp_path: Path) -> None:
    lab = build(profile, variant)
    directors = lab.hosts_with(ROLE)
    held = lab.vips_held_by(ROLE)
    networks = list(dict.fromkeys(v.network for v in held))
    parsed = {h.name: parse_keepalived((rendered(lab, h, tmp_path) / "keepalived.conf")
                                       .read_text(encoding="utf-8")) for h in directors}
    priorities: dict[str, list[int]] = {}
    vrids: dict[str, set[str]] = {}
    for host in directors:
        conf = parsed[host.name]
        gd = conf.one("global_defs")
        assert gd.value("router_id") == host.name
        assert gd.value("vrrp_garp_master_refresh") != "0"
        sync = gd.one("lvs_sync_daemon").args
        assert sync[0] == host.interface(networks[0])
        assert sync[1] in {i.args[0] for i in conf.all("vrrp_instance")}, \
            "lvs_sync_daemon must follow an existing VRRP instance"

        instances = {i.args[0]: i for i in conf.all("vrrp_instance")}
        assert set(instances) == {f"VI_{n.upper()}" for n in networks}
        for net in networks:
            inst = instances[f"VI_{net.upper()}"]
            iface = host.interface(net)
            assert inst.value("state") == "BACKUP"  # election by priority, preemption kept
            assert not inst.all("nopreempt")
            assert inst.value("interface") == iface
            assert int(inst.value("priority")) == lab.priority(host, ROLE)
            priorities.setdefault(net, []).append(int(inst.value("priority")))
            vrids.setdefault(net, set()).add(inst.value("virtual_router_id"))
            assert 1 <= int(inst.value("virtual_router_id")) <= 255
            assert float(inst.value("advert_int")) == lab.vrrp.advert_int
            if lab.vrrp.advert_int == int(lab.vrrp.advert_int):
                auth = inst.one("authentication")
                assert auth.value("auth_type") == "PASS"
                assert auth.value("auth_pass") == SECRETS["vrrp_auth"]
                assert len(SECRETS["vrrp_auth"]) <= 8, "PASS auth is cut at 8 characters"
            else:
                assert inst.value("version") == "3"  # fractional adverts need VRRPv3
                assert not inst.all("authentication")  # which has no authentication
            vips = [n.key for n in inst.one("virtual_ipaddress").children]
            want = [f"{v.address}/{lab.networks[net].prefixlen}" for v in held
                    if v.network == net]
            assert vips == want
            for line in inst.one("virtual_ipaddress").children:
                assert line.args[:2] == ["dev", iface]
            if lab.vrrp.unicast:
                assert inst.value("unicast_src_ip") == str(host.addresses[net])
                peers = [n.key for n in inst.one("unicast_peer").children]
                assert peers == [str(p.addresses[net]) for p in lab.peers(host, ROLE)]
            else:
                assert not inst.all("unicast_peer")
                assert not inst.all("unicast_src_ip")

        servers = {(s.args[0], s.args[1]): s for s in conf.all("virtual_server")}
        assert set(servers) == {(str(v.address), str(v.port)) for v in held}
        for vip in held:
            vs = servers[(str(vip.address), str(vip.port))]
            assert vs.value("lvs_method") == "DR"
            assert vs.value("protocol") == "TCP"
            assert vs.value("lvs_sched") in ("rr", "wrr")
            assert vs.value("virtualhost") == f"{vip.name}.{lab.domain}"
            assert int(vs.value("delay_loop")) <= 5  # a dead server leaves within seconds
            pool = lab.hosts_with(vip.pool)
            reals = {(r.args[0], r.args[1]): r for r in vs.all("real_server")}
            assert set(reals) == {(str(h.addresses[vip.network]), str(vip.port)) for h in pool}
            for real in reals.values():
                assert int(real.value("weight")) > 0
                check = real.one("HTTP_GET")
                url = check.one("url")
                assert url.value("path") == "/health"
                assert url.value("status_code") == "200"
                assert int(check.value("connect_timeout")) <= 3

    for net in networks:
        assert len(vrids[net]) == 1, "every director of an instance uses the same VRID"
        assert len(set(priorities[net])) == len(directors), "priorities must differ"
        assert max(priorities[net]) == lab.priority(lab.primary(ROLE), ROLE)


@pytest.mark.parametrize("profile", RAW["profiles"])
def test_modules_and_env_match_the_config(profile: str, tmp_path: Path) -> None:
    lab = topology.load(LAB_FILE, profile)
    for host in lab.hosts_with(ROLE):
        files = rendered(lab, host, tmp_path)
        conf = parse_keepalived((files / "keepalived.conf").read_text(encoding="utf-8"))
        modules = [line.strip() for line in (files / "webfarm-ipvs.conf").read_text()
                   .splitlines() if line.strip() and not line.startswith("#")]
        assert "ip_vs" in modules
        for vs in conf.all("virtual_server"):
            assert f"ip_vs_{vs.value('lvs_sched')}" in modules
        # lvs.env is valid shell and names exactly the VIPs' ports
        env = files / "lvs.env"
        out = _run("bash", "-c", f'set -eu; source "{env}"; '
                   'echo "$LVS_PORTS|$LVS_SYNC_PORT|$LVS_CONNECT_ANY"')
        assert out.returncode == 0, out.stderr
        ports, sync_port, connect_any = out.stdout.strip().split("|")
        want = sorted({f"{v.port}/tcp" for v in lab.vips_held_by(ROLE)})
        assert sorted(ports.split()) == want
        assert sync_port == "8848/udp"
        assert connect_any == "0"  # port 80 is http_port_t: no SELinux boolean needed


def test_docs_render_with_redacted_secrets(tmp_path: Path) -> None:
    """The tutorial renders the configs with placeholders instead of the secret."""
    lab = topology.load(LAB_FILE)
    host = lab.primary(ROLE)
    text = (rendered(lab, host, tmp_path, lab_secrets.redacted()) / "keepalived.conf") \
        .read_text(encoding="utf-8")
    assert "<vrrp_auth from .lab/secrets.yml>" in text
    assert SECRETS["vrrp_auth"] not in text


def test_only_directors_get_the_chapter_files(tmp_path: Path) -> None:
    lab = topology.load(LAB_FILE, "full")
    for host in lab.hosts.values():
        files = rendered(lab, host, tmp_path)
        assert (files / "keepalived.conf").exists() == host.has_role(ROLE), host.name
