"""Chapter 01-base without a VM: render every host's /etc/hosts and chrony.conf for every
profile (and with every host on EL9), parse chrony.conf with chronyd's own parser
(``chronyd -p``), and check both files against the lab model: who is listed in /etc/hosts (and
who must not be), who takes the time from whom, and that the time chain reaches the time
server from every host."""

from __future__ import annotations

import copy
import ipaddress
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from webfarm import render, timesync, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
RAW = yaml.safe_load((ROOT / "tests/fixtures/lab.yml").read_text(encoding="utf-8"))
SECRETS = lab_secrets.redacted()
LOOPBACK = {"127.0.0.1", "::1", "ff02::1", "ff02::2"}

# variant name -> change to lab.yml data
VARIANTS = {
    "debian12": lambda raw: None,
    "el9": lambda raw: raw["lab"].update(os="almalinux9"),
}


def build(profile: str, variant: str) -> Lab:
    raw = copy.deepcopy(RAW)
    VARIANTS[variant](raw)
    return topology.build(raw, "lab.yml", profile)


LABS = {(p, v): build(p, v) for p, v in itertools.product(RAW["profiles"], VARIANTS)}
HOST_CASES = [pytest.param(p, v, h, id=f"{p}-{v}-{h}")
              for (p, v), lab in LABS.items() for h in lab.hosts]
LAB_CASES = [pytest.param(p, v, id=f"{p}-{v}") for (p, v) in LABS]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Render every host of every (profile, variant) once; the host files' root per lab."""
    out: dict[tuple[str, str], Path] = {}
    for key, lab in LABS.items():
        root = tmp_path_factory.mktemp(f"{key[0]}-{key[1]}")
        render.render_lab(lab, SECRETS, State(profile=lab.profile), root)
        out[key] = root
    return out


def chapter_file(root: Path, host: Host, name: str) -> Path:
    return root / host.name / "files" / "01-base" / name


def hosts_entries(text: str) -> list[tuple[str, list[str]]]:
    """(address, names) for every entry of an /etc/hosts text."""
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            out.append((fields[0], fields[1:]))
    return out


def chrony_directives(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and
            not line.lstrip().startswith(("#", "!", ";", "%"))]


# ---------------------------------------------------------------------------------------------
# /etc/hosts


@pytest.mark.parametrize(("profile", "variant", "name"), HOST_CASES)
def test_hosts_file_lists_exactly_the_reachable_hosts(rendered, profile, variant, name):
    lab = LABS[profile, variant]
    host = lab.hosts[name]
    entries = hosts_entries(chapter_file(rendered[profile, variant], host, "hosts").read_text())
    by_name: dict[str, str] = {}
    for addr, names in entries:
        if addr in LOOPBACK:
            continue
        for n in names:
            assert n not in by_name, f"{name}: {n} listed twice ({by_name[n]} and {addr})"
            by_name[n] = addr

    # loopback: localhost stays resolvable
    assert ("127.0.0.1", ["localhost"]) in entries
    # the host itself: FQDN first (what `hostname -f` prints), on its primary address
    own = [(a, ns) for a, ns in entries if name in ns]
    assert own == [(str(host.primary_address), [lab.fqdn(host), name])]

    # every host sharing a network, on its address on the first shared network (lab.yml order)
    for peer in lab.hosts.values():
        if peer.name == name:
            continue
        shared = [n for n in lab.networks if host.on(n) and peer.on(n)]
        if shared:
            want = str(peer.addresses[shared[0]])
            assert by_name.get(lab.fqdn(peer)) == want, f"{name}: {peer.name} should be {want}"
            assert by_name.get(peer.name) == want
        else:
            assert lab.fqdn(peer) not in by_name, (
                f"{name} shares no network with {peer.name} but lists it")
            assert peer.name not in by_name

    # VIPs of the host's networks, as NAME.DOMAIN NAME
    for vip in lab.vips.values():
        if host.on(vip.network):
            assert by_name.get(lab.fqdn(vip.name)) == str(vip.address)
            assert by_name.get(vip.name) == str(vip.address)
        else:
            assert lab.fqdn(vip.name) not in by_name

    # no address from a network the host is not on
    own_nets = [lab.networks[n].cidr for n in host.networks]
    for addr, names in entries:
        if addr in LOOPBACK:
            continue
        ip = ipaddress.ip_address(addr)
        assert any(ip in cidr for cidr in own_nets), (
            f"{name} is not on the network of {addr} ({' '.join(names)})")


# ---------------------------------------------------------------------------------------------
# chrony.conf


def chronyd() -> str:
    path = shutil.which("chronyd") or next(
        (p for p in ("/usr/sbin/chronyd", "/sbin/chronyd") if Path(p).exists()), None)
    if path is None:
        pytest.fail("chronyd is not installed on this machine: apt-get install chrony "
                    "(only its parser is used: chronyd -p, no daemon is started)")
    return path


@pytest.mark.parametrize(("profile", "variant", "name"), HOST_CASES)
def test_chrony_conf_parses(rendered, profile, variant, name):
    """chronyd's own parser (-p: parse the file, print the directives and exit)."""
    lab = LABS[profile, variant]
    conf = chapter_file(rendered[profile, variant], lab.hosts[name], "chrony.conf")
    proc = subprocess.run([chronyd(), "-p", "-f", str(conf)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, f"chronyd -p rejects {conf}:\n{proc.stdout}{proc.stderr}"
    printed = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert printed == chrony_directives(conf.read_text())


@pytest.mark.parametrize(("profile", "variant", "name"), HOST_CASES)
def test_chrony_conf_follows_the_time_plan(rendered, profile, variant, name):
    """Template and webfarm.timesync agree: upstream, served networks, local stratum."""
    lab = LABS[profile, variant]
    host = lab.hosts[name]
    d = chrony_directives(
        chapter_file(rendered[profile, variant], host, "chrony.conf").read_text())
    servers = [x[1] for x in d if x[0] in ("server", "pool", "peer")]
    upstream = timesync.upstream(lab, host)
    assert servers == ([str(upstream)] if upstream else [])
    for x in d:
        if x[0] == "server":
            assert {"iburst", "minpoll", "maxpoll"} <= set(x), "lab sources must sync fast"
    allows = [x[1] for x in d if x[0] == "allow"]
    assert allows == [str(lab.networks[n].cidr) for n in timesync.serves(lab, host)]
    stratum = [int(x[2]) for x in d if x[0] == "local"]
    want = timesync.local_stratum(lab, host)
    assert stratum == ([want] if want else [])
    assert ["makestep", "1", "-1"] in d


@pytest.mark.parametrize(("profile", "variant"), LAB_CASES)
def test_every_host_reaches_the_time_server(rendered, profile, variant):
    """Follow `server` lines from every host: each hop must be allowed by the next host's
    `allow`, and the chain must end at the time server (no loop, nobody left out)."""
    lab = LABS[profile, variant]
    confs = {h.name: chrony_directives(chapter_file(rendered[profile, variant], h,
                                                      "chrony.conf").read_text())
             for h in lab.hosts.values()}
    by_address = {str(a): h for h in lab.hosts.values() for a in h.addresses.values()}
    time_server = timesync.server(lab)
    for start in lab.hosts.values():
        host, seen = start, [start.name]
        while host.name != time_server.name:
            servers = [x[1] for x in confs[host.name] if x[0] == "server"]
            assert len(servers) == 1, f"{host.name} has no single time source: {servers}"
            nxt = by_address[servers[0]]
            allowed = [ipaddress.ip_network(x[1]) for x in confs[nxt.name] if x[0] == "allow"]
            mine = [a for a in host.addresses.values() if any(a in c for c in allowed)]
            assert mine, f"{nxt.name} does not allow {host.name} to ask it for the time"
            assert nxt.name not in seen, f"time loop: {' -> '.join([*seen, nxt.name])}"
            seen.append(nxt.name)
            host = nxt
        assert len(seen) <= 3, f"time chain too long: {' -> '.join(seen)}"
