"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing from
a CDN, and a page that prints. Pure: values in, markup out (escaped)."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 120, 18


def bars(labels: list[str], values: list[float], *, unit: str = "", title: str = "") -> str:
    """A bar per value, its label under it (every few when crowded) and its value on hover."""
    n = len(values)
    if n == 0 or n != len(labels) or max(values) <= 0:
        return _no_data(title)
    top = max(values)
    out = _frame(title, f"max {top:.4g} {unit}")
    for i, x, slot, label, v in _slots(labels, values):
        h = 0.0 if v <= 0 else max(1.0, (HEIGHT - 20) * v / top)
        out.append(_bar(x, slot, HEIGHT - h, h, "#2f6f9f", f"{label}: {v:g} {unit}"))
        out += _label(i, len(labels), x, label)
    out.append("</svg>")
    return "".join(out)


def ranges(labels: list[str], lows: list[float | None], highs: list[float | None], *,
           limit: float | None = None, unit: str = "", title: str = "") -> str:
    """A bar from low to high per period (a cold chain's extremes), red where it goes over
    `limit`, which is drawn as a dashed line; a period with no reading stays empty. Values
    may be below zero (a freezer)."""
    known = [v for v in lows + highs if v is not None]
    if not known or len(labels) != len(lows) or len(labels) != len(highs):
        return _no_data(title)
    edges = known + ([limit] if limit is not None else [])
    span = max(max(edges) - min(edges), 1.0)
    bottom, top = min(edges) - span * 0.1, max(edges) + span * 0.1

    def y(v: float) -> float:
        return 20 + (HEIGHT - 20) * (top - v) / (top - bottom)

    out = _frame(title, unit + (f", limit {limit:g}" if limit is not None else ""))
    if limit is not None:
        out.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(limit):.1f}" '
                   f'y2="{y(limit):.1f}" stroke="#b03030" stroke-dasharray="4 3"/>')
    for i, x, slot, label, (lo, hi) in _slots(labels, list(zip(lows, highs, strict=True))):
        if lo is not None and hi is not None:
            hot = limit is not None and hi > limit
            out.append(_bar(x, slot, y(hi), max(1.0, y(lo) - y(hi)),
                            "#b03030" if hot else "#2f6f9f", f"{label}: {lo:g} to {hi:g} {unit}"))
        out += _label(i, len(labels), x, label)
    out.append("</svg>")
    return "".join(out)


def _no_data(title: str) -> str:
    return f'<p class="dim">{escape(title)}: no data yet.</p>'


def _frame(title: str, note: str) -> list[str]:
    """The chart's opening tag and its title line, `note` in brackets after the title."""
    return [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT + 28}" width="{WIDTH}" height="{HEIGHT + 28}">',
            f'<text x="{PAD}" y="12" font-size="11">{escape(title)} ({escape(note)})</text>']


def _slots(labels: list[str], values: list[Any]) -> list[tuple[int, float, float, str, Any]]:
    """Each value's index, left edge and width across the chart, with its label."""
    slot = (WIDTH - 2 * PAD) / len(values)
    return [(i, PAD + i * slot, slot, label, v)
            for i, (label, v) in enumerate(zip(labels, values, strict=True))]


def _bar(x: float, slot: float, top: float, height: float, fill: str, hover: str) -> str:
    return (f'<rect x="{x + 1:.1f}" y="{top:.1f}" width="{max(1.0, slot - 2):.1f}" '
            f'height="{height:.1f}" fill="{fill}"><title>{escape(hover)}</title></rect>')


def _label(i: int, n: int, x: float, label: str) -> list[str]:
    """The label under a bar: every one, or every few when they would crowd."""
    if i % max(1, n // 8):
        return []
    return [f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="9">{escape(label)}</text>']
