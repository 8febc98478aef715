"""Small inline SVG charts (no JavaScript library, no network): bars and stacked bars.

Every function returns an SVG document fragment as a string with all text escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Colours of verdicts, shared with the report's CSS.
VERDICT_COLOURS: dict[str, str] = {
    "success": "#16a34a",
    "fail": "#dc2626",
    "error": "#d97706",
    "unscored": "#94a3b8",
    "not_run": "#64748b",
}
_FALLBACK = "#94a3b8"


def colour(verdict: str) -> str:
    return VERDICT_COLOURS.get(verdict, _FALLBACK)


@dataclass(frozen=True, slots=True)
class StackedRow:
    """One bar of a stacked bar chart: a label and counts per category."""

    label: str
    counts: dict[str, int]


def _fmt(x: float) -> str:
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def stacked_bars(rows: Sequence[StackedRow], categories: Sequence[str], *, width: int = 560,
                 title: str = "") -> str:
    """Horizontal stacked bars (one per row), with the success share printed at the end."""
    bar_h, gap, left, right, top = 22, 8, 150, 70, 26
    height = top + len(rows) * (bar_h + gap) + 30
    inner = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
           f' width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    if title:
        out.append(f'<text x="0" y="15" class="chart-title">{escape(title)}</text>')
    for i, row in enumerate(rows):
        y = top + i * (bar_h + gap)
        total = sum(row.counts.values()) or 1
        out.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" '
                   f'class="chart-label">{escape(row.label[:24])}</text>')
        x = float(left)
        for cat in categories:
            n = row.counts.get(cat, 0)
            if not n:
                continue
            w = inner * n / total
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
                       f'fill="{colour(cat)}"><title>{escape(row.label)}: {n} {escape(cat)}'
                       f'</title></rect>')
            if w > 18:
                out.append(f'<text x="{x + w / 2:.1f}" y="{y + bar_h * 0.7:.1f}" '
                           f'text-anchor="middle" class="chart-inbar">{n}</text>')
            x += w
        share = row.counts.get("success", 0) / total
        out.append(f'<text x="{left + inner + 8}" y="{y + bar_h * 0.7:.1f}" class="chart-value">'
                   f'{share * 100:.0f}%</text>')
    ly = height - 10
    lx = float(left)
    for cat in categories:
        out.append(f'<rect x="{lx:.0f}" y="{ly - 9}" width="10" height="10" rx="2" '
                   f'fill="{colour(cat)}"/><text x="{lx + 14:.0f}" y="{ly}" '
                   f'class="chart-legend">{escape(cat)}</text>')
        lx += 20 + 7.5 * len(cat)
    out.append("</svg>")
    return "".join(out)


def column_bars(values: Sequence[tuple[str, float, str]], *, width: int = 560, height: int = 190,
                title: str = "", unit: str = "") -> str:
    """Vertical bars: ``(label, value, category)`` each, coloured by category (verdict)."""
    left, bottom, top = 40, 26, 26
    inner_w = width - left - 10
    inner_h = height - top - bottom
    vmax = max((v for _, v, _ in values), default=0.0) or 1.0
    n = max(1, len(values))
    slot = inner_w / n
    bw = max(1.5, min(26.0, slot * 0.75))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
           f' width="{width}" height="{height}" role="img" aria-label="{escape(title)}">']
    if title:
        out.append(f'<text x="0" y="15" class="chart-title">{escape(title)}</text>')
    for frac in (0.0, 0.5, 1.0):
        y = top + inner_h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'class="chart-grid"/><text x="{left - 5}" y="{y + 4:.1f}" text-anchor="end" '
                   f'class="chart-axis">{_fmt(vmax * frac)}</text>')
    for i, (label, value, cat) in enumerate(values):
        h = inner_h * max(0.0, value) / vmax
        x = left + i * slot + (slot - bw) / 2
        out.append(f'<rect x="{x:.1f}" y="{top + inner_h - h:.1f}" width="{bw:.1f}" '
                   f'height="{max(h, 0.5):.1f}" rx="2" fill="{colour(cat)}"><title>'
                   f'{escape(label)}: {_fmt(value)}{escape(unit)} ({escape(cat)})</title></rect>')
    out.append(f'<text x="{left}" y="{height - 8}" class="chart-axis">{n} episodes'
               f'{" (" + escape(unit.strip()) + ")" if unit else ""}</text>')
    out.append("</svg>")
    return "".join(out)
