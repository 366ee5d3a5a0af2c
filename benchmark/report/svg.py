"""Charts as inline SVG strings, drawn in Python: a scatter plot, a strip-and-box plot and a heat map.

Every text is escaped; sizes are in user units with a viewBox, so the charts scale with the page. Every
point carries a ``<title>`` (the browser's tooltip) saying whose it is and its value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from benchmark.scoring.stats import percentile

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
# Twelve colours far enough apart to tell a dozen builds apart (more repeat, and the labels still say whose).
PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#92400e",
    "#65a30d",
    "#1e3a8a",
)


@dataclass(frozen=True)
class Point:
    """A labelled point of the scatter plot."""

    name: str
    x: float
    y: float
    tip: str
    colour: str


@dataclass(frozen=True)
class Series:
    """One row of the strip chart: its dots as (value, tooltip)."""

    name: str
    colour: str
    values: Sequence[tuple[float, str]]
    empty_note: str = "no completed trials"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 × a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    # Never drawn much above its own size, so text reads at about the same size in every chart, whatever
    # its width (a heat map of eleven builds is wider than a scatter plot).
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" class="chart"'
        f' style="max-width: {width * 1.125:.0f}px"><title>{escape(title)}</title>' + "".join(body) + "</svg>"
    )


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _place_labels(anchors: Sequence[tuple[float, float, str]], line: float = 13.0) -> list[float]:
    """A label baseline for each (x, y, text) anchor (9 px right of its point), moved down past the points and
    earlier labels it would overlap: frameworks with equal scores sit close, and their names must stay legible."""
    placed: list[tuple[float, float, float]] = [(x - 16, x - 2, y) for x, y, _ in anchors]  # the points themselves
    baselines = []
    for x, y, text in anchors:
        x0, x1, base = x, x + 6.2 * len(text), y
        while any(x0 < b1 and b0 < x1 and abs(base - b) < line for b0, b1, b in placed):
            base += line
        placed.append((x0, x1, base))
        # The leader line down to a moved label is in the way too, for labels placed after it.
        placed += [(x - 6, x, y + line * step) for step in range(round((base - y) / line))]
        baselines.append(base)
    return baselines


def scatter_chart(
    points: Sequence[Point], *, title: str, x_label: str, y_label: str, y_max: float = 1.0, empty_note: str = ""
) -> str:
    """Labelled points; y in [0, y_max] shown as per cent when y_max is 1. Without points: ``empty_note``.

    Both axes zoom to the data (y in steps of a tenth of ``y_max``, x to round ticks around the values), with
    the axis labels saying where they start, so eight close results do not collapse into one corner."""
    width, height, left, right, top, bottom = 640, 360, 60, 110, 20, 50
    xs = [p.x for p in points] or [0.0, 1.0]
    ys = [max(0.0, min(y_max, p.y)) for p in points] or [0.0]
    x_ticks = nice_ticks(min(xs) * 0.9, max(xs) * 1.05 or 1.0)
    y_lo = max(0.0, math.floor((min(ys) / y_max - 0.05) * 10) / 10) * y_max
    y_ticks = [y_lo + (y_max - y_lo) * i / 5 for i in range(6)]
    x_lo, x_hi = x_ticks[0], x_ticks[-1] if x_ticks[-1] > x_ticks[0] else x_ticks[0] + 1.0

    def px(x: float) -> float:
        return left + (width - left - right) * (x - x_lo) / (x_hi - x_lo)

    def py(y: float) -> float:
        return top + (height - top - bottom) * (1 - (y - y_lo) / (y_max - y_lo))

    body = [
        f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="#fafafa"/>'
    ]
    for t in y_ticks:
        text = f"{t * 100:.0f}%" if y_max == 1.0 else _label(t)
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#e5e7eb"/>')
        body.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" {FONT}>{text}</text>')
    for t in x_ticks:
        body.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{height - bottom}" stroke="#e5e7eb"/>')
        body.append(f'<text x="{px(t):.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT}>{_label(t)}</text>')
    body.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle" {FONT}>{escape(x_label)}</text>'
    )
    body.append(
        f'<text x="14" y="{(top + height - bottom) / 2}" text-anchor="middle" {FONT}'
        f' transform="rotate(-90 14 {(top + height - bottom) / 2})">{escape(y_label)}</text>'
    )
    if not points and empty_note:
        body.append(_note((left + width - right) / 2, (top + height - bottom) / 2, empty_note))
    centres = [(px(p.x), py(max(0.0, min(y_max, p.y)))) for p in points]
    # Labels sit right of their points and move down when blocked; placing the rightmost first means a label
    # moved down runs under points whose labels stayed higher, so no leader line crosses another's label.
    order = sorted(range(len(points)), key=lambda i: (centres[i][1], -centres[i][0]))
    baselines = _place_labels([(centres[i][0] + 9, centres[i][1] + 4, points[i].name) for i in order])
    for index, base in zip(order, baselines, strict=True):
        point = points[index]
        cx, cy = centres[index]
        body.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="6" fill="{point.colour}" fill-opacity="0.85">'
            f"<title>{escape(point.tip)}</title></circle>"
        )
        if base - (cy + 4) > 1:  # moved off its point: a leader line says whose label it is
            body.append(
                f'<line x1="{cx + 4:.1f}" y1="{cy + 3:.1f}" x2="{cx + 8:.1f}" y2="{base - 4:.1f}"'
                f' stroke="{point.colour}" stroke-width="1"/>'
            )
        body.append(
            f'<text x="{cx + 9:.1f}" y="{base:.1f}" fill="{point.colour}" {FONT}>{escape(point.name)}'
            f"<title>{escape(point.tip)}</title></text>"
        )
    return _svg(width, height, body, title)


def _note(x: float, y: float, text: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="#6b7280" {FONT}>{escape(text)}</text>'


def strip_chart(series: Sequence[Series], *, title: str, x_label: str) -> str:
    """One row per series: every value as a dot (spread vertically) over a box of p25–p75, median, min–max.

    A row without values carries its ``empty_note`` instead, so a build that ran nothing is not a blank row."""
    row_height, left, right, top, bottom, width = 44, 130, 20, 16, 44, 640
    height = top + bottom + row_height * max(1, len(series))
    values = [v for s in series for v, _ in s.values]
    ticks = nice_ticks(0.0, max(values) * 1.05 if values else 1.0)
    hi = ticks[-1] or 1.0

    def px(x: float) -> float:
        return left + (width - left - right) * max(0.0, x) / hi

    body = []
    for t in ticks:
        body.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{height - bottom}" stroke="#e5e7eb"/>')
        body.append(f'<text x="{px(t):.1f}" y="{height - bottom + 16}" text-anchor="middle" {FONT}>{_label(t)}</text>')
    body.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 10}" text-anchor="middle" {FONT}>{escape(x_label)}</text>'
    )
    for row, line in enumerate(series):
        mid = top + row_height * row + row_height / 2
        body.append(f'<text x="{left - 8}" y="{mid + 4:.1f}" text-anchor="end" {FONT}>{escape(line.name)}</text>')
        vs = [v for v, _ in line.values]
        if not vs:
            body.append(_note((left + width - right) / 2, mid + 4, line.empty_note))
            continue
        q1, q2, q3 = (percentile(vs, q) or 0.0 for q in (25, 50, 75))
        low, high = min(vs), max(vs)
        box = f"{line.name}: median {q2:.3f} s, p25–p75 {q1:.3f}–{q3:.3f} s, {len(vs)} trials"
        body.append(f'<line x1="{px(low):.1f}" x2="{px(high):.1f}" y1="{mid}" y2="{mid}" stroke="#6b7280"/>')
        body.append(
            f'<rect x="{px(q1):.1f}" y="{mid - 10}" width="{max(1.0, px(q3) - px(q1)):.1f}" height="20"'
            f' fill="{line.colour}" fill-opacity="0.15" stroke="{line.colour}"><title>{escape(box)}</title></rect>'
        )
        body.append(
            f'<line x1="{px(q2):.1f}" x2="{px(q2):.1f}" y1="{mid - 10}" y2="{mid + 10}"'
            ' stroke="#111827" stroke-width="2"/>'
        )
        for i, (v, tip) in enumerate(line.values):
            offset = ((i * 7919) % 17 - 8) * 1.1  # a fixed spread, so the chart is the same on every rebuild
            body.append(
                f'<circle cx="{px(v):.1f}" cy="{mid + offset:.1f}" r="2.5" fill="{line.colour}" fill-opacity="0.7">'
                f"<title>{escape(tip)}</title></circle>"
            )
    return _svg(width, height, body, title)


def heat_color(rate: float) -> str:
    """Red (0 %) through amber to green (100 %)."""
    return f"hsl({120 * max(0.0, min(1.0, rate)):.0f}, 62%, 72%)"


def heat_map(
    rows: Sequence[str], columns: Sequence[str], cells: dict[tuple[str, str], tuple[float | None, str]], *, title: str
) -> str:
    """A grid of (rate, label) cells; a cell with no rate is grey."""
    cell_w, cell_h, left, top = 92, 28, 130, 40
    width = left + cell_w * max(1, len(columns)) + 10
    height = top + cell_h * max(1, len(rows)) + 10
    body = []
    for c, column in enumerate(columns):
        x = left + c * cell_w + cell_w / 2
        body.append(f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" {FONT}>{escape(column)}</text>')
    for r, row in enumerate(rows):
        y = top + r * cell_h
        body.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="end" {FONT}>{escape(row)}</text>')
        for c, column in enumerate(columns):
            rate, label = cells.get((row, column), (None, "–"))
            fill = "#e5e7eb" if rate is None else heat_color(rate)
            x = left + c * cell_w
            body.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}" rx="3">'
                f"<title>{escape(row)} / {escape(column)}: {escape(label)}</title></rect>"
            )
            body.append(  # the cell's rectangle under it keeps the tooltip
                f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" text-anchor="middle"'
                f' pointer-events="none" {FONT}>{escape(label)}</text>'
            )
    return _svg(width, height, body, title)
