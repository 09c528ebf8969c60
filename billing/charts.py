"""A vertical bar chart laid out on the server, drawn as inline SVG by ``templates/billing/operator/_chart.html``.

No script and no external file: the page's CSP allows neither, and the figures are small (12 bars). The template
gives each chart a ``<title>`` and the same figures as a table for screen readers and for copying.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

WIDTH: Final = 640
HEIGHT: Final = 240
LEFT: Final = 76  # room for the axis figures
TOP: Final = 16
BOTTOM: Final = 28  # room for the month labels
GAP: Final = 0.25  # of a slot, between bars


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its label (月), the figure as shown, and its box in SVG user units."""

    label: str
    full_label: str  # 2026年11月, for the table and the bar's own <title>
    figure: str
    x: float
    y: float
    width: float
    height: float
    label_x: float


@dataclass(frozen=True, slots=True)
class GridLine:
    """A horizontal guide at ``y`` with its figure."""

    y: float
    figure: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """A chart ready to draw: ``title`` (the SVG's <title>), ``caption`` (the table's), bars and guides."""

    chart_id: str
    title: str
    value_heading: str
    bars: list[Bar]
    grid: list[GridLine]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM


MIN_TOP: Final = 2  # the smallest axis top: guides 0 / 1 / 2 when every value is 0 or 1


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 4, 5 × 10ⁿ at or above ``value`` that halves into a whole number (at least
    ``MIN_TOP``): a round, even top for the axis, so its three guides (0, half, top) are distinct integers."""
    value = max(value, MIN_TOP)
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 4, 5, 10):
        top = int(step * magnitude)
        if top >= value and top % 2 == 0:
            return top
    return magnitude * 10


def bar_chart(
    chart_id: str,
    title: str,
    value_heading: str,
    months: Sequence[dt.date],
    values: Sequence[int],
    figure: Callable[[int], str],
) -> BarChart:
    """Bars for ``values`` (one per month of ``months``, oldest first) scaled to a round top; ``figure`` formats a
    value for the labels and the table (e.g. ``"1,234件"``, ``"12,345円"``). Negative values draw as zero-height
    bars (the table still shows them)."""
    plot_height = HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max([0, *values]))
    slot = (WIDTH - LEFT) / max(len(values), 1)
    baseline = HEIGHT - BOTTOM
    bars = []
    for index, (month, value) in enumerate(zip(months, values, strict=True)):
        height = round(plot_height * max(value, 0) / top, 1)
        x = LEFT + slot * index + slot * GAP / 2
        bars.append(
            Bar(
                label=f"{month.month}月",
                full_label=f"{month.year}年{month.month:02d}月",
                figure=figure(value),
                x=round(x, 1),
                y=round(baseline - height, 1),
                width=round(slot * (1 - GAP), 1),
                height=height,
                label_x=round(LEFT + slot * index + slot / 2, 1),
            )
        )
    grid = [GridLine(round(baseline - plot_height * half / 2, 1), figure(top * half // 2)) for half in (0, 1, 2)]
    return BarChart(chart_id, title, value_heading, bars, grid, baseline=baseline)


def ids_figure(value: int) -> str:
    """A count of ids: ``1,234``."""
    return f"{value:,}"


def yen_figure(value: int) -> str:
    """Yen: ``12,345円``."""
    return f"{value:,}円"
