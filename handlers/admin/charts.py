"""Charts drawn as SVG on the server (no script, no library): trend lines and horizontal bars, with axes, labels, the
value of every point in its <title> (shown on hover, read by screen readers) and, where there is room, printed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Line charts: a 480 x 220 drawing that scales to the page; bars: 420 wide, one 24 px row per bar.
LINE_W, LINE_H, PAD_L, PAD_R, PAD_T, PAD_B = 480, 220, 44, 14, 22, 46
BAR_W, BAR_ROW, BAR_LABEL, BAR_VALUE = 420, 24, 150, 56
MAX_X_LABELS = 8
MAX_PRINTED_POINTS = 14  # beyond this many points per series, values only on hover


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per x label; None: no data in that period (a gap in the line)
    links: Sequence[str | None] | None = None  # per point, where a click on it leads (the rows behind it)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    href: str | None = None
    group: str | None = None  # bars of one group are drawn under a heading (a campaign occurrence's results)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text}{unit}"


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values from low to high (1, 2 or 5 times a power of ten apart)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step / 2:
        ticks.append(round(value, 6))
        value += step
        if value > high and ticks[-1] >= high:
            break
    return ticks


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str = "",
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """A trend: one line per series over the periods, the y axis from y_range (else from the data, with 0)."""
    values = [v for s in series for v in s.values if v is not None]
    if not x_labels or not values:
        return Markup('<p class="muted no-chart">No data in this range.</p>')
    low, high = y_range or (min(0.0, *values), max(0.0, *values))
    ticks = _nice_ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    plot_w, plot_h = LINE_W - PAD_L - PAD_R, LINE_H - PAD_T - PAD_B
    n = len(x_labels)

    def x(i: int) -> float:
        return PAD_L + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return PAD_T + plot_h * (high - v) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line" viewBox="0 0 {LINE_W} {LINE_H}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid{" zero" if tick == 0 else ""}" x1="{PAD_L}" x2="{LINE_W - PAD_R}" '
            f'y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
            f'<text class="tick y" x="{PAD_L - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_number(tick)}</text>'
        )
    every = max(1, math.ceil(n / MAX_X_LABELS))
    for i, label in enumerate(x_labels):
        if i % every == 0:
            parts.append(
                f'<text class="tick x" x="{x(i):.1f}" y="{LINE_H - PAD_B + 16}" text-anchor="middle">'
                f"{escape(_short(label))}</text>"
            )
    parts.append(f'<line class="axis" x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{PAD_T + plot_h}"/>')
    for k, s in enumerate(series):
        points = [(i, v) for i, v in enumerate(s.values) if v is not None]
        runs: list[list[tuple[int, float]]] = []
        for i, v in points:  # a gap (a period without data) breaks the line
            if runs and runs[-1][-1][0] == i - 1:
                runs[-1].append((i, v))
            else:
                runs.append([(i, v)])
        parts.append(f'<g class="series s{k % 6}" data-series="{escape(s.name)}">')
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
                parts.append(f'<polyline class="trend" points="{path}"/>')
        printed = len(series) == 1 and len(points) <= MAX_PRINTED_POINTS
        for i, v in points:
            name = f"{s.name}, " if len(series) > 1 else ""
            href = s.links[i] if s.links else None
            tag = f'a href="{escape(href)}"' if href else "g"
            parts.append(
                f'<{tag} class="point" data-x="{escape(x_labels[i])}" data-value="{_number(v)}">'
                f"<title>{escape(name + x_labels[i])}: {_number(v, unit)}</title>"
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4"/>'
                + (
                    f'<text class="value" x="{x(i):.1f}" y="{y(v) - 8:.1f}" text-anchor="middle">{_number(v, unit)}'
                    "</text>"
                    if printed
                    else ""
                )
                + ("</a>" if href else "</g>")
            )
        parts.append("</g>")
    if len(series) > 1:
        x0 = PAD_L
        for k, s in enumerate(series):
            parts.append(
                f'<g class="key s{k % 6}"><rect x="{x0}" y="{LINE_H - 16}" width="10" height="10"/>'
                f'<text class="tick" x="{x0 + 14}" y="{LINE_H - 7}">{escape(s.name)}</text></g>'
            )
            x0 += 22 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(label: str) -> str:
    """'2026-03-02' -> '03-02' (the year is in the range above the chart); other labels as they are."""
    if len(label) == 10 and label[4] == "-" and label[7] == "-":
        return label[5:]
    return label


def bar_chart(title: str, bars: Sequence[Bar], *, unit: str = "", max_value: float | None = None) -> Markup:
    """Horizontal bars, one row each, the value printed at the bar's end; a bar with an href links to its rows."""
    values = [b.value for b in bars if b.value is not None]
    if not bars or not values:
        return Markup('<p class="muted no-chart">No data in this range.</p>')
    top = max_value or max(max(values), 1)
    plot_w = BAR_W - BAR_LABEL - BAR_VALUE
    rows, group = 0, None
    body = []
    for bar in bars:
        if bar.group is not None and bar.group != group:
            group = bar.group
            body.append(f'<text class="group" x="4" y="{rows * BAR_ROW + 17}">{escape(_clip(group, 60))}</text>')
            rows += 1
        top_y = rows * BAR_ROW
        width = 0.0 if bar.value is None else max(0.0, plot_w * bar.value / top)
        label = f"{group}, {bar.label}" if group else bar.label
        inner = (
            f"<title>{escape(label)}: {_number(bar.value, unit)}</title>"
            f'<text class="label" x="{BAR_LABEL - 8}" y="{top_y + 16}" text-anchor="end">{escape(_clip(bar.label, 22))}'
            f'</text><rect x="{BAR_LABEL}" y="{top_y + 4}" width="{width:.1f}" height="{BAR_ROW - 8}" rx="2"/>'
            f'<text class="value" x="{BAR_LABEL + width + 5:.1f}" y="{top_y + 16}">{_number(bar.value, unit)}</text>'
        )
        attrs = f'class="bar" data-label="{escape(label)}" data-value="{_number(bar.value)}"'
        if bar.href:
            body.append(f'<a href="{escape(bar.href)}" {attrs}>{inner}</a>')
        else:
            body.append(f"<g {attrs}>{inner}</g>")
        rows += 1
    height = rows * BAR_ROW + 6
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" viewBox="0 0 {BAR_W} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line class="axis" x1="{BAR_LABEL}" x2="{BAR_LABEL}" y1="0" y2="{height}"/>' + "".join(body) + "</svg>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
