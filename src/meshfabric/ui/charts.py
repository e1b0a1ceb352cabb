"""SVG charts drawn on the server: a line, bars and a gauge (issue 14).

No chart library and no script: the numbers drawn are few (a point a day, a bar an hour, one
gauge per objective), an SVG of them is a few kilobytes, and it renders with scripts off. Every
mark carries its number in ``data-*`` attributes and a ``<title>`` (a tooltip, and text for a
screen reader), and every chart has a text summary beside it, so nothing is told by colour alone.

>>> "data-value=\\"0.5\\"" in line_chart(["2026-01-01", "2026-01-02"], [0.5, 1.0], label="quality")
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from meshfabric.ui.fmt import attr, number, percent

WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 28


def _scale(values: Sequence[float]) -> tuple[float, float]:
    """The y range: a share (0..1) up to 1 — from 0, or from a tenth below its lowest value when
    all are above one half, so 97% against 100% is visible (the axis is labelled with its
    bottom) — a percentage on 0..100, else 0..max.

    >>> _scale([0.93, 1.0]), _scale([0.2, 0.9]), _scale([40.0, 80.0])
    ((0.8, 1.0), (0.0, 1.0), (0.0, 100.0))
    """
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    bottom = 0.0 if lo >= 0 else lo
    if hi <= 1:
        if lo > 0.5:
            bottom = max(0.0, math.floor(lo * 10) / 10 - 0.1)
        return round(bottom, 1), 1.0
    if hi <= 100:
        return bottom, 100.0
    return bottom, hi * 1.05


def line_chart(xs: Sequence[str], ys: Sequence[float], *, label: str, share: bool = True) -> Markup:
    """A line over ``ys`` (one point per ``xs`` label), with the first and last x labels."""
    values = [float(y) for y in ys]
    lo, hi = _scale(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(values)

    def x_of(i: int) -> float:
        return LEFT + (plot_w * (i / (n - 1) if n > 1 else 0.5))

    def y_of(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo) / ((hi - lo) or 1))

    shown = percent if share and hi <= 1 else number
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
             f'data-chart="line" data-points="{n}">',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
             f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{escape(shown(hi))}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">{escape(shown(lo))}</text>']
    if n:
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="line" points="{points}"/>')
        for i, (x, v) in enumerate(zip(xs, values, strict=True)):
            parts.append(f'<circle class="dot" cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="3" data-x="{escape(x)}" '
                         f'data-value="{attr(ys[i])}"><title>{escape(x)}: {escape(shown(v))}</title></circle>')
        parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}">{escape(xs[0])}</text>')
        if n > 1:
            parts.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{escape(xs[-1])}</text>')
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data recorded</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(labels: Sequence[str], counts: Sequence[int | float], *, label: str, every: int = 3) -> Markup:
    """Bars of ``counts``, one per label; every ``every``-th label written under its bar."""
    n = len(counts)
    top = max([float(c) for c in counts] + [1.0])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, n)
    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}" '
             f'data-chart="bars" data-bars="{n}">',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end">{escape(number(top))}</text>',
             f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for i, (name, count) in enumerate(zip(labels, counts, strict=True)):
        h = plot_h * float(count) / top
        x = LEFT + i * slot + slot * 0.15
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{h:.1f}" data-label="{escape(name)}" data-value="{attr(count)}">'
                     f'<title>{escape(name)}: {escape(number(count))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - 8}" '
                         f'text-anchor="middle">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def gauge(name: str, value: float | None, *, target: float | None = None) -> Markup:
    """A half-circle gauge of a share (0..1) with the share and a word under it; ``None`` draws
    an empty track that says "no data"."""
    r, cx, cy = 50, 60, 60
    share = None if value is None else max(0.0, min(1.0, float(value)))
    word = ("no data" if share is None else
            "met" if target is None or share >= target else "below target")
    parts = [f'<svg viewBox="0 0 120 75" role="img" aria-label="{escape(name)}: {escape(percent(value))} ({word})" '
             f'data-chart="gauge" data-objective="{escape(name)}" data-value="{attr(value)}" '
             f'data-target="{attr(target)}">',
             f'<path class="track" d="M {cx - r} {cy} A {r} {r} 0 0 1 {cx + r} {cy}"/>']
    if share is not None and share > 0:
        angle = math.pi * (1 - share)
        x, y = cx + r * math.cos(angle), cy - r * math.sin(angle)
        parts.append(f'<path class="value" d="M {cx - r} {cy} A {r} {r} 0 0 1 {x:.2f} {y:.2f}"/>')
    parts.append(f'<text x="{cx}" y="{cy - 5}" text-anchor="middle" font-size="16">{escape(percent(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
