"""Helpers for checks and drills against the live lab: testinfra hosts chosen by role.

Run through ``invoke check [N]`` (or ``invoke chapter N``), which writes ``.lab/ssh-config``
from ``vagrant ssh-config`` and runs pytest inside the lab's network namespace when it has
one. Hosts are addressed by role, never by name: ``role_hosts("dns")`` at collection time,
``remote(name)`` for a testinfra host.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import testinfra

from webfarm import paths, topology
from webfarm import state as lab_state
from webfarm.topology import Lab, Vip

ROOT = paths.ROOT
SSH_CONFIG = Path(os.environ.get("WEBFARM_SSH_CONFIG", paths.SSH_CONFIG))


@cache
def current_lab() -> Lab:
    profile = os.environ.get("WEBFARM_PROFILE") or lab_state.load(paths.STATE_FILE).profile
    return topology.load(paths.LAB_FILE, profile)


def role_hosts(role: str) -> list[str]:
    """Names of the hosts carrying ``role`` (for pytest.mark.parametrize)."""
    return [h.name for h in current_lab().hosts_with(role)]


def all_hosts() -> list[str]:
    return list(current_lab().hosts)


@cache
def remote(name: str) -> testinfra.host.Host:
    """A testinfra host over SSH (commands run as the vagrant user; use sudo=True variants
    via ``remote_root``)."""
    if not SSH_CONFIG.exists():
        pytest.fail(f"{SSH_CONFIG} is missing: run checks through 'invoke check' (it writes it)")
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(SSH_CONFIG))


@cache
def remote_root(name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(SSH_CONFIG), sudo=True)


def holds_vip(name: str, vip: Vip) -> bool:
    """Whether live host ``name`` holds ``vip`` now (webfarm.status.holds, over testinfra)."""
    from webfarm import status

    def run(host: str, command: str) -> str:
        return str(remote(host).check_output(command))

    return status.holds(run, current_lab().hosts[name], vip)


def rerun_chapter(name: str, chapter: str) -> str:
    """Run a chapter again on ``name`` and return its summary line (for idempotence checks)."""
    script = paths.guest("provision", "chapter.sh")
    out = remote_root(name).check_output(f"bash {script} {chapter} {name}")
    return out.strip().splitlines()[-1]


@dataclass(frozen=True)
class Address:
    """One address a live host has (``ip -o addr show``)."""

    iface: str
    address: str  # without the prefix length
    family: str  # inet | inet6
    scope: str  # global | link | host ...

    def targets(self, via: list[str]) -> list[str]:
        """How to reach it from another host: an IPv6 link-local address needs the prober's
        interface (``fe80::1%eth0``), so one target per interface in ``via``."""
        if self.family == "inet6" and self.scope == "link":
            return [f"{self.address}%{i}" for i in via]
        return [self.address]


def parse_ip_addr(out: str) -> list[Address]:
    """Addresses from ``ip -o addr show`` output, loopback left out (``lo`` and 127.0.0.0/8,
    ::1: they never leave the host)."""
    found = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4 or f[2] not in ("inet", "inet6"):
            continue
        iface = f[1].split("@")[0]
        address = f[3].split("/")[0]
        scope = f[f.index("scope") + 1] if "scope" in f else "global"
        if iface == "lo" or scope == "host" or address.startswith("127."):
            continue
        found.append(Address(iface, address, f[2], scope))
    return found


@cache
def host_addresses(name: str) -> tuple[Address, ...]:
    """Every non-loopback address of live host ``name``, on every interface (the lab's and
    Vagrant's management NIC alike), IPv4 and IPv6, read on the host itself."""
    return tuple(parse_ip_addr(remote(name).check_output("ip -o addr show")))


@cache
def listening_tcp_ports(name: str) -> tuple[int, ...]:
    """TCP ports live host ``name`` listens on for every address (0.0.0.0, ::, *)."""
    out = remote(name).check_output("ss -H -l -n -t")
    ports = set()
    for line in out.splitlines():
        local = line.split()[3] if len(line.split()) > 3 else ""
        addr, _, port = local.rpartition(":")
        if addr in ("0.0.0.0", "*", "[::]") and port.isdigit():
            ports.add(int(port))
    return tuple(sorted(ports))


PROBE_SH = r"""
probe() {  # probe icmp ADDRESS | probe tcp ADDRESS PORT: prints what answered
  case $1 in
    icmp) ping -n -q -c 2 -i 0.2 -W "$WAIT" "$2" >/dev/null 2>&1 && echo "$2 icmp" ;;
    tcp) timeout "$WAIT" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3" 2>/dev/null &&
           echo "$2 tcp/$3" ;;
  esac
  return 0
}
export -f probe
export WAIT
xargs -P "$JOBS" -L 1 bash -c 'probe "$@"' _ <<'EOF'
"""


def probe(host: testinfra.host.Host, targets: dict[str, tuple[int, ...]], wait: int = 1,
          jobs: int = 16) -> list[tuple[str, str]]:
    """From ``host``, ping every target and open a TCP connection to each of its ports, at
    most ``jobs`` probes at once, each given up after ``wait`` seconds. Returns what answered:
    (target, "icmp" | "tcp/PORT"). A refused connection or an ICMP error is no answer: a
    router rejecting the packet (libvirt's iptables REJECT) says nothing about the target."""
    if not targets:
        return []
    lines = []
    for target, ports in targets.items():
        lines.append(f"icmp {target}")
        lines += [f"tcp {target} {port}" for port in ports]
    script = f"WAIT={int(wait)} JOBS={int(jobs)}\n" + PROBE_SH + "\n".join(lines) + "\nEOF\n"
    out = host.check_output(f"bash -c {shlex.quote(script)}")
    return sorted((row.split()[0], row.split()[1]) for row in out.splitlines() if row.strip())


@pytest.fixture(name="lab", scope="session")
def lab_fixture() -> Lab:
    """The lab model of the profile under test."""
    return current_lab()


@pytest.fixture(name="secrets", scope="session")
def secrets_fixture() -> dict[str, str]:
    """The lab's generated secrets (.lab/secrets.yml)."""
    from webfarm import secrets as lab_secrets

    return lab_secrets.load(paths.SECRETS_FILE)
