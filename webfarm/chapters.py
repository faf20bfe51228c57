"""The chapter registry: number, title, the roles each chapter provisions, and the order.

A chapter is a quartet sharing its number: ``provision/NN-slug/`` (scripts), templates in
``webfarm/templates/NN-slug/``, checks in ``tests/chapters/test_NN_*.py`` and the tutorial page
``docs/chapters/NN-slug.md``. Within a chapter, hosts run tier by tier: every host of a tier
in parallel, the next tier only once the previous one succeeded.
"""

from __future__ import annotations

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
        for tier in self.tiers:
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
    members = [h for h in lab.hosts_with(role) if h in targets]
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
            (EVERY,)),
    Chapter(2, "02-dns", "DNS: a BIND 9 primary and secondary",
            "zone for the lab domain, TSIG-signed transfers, every host resolves through both",
            (EVERY,), (("dns[0]",), ("dns[1:]",), (EVERY,))),
    Chapter(3, "03-web", "Web farm: app and media servers as LVS-DR real servers",
            "nginx + PHP-FPM app, static media, VIPs on lo, ARP sysctls",
            ("app", "media")),
    Chapter(4, "04-lvs", "LVS-DR directors: keepalived VRRP + IPVS",
            "two directors share the www and media VIPs and balance to the real servers",
            ("director",)),
)


def get(number: int | str) -> Chapter:
    """Chapter by number (``4``, ``"04"``) or slug (``"04-lvs"``)."""
    key = str(number)
    for ch in CHAPTERS:
        if key in (str(ch.number), ch.tag, ch.slug):
            return ch
    known = ", ".join(f"{c.number} ({c.slug})" for c in CHAPTERS)
    raise KeyError(f"no chapter {number!r}; chapters are: {known}")


def upto(n: int | None) -> list[Chapter]:
    return [c for c in CHAPTERS if n is None or c.number <= n]
