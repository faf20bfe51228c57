"""Topology diagram of a lab profile, drawn from ``lab.yml`` as a self-contained SVG.

It draws the two lab networks as horizontal buses (``front`` above, ``db`` below, each
labelled with its name and CIDR), every host as a box (name, roles, one address per network,
coloured like its network) joined to the bus(es) it sits on: front-only hosts above the
front bus, hosts on both networks (the app servers, the monitor) between the two buses, and
DB-only hosts below the db bus, so the front/DB separation is the picture itself. Each VIP is
a pill next to the pair that holds it (``www`` and ``media`` above the directors, ``db`` below
the DB balancers), saying which hosts hold it. Within a row, hosts go left to right by role:
client, directors, name servers, app and media servers, monitor, DB balancers, DB nodes, NDB
management.

``svg(lab, highlight)`` draws the hosts named in ``highlight`` in an accent colour and greys
the others (a chapter page shows the hosts that chapter provisions). Pure Python, no
Graphviz, no JavaScript, no external font or stylesheet; every text from lab.yml is escaped;
the same lab gives the same bytes. :func:`layout` exposes the geometry (boxes, texts and
their estimated widths) so tests can prove nothing overlaps and every text fits its box.
The docs hook serves one diagram per profile and per chapter (:func:`docs_files`), and
``docs/assets/topology-PROFILE.svg`` are committed copies the README shows
(:func:`committed_drift` fails the tests when lab.yml changed and they were not redrawn).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from webfarm import paths, topology
from webfarm.roles import NETWORK_NAMES
from webfarm.topology import Host, Lab, Vip

ASSETS = paths.near(paths.ROOT / "docs" / "assets")  # the committed copies the README shows
DOCS_DIR = "diagrams"  # where the docs build serves the generated diagrams

# Left-to-right order of the role groups within a row (a host goes with its first role here).
ROLE_ORDER = ("client", "director", "dns", "app", "media", "monitor", "dblb", "db_data",
              "db_sql", "db_mgmt")
_RANK = {"db_sql": ROLE_ORDER.index("db_data")}  # data and SQL nodes are one group

FONT = "'DejaVu Sans', Verdana, 'Segoe UI', Helvetica, Arial, sans-serif"
MARGIN = 24
TITLE_SIZE, NAME_SIZE, TEXT_SIZE, SMALL_SIZE = 19, 15, 13, 12
PAD_X, PAD_Y = 12, 9  # inside a host box
GAP, GROUP_GAP = 14, 34  # between boxes of one role group, and between groups
LINK = 34  # connector length from a box to its bus
BUS_GAP = 70  # between the buses when no host sits on both
PILL_H, PILL_PAD = 44, 20
BAND_GAP = 16  # between a pill band and the holder bar, and the bar and the boxes
MIN_BOX_W = 128

NET_COLOURS = ("#1971c2", "#d9480f", "#2f9e44", "#9c36b5")  # bus / address colour per network
NET_FILLS = ("#e7f5ff", "#fff4e6", "#ebfbee", "#f8f0fc")  # pill fill per network
ROW_FILLS = ("#e7f5ff", "#f3f0ff", "#fff4e6")  # host boxes: front only, both, db only
ROW_STROKES = ("#4dabf7", "#9775fa", "#ffa94d")
INK, SOFT = "#212529", "#495057"
ACCENT, ACCENT_FILL = "#c2255c", "#fff0f6"
GREY_FILL, GREY_STROKE, GREY_TEXT = "#f8f9fa", "#ced4da", "#adb5bd"

# Advance widths of DejaVu Sans (the first font asked for; Verdana is alike, the others are
# narrower), in em, rounded up: enough to size boxes so that a text always fits.
_NARROW = dict.fromkeys("ijl.,:;|!'` ", 0.32)
_WIDTHS = {**dict.fromkeys("0123456789", 0.64), **_NARROW, "f": 0.36, "r": 0.42, "t": 0.4,
           "/": 0.34, "-": 0.37, "(": 0.4, ")": 0.4, "_": 0.5, "m": 0.98, "w": 0.82,
           "M": 0.87, "W": 1.0, "c": 0.56, "s": 0.53, "z": 0.53}
_BOLD = 1.12


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated rendered width of ``text`` (px) at ``size`` px: never less than DejaVu's."""
    em = 0.0
    for ch in text:
        if ch in _WIDTHS:
            em += _WIDTHS[ch]
        elif ch.isascii() and ch.islower():
            em += 0.64
        elif ch.isascii() and ch.isupper():
            em += 0.78
        else:
            em += 1.0  # symbols, other scripts, wide glyphs: an em
    return em * size * (_BOLD if bold else 1.0)


# ---------------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def intersects(self, other: Rect) -> bool:
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)

    def contains(self, other: Rect) -> bool:
        return (self.x <= other.x and other.right <= self.right
                and self.y <= other.y and other.bottom <= self.bottom)


@dataclass(frozen=True)
class Text:
    """One line of text: ``x`` is its start (anchor start) or centre (anchor middle)."""

    text: str
    x: float
    y: float  # baseline
    size: int
    bold: bool = False
    anchor: str = "start"
    colour: str = INK
    role: str = ""  # what it shows (name, roles, address:NETWORK, vip, held-by, ...)
    tail: str = ""  # more text on the same line, not bold, in its own colour and size
    tail_colour: str = SOFT
    tail_size: int = TEXT_SIZE

    @property
    def width(self) -> float:
        tail = text_width(" " + self.tail, self.tail_size) if self.tail else 0.0
        return text_width(self.text, self.size, self.bold) + tail

    @property
    def extent(self) -> Rect:
        left = self.x - self.width / 2 if self.anchor == "middle" else self.x
        return Rect(left, self.y - 0.8 * self.size, self.width, 1.05 * self.size)


@dataclass
class HostBox:
    host: Host
    row: int  # 0: above the first bus, 1: between the buses, 2: below the last bus
    rect: Rect
    texts: list[Text] = field(default_factory=list)
    links: list[tuple[str, float, float, float]] = field(default_factory=list)  # net, x, y1, y2


@dataclass
class Bus:
    network: topology.Network
    y: float
    x1: float
    x2: float
    colour: str
    texts: list[Text] = field(default_factory=list)


@dataclass
class VipPill:
    vip: Vip
    holders: list[str]
    rect: Rect
    texts: list[Text] = field(default_factory=list)
    colour: str = INK
    fill: str = "#ffffff"


@dataclass
class Layout:
    width: float
    height: float
    buses: list[Bus]
    hosts: list[HostBox]
    vips: list[VipPill]
    # the dashed lines joining each VIP to its holders: (vip name, host or "", points)
    leads: list[tuple[str, str, list[tuple[float, float]]]]
    title_y: float


def _networks(lab: Lab) -> list[topology.Network]:
    order = {name: i for i, name in enumerate(NETWORK_NAMES)}
    nets = sorted(lab.networks.values(), key=lambda n: (order.get(n.name, len(order)), 0))
    if not 1 <= len(nets) <= 2:
        raise ValueError(f"a diagram draws one or two networks, the lab has {len(nets)}")
    return nets


def _row(host: Host, nets: list[topology.Network]) -> int:
    on = [n.name for n in nets if host.on(n.name)]
    if len(on) == len(nets) == 2:
        return 1
    if on == [nets[0].name]:
        return 0
    return 2


def _rank(host: Host) -> int:
    ranks = [_RANK.get(r, ROLE_ORDER.index(r)) if r in ROLE_ORDER else len(ROLE_ORDER)
             for r in host.roles]
    return min(ranks, default=len(ROLE_ORDER))


def _wrap(words: list[str], limit: float, size: int) -> list[str]:
    """``words`` joined by ', ' into lines no wider than ``limit`` (a word alone may be)."""
    lines: list[str] = []
    for word in words:
        if lines and text_width(lines[-1] + ", " + word, size) <= limit:
            lines[-1] += ", " + word
        else:
            if lines:
                lines[-1] += ","
            lines.append(word)
    return lines or [""]


def _host_lines(host: Host, nets: list[topology.Network], inner: float) -> list[tuple[str, str]]:
    lines = [("name", host.name)]
    lines += [("roles", line) for line in _wrap(list(host.roles), inner, TEXT_SIZE)]
    lines += [(f"address:{n.name}", str(host.addresses[n.name])) for n in nets
              if host.on(n.name)]
    return lines


def _pill_lines(vip: Vip, holders: list[str], cx: float, y: float,
                colour: str = INK) -> list[Text]:
    return [Text(vip.name, cx, y, TEXT_SIZE + 1, bold=True, anchor="middle", role="vip",
                 tail=f"{vip.address}:{vip.port}", tail_colour=colour),
            Text("held by " + ("/".join(holders) or "(no host)"), cx, y + 17, SMALL_SIZE,
                 anchor="middle", colour=SOFT, role="held-by")]


def _starts(row: list[Host], box_w: int) -> list[int]:
    """Left edge of each box of a row, from the row's start."""
    out, x = [], 0
    for i, h in enumerate(row):
        if i:
            x += box_w + (GROUP_GAP if _rank(row[i - 1]) != _rank(h) else GAP)
        out.append(x)
    return out


SEPARATION = 44  # least distance between connectors of different rows meeting one bus


def _offsets(starts: list[list[int]], widths: list[int], box_w: int,
             content: int) -> list[int]:
    """Where each row starts: the first at 0, the last flush right, the middle one at the
    offset nearest to centred whose connectors keep SEPARATION from the others' (the best
    found when none does); all shifted so that the leftmost starts at 0."""
    top, middle, bottom = ([s + box_w // 2 for s in row] for row in starts)
    low = content - widths[2] if bottom else 0
    if not middle:
        return [0, 0, low]
    centred = (content - widths[1]) // 2
    reach = box_w // 2 + GROUP_GAP

    def score(offset: int) -> tuple[float, int]:
        near = min([abs(offset + m - x) for m in middle for x in (*top, *(low + b for b in
                                                                           bottom))],
                   default=float(SEPARATION))
        return (min(near, SEPARATION), -abs(offset - centred))

    best = max(range(-reach, content - widths[1] + reach + 1), key=score)
    shift = -min(0, best)
    return [shift, best + shift, low + shift]


def _line_height(kind: str) -> int:
    return 21 if kind == "name" else 18


def _ceil(value: float) -> int:
    return math.ceil(value)


def layout(lab: Lab) -> Layout:
    nets = _networks(lab)
    colours = {n.name: NET_COLOURS[i % len(NET_COLOURS)] for i, n in enumerate(nets)}
    fills = {n.name: NET_FILLS[i % len(NET_FILLS)] for i, n in enumerate(nets)}
    order = list(lab.hosts)
    hosts = sorted(lab.hosts.values(), key=lambda h: (_rank(h), order.index(h.name)))

    # One box width for all: the widest name or address (roles wrap to it, at least 128 px).
    inner = max([MIN_BOX_W - 2 * PAD_X]
                + [text_width(h.name, NAME_SIZE, True) for h in hosts]
                + [text_width(str(a), TEXT_SIZE) for h in hosts for a in h.addresses.values()]
                + [text_width(r + ",", TEXT_SIZE) for h in hosts for r in h.roles])
    box_w = _ceil(inner + 2 * PAD_X)
    lines = {h.name: _host_lines(h, nets, inner) for h in hosts}
    rows: list[list[Host]] = [[], [], []]
    for h in hosts:
        rows[_row(h, nets)].append(h)
    row_h = [_ceil(max((sum(_line_height(k) for k, _ in lines[h.name]) for h in row),
                       default=0) + 2 * PAD_Y) for row in rows]

    def row_width(row: list[Host]) -> int:
        gaps = sum(GROUP_GAP if _rank(a) != _rank(b) else GAP for a, b in pairwise(row))
        return len(row) * box_w + gaps

    # Bus labels live in a left gutter, so no box or connector ever crosses them.
    label_texts = {n.name: (n.name, str(n.cidr)) for n in nets}
    gutter = _ceil(max(max(text_width(a, NAME_SIZE, True), text_width(b, TEXT_SIZE))
                       for a, b in label_texts.values()) + 24)
    left = MARGIN + gutter
    content = max(row_width(r) for r in rows)

    # Vertical positions, top down.
    title_y = MARGIN + TITLE_SIZE
    y = title_y + 18
    holder_rows: dict[str, int] = {}
    for vip in lab.vips.values():
        held = [h for h in hosts if h.has_role(vip.holder)]
        holder_rows[vip.name] = 2 if held and all(_row(h, nets) == 2 for h in held) else 0
    top_band = any(r == 0 for r in holder_rows.values())
    bottom_band = any(r == 2 for r in holder_rows.values())
    pill_top_y = y
    if top_band:
        y += PILL_H + BAND_GAP
    bar_top_y = y
    if top_band:
        y += BAND_GAP
    row_y = [0.0, 0.0, 0.0]
    row_y[0] = y
    bus_y = [y + (row_h[0] + LINK if rows[0] else 0)]
    y = bus_y[0]
    if len(nets) == 2:
        row_y[1] = y + LINK
        y = row_y[1] + row_h[1] + LINK if rows[1] else y + BUS_GAP
        bus_y.append(y)
    row_y[2] = y + LINK
    y = row_y[2] + row_h[2] if rows[2] else y + 10
    bar_bottom_y = y + BAND_GAP
    pill_bottom_y = bar_bottom_y + BAND_GAP
    if bottom_band:
        y = pill_bottom_y + PILL_H

    # Boxes: the first row flush left, the last flush right, the middle one where none of
    # its connectors meets another row's at the same bus (a line from a front-only box would
    # seem to run on through the bus into the box below it).
    starts = [_starts(row, box_w) for row in rows]
    offsets = _offsets(starts, [row_width(r) for r in rows], box_w, content)
    content = max(o + row_width(r) for o, r in zip(offsets, rows, strict=True) if r) if hosts else 0
    boxes: list[HostBox] = []
    for index, row in enumerate(rows):
        for h, start in zip(row, starts[index], strict=True):
            rect = Rect(left + offsets[index] + start, row_y[index], box_w, row_h[index])
            box = HostBox(h, index, rect)
            ty = rect.y + PAD_Y
            for kind, text in lines[h.name]:
                ty += _line_height(kind)
                net = kind.split(":", 1)[1] if kind.startswith("address:") else ""
                box.texts.append(Text(text, rect.x + PAD_X, ty - 5,
                                      NAME_SIZE if kind == "name" else TEXT_SIZE,
                                      bold=kind == "name", role=kind,
                                      colour=colours[net] if net else
                                      (INK if kind == "name" else SOFT)))
            cx = rect.x + box_w / 2
            for n, by in zip(nets, bus_y, strict=True):
                if h.on(n.name):
                    y1, y2 = (rect.bottom, by) if by > rect.y else (by, rect.y)
                    box.links.append((n.name, cx, y1, y2))
            boxes.append(box)

    # VIP pills: side by side, centred over (or under) the pair that holds them.
    by_name = {b.host.name: b for b in boxes}
    pills: list[VipPill] = []
    groups: dict[tuple[str, int], list[Vip]] = {}
    for vip in lab.vips.values():
        groups.setdefault((vip.holder, holder_rows[vip.name]), []).append(vip)
    placed: list[tuple[int, float, list[VipPill]]] = []
    for (holder, band), vips in groups.items():
        held = [by_name[h.name] for h in hosts if h.has_role(holder)]
        centre = (sum(b.rect.x + box_w / 2 for b in held) / len(held) if held
                  else left + content / 2)
        pill_y = pill_top_y if band == 0 else pill_bottom_y
        group: list[VipPill] = []
        for vip in vips:
            holders = [b.host.name for b in held]
            w = _ceil(max(_pill_lines(vip, holders, 0, 0)[0].width,
                          _pill_lines(vip, holders, 0, 0)[1].width) + 2 * PILL_PAD)
            group.append(VipPill(vip, holders, Rect(0, pill_y, w, PILL_H),
                                 colour=colours.get(vip.network, INK),
                                 fill=fills.get(vip.network, "#ffffff")))
        total = sum(p.rect.w for p in group) + GAP * (len(group) - 1)
        placed.append((band, centre - total / 2, group))
    for band in (0, 2):  # sweep left to right: no pill left of the margin or on another
        cursor = float(MARGIN)
        for _, start, group in sorted((p for p in placed if p[0] == band),
                                      key=lambda p: p[1]):
            x = max(cursor, start)
            for pill in group:
                pill.rect = Rect(round(x), pill.rect.y, pill.rect.w, pill.rect.h)
                x += pill.rect.w + GAP
            cursor = x - GAP + GROUP_GAP
            pills.extend(group)
    pills.sort(key=lambda p: list(lab.vips).index(p.vip.name))
    right = max([left + content] + [p.rect.right for p in pills])
    width = _ceil(right + MARGIN)

    leads: list[tuple[str, str, list[tuple[float, float]]]] = []
    for pill in pills:
        band = holder_rows[pill.vip.name]
        bar = bar_top_y if band == 0 else bar_bottom_y
        px = pill.rect.x + pill.rect.w / 2
        py = pill.rect.bottom if band == 0 else pill.rect.y
        leads.append((pill.vip.name, "", [(px, py), (px, bar)]))
        for name in pill.holders:
            b = by_name[name]
            hx = b.rect.x + box_w / 2
            hy = b.rect.y if band == 0 else b.rect.bottom
            leads.append((pill.vip.name, name, [(px, bar), (hx, bar), (hx, hy)]))
        pill.texts = _pill_lines(pill.vip, pill.holders, pill.rect.x + pill.rect.w / 2,
                                 pill.rect.y + 19, pill.colour)

    buses = []
    for n, by in zip(nets, bus_y, strict=True):
        name, cidr = label_texts[n.name]
        buses.append(Bus(n, by, MARGIN, width - MARGIN, colours[n.name], [
            Text(name, MARGIN, by - 8, NAME_SIZE, bold=True, colour=colours[n.name],
                 role="network"),
            Text(cidr, MARGIN, by + 18, TEXT_SIZE, colour=colours[n.name], role="cidr")]))
    return Layout(width, _ceil(y + MARGIN), buses, boxes, pills, leads, title_y)


# ---------------------------------------------------------------------------------------------
# SVG


def _n(value: float) -> str:
    """A coordinate, the same text for the same value on every machine."""
    return f"{round(value, 1):g}"


def _text(t: Text, colour: str | None = None) -> str:
    tail = ""
    if t.tail:
        tail = (f'<tspan font-weight="normal" font-size="{t.tail_size}" '
                f'fill="{colour or t.tail_colour}"> {escape(t.tail)}</tspan>')
    attrs = [f'x="{_n(t.x)}"', f'y="{_n(t.y)}"', f'font-size="{t.size}"',
             f'fill="{colour or t.colour}"']
    if t.bold:
        attrs.append('font-weight="bold"')
    if t.anchor != "start":
        attrs.append(f'text-anchor="{t.anchor}"')
    if t.role:
        attrs.append(f"data-text={quoteattr(t.role)}")
    return f"<text {' '.join(attrs)}>{escape(t.text)}{tail}</text>"


def default_title(lab: Lab) -> str:
    return f"{lab.name}: profile {lab.profile}, {len(lab.hosts)} hosts"


def describe(lab: Lab, highlight: Iterable[str] = ()) -> str:
    """The diagram in words (its <desc>, for screen readers)."""
    parts = []
    for n in _networks(lab):
        about = f" ({n.description})" if n.description else ""
        parts.append(f"Network {n.name} {n.cidr}{about}.")
    for h in lab.hosts.values():
        addrs = ", ".join(f"{a} on {net}" for net, a in h.addresses.items())
        parts.append(f"Host {h.name} ({', '.join(h.roles)}): {addrs}.")
    for v in lab.vips.values():
        holders = ", ".join(h.name for h in lab.hosts_with(v.holder)) or "no host"
        parts.append(f"VIP {v.name} {v.address} port {v.port} on {v.network}, held by "
                     f"{v.holder} ({holders}), serving {v.pool}.")
    chosen = [h for h in lab.hosts if h in set(highlight)]
    if chosen:
        parts.append("Highlighted: " + ", ".join(chosen) + ".")
    return " ".join(parts)


def svg(lab: Lab, highlight: Iterable[str] = frozenset(), title: str = "") -> str:
    """The topology of ``lab`` as an SVG document; hosts named in ``highlight`` are drawn in
    the accent colour and the others greyed (no highlight: every host in its colours)."""
    marked = set(highlight)
    lay = layout(lab)
    title = title or default_title(lab)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {lay.width} {lay.height}" '
        f'width="{lay.width}" height="{lay.height}" role="img" '
        f'aria-labelledby="wf-topology-title wf-topology-desc" font-family="{FONT}" '
        f"data-lab={quoteattr(lab.name)} data-profile={quoteattr(lab.profile)}>",
        f'<title id="wf-topology-title">{escape(title)}</title>',
        f'<desc id="wf-topology-desc">{escape(describe(lab, marked))}</desc>',
        f'<rect width="{lay.width}" height="{lay.height}" fill="#ffffff"/>',
        _text(Text(title, MARGIN, lay.title_y, TITLE_SIZE, bold=True, role="title")),
    ]

    def lit(host: str) -> bool:
        return not marked or host in marked

    out.append('<g class="buses">')
    for bus in lay.buses:
        out.append(f"<line data-network={quoteattr(bus.network.name)} class=\"bus\" "
                   f'x1="{_n(bus.x1)}" y1="{_n(bus.y)}" x2="{_n(bus.x2)}" y2="{_n(bus.y)}" '
                   f'stroke="{bus.colour}" stroke-width="5" stroke-linecap="round"/>')
        out += [_text(t) for t in bus.texts]
    out.append("</g>")

    out.append('<g class="leads" fill="none" stroke-width="1.5" stroke-dasharray="5 4">')
    for vip, host, points in lay.leads:
        pill = next(p for p in lay.vips if p.vip.name == vip)
        on = lit(host) if host else any(lit(h) for h in pill.holders)
        path = " ".join(f"{'M' if i == 0 else 'L'}{_n(x)} {_n(y)}"
                        for i, (x, y) in enumerate(points))
        out.append(f"<path data-vip={quoteattr(vip)} data-host={quoteattr(host)} "
                   f'd="{path}" stroke="{SOFT if on else GREY_STROKE}"/>')
    out.append("</g>")

    for box in lay.hosts:
        name = box.host.name
        on = lit(name)
        accent = bool(marked) and on
        stroke = ACCENT if accent else (ROW_STROKES[box.row] if on else GREY_STROKE)
        fill = ACCENT_FILL if accent else (ROW_FILLS[box.row] if on else GREY_FILL)
        out.append(f"<g class=\"host\" data-host={quoteattr(name)} "
                   f"data-roles={quoteattr(' '.join(box.host.roles))} "
                   f'data-highlight="{"yes" if accent else "no"}">')
        for net, x, y1, y2 in box.links:
            colour = next(b.colour for b in lay.buses if b.network.name == net) if on \
                else GREY_STROKE
            out.append(f"<line class=\"link\" data-host={quoteattr(name)} "
                       f"data-network={quoteattr(net)} x1=\"{_n(x)}\" y1=\"{_n(y1)}\" "
                       f'x2="{_n(x)}" y2="{_n(y2)}" stroke="{colour}" stroke-width="2.5"/>')
            cy = y2 if y2 > y1 and y1 == box.rect.bottom else y1
            out.append(f'<circle cx="{_n(x)}" cy="{_n(cy)}" r="4" fill="{colour}"/>')
        r = box.rect
        out.append(f'<rect data-host={quoteattr(name)} x="{_n(r.x)}" y="{_n(r.y)}" '
                   f'width="{_n(r.w)}" height="{_n(r.h)}" rx="7" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{3 if accent else 1.5}"/>')
        out += [_text(t, None if on else GREY_TEXT) for t in box.texts]
        out.append("</g>")

    for pill in lay.vips:
        on = any(lit(h) for h in pill.holders) or not pill.holders
        r = pill.rect
        out.append(f"<g class=\"vip\" data-vip={quoteattr(pill.vip.name)} "
                   f"data-network={quoteattr(pill.vip.network)} "
                   f"data-holder={quoteattr(pill.vip.holder)}>")
        out.append(f'<rect x="{_n(r.x)}" y="{_n(r.y)}" width="{_n(r.w)}" height="{_n(r.h)}" '
                   f'rx="{_n(r.h / 2)}" fill="{pill.fill if on else GREY_FILL}" '
                   f'stroke="{pill.colour if on else GREY_STROKE}" stroke-width="2"/>')
        out += [_text(t, None if on else GREY_TEXT) for t in pill.texts]
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# The docs build and the committed copies


def chapter_file(profile: str, number: int) -> str:
    return f"topology-{profile}-{number:02d}.svg"


def docs_files(lab_file: Path) -> dict[str, str]:
    """URI (under ``diagrams/``) -> SVG: the whole farm per profile, and per chapter the farm
    with that chapter's hosts highlighted."""
    from webfarm import chapters

    out: dict[str, str] = {}
    default = topology.load(lab_file)
    for profile in default.profiles:
        lab = topology.load(lab_file, profile)
        out[f"{DOCS_DIR}/topology-{profile}.svg"] = svg(lab)
        for c in chapters.CHAPTERS:
            hosts = {h.name for h in c.hosts(lab)}
            title = (f"Chapter {c.tag} ({c.title}): the hosts it provisions in profile "
                     f"{profile}")
            out[f"{DOCS_DIR}/{chapter_file(profile, c.number)}"] = svg(lab, hosts, title)
    return out


def chapter_figure(chapter_number: int, lab_file: Path, page_dir: str = "chapters") -> str:
    """Markdown for a chapter page: its diagram per profile (smallest profile first, the
    order of every profile tab on the site), as tabs, each image linking to the full-size
    SVG."""
    import posixpath

    default = topology.load(lab_file)
    profiles = sorted(default.profiles,
                      key=lambda p: (len(topology.load(lab_file, p).hosts), p))
    lines = []
    for profile in profiles:
        target = posixpath.relpath(f"{DOCS_DIR}/{chapter_file(profile, chapter_number)}",
                                   page_dir)
        lines += [f'=== "{profile}"', "",
                  f"    [![Topology of profile {profile}, this chapter's hosts highlighted]"
                  f"({target})]({target})", ""]
    return "\n".join(lines) + "\n"


def committed(lab_file: Path = topology.DEFAULT_FILE, out: Path = ASSETS) -> dict[Path, str]:
    """The committed diagrams (README): ``docs/assets/topology-PROFILE.svg`` per profile;
    ``invoke render`` writes them."""
    default = topology.load(lab_file)
    return {out / f"topology-{p}.svg": svg(topology.load(lab_file, p))
            for p in default.profiles}


def committed_drift(lab_file: Path = topology.DEFAULT_FILE, out: Path = ASSETS) -> list[str]:
    """The committed diagrams that differ from what ``lab_file`` draws now (missing ones
    too), as paths relative to the project."""
    return [paths.in_project(path) for path, text in committed(lab_file, out).items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]
