"""Charts of one measure across breakdown rows: ranked bars `by rep|team|source|…`, a trend `by month|week`.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import math
from dataclasses import replace

from matplotlib.figure import Figure

from metrics.charts.sales import category_ticks, has_values, hbar_figure
from metrics.charts.style import (
    ACCENT,
    GREY_LIGHT,
    INK,
    LABEL_SIZE,
    TICK_SIZE,
    WIDE,
    ChartContext,
    add_axes,
    format_value,
    new_figure,
    put_titles,
    style_axes,
    text_width,
)
from metrics.result import MetricResult, Number

__all__ = ["draw_breakdown", "draw_trend", "TOP_ROWS"]

TOP_ROWS = 15


def _headline_by_row(result: MetricResult) -> list[tuple[str, str, Number | None, Number | None]]:
    """(key, label, value, previous) of the headline measure in each breakdown row."""
    if not result.measures:  # a plan period without a plan: nothing to rank
        return []
    key = result.headline.key
    rows = []
    for row in result.rows:
        measure = next((m for m in row.measures if m.key == key), None)
        if measure is not None:
            rows.append((row.key, row.label, measure.value, measure.previous))
    return rows


def draw_breakdown(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The headline measure per rep, team, source …: largest first, the top 15."""
    rows = [r for r in _headline_by_row(result) if r[2] is not None]
    if not has_values([r[2] for r in rows]):
        return None
    rows.sort(key=lambda r: -float(r[2] or 0))
    shown = rows[:TOP_ROWS]
    unit = result.headline.unit
    xlabel = ctx.translate(result.headline.label)
    if len(rows) > TOP_ROWS:
        xlabel += " · " + ctx.translate("top {shown} of {total}").format(shown=TOP_ROWS, total=len(rows))
    return hbar_figure(ctx, [r[1] for r in shown], [r[2] for r in shown], unit, xlabel=xlabel)


def draw_trend(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The headline measure month by month (or week by week); the comparison as faded marks behind it."""
    rows = sorted(_headline_by_row(result), key=lambda r: r[0])
    if not rows or all(r[2] is None for r in rows):
        return None
    unit = result.headline.unit
    values = [math.nan if r[2] is None else float(r[2]) for r in rows]
    previous = [math.nan if r[3] is None else float(r[3]) for r in rows]
    has_previous = any(r[3] is not None for r in rows)
    xs = list(range(len(rows)))
    ctx = replace(ctx, title=f"{ctx.title} · {ctx.translate(result.headline.label)}")
    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    finite = [v for v in values + previous if not math.isnan(v)]
    ax = add_axes(fig, left=0.35 + text_width([format_value(ctx.formatters, max(finite), unit)]), bottom=0.6)
    now_label = result.period.label
    before_label = result.comparison_period.label if result.comparison_period else ctx.translate("previous")
    # Rates and durations are levels, read as a line; counts and money add up, read as columns.
    as_line = unit in ("percent", "ratio", "days", "number")
    if as_line:
        if has_previous:
            ax.plot(xs, previous, color=GREY_LIGHT, linewidth=2.5, marker="o", label=before_label)
        ax.plot(xs, values, color=ACCENT, linewidth=3, marker="o", markersize=7, label=now_label)
    else:
        width = 0.38 if has_previous else 0.7
        offset = width / 2 if has_previous else 0.0
        if has_previous:
            ax.bar([x - offset for x in xs], previous, width=width, color=GREY_LIGHT, label=before_label)
        ax.bar([x + offset for x in xs], values, width=width, color=ACCENT, label=now_label)
    style_axes(ax, grid="y", unit=unit, fmt=ctx.formatters)
    low, high = min([*finite, 0.0]), max([*finite, 0.0])
    ax.set_ylim(low * 1.15, high * 1.15 if high > 0 else 1)
    # Values go on the marks only while the widest one fits the space of a column; else the grid tells them.
    texts = [format_value(ctx.formatters, r[2], unit) for r in rows]
    column_in = ax.get_position().width * fig.get_size_inches()[0] / len(rows)
    if text_width(texts, LABEL_SIZE - 1) <= column_in * 0.95:
        for x, r, text in zip(xs, rows, texts, strict=True):
            if r[2] is not None:
                ax.annotate(
                    text,
                    (x + (0.19 if has_previous and not as_line else 0), float(r[2])),
                    xytext=(0, 6),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=LABEL_SIZE - 1,
                    color=INK,
                )
    category_ticks(ax, [r[1] for r in rows], width_in=fig.get_size_inches()[0] - 1.5)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    if has_previous:
        # The header's right side is free; a legend there never covers a column.
        height = fig.get_size_inches()[1]
        fig.legend(
            loc="upper right",
            bbox_to_anchor=(0.98, 1 - 0.5 / height),
            ncols=2,
            frameon=False,
            fontsize=TICK_SIZE,
        )
    return fig
