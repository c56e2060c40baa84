"""Bar charts as inline SVG, drawn on the server: no chart library, no script, nothing from
a CDN, and a page that prints. Pure: values in, markup out (escaped)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 360, 120, 18


def bars(labels: list[str], values: list[float], *, unit: str = "", title: str = "") -> str:
    """A bar per value, its label under it (every few when crowded) and its value on hover."""
    n = len(values)
    if n == 0 or n != len(labels) or max(values) <= 0:
        return f'<p class="dim">{escape(title)}: no data yet.</p>'
    top = max(values)
    slot = (WIDTH - 2 * PAD) / n
    every = max(1, n // 8)
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT + 28}" width="{WIDTH}" height="{HEIGHT + 28}">',
           f'<text x="{PAD}" y="12" font-size="11">{escape(title)} (max {top:.4g} '
           f'{escape(unit)})</text>']
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = 0.0 if v <= 0 else max(1.0, (HEIGHT - 20) * v / top)
        x = PAD + i * slot
        out.append(f'<rect x="{x + 1:.1f}" y="{HEIGHT - h:.1f}" width="{max(1.0, slot - 2):.1f}"'
                   f' height="{h:.1f}" fill="#2f6f9f"><title>{escape(label)}: {v:g} '
                   f'{escape(unit)}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="9">'
                       f'{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def ranges(labels: list[str], lows: list[float | None], highs: list[float | None], *,
           limit: float | None = None, unit: str = "", title: str = "") -> str:
    """A bar from low to high per period (a cold chain's extremes), red where it goes over
    `limit`, which is drawn as a dashed line; a period with no reading stays empty. Values
    may be below zero (a freezer)."""
    known = [v for v in lows + highs if v is not None]
    n = len(labels)
    if not known or n != len(lows) or n != len(highs):
        return f'<p class="dim">{escape(title)}: no data yet.</p>'
    bottom = min(known + ([limit] if limit is not None else []))
    top = max(known + ([limit] if limit is not None else []))
    span = max(top - bottom, 1.0)
    bottom, top = bottom - span * 0.1, top + span * 0.1

    def y(v: float) -> float:
        return 20 + (HEIGHT - 20) * (top - v) / (top - bottom)

    slot = (WIDTH - 2 * PAD) / n
    every = max(1, n // 8)
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT + 28}" width="{WIDTH}" height="{HEIGHT + 28}">',
           f'<text x="{PAD}" y="12" font-size="11">{escape(title)} ({escape(unit)}'
           + (f', limit {limit:g}' if limit is not None else "") + ")</text>"]
    if limit is not None:
        out.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(limit):.1f}" '
                   f'y2="{y(limit):.1f}" stroke="#b03030" stroke-dasharray="4 3"/>')
    for i, (label, lo, hi) in enumerate(zip(labels, lows, highs, strict=True)):
        x = PAD + i * slot
        if lo is not None and hi is not None:
            hot = limit is not None and hi > limit
            out.append(f'<rect x="{x + 1:.1f}" y="{y(hi):.1f}" '
                       f'width="{max(1.0, slot - 2):.1f}" '
                       f'height="{max(1.0, y(lo) - y(hi)):.1f}" '
                       f'fill="{"#b03030" if hot else "#2f6f9f"}"><title>{escape(label)}: '
                       f'{lo:g} to {hi:g} {escape(unit)}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="9">'
                       f'{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)
