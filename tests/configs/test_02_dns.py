"""Chapter 02-dns configs, checked by BIND's own tools without a VM.

For both profiles and both OS families the name servers' files are rendered, laid out in a
scratch tree at the paths they get on the VM, and checked with ``named-checkconf -z`` (which
also loads the primary's zones) and ``named-checkzone`` in strict mode. The zones' content is
then compared with lab.yml: every host, service name and address has its forward and reverse
record, and the primary/secondary pair agree on the key and on each other.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from webfarm import os as osdata
from webfarm import render, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = {"debian12": "debian12", "el9": "almalinux9"}  # family -> a box of lab.yml
SERIAL_LINE = re.compile(r"^[ \t]+[0-9]+[ \t]+; serial$", re.M)  # what dns.sh fills in


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install the Debian package bind9-utils "
                    "(apt-get install bind9-utils)")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def lab_for(profile: str, family: str) -> Lab:
    """The profile's lab with every host on a box of ``family``."""
    lab = topology.load(ROOT / "tests/fixtures/lab.yml", profile)
    box = lab.boxes[FAMILIES[family]]
    hosts = {n: dataclasses.replace(h, os=box) for n, h in lab.hosts.items()}
    return dataclasses.replace(lab, hosts=hosts)


@dataclasses.dataclass
class Server:
    name: str
    primary: bool
    files: Path  # rendered files/02-dns of the host
    root: Path  # scratch tree laid out like the VM's filesystem
    conf: str  # named.conf path on the VM
    zones: dict[str, Path]  # zone -> rendered zone file


@pytest.fixture(scope="module", params=[(p, f) for p in ("full", "mini") for f in FAMILIES],
                ids=lambda pf: f"{pf[0]}-{pf[1]}")
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Lab, dict[str, str], list[Server]]:
    profile, family = request.param
    lab = lab_for(profile, family)
    secrets = {k: gen() for k, gen in lab_secrets.GENERATORS.items()}
    out = tmp_path_factory.mktemp(f"dns-{profile}-{family}")
    paths = osdata.get(family).paths
    servers = []
    for host in lab.hosts_with("dns"):
        render.render_host(lab, host, secrets, State(profile=profile), out / "hosts")
        files = out / "hosts" / host.name / "files" / "02-dns"
        env = dict(re.findall(r'^(WF_DNS_\w+)="?([^"\n]*)"?$',
                              (files / "dns.env").read_text(), re.M))
        zones = {z: files / "zones" / f for z, f in
                 (e.split("=", 1) for e in env["WF_DNS_ZONES"].split())}
        root = out / "root" / host.name
        place(files / "named.conf", root, paths["named_conf"])
        place(files / "tsig.key", root, f"{paths['named_conf_dir']}/{env['WF_DNS_KEY_NAME']}.key")
        primary = env["WF_DNS_SERVER_ROLE"] == "primary"
        for d in ("named_data_dir", "named_zone_dir", "named_secondary_dir", "named_run_dir"):
            (root / paths[d].lstrip("/")).mkdir(parents=True, exist_ok=True)
        if primary:
            for zone, src in zones.items():
                place(src, root, f"{paths['named_zone_dir']}/db.{zone}")
        servers.append(Server(host.name, primary, files, root, paths["named_conf"], zones))
    return lab, secrets, servers


def place(src: Path, root: Path, path: str) -> None:
    dest = root / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def checkconf(server: Server) -> subprocess.CompletedProcess[str]:
    """named-checkconf -z on the server's tree: chrooted into it (-t) as root, as named
    would see it; otherwise on a copy whose absolute paths point into the tree."""
    exe = tool("named-checkconf")
    if os.geteuid() == 0:
        return run(exe, "-z", "-t", str(server.root), server.conf)
    conf = server.root / server.conf.lstrip("/")
    text = re.sub(r'"(/[^"]*)"', lambda m: f'"{server.root}{m.group(1)}"', conf.read_text())
    copy = conf.with_name("named.conf.rooted")
    copy.write_text(text)
    return run(exe, "-z", str(copy))


def checkzone(zone: str, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # strict: bad names, MX/SRV/NS pointing at CNAMEs or missing in-zone addresses all fail
    return run(tool("named-checkzone"), "-i", "local", "-k", "fail", "-n", "fail", "-m", "fail",
               "-M", "fail", "-S", "fail", "-r", "fail", *extra, zone, str(path))


def records(zone: str, path: Path) -> set[tuple[str, str, str]]:
    """(owner, type, data) of every record, in named-checkzone's canonical dump."""
    out = checkzone(zone, path, "-D", "-o", "-")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = set()
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) >= 5 and f[2] == "IN":
            rows.add((f[0], f[3], " ".join(f[4:])))
    return rows


def test_one_primary_and_its_secondaries(rendered):
    lab, _, servers = rendered
    assert [s.primary for s in servers] == [True] + [False] * (len(servers) - 1)
    assert [s.name for s in servers] == [h.name for h in lab.hosts_with("dns")]


def test_named_checkconf_loads_every_zone(rendered):
    _, _, servers = rendered
    for s in servers:
        out = checkconf(s)
        assert out.returncode == 0, f"{s.name}: named-checkconf -z:\n{out.stdout}{out.stderr}"
        if s.primary:
            for zone in s.zones:
                assert f"zone {zone}/IN: loaded serial 1" in out.stdout, out.stdout


def test_named_checkzone_strict(rendered):
    _, _, servers = rendered
    for zone, path in servers[0].zones.items():
        out = checkzone(zone, path)
        assert out.returncode == 0, f"{zone}: {out.stdout}{out.stderr}"
        assert len(SERIAL_LINE.findall(path.read_text())) == 1, \
            f"{path.name}: provision/02-dns/dns.sh needs exactly one '; serial' line"


def test_a_broken_zone_is_caught(rendered, tmp_path):
    """The validators really look at the content: a record pointing nowhere fails."""
    _, _, servers = rendered
    zone, path = next(iter(servers[0].zones.items()))
    bad = tmp_path / "bad.zone"
    bad.write_text(path.read_text() + "broken IN A 300.1.2.3\n")
    assert checkzone(zone, bad).returncode != 0


def test_forward_zone_has_every_name(rendered):
    lab, _, servers = rendered
    zone = lab.domain
    got = records(zone, servers[0].zones[zone])
    fq = lambda n: f"{n}.{lab.domain}."  # noqa: E731
    expected = set()
    for h in lab.hosts.values():
        expected.add((fq(h.name), "A", str(h.primary_address)))
        for net, addr in h.addresses.items():
            if addr != h.primary_address:
                expected.add((fq(f"{h.name}-{net}"), "A", str(addr)))
    for v in lab.vips.values():
        expected.add((fq(v.name), "A", str(v.address)))
    assert {r for r in got if r[1] == "A"} == expected
    assert {r[2] for r in got if r[1] == "NS"} == {fq(h.name) for h in lab.hosts_with("dns")}
    soa = next(r for r in got if r[1] == "SOA")
    assert soa[2].startswith(f"{fq(lab.primary('dns').name)} hostmaster.{lab.domain}. ")


def test_reverse_zones_have_every_address(rendered):
    lab, _, servers = rendered
    zones = servers[0].zones
    for net in lab.networks.values():
        name = render._reverse_zone(net.cidr)
        assert name in zones, f"no reverse zone for {net.name}"
        ptrs = {r[0]: r[2] for r in records(name, zones[name]) if r[1] == "PTR"}
        expected = {}
        for h in lab.hosts_on(net.name):
            addr = h.addresses[net.name]
            label = h.name if addr == h.primary_address else f"{h.name}-{net.name}"
            expected[ipaddress.ip_address(addr).reverse_pointer + "."] = \
                f"{label}.{lab.domain}."
        for v in lab.vips.values():
            if v.network == net.name:
                expected[v.address.reverse_pointer + "."] = f"{v.name}.{lab.domain}."
        assert ptrs == expected


def test_pair_agrees_on_key_and_peers(rendered):
    lab, secrets, servers = rendered
    primary = lab.primary("dns")
    key = f"{lab.name}-xfer"
    for s in servers:
        keyfile = (s.files / "tsig.key").read_text()
        assert f'key "{key}"' in keyfile and "hmac-sha256" in keyfile
        assert secrets["tsig_key"] in keyfile
        conf = (s.files / "named.conf").read_text()
        assert secrets["tsig_key"] not in conf, "the secret belongs in the key file only"
        assert conf.count(f"allow-transfer {{ key {key}; }};") == len(s.zones)
        host = lab.hosts[s.name]
        assert f"listen-on port 53 {{ 127.0.0.1; {host.addresses['front']}; }};" in conf
        for peer in lab.peers(host, "dns"):
            assert f"server {peer.addresses['front']} {{ keys {{ {key}; }}; }};" in conf
        if s.primary:
            notify = " ".join(f"{h.addresses['front']};" for h in lab.peers(primary, "dns"))
            assert conf.count(f"also-notify {{ {notify} }};") == len(s.zones)
        else:
            assert conf.count(f"masters {{ {primary.addresses['front']} key {key}; }};") \
                == len(s.zones)


def test_resolv_conf_lists_both_servers_primary_first(rendered, tmp_path):
    lab, secrets, _ = rendered
    client = next(h for h in lab.hosts.values() if h.on("front") and not h.has_role("dns"))
    render.render_host(lab, client, secrets, State(), tmp_path)
    text = (tmp_path / client.name / "files/02-dns/resolv.conf").read_text()
    servers = re.findall(r"^nameserver (\S+)$", text, re.M)
    assert servers == [str(h.addresses["front"]) for h in lab.hosts_with("dns")]
    assert re.search(rf"^search {re.escape(lab.domain)}$", text, re.M)
    assert re.search(r"^options .*timeout:1", text, re.M)
