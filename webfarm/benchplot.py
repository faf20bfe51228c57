"""The benchmark page's plots: plain SVG written here (no JavaScript, no CDN), as the topology
diagrams are (webfarm.diagram).

One kind of plot: horizontal bars, one per row, each the median of its runs, with a whisker
from the smallest to the largest run, a dot per run, its number written at the end, and an
optional dashed mark (a bound, a goal) on the same row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

LABEL_W = 120  # px for the row labels, at least (more for longer labels)
CHAR_W = 7  # px per character of a label (12 px sans-serif, generously)
VALUE_W = 190  # px for the numbers after the bars
ROW_H = 30
TOP = 44
BOTTOM = 36
FONT = "font-family=\"sans-serif\" font-size=\"12\""
COLORS = ("#3f51b5", "#009688", "#ff9800", "#9c27b0", "#795548", "#607d8b")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # the bar's length (a median); None: not measured
    low: float | None = None  # whisker
    high: float | None = None
    points: tuple[float, ...] = ()  # each run
    mark: float | None = None  # dashed line on this row (a bound)
    mark_label: str = ""
    color: int = 0  # index into COLORS


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def nice_step(top: float, ticks: int = 5) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def hbars(title: str, unit: str, bars: list[Bar], width: int = 760) -> str:
    """The SVG text of one plot."""
    label_w = max([LABEL_W, *(CHAR_W * len(b.label) + 16 for b in bars)])
    width = max(width, label_w + VALUE_W + 240)
    values = [v for b in bars for v in (b.value, b.high, b.mark, *b.points) if v is not None]
    top = max(values, default=0.0)
    step = nice_step(top)
    axis_max = max(step, math.ceil(top / step) * step) if top > 0 else 1.0
    plot_w = width - label_w - VALUE_W
    height = TOP + ROW_H * len(bars) + BOTTOM

    def x(v: float) -> float:
        return round(label_w + plot_w * v / axis_max, 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attr(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="8" y="20" {FONT} font-weight="bold">{escape(title)}</text>']
    axis_y = TOP + ROW_H * len(bars)
    ticks = round(axis_max / step)
    for i in range(ticks + 1):
        v = i * step
        out.append(f'<line x1="{x(v)}" y1="{TOP - 6}" x2="{x(v)}" y2="{axis_y}" '
                   'stroke="#e0e0e0"/>')
        out.append(f'<text x="{x(v)}" y="{axis_y + 14}" {FONT} text-anchor="middle" '
                   f'fill="#555">{escape(_num(v))}</text>')
    out.append(f'<text x="{label_w + plot_w / 2}" y="{axis_y + 30}" {FONT} '
               f'text-anchor="middle" fill="#555">{escape(unit)}</text>')
    for i, b in enumerate(bars):
        y = TOP + ROW_H * i
        mid = y + ROW_H / 2
        out.append(f'<text x="{label_w - 8}" y="{mid + 4}" {FONT} text-anchor="end">'
                   f"{escape(b.label)}</text>")
        if b.value is None:
            out.append(f'<text x="{label_w + 4}" y="{mid + 4}" {FONT} fill="#888">'
                       "not measured</text>")
            continue
        color = COLORS[b.color % len(COLORS)]
        out.append(f'<rect x="{label_w}" y="{y + 7}" width="{max(x(b.value) - label_w, 1)}" '
                   f'height="{ROW_H - 14}" fill="{color}" fill-opacity="0.75"/>')
        if b.low is not None and b.high is not None:
            out.append(f'<line x1="{x(b.low)}" y1="{mid}" x2="{x(b.high)}" y2="{mid}" '
                       'stroke="#212121" stroke-width="1.5"/>')
            for end in (b.low, b.high):
                out.append(f'<line x1="{x(end)}" y1="{mid - 5}" x2="{x(end)}" y2="{mid + 5}" '
                           'stroke="#212121" stroke-width="1.5"/>')
        for p in b.points:
            out.append(f'<circle cx="{x(p)}" cy="{mid}" r="2.5" fill="#212121"/>')
        if b.mark is not None:
            out.append(f'<line x1="{x(b.mark)}" y1="{y + 3}" x2="{x(b.mark)}" '
                       f'y2="{y + ROW_H - 3}" stroke="#d32f2f" stroke-width="2" '
                       'stroke-dasharray="4 3"/>')
        text = _num(b.value)
        if b.low is not None and b.high is not None and len(b.points) > 1:
            text += f" ({_num(b.low)}-{_num(b.high)})"
        if b.mark is not None:
            text += f"; {b.mark_label or 'mark'} {_num(b.mark)}"
        out.append(f'<text x="{width - VALUE_W + 8}" y="{mid + 4}" {FONT}>{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
