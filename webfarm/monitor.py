"""What Nagios watches and how (chapter 08-monitor), derived from lab.yml only: adding a host
or a role to the lab adds its checks, with no hand edit.

- **hosts**: one Nagios host per VM, checked (ping) at its address on the first network it
  shares with the monitor; one more per VIP, named by the VIP's DNS name (``www.<domain>``:
  lab host names have no dot, so the two never clash), checked at the VIP itself.
- **host groups**: one per role (its hosts), plus ``vips``; **service groups**: one per tier
  (:data:`TIERS`).
- **services**: :func:`services` lists every one, with the command Nagios runs. Checks that
  need a host's inside (load, disk, processes, keepalived, IPVS, which host holds a VIP) run
  through NRPE, which accepts only the monitor's addresses and takes no arguments from the
  network; checks that can be made from outside (HTTP, DNS, SQL, HAProxy's stats) are made
  from the monitor, the way a client sees the service.

Templates in ``webfarm/templates/08-monitor/`` only format these lists; the config tests run
``nagios4 -v`` on the result and the live checks compare Nagios's own count with
:func:`services`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from webfarm import dblb, dbplan, dnsplan, lvs, timesync
from webfarm.topology import Host, Lab, Vip

ROLE = "monitor"
NRPE_PORT = 5666
UI_USER = "nagiosadmin"  # the web UI's user; its password is nagios_admin_password
PLUGIN_DIR = "/usr/local/lib/webfarm/nagios"  # the lab's own plugins (on every host)
MYSQL_OPTIONS = "webfarm-mysql.cnf"  # [client] user + password for check_mysql*, in the conf dir
NOTIFY_LOG = "webfarm-notifications.log"  # under paths.nagios_var: one line per notification

# Seconds (nagios.cfg sets interval_length=1, so every interval below is in seconds).
# A service that fails is CRITICAL (hard) after at most CHECK + (ATTEMPTS - 1) * RETRY
# seconds plus the checks' own run time: 30 + 2 * 10 = 50 s. Each soft failure is
# re-checked RETRY seconds later, so one lost packet does not page anybody.
TIMING = {"check_interval": 30, "retry_interval": 10, "max_check_attempts": 3}
# The "system" tier (load, disk, swap, processes, time on every host: most of the NRPE
# calls) changes slowly, so it is checked every 2 minutes. Every NRPE call costs the 1-vCPU
# TCG monitor ~0.25 s of CPU for its TLS handshake: at 30 s, the system tier alone would keep
# a third of it busy, and a burst of all checks at once starved garbd (measured: load 53, the
# Galera cluster lost its quorum).
SLOW_TIERS = ("system",)
SLOW_TIMING = {"check_interval": 120, "retry_interval": 30, "max_check_attempts": 3}
# At most this many checks run at once: a forced round queues instead of starting 70
# processes on one emulated CPU.
MAX_CONCURRENT_CHECKS = 6

# Thresholds sized for TCG guests, whose load averages run high: a busy emulated CPU is not an
# incident (load per CPU: -r). Measured on the mini lab: the monitor itself sits at 9-10 while
# Nagios runs its checks (every process start is slow under TCG); a burst of 70 checks at
# once took it to 39. The critical 15-minute figure still catches a host that stays swamped.
LOAD = {"warning": "20,16,12", "critical": "40,32,24"}
DISK = {"warning": "15%", "critical": "5%"}
PROCS = {"warning": 300, "critical": 500}
TIME_OFFSET_S = {"warning": 0.5, "critical": 1.0}

# Service groups, one per tier, in the order the UI lists them.
TIERS: dict[str, str] = {
    "system": "Every host: load, disk, swap, processes, time",
    "lvs": "LVS directors: keepalived, IPVS pools",
    "dns": "Name servers: answers and serials",
    "web": "App and media servers, each on its own address",
    "db": "Database nodes",
    "dblb": "DB load balancers",
    "vips": "The services as clients see them, through each VIP",
    "monitor": "The monitor itself",
}


@dataclass(frozen=True)
class Service:
    host: str  # Nagios host_name: a lab host, or a VIP's DNS name
    description: str  # service_description (unique per host)
    tier: str  # a key of TIERS (service group)
    command: str  # check_command, with its !arguments
    nrpe: str = ""  # the NRPE command it asks for (the host's nrpe.d defines it), or ""


@dataclass(frozen=True)
class NrpeCommand:
    name: str
    line: str  # the command NRPE runs (fixed here: dont_blame_nrpe=0)


@dataclass(frozen=True)
class NagiosHost:
    name: str
    address: ipaddress.IPv4Address
    alias: str
    groups: tuple[str, ...]
    vip: Vip | None = None
    parents: tuple[str, ...] = field(default=())


def monitors(lab: Lab) -> list[Host]:
    return lab.hosts_with(ROLE)


def monitor(lab: Lab) -> Host | None:
    """The host that runs Nagios (the first monitor host), or None: then chapter 08 does
    nothing but install nothing either."""
    found = monitors(lab)
    return found[0] if found else None


def shared_network(lab: Lab, host: Host) -> str | None:
    """The first network (lab.yml order) ``host`` shares with the monitor, or None."""
    mon = monitor(lab)
    if mon is None:
        return None
    return next((n for n in lab.networks if host.on(n) and mon.on(n)), None)


def check_address(lab: Lab, host: Host) -> ipaddress.IPv4Address:
    """Where the monitor reaches ``host`` (ping, NRPE, HTTP): its address on the first
    network both share. Validation guarantees the monitor sits on every network."""
    net = shared_network(lab, host)
    if net is None:
        raise KeyError(f"{host.name} shares no network with the monitor")
    return host.addresses[net]


def nrpe_allowed(lab: Lab, host: Host) -> list[ipaddress.IPv4Address]:
    """The only addresses NRPE on ``host`` answers: every monitor's address on a network
    ``host`` is on (the monitor asks itself through its own address, which is listed)."""
    return [m.addresses[n] for m in monitors(lab) for n in lab.networks
            if m.on(n) and host.on(n)]


def ui_address(lab: Lab) -> ipaddress.IPv4Address | None:
    """Where the web UI listens: the monitor's front address (the client host reaches it;
    nothing on the DB network needs it)."""
    mon = monitor(lab)
    if mon is None:
        return None
    return mon.addresses.get("front") or mon.primary_address


def vip_host_name(lab: Lab, vip: Vip) -> str:
    return f"{vip.name}.{lab.domain}"


def hosts(lab: Lab) -> list[NagiosHost]:
    """Every Nagios host: the VMs (lab.yml order), then the VIPs (lab.yml order)."""
    if monitor(lab) is None:
        return []
    out = [NagiosHost(h.name, check_address(lab, h), lab.fqdn(h), tuple(h.roles))
           for h in lab.hosts.values()]
    for v in lab.vips.values():
        holders = tuple(h.name for h in lab.hosts_with(v.holder))
        out.append(NagiosHost(vip_host_name(lab, v), v.address,
                              f"VIP {v.name}, held by the {v.holder} pair", ("vips",), v,
                              holders))
    return out


def host_groups(lab: Lab) -> dict[str, list[str]]:
    """Host group per role (roles that have hosts, lab.yml order), then ``vips``."""
    groups: dict[str, list[str]] = {}
    for h in hosts(lab):
        for g in h.groups:
            groups.setdefault(g, []).append(h.name)
    return groups


# -- NRPE: what each host runs for the monitor ------------------------------------------------


def _plugin(os_plugins: str, name: str) -> str:
    return f"{os_plugins}/{name}"


def time_reference(lab: Lab, host: Host) -> ipaddress.IPv4Address:
    """What ``host``'s clock is compared with: its NTP upstream (chapter 01), or for the time
    server itself its own address (it must answer NTP: every other host depends on it)."""
    return timesync.upstream(lab, host) or host.primary_address


def nrpe_commands(lab: Lab, host: Host, plugins: str) -> list[NrpeCommand]:
    """The commands NRPE on ``host`` may run, all fixed here (no argument comes from the
    network). ``plugins`` is the OS's plugin directory."""
    out = [
        NrpeCommand("webfarm_load", f"{_plugin(plugins, 'check_load')} -r "
                    f"-w {LOAD['warning']} -c {LOAD['critical']}"),
        NrpeCommand("webfarm_disk", f"{_plugin(plugins, 'check_disk')} "
                    f"-w {DISK['warning']} -c {DISK['critical']} -p /"),
        # the lab's VMs have no swap: that is their design, not a fault
        NrpeCommand("webfarm_swap", f"{_plugin(plugins, 'check_swap')} -n ok -w 20% -c 10%"),
        NrpeCommand("webfarm_procs", f"{_plugin(plugins, 'check_procs')} "
                    f"-w {PROCS['warning']} -c {PROCS['critical']}"),
        NrpeCommand("webfarm_time", f"{_plugin(plugins, 'check_ntp_time')} "
                    f"-H {time_reference(lab, host)} -w {TIME_OFFSET_S['warning']} "
                    f"-c {TIME_OFFSET_S['critical']} -t 10"),
    ]
    if "director" in host.roles or dblb.ROLE in host.roles:
        out.append(NrpeCommand("webfarm_keepalived",
                               f"{_plugin(plugins, 'check_procs')} -C keepalived -c 1:"))
    for v in lab.vips.values():
        if v.holder in host.roles:
            out.append(NrpeCommand(f"webfarm_holds_{v.name}",
                                   f"{PLUGIN_DIR}/check_webfarm_holds {v.address}"))
    if "director" in host.roles:
        for v in lvs.virtual_services(lab):
            servers = " ".join(str(a) for a in lvs.real_servers(lab, v))
            out.append(NrpeCommand(f"webfarm_ipvs_{v.name}",
                                   f"{PLUGIN_DIR}/check_webfarm_ipvs {v.address} {v.port} "
                                   f"{servers}"))
    if dbplan.arbitrator(lab) == host:
        out.append(NrpeCommand("webfarm_garbd",
                               f"{_plugin(plugins, 'check_procs')} -C garbd -c 1:"))
    if lab.engine == dbplan.NDB:
        if "db_data" in host.roles:
            out.append(NrpeCommand("webfarm_ndbd",
                                   f"{_plugin(plugins, 'check_procs')} -C ndbd -c 1:"))
        if "db_mgmt" in host.roles:
            out.append(NrpeCommand("webfarm_ndb_mgmd",
                                   f"{_plugin(plugins, 'check_procs')} -C ndb_mgmd -c 1:"))
    return out


# -- the services -----------------------------------------------------------------------------


def _nrpe(host: str, description: str, tier: str, command: str) -> Service:
    return Service(host, description, tier, f"webfarm_nrpe!{command}", command)


def services(lab: Lab) -> list[Service]:
    """Every service Nagios checks, host by host (lab.yml order), then VIP by VIP."""
    mon = monitor(lab)
    if mon is None:
        return []
    out: list[Service] = []
    engine = lab.engine
    for h in lab.hosts.values():
        addr = check_address(lab, h)
        name = h.name
        out += [
            _nrpe(name, "Load", "system", "webfarm_load"),
            _nrpe(name, "Disk /", "system", "webfarm_disk"),
            _nrpe(name, "Swap", "system", "webfarm_swap"),
            _nrpe(name, "Processes", "system", "webfarm_procs"),
            _nrpe(name, "Time offset", "system", "webfarm_time"),
        ]
        if "director" in h.roles:
            out.append(_nrpe(name, "keepalived", "lvs", "webfarm_keepalived"))
            out += [_nrpe(name, f"IPVS {v.name}", "lvs", f"webfarm_ipvs_{v.name}")
                    for v in lvs.virtual_services(lab)]
        if "dns" in h.roles:
            out.append(Service(name, "DNS names", "dns", f"webfarm_dns_names!{addr}"))
            if not dnsplan.is_primary(lab, h):
                primary = dnsplan.address(dnsplan.primary(lab))
                out.append(Service(name, "DNS serial", "dns",
                                   f"webfarm_dns_serial!{dnsplan.address(h)}!{primary}"))
        for role in ("app", "media"):
            if role in h.roles:
                for v in lab.vips_served_by(role):
                    out.append(Service(
                        name, f"HTTP {v.name}", "web",
                        f"webfarm_http_health!{h.addresses[v.network]}!"
                        f"{vip_host_name(lab, v)}!{v.port}!{h.name}"))
        if dbplan.is_node(lab, h):
            db_addr = dbplan.address(h)
            if engine == dbplan.GALERA:
                out.append(Service(name, "Galera synced", "db",
                                   f"webfarm_galera_agent!{db_addr}!{dbplan.HEALTH_PORT}"))
                size = dbplan.cluster_size(lab)
                out.append(Service(name, "Galera cluster size", "db",
                                   f"webfarm_galera_size!{db_addr}!{size}!{size // 2 + 1}"))
            elif "db_sql" in h.roles:
                out.append(Service(name, "MySQL", "db", f"webfarm_mysql!{db_addr}!3306"))
        if engine == dbplan.GALERA and dbplan.arbitrator(lab) == h:
            out.append(_nrpe(name, "garbd", "db", "webfarm_garbd"))
        if engine == dbplan.NDB:
            if "db_data" in h.roles:
                out.append(_nrpe(name, "ndbd", "db", "webfarm_ndbd"))
            if "db_mgmt" in h.roles:
                out.append(_nrpe(name, "ndb_mgmd", "db", "webfarm_ndb_mgmd"))
        if dblb.ROLE in h.roles:
            out.append(_nrpe(name, "keepalived", "dblb", "webfarm_keepalived"))
            v = dblb.vip(lab)
            out.append(Service(name, "HAProxy backends", "dblb",
                               f"webfarm_haproxy!{dblb.stats_address(h)}!{v.stats_port}"))
        if h.name == mon.name:
            out.append(Service(name, "Nagios web UI", "monitor",
                               f"webfarm_ui!{ui_address(lab)}"))
    for v in lab.vips.values():
        vhost = vip_host_name(lab, v)
        holders = lab.hosts_with(v.holder)
        held = ",".join(f"{x.name}={check_address(lab, x)}" for x in holders)
        out.append(Service(vhost, "VIP holder", "vips",
                           f"webfarm_vip_holder!{v.name}!{held}"))
        if v.holder == lvs.DIRECTOR:
            out.append(Service(vhost, "HTTP", "vips",
                               f"webfarm_http_vip!{v.address}!{vhost}!{v.port}"))
        elif v.holder == dblb.ROLE:
            out.append(Service(vhost, "SQL write", "vips",
                               f"webfarm_mysql!{v.address}!{v.port}"))
            if v.read_port:
                out.append(Service(vhost, "SQL read", "vips",
                                   f"webfarm_mysql!{v.address}!{v.read_port}"))
    return out


def service_count(lab: Lab) -> int:
    return len(services(lab))


def dns_expectations(lab: Lab) -> list[tuple[str, ipaddress.IPv4Address]]:
    """(fully qualified name, address) of every A record the zone must answer."""
    records = dnsplan.host_records(lab) + dnsplan.vip_records(lab)
    return [(f"{r.name}.{lab.domain}", r.address) for r in records]


def holders_addresses(lab: Lab, vip: Vip) -> list[ipaddress.IPv4Address]:
    return [check_address(lab, h) for h in lab.hosts_with(vip.holder)]
