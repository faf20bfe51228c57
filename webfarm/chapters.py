"""The chapter registry: number, title, the roles each chapter provisions, and the order.

A chapter's files share its number: ``provision/NN-slug/`` (scripts), templates in
``webfarm/templates/NN-slug/``, config tests in ``tests/configs/test_NN_*.py``, checks in
``tests/chapters/test_NN_*.py`` and the tutorial page ``docs/chapters/NN-slug.md``. What no
file name can say is written in the registry: the OS-table keys a chapter reads, its facts
modules and its failover drills (the shell helpers of ``provision/lib/common.sh`` it calls,
and the facts modules that name the chapter in their docstring, are found by reading them).
:func:`files` lists all of them by kind (the tutorial's "This chapter's files" box and
``invoke chapter N --files``). Within a chapter, hosts run tier by tier: every host of a tier
in parallel, the next tier only once the previous one succeeded.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from webfarm.topology import Host, Lab

ROOT = Path(__file__).resolve().parent.parent
EVERY = "*"


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str  # directory name, e.g. "02-dns"
    title: str
    summary: str
    roles: tuple[str, ...]  # roles provisioned; EVERY means every host of the lab
    # Tiers in order. A selector is a role ("dns"), a role's first host ("dns[0]"), the rest
    # of that role ("dns[1:]"), or EVERY (all hosts of `roles` not yet placed).
    tiers: tuple[tuple[str, ...], ...] = ((EVERY,),)
    # Tiers that depend on lab.engine (chapter 05: Galera bootstraps its first node before the
    # others join; NDB starts management, then data, then SQL nodes); `tiers` otherwise.
    engine_tiers: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()
    # Links no file name carries (tests/unit/test_chapters.py checks each against the files):
    os_keys: tuple[str, ...] = ()  # keys of webfarm/os/*.yml the scripts/templates read
    # Python modules holding the chapter's facts, besides those whose docstring names the
    # chapter ("(chapter 02-dns)"), which files() finds by itself
    facts: tuple[str, ...] = ()
    drills: tuple[str, ...] = ()  # failover drills, tests/drills/test_NAME.py ('-' -> '_')
    # Drills run only when asked by name (`invoke drill NAME`): not by `invoke drill all`,
    # not by `invoke e2e` (too long for CI's run until measured; moving a name to `drills`
    # puts it there)
    on_demand_drills: tuple[str, ...] = ()

    @property
    def page(self) -> Path:
        return ROOT / "docs" / "chapters" / f"{self.slug}.md"

    @property
    def tag(self) -> str:
        return f"{self.number:02d}"

    @property
    def provision_dir(self) -> Path:
        return ROOT / "provision" / self.slug

    def hosts(self, lab: Lab) -> list[Host]:
        """The hosts this chapter provisions, in lab.yml order."""
        if EVERY in self.roles:
            return list(lab.hosts.values())
        return [h for h in lab.hosts.values() if any(r in h.roles for r in self.roles)]

    def tiers_for(self, lab: Lab) -> list[list[Host]]:
        """Hosts grouped into tiers; each host appears once, in its first matching tier."""
        targets = self.hosts(lab)
        placed: set[str] = set()
        out: list[list[Host]] = []
        for tier in dict(self.engine_tiers).get(lab.engine, self.tiers):
            group: list[Host] = []
            for selector in tier:
                for host in _select(lab, targets, selector):
                    if host.name not in placed:
                        placed.add(host.name)
                        group.append(host)
            if group:
                out.append(group)
        rest = [h for h in targets if h.name not in placed]
        if rest:
            out.append(rest)
        return out


def _select(lab: Lab, targets: list[Host], selector: str) -> list[Host]:
    if selector == EVERY:
        return targets
    role, _, index = selector.partition("[")
    # "db_data|db_sql": the hosts with either role, in lab.yml order
    wanted = set(role.split("|"))
    members = [h for h in lab.hosts.values() if h in targets and wanted & set(h.roles)]
    if not index:
        return members
    index = index.rstrip("]")
    if index == "0":
        return members[:1]
    if index == "1:":
        return members[1:]
    raise ValueError(f"bad tier selector {selector!r}")


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(1, "01-base", "Base system",
            "hostname, /etc/hosts, time sync, package source, common tools",
            (EVERY,),
            os_keys=("family", "package_manager", "packages.base", "packages.client",
                     "services.chrony", "paths.chrony_conf", "paths.package_cache"),
            facts=("webfarm/timesync.py", "webfarm/mgmtnet.py")),
    Chapter(2, "02-dns", "DNS: a BIND 9 primary and secondary",
            "zone for the lab domain, TSIG-signed transfers, every host resolves through both",
            (EVERY,), (("dns[0]",), ("dns[1:]",), (EVERY,)),
            os_keys=("packages.dns", "services.named", "services.network_manager",
                     "services.resolved", "paths.named_conf", "paths.named_conf_dir",
                     "paths.named_data_dir", "paths.named_group", "paths.named_run_dir",
                     "paths.named_secondary_dir", "paths.named_user", "paths.named_zone_dir",
                     "paths.nm_conf_d"),
            drills=("dns",)),
    Chapter(3, "03-web", "Web farm: app and media servers as LVS-DR real servers",
            "nginx + PHP-FPM app, static media, VIPs on lo, ARP sysctls",
            ("app", "media"),
            os_keys=("packages.web", "packages.php", "services.nginx", "services.php_fpm",
                     "paths.nginx_conf_d", "paths.nginx_default_site",
                     "paths.nginx_fastcgi_params", "paths.nginx_group", "paths.nginx_user",
                     "paths.php_fpm_bin", "paths.php_fpm_pool_dir", "paths.php_fpm_socket",
                     "paths.www_root"),
            facts=("webfarm/web.py",),
            drills=("web",)),
    Chapter(4, "04-lvs", "LVS-DR directors: keepalived VRRP + IPVS",
            "two directors share the www and media VIPs and balance to the real servers",
            ("director",),
            os_keys=("packages.lvs", "services.keepalived", "paths.keepalived_conf"),
            drills=("directors",)),
    Chapter(5, "05-db", "Database cluster: MariaDB Galera (NDB on EL9)",
            "every DB node in one synchronous cluster, an arbitrator for quorum, users, "
            "a health agent per node",
            ("db_mgmt", "db_data", "db_sql"),
            engine_tiers=(
                ("galera", (("db_data|db_sql[0]",), ("db_data|db_sql[1:]",), ("db_mgmt",))),
                ("ndb", (("db_mgmt",), ("db_data",), ("db_sql",))),
            ),
            os_keys=("packages.galera", "packages.arbitrator", "packages.db_client",
                     "packages.ndb_mgmt", "packages.ndb_data", "packages.ndb_sql",
                     "services.mariadb", "services.garb", "services.mysqld",
                     "paths.mysql_conf_d", "paths.mysql_datadir", "paths.mysql_socket",
                     "paths.galera_provider", "paths.garb_conf", "paths.ndb_my_cnf",
                     "selinux"),
            facts=("webfarm/dbplan.py",)),
    Chapter(6, "06-dblb", "DB load balancers: keepalived + HAProxy, reads spread, writes on one",
            "the db VIP on a VRRP pair, a write port to one node at a time, a read port over "
            "every node, health from each node's agent",
            ("dblb",),
            os_keys=("packages.dblb", "services.keepalived", "services.haproxy",
                     "paths.keepalived_conf", "paths.haproxy_conf", "paths.haproxy_socket"),
            facts=("webfarm/dblb.py", "webfarm/vrrp.py"),
            # both drills write through the db VIP, so they need this chapter
            drills=("db-node", "dblb")),
    Chapter(7, "07-app", "The app on the database",
            "a guestbook through the db VIP (writes to the write port, reads to the read "
            "port), PHP sessions in the database",
            ("app",), (("app[0]",), ("app[1:]",)),
            os_keys=("packages.php_cli", "services.nginx", "paths.nginx_conf_d",
                     "paths.nginx_fastcgi_params", "paths.nginx_group", "paths.php_fpm_socket",
                     "paths.www_root", "selinux"),
            facts=("webfarm/dbplan.py",)),
    Chapter(8, "08-monitor", "Monitoring: Nagios watches every host, pair and VIP",
            "NRPE on every host for the monitor only, Nagios objects generated from lab.yml, "
            "a web UI behind the lab's password, notifications a drill can read",
            (EVERY,),
            os_keys=("family", "packages.nagios", "packages.nrpe", "services.nagios",
                     "services.nrpe", "services.apache", "paths.nagios_plugins",
                     "paths.nrpe_conf_d",
                     "paths.nagios_conf", "paths.nagios_objects", "paths.nagios_cgi_cfg",
                     "paths.nagios_resource", "paths.nagios_htpasswd", "paths.nagios_var",
                     "paths.nagios_status", "paths.nagios_cmd", "paths.nagios_log_dir",
                     "paths.nagios_pid", "paths.nagios_htdocs", "paths.nagios_cgi_bin",
                     "paths.nagios_url", "paths.nagios_cgi_url", "paths.nagios_user",
                     "paths.nagios_bin", "paths.apache_conf", "paths.apache_ports",
                     "paths.apache_group"),
            drills=("nagios",),
            # adds an app server (every chapter on a new VM), then removes it: webfarm.scale
            on_demand_drills=("scale", "scale-db")),
)


def get(number: int | str) -> Chapter:
    """Chapter by number (``4``, ``"04"``) or slug (``"04-lvs"``)."""
    key = str(number)
    for ch in CHAPTERS:
        if key in (str(ch.number), ch.tag, ch.slug):
            return ch
    known = ", ".join(f"{c.number} ({c.slug})" for c in CHAPTERS)
    raise KeyError(f"no chapter {number!r}; chapters are: {known}")


def on_demand_drills() -> list[str]:
    """The drills run only when asked by name (Chapter.on_demand_drills)."""
    return [d for c in CHAPTERS for d in c.on_demand_drills]


def upto(n: int | None) -> list[Chapter]:
    return [c for c in CHAPTERS if n is None or c.number <= n]


# ---------------------------------------------------------------------------------------------
# A chapter's files, by kind

# kind -> heading, in the order they are listed
KINDS: dict[str, str] = {
    "script": "Scripts (one per role)",
    "template": "Templates",
    "os": "OS tables",
    "helpers": "Shell helpers",
    "facts": "Facts modules",
    "config": "Config tests (no VM)",
    "check": "Live checks",
    "drill": "Failover drills",
    "page": "Tutorial page",
}
OS_TABLES = ("webfarm/os/debian12.yml", "webfarm/os/el9.yml")
COMMON_SH = "provision/lib/common.sh"
_SCRIPT_ROLES = {"all": "every host", "finish": "every host, last"}


@dataclass(frozen=True)
class ChapterFile:
    kind: str  # a key of KINDS
    path: str  # relative to the project root, with "/" separators
    detail: str = ""  # the role of a script, the keys read from an OS table, the helpers called


def files(chapter: Chapter) -> list[ChapterFile]:
    """Every file of ``chapter``, by kind in :data:`KINDS` order, paths sorted within a kind.

    Scripts, templates, config tests and checks are found by their directory or name, the
    shell helpers by reading the scripts, facts modules by their docstring (and the registry
    entry); the OS-table keys and the drills come from the registry entry."""

    def rel(path: Path) -> str:
        return path.relative_to(ROOT).as_posix()

    out = [ChapterFile("script", rel(p), _SCRIPT_ROLES.get(p.stem, f"role {p.stem}"))
           for p in sorted(chapter.provision_dir.glob("*.sh"))]
    templates = ROOT / "webfarm" / "templates" / chapter.slug
    out += [ChapterFile("template", rel(p)) for p in sorted(templates.rglob("*")) if p.is_file()]
    if chapter.os_keys:
        out += [ChapterFile("os", t, ", ".join(chapter.os_keys)) for t in OS_TABLES]
    if called := helpers(chapter):
        out.append(ChapterFile("helpers", COMMON_SH, ", ".join(called)))
    out += [ChapterFile("facts", f) for f in facts(chapter)]
    for kind, folder in (("config", "configs"), ("check", "chapters")):
        found = sorted((ROOT / "tests" / folder).glob(f"test_{chapter.tag}_*.py"))
        out += [ChapterFile(kind, rel(p)) for p in found]
    out += [ChapterFile("drill", f"tests/drills/test_{d.replace('-', '_')}.py")
            for d in (*chapter.drills, *chapter.on_demand_drills)]
    out.append(ChapterFile("page", rel(chapter.page)))
    return out


def files_by_kind(chapter: Chapter) -> dict[str, list[ChapterFile]]:
    """:func:`files` grouped by kind (only the kinds the chapter has), in KINDS order."""
    grouped: dict[str, list[ChapterFile]] = {}
    for f in files(chapter):
        grouped.setdefault(f.kind, []).append(f)
    return grouped


_DEFINED = re.compile(r"^(wf_[a-z0-9_]+)\(\)", re.M)


def helpers(chapter: Chapter) -> list[str]:
    """Functions of provision/lib/common.sh the chapter's scripts call, in common.sh order."""
    scripts = "\n".join(p.read_text(encoding="utf-8")
                        for p in sorted(chapter.provision_dir.glob("*.sh")))
    defined = _DEFINED.findall((ROOT / COMMON_SH).read_text(encoding="utf-8"))
    return [name for name in defined if re.search(rf"(?<![\w-]){name}(?![\w-])", scripts)]


def facts(chapter: Chapter) -> list[str]:
    """The registry's facts modules, then every ``webfarm/*.py`` whose docstring's first
    paragraph names the chapter's slug ("Who gives the time to whom (chapter 01-base).")."""
    found = list(chapter.facts)
    slug = re.compile(rf"\b{re.escape(chapter.slug)}\b")
    for module in sorted((ROOT / "webfarm").glob("*.py")):
        rel = module.relative_to(ROOT).as_posix()
        if rel in found:
            continue
        try:
            doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
        except (SyntaxError, UnicodeDecodeError):  # a module being edited: not a fact now
            continue
        if slug.search(doc.split("\n\n")[0]):
            found.append(rel)
    return found
