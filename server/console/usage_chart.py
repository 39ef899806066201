"""The operator's usage chart: one metric per tenant and day as stacked bars, drawn on the server
as SVG (no script, no inline style: colours come from the `series-N` classes of console.css).

The same numbers go in a table beside it (`daily_amounts`): the chart is for the eye, the table
for screen readers and copying.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta
from html import escape

from pipelines.platform.accounts.types import UsageRow
from server.console.i18n import N_

# metric of the chart -> its label and the metered metrics it adds up (accounts.usage's rows)
CHART_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tokens": (N_("Tokens"), ("prompt_tokens", "completion_tokens")),
    "audio_seconds": (
        N_("Audio seconds"),
        ("audio_seconds_transcribed", "audio_seconds_synthesized"),
    ),
    "video_seconds": (N_("Video seconds dubbed"), ("video_seconds_dubbed",)),
    "jobs": (N_("Jobs created"), ("jobs_created",)),
}
SERIES = 8  # colours in console.css (.series-0 ... .series-7); more tenants reuse them
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 40
TICKS = 4


def days_between(start: date, end: date) -> list[str]:
    """Every UTC day from start to end inclusive, as accounts.usage names them (YYYY-MM-DD)."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def tenants_of(rows: Iterable[UsageRow]) -> list[str]:
    """The tenants in the chart's order (series-N is the N-th of them, modulo SERIES)."""
    return sorted({row.tenant for row in rows})


def series_class(index: int) -> str:
    return f"series-{index % SERIES}"


def daily_amounts(rows: Iterable[UsageRow], days: list[str], metric: str) -> dict[str, list[float]]:
    """tenant -> the metric's amount on each of `days` (0 where nothing was used); every tenant
    of `rows` is there, so that a tenant keeps its place (and colour) whichever the metric."""
    if metric not in CHART_METRICS:
        raise ValueError(f"unknown chart metric '{metric}'")
    rows = list(rows)
    counted = set(CHART_METRICS[metric][1])
    position = {day: n for n, day in enumerate(days)}
    amounts = {tenant: [0.0] * len(days) for tenant in tenants_of(rows)}
    for row in rows:
        if row.metric in counted and row.day in position:
            amounts[row.tenant][position[row.day]] += row.amount
    return amounts


def format_amount(value: float) -> str:
    return f"{round(value):,}" if value == round(value) else f"{value:,.1f}"


def usage_chart(rows: Iterable[UsageRow], days: list[str], metric: str, *, label: str = "") -> str:
    """The SVG (a complete <svg> element) of `metric` per day of `days`, one stacked bar a day,
    a segment per tenant; every segment has a <title> naming tenant, day and amount."""
    rows = list(rows)
    amounts = daily_amounts(rows, days, metric)
    series = {tenant: n for n, tenant in enumerate(tenants_of(rows))}
    totals = [sum(column) for column in zip(*amounts.values(), strict=True)] or [0.0] * len(days)
    step = _tick_step(max(totals, default=0.0))
    top = step * TICKS
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.7, 1.0)

    def y_of(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" data-metric="{escape(metric)}" '
        f'aria-label="{escape(label)}">'
    ]
    for tick in range(TICKS + 1):
        y = y_of(step * tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{format_amount(step * tick)}</text>"
        )
    every = math.ceil(len(days) / 14) or 1  # at most about 14 day labels
    for n, day in enumerate(days):
        x = LEFT + n * slot + (slot - bar_w) / 2
        parts.append(f'<g class="day" data-day="{escape(day)}">')
        base = 0.0
        for tenant, values in amounts.items():
            value = values[n]
            if value <= 0:
                continue
            y = y_of(base + value)
            height = y_of(base) - y
            base += value
            title = f"{tenant} · {day}: {format_amount(value)}"
            parts.append(
                f'<rect class="bar {series_class(series[tenant])}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar_w:.1f}" height="{height:.1f}" data-tenant="{escape(tenant)}">'
                f"<title>{escape(title)}</title></rect>"
            )
        if n % every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{escape(day[5:])}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _tick_step(peak: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) so that TICKS steps reach the peak."""
    if peak <= 0:
        return 1.0
    raw = peak / TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= raw)
