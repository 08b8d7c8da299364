"""Charts of one measure across breakdown rows: ranked bars `by rep|team|source|…`, a trend `by month|week`.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import math
from dataclasses import replace

from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from metrics.charts.bars import category_ticks, has_values, hbar_figure
from metrics.charts.buckets import bucket_is_ahead, bucket_is_partial, bucket_name, period_name
from metrics.charts.context import ChartContext, format_value, unit_label
from metrics.charts.style import (
    ACCENT,
    ACCENT_LIGHT,
    GREY_LIGHT,
    INK,
    LABEL_SIZE,
    PARTIAL_HATCH,
    TICK_SIZE,
    WIDE,
    add_axes,
    new_figure,
    put_titles,
    style_axes,
    text_width,
)
from metrics.labels import CODED_BREAKDOWNS, none_keys
from metrics.result import MetricResult, Number, lower_is_better

__all__ = ["draw_breakdown", "draw_trend", "draw_leaderboard", "TOP_ROWS"]

TOP_ROWS = 15


def _headline_by_row(
    result: MetricResult, ctx: ChartContext | None = None, key: str | None = None
) -> list[tuple[str, str, Number | None, Number | None]]:
    """(key, label, value, previous) of the headline measure (or `key`) in each breakdown row; codes as words."""
    if not result.measures and key is None:  # a plan period without a plan: nothing to rank
        return []
    key = key or result.headline.key
    coded = ctx is not None and result.breakdown_by in CODED_BREAKDOWNS
    rows = []
    for row in result.rows:
        measure = next((m for m in row.measures if m.key == key), None)
        if measure is not None:
            label = row.label
            if ctx is not None and row.key == "":
                # The row of everything without a value: "No campaign", "Без источника".
                by = result.breakdown_by or ""
                label = next((t for t in map(ctx.known, none_keys(by)) if t is not None), row.label)
            elif coded and ctx is not None:
                label = ctx.category(row.label, result.breakdown_by)
            rows.append((row.key, label, measure.value, measure.previous))
    return rows


def _measure_unit_label(ctx: ChartContext, key: str, english: str, unit) -> str:
    """A measure's name for an axis, with its unit when the values do not carry it ("Sales cycle, days")."""
    label = ctx.label(key, english)
    words = unit_label(unit, ctx)
    return f"{label}, {words}" if words and words.lower() not in label.lower() else label


def draw_breakdown(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The headline measure per rep, team, source …: largest first, the top 15."""
    rows = [r for r in _headline_by_row(result, ctx) if r[2] is not None]
    if not has_values([r[2] for r in rows]):
        return None
    rows.sort(key=lambda r: -float(r[2] or 0))
    shown = rows[:TOP_ROWS]
    unit = result.headline.unit
    parts = [_measure_unit_label(ctx, result.headline.key, result.headline.label, unit)]
    # "Win rate · by source" over bars labelled "Win rate" says it twice: the axis keeps only what is new.
    if ctx.label(result.headline.key, result.headline.label).lower() in ctx.title.lower():
        parts = [words] if (words := unit_label(unit, ctx)) else []
    if len(rows) > TOP_ROWS:
        parts.append(
            ctx.word("chart.top {shown} of {total}", "top {shown} of {total}").format(
                shown=TOP_ROWS, total=len(rows)
            )
        )
    xlabel = " · ".join(parts) or None
    return hbar_figure(ctx, [r[1] for r in shown], [r[2] for r in shown], unit, xlabel=xlabel)


def draw_leaderboard(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The reps ranked by one measure, best first (least first for costs and days), each bar with its value."""
    key = ctx.measure or result.headline.key
    rows = [r for r in _headline_by_row(result, ctx, key) if r[2] is not None]
    if not has_values([r[2] for r in rows]):
        return None
    sign = 1 if lower_is_better(key) else -1
    rows.sort(key=lambda r: (sign * float(r[2] or 0), r[1]))
    shown = rows[:TOP_ROWS]
    sample = next(m for row in result.rows for m in row.measures if m.key == key)
    label = ctx.label(key, sample.label)
    title = ctx.word("title.leaderboard", "Leaderboard: {label}").format(label=label)
    xlabel = None
    if len(rows) > TOP_ROWS:
        xlabel = ctx.word("chart.top {shown} of {total}", "top {shown} of {total}").format(
            shown=TOP_ROWS, total=len(rows)
        )
    colors = [ACCENT if i == 0 else ACCENT_LIGHT for i in range(len(shown))]
    return hbar_figure(
        replace(ctx, title=title),
        [f"{i}. {r[1]}" for i, r in enumerate(shown, 1)],
        [r[2] for r in shown],
        sample.unit,
        colors,
        xlabel=xlabel,
    )


def draw_trend(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """The headline measure month by month (or week by week); the comparison as faded marks behind it; a month or
    week still in progress hatched and named "to date" in the legend."""
    rows = sorted(_headline_by_row(result, ctx), key=lambda r: r[0])
    if not has_values([r[2] for r in rows]):
        return None
    unit = result.headline.unit
    tz = result.period.tz
    values = [math.nan if r[2] is None else float(r[2]) for r in rows]
    previous = [math.nan if r[3] is None else float(r[3]) for r in rows]
    # A comparison of nothing but zeros and gaps (no data a year earlier) would draw nothing: it is left out.
    has_previous = has_values([r[3] for r in rows]) and not getattr(result, "comparison_empty", False)
    xs = list(range(len(rows)))
    # The metric's name says what is measured; the headline's only when it says something else.
    label = ctx.label(result.headline.key, result.headline.label)
    title = ctx.title if label.lower() in ctx.title.lower() else f"{ctx.title} · {label}"
    fig = new_figure(WIDE)
    put_titles(fig, title, ctx.subtitle)
    finite = [v for v in values + previous if not math.isnan(v)]
    tick_text = (
        ctx.formatters.money_tick(max(finite))
        if unit == "money" and ctx.formatters.money_tick
        else format_value(ctx.formatters, max(finite), unit)
    )
    axis_words = unit_label(unit, ctx)
    partial = [bucket_is_partial(r[0], ctx, tz) for r in rows]
    with_legend = has_previous or any(partial)
    # The legend gets its own line under the subtitle, so it never covers a column or the header.
    ax = add_axes(
        fig,
        left=0.35 + text_width([tick_text]) + (0.35 if axis_words else 0),
        bottom=0.6,
        top=1.5 if with_legend else 1.05,
    )
    now_label = period_name(result.period, ctx)
    before_label = (
        period_name(result.comparison_period, ctx)
        if result.comparison_period
        else ctx.word("chart.previous", "previous")
    )
    # Rates and durations are levels, read as a line; counts and money add up, read as columns.
    as_line = unit in ("percent", "ratio", "days", "number")
    handles: list[Artist] = []
    if as_line:
        if has_previous:
            (line,) = ax.plot(xs, previous, color=GREY_LIGHT, linewidth=2.5, marker="o", label=before_label)
            handles.append(line)
        (line,) = ax.plot(xs, values, color=ACCENT, linewidth=3, marker="o", markersize=7, label=now_label)
        if has_previous:
            handles.append(line)
        for x, value, is_partial in zip(xs, values, partial, strict=True):
            if is_partial and not math.isnan(value):
                ax.plot(
                    [x], [value], marker="o", markersize=11, color="white", markeredgecolor=ACCENT, zorder=3
                )
    else:
        width = 0.38 if has_previous else 0.7
        offset = width / 2 if has_previous else 0.0
        if has_previous:
            ax.bar([x - offset for x in xs], previous, width=width, color=GREY_LIGHT)
            handles.append(Patch(color=GREY_LIGHT, label=before_label))
        bars = ax.bar([x + offset for x in xs], values, width=width, color=ACCENT)
        if has_previous:
            handles.append(Patch(color=ACCENT, label=now_label))
        for bar, is_partial in zip(bars, partial, strict=True):
            if is_partial:
                bar.set_facecolor(ACCENT_LIGHT)
                bar.set_hatch(PARTIAL_HATCH)
                bar.set_edgecolor(ACCENT)
    if any(partial):
        to_date = ctx.word("chart.to date (not over yet)", "to date (not over yet)")
        if as_line:
            handles.append(
                ax.plot([], [], marker="o", markersize=11, color="white", markeredgecolor=ACCENT, ls="")[0]
            )
            handles[-1].set_label(to_date)
        else:
            handles.append(
                Patch(facecolor=ACCENT_LIGHT, edgecolor=ACCENT, hatch=PARTIAL_HATCH, label=to_date)
            )
    style_axes(ax, grid="y", unit=unit, fmt=ctx.formatters)
    if axis_words:
        ax.set_ylabel(axis_words, fontsize=LABEL_SIZE, color=INK)
    low, high = min([*finite, 0.0]), max([*finite, 0.0])
    ax.set_ylim(low * 1.15, high * 1.15 if high > 0 else 1)
    # Values go on the marks only while the widest one fits the space of a column; else the grid tells them.
    texts = [format_value(ctx.formatters, r[2], unit) for r in rows]
    column_in = ax.get_position().width * fig.get_size_inches()[0] / len(rows)
    if text_width(texts, LABEL_SIZE - 1) <= column_in * 0.95:
        for x, r, text in zip(xs, rows, texts, strict=True):
            # A week still ahead has no number yet, only the zero of nothing happened.
            if r[2] is not None and not bucket_is_ahead(r[0], ctx, tz):
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
    names = [bucket_name(r[0], ctx, tz, result.period) for r in rows]
    category_ticks(ax, names, width_in=fig.get_size_inches()[0] - 1.5)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    if with_legend:
        width, height = fig.get_size_inches()
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.15 / width, 1 - 0.85 / height),
            ncols=len(handles),
            frameon=False,
            fontsize=TICK_SIZE,
        )
    return fig
