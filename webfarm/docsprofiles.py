"""Profile blocks: a part of a page written once and shown once per profile of ``lab.yml``.

The getting-started page sends a 16 GB laptop to the ``mini`` profile, so a command that
names a host or an address must be true for ``mini`` as much as for ``full``. A page wraps
such a part in two comment lines::

    <!-- profiles -->
    ```bash
    invoke ssh {{ host.dns.0 }}
    dig @{{ addr.dns.0.front }} www.{{ lab.domain }}
    ```
    <!-- /profiles -->

The docs hook renders the part once per profile, every placeholder resolved from *that*
profile's lab model, and shows the results as tabs (``=== "mini"``, ``=== "full"``;
pymdownx.tabbed), the smallest profile first. When every profile gives the same text there
are no tabs, just the text. The markers may be indented (inside a list or an admonition):
the tabs keep that indentation.

Vocabulary inside a block (``ROLE`` is a role of ``webfarm/roles.py``, or ``ROLE|ROLE`` for
the hosts with either role; ``N`` counts those hosts from 0 in ``lab.yml`` order, so ``.0``
is the first one, the VRRP MASTER of a pair; ``NET`` is a network of ``lab.yml``):

================================  ==============================================================
``{{ profile }}``                 the profile's name
``{{ host.ROLE.N }}``             the name of the N-th host with ROLE (``host.dns.0``: ns1 / lb1)
``{{ fqdn.ROLE.N }}``             its name in the lab's domain
``{{ addr.ROLE.N.NET }}``         its address on NET
``{{ iface.ROLE.N.NET }}``        its interface on NET (eth1, eth2)
``{{ hosts.ROLE }}``              the names of every host with ROLE, space-separated
``{{ count.ROLE }}``              how many hosts have ROLE
``{{ chapter.N.hosts }}``         the hosts chapter N runs on, space-separated, in its tier order
                                  (``webfarm/chapters.py``): the order to provision them by hand
``{{ total.vms }}``               how many VMs the profile has
``{{ total.memory_mb }}``         the memory of all its VMs together, in MB
``{{ total.memory_gb }}``         the same in GB, one decimal
``{{ lab.… }}``                   a path of that profile's lab model (``webfarm.docsgen.lookup``)
================================  ==============================================================

Everything comes from ``lab.yml``. A name the vocabulary lacks, a role the profile has fewer
hosts of, a network the host is not on, a ``{{ lab.hosts.X… }}`` of a host the profile does
not have, a block that is never closed: each is a problem naming the page, the line and the
fix, which the hook logs as an error so that ``mkdocs build --strict`` fails.
``{{ "{{" }}`` is left alone (the hook's placeholder pass turns it into ``{{``).
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from webfarm import docsgen, topology
from webfarm.roles import ROLES

OPEN = "<!-- profiles -->"
CLOSE = "<!-- /profiles -->"
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_LITERAL = re.compile(r'"[^"]*"')
VOCABULARY = ("profile", "host.ROLE.N", "fqdn.ROLE.N", "addr.ROLE.N.NET", "iface.ROLE.N.NET",
              "hosts.ROLE", "count.ROLE", "chapter.N.hosts", "total.vms", "total.memory_mb",
              "total.memory_gb", "lab.PATH")


class ProfileBlockError(LookupError):
    """A placeholder of a profile block that names nothing in one profile; ``fix`` says how
    to repair the page."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


@functools.lru_cache(maxsize=8)
def _labs(lab_file: str, mtime: float) -> tuple[topology.Lab, ...]:
    default = topology.load(lab_file)
    labs = [topology.load(lab_file, name) for name in default.profiles]
    return tuple(sorted(labs, key=lambda lab: (len(lab.hosts), lab.profile)))


def labs(lab_file: Path | str) -> tuple[topology.Lab, ...]:
    """Every profile's lab model, the smallest profile first (the order of the tabs)."""
    path = Path(lab_file)
    return _labs(str(path), path.stat().st_mtime)


def _role_hosts(lab: topology.Lab, role: str) -> list[topology.Host]:
    """The hosts with ``role`` (``db_data|db_sql``: with either role), in lab.yml order."""
    wanted = role.split("|")
    for name in wanted:
        if name not in ROLES:
            raise ProfileBlockError(f"no role {name!r}", f"use one of: {', '.join(ROLES)}")
    return [h for h in lab.hosts.values() if set(wanted) & set(h.roles)]


def _nth(lab: topology.Lab, role: str, index: str, expr: str) -> topology.Host:
    hosts = _role_hosts(lab, role)
    if not index.isdigit():
        raise ProfileBlockError(f"{index!r} is not a host number",
                                f"count the hosts of a role from 0: {expr.rsplit('.', 1)[0]}.0")
    if int(index) >= len(hosts):
        have = ", ".join(h.name for h in hosts) or "none"
        raise ProfileBlockError(
            f"profile {lab.profile} has {len(hosts)} {role} host(s) ({have})",
            f"name a host every profile has (index below {len(hosts)}), or write this part "
            "outside the profile block for the profiles that have it")
    return hosts[int(index)]


def _on(lab: topology.Lab, host: topology.Host, net: str) -> str:
    if net not in lab.networks:
        raise ProfileBlockError(f"no network {net!r}", f"use one of: {', '.join(lab.networks)}")
    if not host.on(net):
        raise ProfileBlockError(
            f"in profile {lab.profile}, {host.name} is not on the {net} network "
            f"(only on {', '.join(host.networks)})",
            "name a role whose hosts are on that network in every profile")
    return net


def resolve(lab: topology.Lab, expr: str) -> str:
    """The text of ``expr`` (the inside of ``{{ … }}``) in ``lab``'s profile."""
    parts = expr.split(".")
    head, rest = parts[0], parts[1:]
    if head == "lab":
        try:
            return docsgen.lookup(lab, expr)
        except docsgen.PlaceholderError as err:
            raise ProfileBlockError(
                f"profile {lab.profile}: {err}",
                "name something every profile has: a role-based name such as "
                "{{ addr.app.0.front }} instead of {{ lab.hosts.app1.addresses.front }}"
            ) from err
    if head == "profile" and not rest:
        return lab.profile
    if head in ("host", "fqdn") and len(rest) == 2:
        host = _nth(lab, rest[0], rest[1], expr)
        return host.name if head == "host" else lab.fqdn(host)
    if head in ("addr", "iface") and len(rest) == 3:
        host = _nth(lab, rest[0], rest[1], expr)
        net = _on(lab, host, rest[2])
        return str(host.addresses[net]) if head == "addr" else host.interface(net)
    if head in ("hosts", "count") and len(rest) == 1:
        hosts = _role_hosts(lab, rest[0])
        return " ".join(h.name for h in hosts) if head == "hosts" else str(len(hosts))
    if head == "chapter" and len(rest) == 2 and rest[1] == "hosts":
        from webfarm import chapters

        found = [c for c in chapters.CHAPTERS if str(c.number) == rest[0].lstrip("0")]
        if not found:
            raise ProfileBlockError(f"no chapter {rest[0]!r}",
                                    "use a chapter number of webfarm/chapters.py: "
                                    + ", ".join(str(c.number) for c in chapters.CHAPTERS))
        return " ".join(h.name for tier in found[0].tiers_for(lab) for h in tier)
    if head == "total" and len(rest) == 1:
        memory = sum(h.memory for h in lab.hosts.values())
        if rest[0] == "vms":
            return str(len(lab.hosts))
        if rest[0] == "memory_mb":
            return str(memory)
        if rest[0] == "memory_gb":
            return f"{memory / 1024:.1f}"
    raise ProfileBlockError(f"unknown name {expr!r}",
                            "write one of: " + ", ".join(VOCABULARY)
                            + " (see webfarm/docsprofiles.py)")


def render_body(body: str, lab: topology.Lab, first_line: int) -> tuple[str, list[str]]:
    """``body`` with this profile's values; problems as ``LINE: {{ … }}: message. Fix: …``."""
    problems: list[str] = []
    out = []
    for offset, line in enumerate(body.split("\n")):
        def one(match: re.Match[str], number: int = first_line + offset) -> str:
            expr = match.group(1).strip()
            if _LITERAL.fullmatch(expr):
                return match.group(0)  # {{ "{{" }}: for docsgen.fill
            try:
                return resolve(lab, expr)
            except ProfileBlockError as err:
                problems.append(f"{number}: {match.group(0)}: {err.message}. Fix: {err.fix}")
                return match.group(0)
        out.append(_PLACEHOLDER.sub(one, line))
    return "\n".join(out), problems


def _tabs(rendered: list[tuple[str, str]], indent: str) -> str:
    out: list[str] = []
    for name, body in rendered:
        out += [f'{indent}=== "{name}"', ""]
        for line in body.split("\n"):
            if not line.strip():
                out.append("")
            else:
                stripped = line[len(indent):] if line.startswith(indent) else line.lstrip()
                out.append(f"{indent}    {stripped}")
        out.append("")
    return "\n".join(out)


def expand(markdown: str, lab_file: Path | str,
           only: str | None = None) -> tuple[str, list[str]]:
    """``markdown`` with every profile block replaced by its tabs (or, with ``only``, by that
    one profile's text, no tabs: what a reader of that profile reads). Returns the text and
    the problems, one line each, starting with the page's line number."""
    models = labs(lab_file)
    if only is not None:
        models = tuple(lab for lab in models if lab.profile == only)
        if not models:
            raise ValueError(f"no profile {only!r} in {lab_file}")
    lines = markdown.split("\n")
    out: list[str] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == CLOSE:
            problems.append(f"{i + 1}: {CLOSE} without {OPEN}. Fix: remove it or open the "
                            "block above it")
            i += 1
            continue
        if line.strip() != OPEN:
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() not in (OPEN, CLOSE):
            end += 1
        if end == len(lines) or lines[end].strip() == OPEN:
            problems.append(f"{i + 1}: {OPEN} is not closed. Fix: end the block with "
                            f"{CLOSE} on a line of its own (blocks do not nest)")
            out.append(line)
            i += 1
            continue
        body = "\n".join(lines[start:end])
        rendered = []
        for lab in models:
            text, found = render_body(body, lab, start + 1)
            rendered.append((lab.profile, text))
            problems += [p for p in found if p not in problems]
        if len({text for _, text in rendered}) == 1:
            out.append(rendered[0][1])  # the same for every profile: no tabs
        else:
            out.append(_tabs(rendered, indent))
        i = end + 1
    return "\n".join(out), problems


def expand_page(markdown: str, uri: str, lab_file: Path | str,
                log: logging.Logger) -> str:
    """What the docs hook calls for each page: the expanded page; each problem logged as an
    error naming the page and line (an error, so that ``--strict`` fails even with ``-q``)."""
    text, problems = expand(markdown, lab_file)
    for problem in problems:
        log.error("%s:%s", uri, problem)
    return text
