"""Chapter 08-monitor without a VM: render the monitor's Nagios configuration and every host's
NRPE configuration (the real lab.yml and the test fixture, every profile, Debian 12 and EL9),
check Nagios's objects with Nagios's own verifier (``nagios4 -v``), count the services against
a table written here from lab.yml (not from webfarm/monitor.py), check that every NRPE
command a service asks for is defined on that host and nothing else is, and run the lab's
plugins against stand-ins (an HTTP server serving HAProxy CSV, an ip_vs file, a fake
check_nrpe)."""

from __future__ import annotations

import copy
import grp
import http.server
import ipaddress
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _chapter import render_chapter

from webfarm import dnsplan, lvs, monitor, topology
from webfarm import os as osdata
from webfarm import secrets as lab_secrets
from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"fixture": ROOT / "tests/fixtures/lab.yml", "lab.yml": ROOT / "lab.yml"}
RAW = {name: yaml.safe_load(path.read_text(encoding="utf-8")) for name, path in SOURCES.items()}
SECRETS = {name: gen() for name, gen in lab_secrets.GENERATORS.items()}
CHAPTER = "08-monitor"
OSES = {"debian12": "debian12", "el9": "almalinux9"}  # variant -> lab.os (a box of lab.yml)

CASES = [pytest.param(s, p, o, id=f"{s}-{p}-{o}")
         for s in SOURCES for p in RAW[s]["profiles"] for o in OSES]


def build(source: str, profile: str, os_variant: str = "debian12") -> Lab:
    raw = copy.deepcopy(RAW[source])
    raw["lab"]["os"] = OSES[os_variant]
    return topology.build(raw, str(SOURCES[source]), profile)


def rendered(lab: Lab, host: Host, out: Path, secrets: dict[str, str] = SECRETS) -> Path:
    """This chapter's files for ``host`` (tests/configs/_chapter.py)."""
    return render_chapter(lab, host, CHAPTER, out, secrets)


def render_all(lab: Lab, out: Path) -> dict[str, Path]:
    return {h.name: rendered(lab, h, out) for h in lab.hosts.values()}


def the_monitor(lab: Lab) -> Host:
    mon = monitor.monitor(lab)
    assert mon is not None, "the lab has a monitor host"
    return mon


def tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (ROOT / ".venv/bin" / name, Path("/usr/sbin") / name,
                          Path("/sbin") / name) if os.access(p, os.X_OK)), None)


def run(*cmd: str, timeout: int = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)


# ---------------------------------------------------------------------------------------------
# Readers: Nagios object files, key=value files


def parse_objects(text: str) -> list[tuple[str, dict[str, str]]]:
    """``define TYPE { key value ... }`` blocks as (TYPE, {key: value}); comments dropped."""
    objects: list[tuple[str, dict[str, str]]] = []
    current: tuple[str, dict[str, str]] | None = None
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        start = re.fullmatch(r"define\s+(\w+)\s*\{", line)
        if start:
            assert current is None, f"define inside a define: {raw_line!r}"
            current = (start[1], {})
        elif line == "}":
            assert current is not None, "} outside any define"
            objects.append(current)
            current = None
        else:
            assert current is not None, f"line outside any define: {raw_line!r}"
            key, *rest = line.split(None, 1)
            value = rest[0] if rest else ""
            assert key not in current[1], f"{key} twice in one {current[0]}"
            current[1][key] = value.strip()
    assert current is None, "unterminated define"
    return objects


def objects_of(files: Path, kind: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for path in sorted((files / "objects").glob("*.cfg")):
        out += [o for k, o in parse_objects(path.read_text(encoding="utf-8")) if k == kind]
    return out


def key_values(text: str) -> list[tuple[str, str]]:
    """``key=value`` lines (nagios.cfg, cgi.cfg, nrpe.cfg), in order; comments dropped."""
    out = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not a key=value line: {raw_line!r}"
            out.append((key, value))
    return out


def nrpe_config(files: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, commands) of a host's nrpe.d/webfarm.cfg."""
    settings: dict[str, str] = {}
    commands: dict[str, str] = {}
    for key, value in key_values((files / "nrpe-webfarm.cfg").read_text(encoding="utf-8")):
        m = re.fullmatch(r"command\[([\w.-]+)\]", key)
        target = commands if m else settings
        name = m[1] if m else key
        assert name not in target, f"{key} twice"
        target[name] = value
    return settings, commands


# ---------------------------------------------------------------------------------------------
# The count of services, from lab.yml data with a table written here

SYSTEM_PER_VM = 5  # load, disk, swap, processes, time offset
PER_ROLE = {  # services a role adds to its host, besides the ones computed below
    "dblb": 2,  # keepalived, HAProxy backends
    "monitor": 1,  # the web UI
}


def expected_services(raw: dict[str, Any], profile: str) -> dict[str, int]:
    """Nagios host name -> number of services, straight from lab.yml's data."""
    hosts = raw["profiles"][profile]["hosts"]
    vips = raw["vips"]
    family = raw["boxes"][raw["lab"]["os"]]["family"]
    engine = raw["lab"].get("db_engine", "auto")
    if engine == "auto":  # NDB where packaged (EL9), else Galera
        engine = "ndb" if family == "el9" else "galera"
    roles = {name: set(h["roles"]) for name, h in hosts.items()}

    def having(role: str) -> list[str]:
        return [n for n in hosts if role in roles[n]]

    director_vips = [v for v in vips.values() if v["holder"] == "director"]
    galera_nodes = [n for n in hosts if roles[n] & {"db_data", "db_sql"}]
    arbitrator = (having("db_mgmt")[0] if engine == "galera" and len(galera_nodes) % 2 == 0
                  and having("db_mgmt") else None)
    primary_dns = having("dns")[0]
    out: dict[str, int] = {}
    for name, rs in roles.items():
        n = SYSTEM_PER_VM + sum(PER_ROLE.get(r, 0) for r in rs)
        if "director" in rs:
            n += 1 + len(director_vips)  # keepalived, one IPVS pool per director VIP
        if "dns" in rs:
            n += 1 if name == primary_dns else 2  # names; a secondary's serial too
        for r in ("app", "media"):
            if r in rs:
                n += sum(1 for v in vips.values() if v["pool"] == r)  # HTTP per VIP served
        if engine == "galera":
            n += 2 if name in galera_nodes else 0  # synced (agent), cluster size
            n += 1 if name == arbitrator else 0  # garbd
        else:
            n += sum(1 for r in ("db_sql", "db_data", "db_mgmt") if r in rs)  # mysqld, ndbd, mgmd
        out[name] = n
    for vname, v in vips.items():
        n = 1  # which holder has it
        if v["holder"] == "director":
            n += 1  # HTTP through the VIP
        elif v["holder"] == "dblb":
            n += 2  # SQL write port, SQL read port (read_port, 3307 unless set)
        out[f"{vname}.{raw['lab']['domain']}"] = n
    return out


# pinned for the frozen fixture (Debian: Galera), so the table above cannot drift with the code
FIXTURE_TOTALS = {("mini", "debian12"): 70, ("full", "debian12"): 119,
                  ("mini", "el9"): 70, ("full", "el9"): 115}


@pytest.mark.parametrize(("source", "profile", "os_variant"), CASES)
def test_service_count_matches_the_table(source: str, profile: str, os_variant: str) -> None:
    raw = copy.deepcopy(RAW[source])
    raw["lab"]["os"] = OSES[os_variant]
    want = expected_services(raw, profile)
    lab = build(source, profile, os_variant)
    got = Counter(s.host for s in monitor.services(lab))
    assert dict(got) == want, "services per Nagios host differ from the table"
    assert monitor.service_count(lab) == sum(want.values())
    assert len(monitor.hosts(lab)) == len(raw["profiles"][profile]["hosts"]) + len(raw["vips"])
    if source == "fixture":
        assert sum(want.values()) == FIXTURE_TOTALS[(profile, os_variant)]


# ---------------------------------------------------------------------------------------------
# nagios -v on the rendered configuration


def nagios_binary() -> str:
    path = tool("nagios4") or tool("nagios")
    if path is None:
        pytest.skip("nagios4 is not installed here (apt-get install nagios4-core; "
                    "webfarm/scripts/setup-host.sh installs it with the test packages)")
    return path


def verify_copy(files: Path, scratch: Path) -> Path:
    """The rendered nagios.cfg made checkable here, the way provision/08-monitor/monitor.sh
    checks it on the VM: objects and resource.cfg copied to a scratch directory and cfg_dir /
    resource_file pointed at them. Also rewritten, for this machine only: the check result
    directory (EL9's does not exist here), the log file, and the user Nagios drops to (the
    current user: it can read the copy whether the tests run as root or not)."""
    shutil.copytree(files / "objects", scratch / "objects")
    shutil.copy(files / "resource.cfg", scratch / "resource.cfg")
    (scratch / "checkresults").mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    rewrite = {"cfg_dir": str(scratch / "objects"),
               "resource_file": str(scratch / "resource.cfg"),
               "check_result_path": str(scratch / "checkresults"),
               "log_file": str(scratch / "nagios.log"),
               "nagios_user": user, "nagios_group": group}
    text = (files / "nagios.cfg").read_text(encoding="utf-8")
    for key, value in rewrite.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        assert n == 1, f"nagios.cfg: expected one {key}= line, found {n}"
    cfg = scratch / "nagios.cfg"
    cfg.write_text(text, encoding="utf-8")
    return cfg


@pytest.mark.parametrize(("source", "profile", "os_variant"), CASES)
def test_nagios_verifies_the_configuration(source: str, profile: str, os_variant: str,
                                           tmp_path: Path) -> None:
    nagios = nagios_binary()
    lab = build(source, profile, os_variant)
    files = rendered(lab, the_monitor(lab), tmp_path / "render")
    scratch = tmp_path / "verify"
    scratch.mkdir()
    out = run(nagios, "-v", str(verify_copy(files, scratch)))
    said = out.stdout + out.stderr
    assert out.returncode == 0, f"nagios -v rejected the configuration:\n{said}"
    assert re.search(r"^Total Errors:\s+0$", said, re.M), said
    assert re.search(r"^Total Warnings:\s+0$", said, re.M), said
    services = re.search(r"Checked (\d+) services\.", said)
    hosts = re.search(r"Checked (\d+) hosts\.", said)
    assert services and hosts, said
    assert int(services[1]) == len(monitor.services(lab))
    assert int(hosts[1]) == len(monitor.hosts(lab))


@pytest.mark.parametrize("os_variant", OSES)
def test_nagios_cfg_reads_only_the_lab_objects(os_variant: str, tmp_path: Path) -> None:
    """One cfg_dir (the lab's generated objects), no cfg_file: nothing the package ships (its
    localhost example) is read. The paths are the ones monitor.sh installs to."""
    lab = build("fixture", "mini", os_variant)
    mon = the_monitor(lab)
    paths = osdata.get(mon.os.family).paths
    settings = key_values((rendered(lab, mon, tmp_path) / "nagios.cfg").read_text())
    keys = [k for k, _ in settings]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    conf = dict(settings)
    assert "cfg_file" not in conf
    assert conf["cfg_dir"] == paths["nagios_objects"]
    assert conf["resource_file"] == paths["nagios_resource"]
    assert conf["interval_length"] == "1"
    assert conf["nagios_user"] == conf["nagios_group"] == paths["nagios_user"]


# ---------------------------------------------------------------------------------------------
# The objects agree with each other and with the model


@pytest.mark.parametrize(("source", "profile", "os_variant"), CASES)
def test_objects_are_consistent(source: str, profile: str, os_variant: str,
                                tmp_path: Path) -> None:
    lab = build(source, profile, os_variant)
    files = rendered(lab, the_monitor(lab), tmp_path)
    commands = {c["command_name"]: c["command_line"] for c in objects_of(files, "command")}
    assert len(commands) == len(objects_of(files, "command")), "a command defined twice"
    hosts = [h for h in objects_of(files, "host") if h.get("register") != "0"]
    names = [h["host_name"] for h in hosts]
    assert len(names) == len(set(names)), "a host defined twice"
    model_hosts = {h.name: h for h in monitor.hosts(lab)}
    assert names == list(model_hosts)
    for h in hosts:
        assert h["address"] == str(model_hosts[h["host_name"]].address)
        for parent in filter(None, h.get("parents", "").split(",")):
            assert parent in names, f"{h['host_name']}: unknown parent {parent}"
    for g in objects_of(files, "hostgroup"):
        assert set(g["members"].split(",")) <= set(names), g

    services = [s for s in objects_of(files, "service") if s.get("register") != "0"]
    pairs = [(s["host_name"], s["service_description"]) for s in services]
    assert len(pairs) == len(set(pairs)), [p for p, n in Counter(pairs).items() if n > 1]
    assert [(*p, s["check_command"]) for p, s in zip(pairs, services, strict=True)] == \
        [(s.host, s.description, s.command) for s in monitor.services(lab)]
    for s in services:
        assert s["host_name"] in names, f"service on unknown host {s['host_name']}"
        name, *args = s["check_command"].split("!")
        assert name in commands, f"{s['host_name']}/{s['service_description']}: no command " \
                                 f"{name} in commands.cfg"
        used = [int(n) for n in re.findall(r"\$ARG(\d+)\$", commands[name])]
        assert len(args) == max(used, default=0), \
            f"{s['service_description']}: {len(args)} arguments for {name}, which uses " \
            f"$ARG1$..$ARG{max(used, default=0)}$"
        assert all(args), f"{s['check_command']}: an empty argument"


# ---------------------------------------------------------------------------------------------
# NRPE on every host


def first_shared_address(raw: dict[str, Any], profile: str, name: str) -> str:
    """The host's address on the first network (lab.yml order) the monitor is on too."""
    hosts = raw["profiles"][profile]["hosts"]
    mon = next(h for h in hosts.values() if "monitor" in h["roles"])
    net = next(n for n in raw["networks"] if n in hosts[name]["networks"] and n in
               mon["networks"])
    return str(hosts[name]["networks"][net])


@pytest.mark.parametrize(("source", "profile", "os_variant"), CASES)
def test_nrpe_answers_only_the_monitor_and_defines_what_is_asked(
        source: str, profile: str, os_variant: str, tmp_path: Path) -> None:
    raw = RAW[source]
    lab = build(source, profile, os_variant)
    mon = the_monitor(lab)
    mon_addrs = {str(a) for a in mon.addresses.values()}
    plugins = osdata.get(mon.os.family).paths["nagios_plugins"]
    trees = render_all(lab, tmp_path)
    configs = {name: nrpe_config(files) for name, files in trees.items()}
    asked: dict[str, set[str]] = {name: set() for name in lab.hosts}
    for s in monitor.services(lab):
        if s.command.startswith("webfarm_nrpe!"):
            assert s.host in lab.hosts, f"NRPE asked of a VIP: {s}"
            assert s.command == f"webfarm_nrpe!{s.nrpe}"
        if s.nrpe:
            asked[s.host].add(s.nrpe)
        if s.command.startswith("webfarm_vip_holder!"):
            # the monitor's check_webfarm_vip asks each holder's NRPE for webfarm_holds_VIP
            _, vip, held = s.command.split("!")
            for pair in held.split(","):
                holder, addr = pair.split("=")
                assert addr == configs[holder][0]["server_address"], pair
                asked[holder].add(f"webfarm_holds_{vip}")

    for host in lab.hosts.values():
        settings, commands = configs[host.name]
        text = (trees[host.name] / "nrpe-webfarm.cfg").read_text(encoding="utf-8")
        assert settings["server_address"] == first_shared_address(raw, profile, host.name)
        assert settings["server_port"] == str(monitor.NRPE_PORT)
        allowed = settings["allowed_hosts"].split(",")
        assert allowed and set(allowed) <= mon_addrs, f"{host.name}: allowed_hosts {allowed}"
        assert set(allowed) == {str(mon.addresses[n]) for n in host.networks if mon.on(n)}
        assert settings["dont_blame_nrpe"] == "0"
        assert settings["allow_bash_command_substitution"] == "0"
        assert "$ARG" not in text, f"{host.name}: NRPE command with an argument"
        missing = asked[host.name] - set(commands)
        assert not missing, f"{host.name}: the monitor asks for undefined {sorted(missing)}"
        unused = set(commands) - asked[host.name]
        assert not unused, f"{host.name}: NRPE commands nobody asks for: {sorted(unused)}"
        for name, line in commands.items():
            program = line.split()[0]
            assert program.startswith((f"{plugins}/", f"{monitor.PLUGIN_DIR}/")), (name, line)
            if program.startswith(f"{monitor.PLUGIN_DIR}/"):
                assert (trees[host.name] / Path(program).name).is_file(), \
                    f"{host.name}: {program} is not rendered for this host"
        env = run("bash", "-c", 'set -eu; source "$1"; printf "%s|%s" "$NRPE_SOURCES" '
                  '"$NRPE_PORT"', "_", str(trees[host.name] / "nrpe.env"))
        assert env.returncode == 0, env.stderr
        assert env.stdout == f"{' '.join(allowed)}|{monitor.NRPE_PORT}"


# ---------------------------------------------------------------------------------------------
# Secrets, the web UI


@pytest.mark.parametrize(("source", "profile", "os_variant"), CASES)
def test_db_password_only_in_the_option_file(source: str, profile: str, os_variant: str,
                                             tmp_path: Path) -> None:
    lab = build(source, profile, os_variant)
    mon = the_monitor(lab)
    trees = render_all(lab, tmp_path)
    password = SECRETS["db_monitor_password"]
    ui_password = SECRETS["nagios_admin_password"]
    holding = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if p.is_file() and password in p.read_text(encoding="utf-8"))
    assert holding == [f"{mon.name}/files/{CHAPTER}/{monitor.MYSQL_OPTIONS}"]
    ui_holding = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                        if p.is_file() and ui_password in p.read_text(encoding="utf-8"))
    assert ui_holding == [f"{mon.name}/files/{CHAPTER}/monitor.env"]
    files = trees[mon.name]
    for name in ("objects/commands.cfg", "objects/services.cfg", "resource.cfg"):
        assert password not in (files / name).read_text(encoding="utf-8"), name
    paths = osdata.get(mon.os.family).paths
    conf_dir = paths["nagios_conf"].rsplit("/", 1)[0]
    resource = dict(key_values((files / "resource.cfg").read_text(encoding="utf-8")))
    assert resource["$USER3$"] == f"{conf_dir}/{monitor.MYSQL_OPTIONS}"
    assert resource["$USER2$"] == monitor.PLUGIN_DIR
    assert resource["$USER1$"] == paths["nagios_plugins"]


def test_monitor_script_installs_secrets_0640() -> None:
    script = (ROOT / "provision" / CHAPTER / "monitor.sh").read_text(encoding="utf-8")
    for src, dest in (("webfarm-mysql.cnf", r'"\$NAGIOS_CONF_DIR/\$MYSQL_OPTIONS"'),
                      ("resource.cfg", r'"\$WF_PATH_NAGIOS_RESOURCE"')):
        assert re.search(rf'wf_put "\$WF_FILES/08-monitor/{re.escape(src)}" {dest} 0640 '
                         r'\\\n\s+"root:\$WF_PATH_NAGIOS_USER"', script), src


@pytest.mark.parametrize("os_variant", OSES)
@pytest.mark.parametrize("profile", RAW["fixture"]["profiles"])
def test_web_ui_front_address_only_behind_the_password(profile: str, os_variant: str,
                                                      tmp_path: Path) -> None:
    lab = build("fixture", profile, os_variant)
    mon = the_monitor(lab)
    front = str(mon.addresses["front"])
    files = rendered(lab, mon, tmp_path)
    ports = (files / "apache-ports.conf").read_text(encoding="utf-8")
    listens = [line.split()[1:] for line in ports.splitlines() if line.strip().startswith(
        "Listen")]
    assert listens == [[f"{front}:80"]]
    site = (files / "apache-nagios.conf").read_text(encoding="utf-8")
    assert re.search(rf"^<VirtualHost {re.escape(front)}:80>$", site, re.M)
    location = re.search(r'<Location "/">(.*?)</Location>', site, re.S)
    assert location, "no <Location \"/\"> block"
    body = [line.strip() for line in location[1].splitlines() if line.strip()]
    assert "Require valid-user" in body and "AuthType Basic" in body
    assert f"AuthUserFile {osdata.get(mon.os.family).paths['nagios_htpasswd']}" in body
    assert not re.search(r"(?i)require\s+(all\s+granted|ip|host)", site), \
        "a Require that lets someone in without the password"
    cgi = key_values((files / "cgi.cfg").read_text(encoding="utf-8"))
    assert ("use_authentication", "1") in cgi
    assert "default_user_name" not in dict(cgi)
    env = run("bash", "-c", 'set -eu; source "$1"; printf "%s|%s" "$UI_ADDRESS" "$UI_USER"',
              "_", str(files / "monitor.env"))
    assert env.stdout == f"{front}|{monitor.UI_USER}", env.stderr


def test_monitor_script_disables_the_package_snippet() -> None:
    """Debian's nagios4-cgi snippet lets any private address in without a password."""
    script = (ROOT / "provision" / CHAPTER / "monitor.sh").read_text(encoding="utf-8")
    assert re.search(r"^\s+a2disconf -q nagios4-cgi\b", script, re.M)
    assert re.search(r"^\s+a2dissite -q 000-default\b", script, re.M)


def test_only_the_monitor_gets_nagios(tmp_path: Path) -> None:
    for profile in RAW["fixture"]["profiles"]:
        lab = build("fixture", profile)
        for host in lab.hosts.values():
            files = rendered(lab, host, tmp_path / profile)
            assert (files / "nrpe-webfarm.cfg").is_file(), host.name
            is_mon = host.has_role(monitor.ROLE)
            for name in ("nagios.cfg", "objects/services.cfg", "webfarm-mysql.cnf"):
                assert (files / name).exists() == is_mon, (profile, host.name, name)


# ---------------------------------------------------------------------------------------------
# Scripts and plugins


def plugin_files(files: Path) -> list[Path]:
    return [files / "check_webfarm_holds", files / "check_webfarm_ipvs",
            *sorted((files / "plugins").iterdir())]


@pytest.mark.parametrize("os_variant", OSES)
def test_shellcheck_plugins_and_scripts(os_variant: str, tmp_path: Path) -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (.venv/bin/shellcheck comes with the venv)")
    lab = build("fixture", "full", os_variant)
    plugins = plugin_files(rendered(lab, the_monitor(lab), tmp_path))
    assert len(plugins) == 7
    for p in plugins:
        assert p.read_text(encoding="utf-8").startswith("#!/bin/bash\n"), p.name
    scripts = sorted((ROOT / "provision" / CHAPTER).glob("*.sh"))
    assert [s.name for s in scripts] == ["all.sh", "monitor.sh"]
    out = run(shellcheck, "-x", "-s", "bash", *map(str, [*scripts, *plugins]), cwd=ROOT,
              timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def mon_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's mini monitor's files (Debian), rendered once for the plugin tests."""
    lab = build("fixture", "mini")
    return rendered(lab, the_monitor(lab), tmp_path_factory.mktemp("mon"))


def plugin(files: Path, name: str, *args: str,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("bash", str(files / name), *args, timeout=30, env=env)


# HAProxy's stats CSV: the header, then pxname,svname,... with the status in field 18.
CSV_HEADER = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,"
              "eresp,wretr,wredis,status,weight,act,bck\n")


def csv_row(proxy: str, server: str, status: str) -> str:
    fields = [proxy, server, *["0"] * 15, status, "1", "1", "0"]
    return ",".join(fields) + "\n"


def stats_csv(servers: dict[str, str], backend: str = "UP") -> str:
    rows = [csv_row("db_write", "FRONTEND", "OPEN")]
    rows += [csv_row("db_write", name, status) for name, status in servers.items()]
    rows.append(csv_row("db_write", "BACKEND", backend))
    rows += [csv_row("stats", "FRONTEND", "OPEN"), csv_row("stats", "BACKEND", "UP")]
    return CSV_HEADER + "".join(rows)


@pytest.fixture
def csv_server() -> Iterator[tuple[int, dict[str, str]]]:
    """An HTTP server on 127.0.0.1 that answers any GET with ``body["csv"]``."""
    body = {"csv": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body["csv"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], body
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("servers", "backend", "code", "word"), [
    ({"db1": "UP", "db2": "UP"}, "UP", 0, "OK 2/2 servers UP"),
    ({"db1": "UP", "db2": "DOWN"}, "UP", 1, "WARNING 1/2 servers UP"),
    ({"db1": "UP", "db2": "MAINT"}, "UP", 1, "db_write/db2=MAINT"),
    ({"db1": "UP 1/2", "db2": "UP"}, "UP", 0, "OK 2/2"),  # going down, still UP
    ({"db1": "DOWN", "db2": "DOWN"}, "DOWN", 2, "CRITICAL backends DOWN: db_write"),
], ids=["all-up", "one-down", "one-maint", "transitional-up", "backend-down"])
def test_haproxy_plugin(mon_files: Path, csv_server: tuple[int, dict[str, str]],
                        servers: dict[str, str], backend: str, code: int, word: str) -> None:
    if not Path("/usr/bin/curl").exists() and not Path("/bin/curl").exists():
        pytest.skip("curl is not installed (the plugin runs /usr/bin/curl)")
    port, body = csv_server
    body["csv"] = stats_csv(servers, backend)
    out = plugin(mon_files, "plugins/check_webfarm_haproxy", "127.0.0.1", str(port))
    assert out.returncode == code, out.stdout + out.stderr
    assert word in out.stdout, out.stdout


def test_haproxy_plugin_unreachable(mon_files: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = plugin(mon_files, "plugins/check_webfarm_haproxy", "127.0.0.1", str(port))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.startswith("CRITICAL no stats from HAProxy"), out.stdout


def test_notify_writes_one_tab_separated_line(mon_files: Path, tmp_path: Path) -> None:
    log = tmp_path / "notifications.log"
    text = (mon_files / "plugins/webfarm-notify").read_text(encoding="utf-8")
    paths = osdata.get("debian12").paths
    assert re.search(rf"^log='?{re.escape(paths['nagios_var'])}/{monitor.NOTIFY_LOG}'?$",
                     text, re.M)
    text, n = re.subn(r"^log=.*$", f"log={log}", text, flags=re.M)
    assert n == 1
    script = tmp_path / "webfarm-notify"
    script.write_text(text, encoding="utf-8")
    for args in (("PROBLEM", "app1", "HTTP www", "CRITICAL", "CRITICAL - Socket timeout"),
                 ("RECOVERY", "www.webfarm.test", "-", "UP", "PING OK - 0% loss")):
        out = run("bash", str(script), *args)
        assert out.returncode == 0 and not out.stdout, out.stderr
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = lines[0].split("\t")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first[0]), first[0]
    assert first[1:] == ["PROBLEM", "app1", "HTTP www", "CRITICAL", "CRITICAL - Socket timeout"]
    assert lines[1].split("\t")[1:] == ["RECOVERY", "www.webfarm.test", "-", "UP",
                                        "PING OK - 0% loss"]


def hexaddr(addr: str, port: int) -> str:
    return f"{int(ipaddress.IPv4Address(addr)):08X}:{port:04X}"


IPVS_HEAD = ("IP Virtual Server version 1.2.1 (size=4096)\n"
             "Prot LocalAddress:Port Scheduler Flags\n"
             "  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")


def ip_vs(services: dict[tuple[str, str, int], dict[str, int]]) -> str:
    """/proc/net/ip_vs for {(proto, vip, port): {real: weight}}."""
    out = IPVS_HEAD
    for (proto, vip, port), reals in services.items():
        out += f"{proto}  {hexaddr(vip, port)} wlc\n"
        for real, weight in reals.items():
            out += f"  -> {hexaddr(real, port)}      Route   {weight}      0          0\n"
    return out


def ipvs_plugin(files: Path, tmp_path: Path, table: str | None) -> Path:
    """check_webfarm_ipvs reading a fixture file instead of /proc/net/ip_vs."""
    fake = tmp_path / "ip_vs"
    if table is not None:
        fake.write_text(table, encoding="utf-8")
    text = (files / "check_webfarm_ipvs").read_text(encoding="utf-8")
    assert text.count("/proc/net/ip_vs") >= 3
    script = tmp_path / "check_webfarm_ipvs"
    script.write_text(text.replace("/proc/net/ip_vs", str(fake)), encoding="utf-8")
    return script


def test_ipvs_plugin_runs_the_directors_nrpe_commands(tmp_path: Path) -> None:
    """Every director's webfarm_ipvs_* command, as NRPE runs it, against an IPVS table that
    holds exactly lab.yml's pools: OK."""
    lab = build("fixture", "full")
    table = ip_vs({("TCP", str(v.address), v.port): dict.fromkeys(
        map(str, lvs.real_servers(lab, v)), 1) for v in lvs.virtual_services(lab)})
    for director in lvs.directors(lab):
        files = rendered(lab, director, tmp_path / "render")
        (tmp_path / director.name).mkdir()
        script = ipvs_plugin(files, tmp_path / director.name, table)
        commands = {n: line for n, line in nrpe_config(files)[1].items()
                    if n.startswith("webfarm_ipvs_")}
        assert len(commands) == len(lvs.virtual_services(lab))
        for name, line in commands.items():
            argv = line.split()
            assert argv[0] == f"{monitor.PLUGIN_DIR}/check_webfarm_ipvs"
            out = run("bash", str(script), *argv[1:])
            assert out.returncode == 0, f"{director.name} {name}: {out.stdout}{out.stderr}"
            assert out.stdout.startswith("OK "), out.stdout


VIP, REAL1, REAL2 = "192.168.56.10", "192.168.56.41", "192.168.56.42"


@pytest.mark.parametrize(("table", "code", "word"), [
    ({("TCP", VIP, 80): {REAL1: 1, REAL2: 1}}, 0, "OK 192.168.56.10:80 -> 2/2"),
    ({("TCP", VIP, 80): {REAL1: 1}, ("UDP", VIP, 80): {REAL2: 1}}, 2,
     f"missing or weight 0: {REAL2}"),
    ({("TCP", VIP, 80): {REAL1: 1, REAL2: 0}}, 2, f"missing or weight 0: {REAL2}"),
    ({("TCP", VIP, 80): {}}, 2, "0/2 real servers"),
    ({("TCP", "192.168.56.11", 80): {REAL1: 1, REAL2: 1}}, 2, "no virtual service"),
    ({("TCP", VIP, 8080): {REAL1: 1, REAL2: 1}}, 2, "no virtual service"),
    (None, 2, "no IPVS"),
], ids=["all-present", "one-missing-udp-ignored", "weight-0", "empty-pool", "other-vip",
        "other-port", "no-ipvs"])
def test_ipvs_plugin(mon_files: Path, tmp_path: Path, table: Any, code: int,
                     word: str) -> None:
    script = ipvs_plugin(mon_files, tmp_path, None if table is None else ip_vs(table))
    out = run("bash", str(script), VIP, "80", REAL1, REAL2)
    assert out.returncode == code, out.stdout + out.stderr
    assert word in out.stdout, out.stdout


def test_ipvs_plugin_usage(mon_files: Path) -> None:
    out = plugin(mon_files, "check_webfarm_ipvs", VIP, "80")
    assert out.returncode == 3 and out.stdout.startswith("UNKNOWN"), out.stdout


def test_holds_plugin_on_this_machine(mon_files: Path) -> None:
    """Data, not a verdict: HOLDS or FREE, exit 0 either way (loopback is held here)."""
    if tool("ip") is None:
        pytest.skip("iproute2 is not installed")
    held = plugin(mon_files, "check_webfarm_holds", "127.0.0.1")
    assert held.returncode == 0 and held.stdout.startswith("HOLDS 127.0.0.1 on "), held
    free = plugin(mon_files, "check_webfarm_holds", "192.0.2.77")  # TEST-NET-1: nobody's
    assert free.returncode == 0 and free.stdout.startswith("FREE 192.0.2.77 "), free


FAKE_NRPE = """#!/bin/bash
# check_nrpe -H ADDR -t 10 -c COMMAND: answers from $FAKE_ANSWERS ("addr=answer;...")
[ "$5" = -c ] && [ "$6" = webfarm_holds_www ] || { echo "bad call: $*"; exit 3; }
IFS=';' read -r -a pairs <<<"$FAKE_ANSWERS"
for p in "${pairs[@]}"; do
  if [ "${p%%=*}" = "$2" ]; then echo "${p#*=}"; exit 0; fi
done
echo "CHECK_NRPE: Error - Could not connect to $2"
exit 2
"""


@pytest.mark.parametrize(("answers", "code", "word"), [
    ("10.0.0.1=HOLDS x;10.0.0.2=FREE x", 0, "OK VIP www is on lb1"),
    ("10.0.0.1=FREE x;10.0.0.2=HOLDS x", 0, "OK VIP www is on lb2"),
    ("10.0.0.1=FREE x;10.0.0.2=FREE x", 2, "on none of its holders"),
    ("10.0.0.1=HOLDS x;10.0.0.2=HOLDS x", 2, "on 2 holders at once: lb1 lb2"),
    ("10.0.0.2=HOLDS x", 0, "OK VIP www is on lb2 (no answer from lb1)"),
    ("", 2, "none of its holders (no answer from lb1 lb2)"),
], ids=["first", "second", "none", "split-brain", "one-silent", "all-silent"])
def test_vip_plugin(mon_files: Path, tmp_path: Path, answers: str, code: int,
                    word: str) -> None:
    fake = tmp_path / "check_nrpe"
    fake.write_text(FAKE_NRPE, encoding="utf-8")
    fake.chmod(0o755)
    nrpe = f"{osdata.get('debian12').paths['nagios_plugins']}/check_nrpe"
    text = (mon_files / "plugins/check_webfarm_vip").read_text(encoding="utf-8")
    assert text.count(nrpe) == 1
    script = tmp_path / "check_webfarm_vip"
    script.write_text(text.replace(nrpe, str(fake)), encoding="utf-8")
    out = run("bash", str(script), "www", "lb1=10.0.0.1,lb2=10.0.0.2",
              env={**os.environ, "FAKE_ANSWERS": answers})
    assert out.returncode == code, out.stdout + out.stderr
    assert word in out.stdout, out.stdout


def test_dns_plugins_know_every_name(mon_files: Path) -> None:
    """check_webfarm_dns and check_webfarm_serial need a name server (not started here; the
    live checks run them): their data is checked instead - every A record of the zone, the
    zone name."""
    lab = build("fixture", "mini")
    text = (mon_files / "plugins/check_webfarm_dns").read_text(encoding="utf-8")
    listed = re.findall(r'^  "(\S+) (\S+)"$', text, re.M)
    want = [(f"{r.name}.{lab.domain}", str(r.address))
            for r in dnsplan.host_records(lab) + dnsplan.vip_records(lab)]
    assert listed == want and len(listed) >= len(lab.hosts) + len(lab.vips)
    serial = (mon_files / "plugins/check_webfarm_serial").read_text(encoding="utf-8")
    assert re.search(rf"^zone={re.escape(lab.domain)}$", serial, re.M)
