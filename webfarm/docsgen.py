"""Generated tutorial material: host tables from lab.yml, rendered configs (redacted), the
``{{ lab.… }}`` placeholders of the pages, and each chapter's file list (nav, box, file pages)."""

from __future__ import annotations

import dataclasses
import ipaddress
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

from webfarm import chapters, render, topology
from webfarm import secrets as lab_secrets
from webfarm.roles import ROLES, VIP_HOLDER_ROLES
from webfarm.state import State


def hosts_table(lab: topology.Lab, role: str | None = None) -> str:
    """The hosts of ``lab`` (only those carrying ``role`` when given), one row each."""
    rows = ["| host | roles | " + " | ".join(lab.networks) + " | memory | chapters |",
            "|---|---|" + "---|" * len(lab.networks) + "---|---|"]
    for h in (lab.hosts_with(role) if role else lab.hosts.values()):
        addrs = " | ".join(str(h.addresses.get(n, "")) for n in lab.networks)
        chs = ", ".join(c.tag for c in chapters.CHAPTERS if h in c.hosts(lab))
        rows.append(f"| `{h.name}` | {', '.join(h.roles)} | {addrs} | {h.memory} MB | {chs} |")
    return "\n".join(rows) + "\n"


def vips_table(lab: topology.Lab, holder: str | None = None) -> str:
    """The VIPs of ``lab`` (only those held by the ``holder`` role's pair when given)."""
    rows = ["| VIP | address | port | held by | served by |", "|---|---|---|---|---|"]
    for v in (lab.vips_held_by(holder) if holder else lab.vips.values()):
        holders = ", ".join(h.name for h in lab.hosts_with(v.holder))
        pool = ", ".join(h.name for h in lab.hosts_with(v.pool))
        rows.append(f"| `{v.name}` | {v.address} ({v.network}) | {v.port} | {v.holder}: "
                    f"{holders} | {v.pool}: {pool} |")
    return "\n".join(rows) + "\n"


def roles_table() -> str:
    rows = ["| role | what it is | networks | min. memory |", "|---|---|---|---|"]
    for r in ROLES.values():
        rows.append(f"| `{r.name}` | {r.title} | {', '.join(r.networks)} | {r.min_memory} MB |")
    return "\n".join(rows) + "\n"


def generate(lab_file: Path, out: Path) -> None:
    """Write tables for every profile and the default profile's rendered host files."""
    out.mkdir(parents=True, exist_ok=True)
    default = topology.load(lab_file)
    for name in default.profiles:
        lab = topology.load(lab_file, name)
        (out / f"hosts-{name}.md").write_text(hosts_table(lab), encoding="utf-8")
        (out / f"vips-{name}.md").write_text(vips_table(lab), encoding="utf-8")
        # Filtered tables for captions that name a role or a pair: hosts-full-director.md
        # (the director hosts), vips-full-held-by-dblb.md (the VIPs the DB balancers hold).
        for role in ROLES:
            (out / f"hosts-{name}-{role}.md").write_text(hosts_table(lab, role),
                                                         encoding="utf-8")
        for holder in VIP_HOLDER_ROLES:
            (out / f"vips-{name}-held-by-{holder}.md").write_text(vips_table(lab, holder),
                                                                  encoding="utf-8")
    (out / "roles.md").write_text(roles_table(), encoding="utf-8")
    render.render_lab(default, lab_secrets.redacted(), State(profile=default.profile),
                      out / "hosts")


# ---------------------------------------------------------------------------------------------
# Placeholders: every address, name and port a page types comes from the lab model.
#
# A page writes ``{{ lab.vips.www.address }}``: a dotted path from the Lab model of the
# default profile (dataclass fields, properties and mapping keys; never a method or a
# _private name) that ends in one value (text, number, address, network). ``{{ "{{" }}``
# writes a literal ``{{``. Anything else is a problem the docs hook logs as an error, so
# the strict build fails and names the page and the placeholder.

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_PATH = re.compile(r"lab(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)+")
_LITERAL = re.compile(r'"([^"]*)"')
_VALUES = (str, int, float, ipaddress.IPv4Address, ipaddress.IPv4Network)


class PlaceholderError(LookupError):
    """A placeholder that names nothing in the lab model, or no single value."""


def _choices(value: object) -> str:
    if isinstance(value, Mapping):
        names = [str(k) for k in value]
    elif dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
    else:
        return ""
    return "; it has: " + ", ".join(names)


def lookup(lab: topology.Lab, expr: str) -> str:
    """The text of placeholder ``expr`` (``lab.vips.www.port`` -> ``"80"``)."""
    if not _PATH.fullmatch(expr):
        raise PlaceholderError(
            "not a placeholder: write a dotted path from the lab model, such as "
            "{{ lab.vips.www.address }} or {{ lab.hosts.app1.addresses.db }}")
    value: object = lab
    done = "lab"
    for part in expr.split(".")[1:]:
        if isinstance(value, Mapping):
            if part not in value:
                raise PlaceholderError(f"{done} has no {part!r}{_choices(value)}")
            value = value[part]
        else:
            attr = None if part.startswith("_") else getattr(value, part, None)
            if attr is None or callable(attr):
                raise PlaceholderError(f"{done} has no {part!r}{_choices(value)}")
            value = attr
        done = f"{done}.{part}"
    if isinstance(value, bool) or not isinstance(value, _VALUES):
        raise PlaceholderError(f"{done} is not a single value{_choices(value)}")
    return f"{value:g}" if isinstance(value, float) else str(value)  # 1.0 s reads "1 s"


def fill(text: str, lab: topology.Lab) -> tuple[str, list[str]]:
    """``text`` with every placeholder replaced; the problems, one line each. A placeholder
    that fails is left as it is, so the page shows where it was."""
    problems: list[str] = []

    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if literal := _LITERAL.fullmatch(expr):
            return literal.group(1)
        try:
            return lookup(lab, expr)
        except PlaceholderError as err:
            problems.append(f"{match.group(0)}: {err}")
            return match.group(0)

    return PLACEHOLDER.sub(one, text), problems


# ---------------------------------------------------------------------------------------------
# Chapter files: the nav, the box at the top of each page, and one page per file

CHAPTERS_NAV = "Chapters"  # the nav section generated from the registry
FILES_DIR = "files"  # generated pages showing each chapter file: files/<path>.md
_LANGUAGES = {".sh": "bash", ".py": "python", ".yml": "yaml", ".yaml": "yaml", ".php": "php",
              ".service": "ini", ".conf": "nginx", ".js": "javascript", ".css": "css",
              ".svg": "xml", ".env": "bash", ".key": "text", ".zone": "text"}
_TEMPLATE_SUFFIXES = (".j2", ".jinja")


def chapter_nav() -> list[str]:
    """The nav entries of the chapter section, in registry order."""
    return [f"chapters/{c.slug}.md" for c in chapters.CHAPTERS]


def file_page(path: str) -> str:
    """The docs-relative URI of the generated page that shows project file ``path``."""
    return f"{FILES_DIR}/{path}.md"


def _link(from_uri: str, to_uri: str) -> str:
    return posixpath.relpath(to_uri, posixpath.dirname(from_uri) or ".")


def _chapter_uri(chapter: chapters.Chapter) -> str:
    return f"chapters/{chapter.slug}.md"


def files_box(chapter: chapters.Chapter) -> str:
    """The admonition that opens a chapter page: its files by kind, each linked to its page."""
    here = _chapter_uri(chapter)
    lines = ['!!! abstract "This chapter\'s files"', ""]
    for kind, found in chapters.files_by_kind(chapter).items():
        heading = chapters.KINDS[kind]
        if kind == "page":
            lines.append(f"    - **{heading}**: `{found[0].path}` (this page)")
            continue
        if kind == "os":
            tables = ", ".join(f"[`{posixpath.basename(f.path)}`]"
                               f"({_link(here, file_page(f.path))})" for f in found)
            keys = ", ".join(f"`{k}`" for k in chapter.os_keys)
            lines.append(f"    - **{heading}** ({tables}): {keys}")
            continue
        if kind == "helpers":
            f = found[0]
            names = ", ".join(f"`{h}`" for h in f.detail.split(", "))
            lines.append(f"    - **{heading}** from [`{f.path}`]"
                         f"({_link(here, file_page(f.path))}): {names}")
            continue
        links = []
        for f in found:
            shown = f.path
            if kind in ("script", "template"):
                shown = posixpath.relpath(f.path, _common_dir([g.path for g in found]))
            link = f"[`{shown}`]({_link(here, file_page(f.path))})"
            links.append(f"{link} ({f.detail})" if f.detail else link)
        where = ""
        if kind in ("script", "template"):
            where = f" in `{_common_dir([f.path for f in found])}/`"
        lines.append(f"    - **{heading}**{where}: " + ", ".join(links))
    lines += ["", f"    `invoke chapter {chapter.number} --files` prints the same list.", ""]
    return "\n".join(lines) + "\n"


def _common_dir(paths: list[str]) -> str:
    return posixpath.commonpath([posixpath.dirname(p) for p in paths])


def source_pages() -> dict[str, str]:
    """URI -> Markdown of one page per chapter file (the page itself excepted): the file as a
    code block, embedded from the file, and links to the chapters it belongs to."""
    owners: dict[str, list[tuple[chapters.Chapter, chapters.ChapterFile]]] = {}
    for chapter in chapters.CHAPTERS:
        for f in chapters.files(chapter):
            if f.kind != "page":
                owners.setdefault(f.path, []).append((chapter, f))
    pages: dict[str, str] = {}
    for path, used in owners.items():
        uri = file_page(path)
        text = (chapters.ROOT / path).read_text(encoding="utf-8", errors="replace")
        fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
        stem = path
        for suffix in _TEMPLATE_SUFFIXES:
            stem = stem.removesuffix(suffix)
        language = _LANGUAGES.get(posixpath.splitext(stem)[1], "text")
        belongs = []
        for chapter, f in used:
            what = chapters.KINDS[f.kind].lower()
            if f.kind == "script":
                what = f"script for {f.detail}"
            elif f.kind == "os":
                what = f"keys read: {f.detail}"
            elif f.kind == "helpers":
                what = f"helpers called: {f.detail}"
            belongs.append(f"- [{chapter.number}. {chapter.title}]"
                           f"({_link(uri, _chapter_uri(chapter))}): {what}")
        pages[uri] = "\n".join([
            f"# `{path}`", "", "Part of:", "", *belongs, "",
            f"{fence}{language}", f'--8<-- "{path}"', fence, ""])
    return pages
