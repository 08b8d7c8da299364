"""Charts of plan execution and retention: actual vs plan with the forecast, attainment dynamics, cohort heat map.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import date

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from metrics.charts.sales import category_ticks, series_points
from metrics.charts.style import (
    ACCENT,
    ACCENT_LIGHT,
    GREY,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    PARTIAL_HATCH,
    SQUARE,
    TICK_SIZE,
    WIDE,
    ChartContext,
    add_axes,
    bucket_is_partial,
    bucket_name,
    bucket_period,
    day_name,
    format_value,
    mark_full,
    new_figure,
    put_titles,
    row_label,
    style_axes,
    text_width,
    value_axis_formatter,
)
from metrics.result import MetricResult, Unit

__all__ = ["draw_plan", "draw_plan_dynamics", "draw_cohorts"]

_MONTH_COLUMN = re.compile(r"m(\d+)$")


def _series_unit(result: MetricResult, key: str) -> Unit:
    return next((s.unit for s in result.series if s.key == key), "number")


def _em_width(text: str) -> float:
    """Width of a number label in ems of DejaVu Sans: digits are 0.64 em, "%" 0.95, separators about 0.32."""
    return sum(0.64 if ch.isdigit() else 0.95 if ch == "%" else 0.32 for ch in text)


def _measure_value(result: MetricResult, name: str) -> float | None:
    """The headline plan's `name` measure: keyed "attainment" or "<plan code>.attainment", the first one given."""
    for measure in result.measures:
        if measure.key == name or measure.key.endswith("." + name):
            return None if measure.value is None else float(measure.value)
    return None


def draw_plan(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Cumulative actual against the plan line, and the run-rate forecast to the period's end."""
    actual = {
        date.fromisoformat(d): float(v)
        for d, v in series_points(result, "cumulative_actual")
        if v is not None
    }
    target = {
        date.fromisoformat(d): float(v)
        for d, v in series_points(result, "cumulative_target")
        if v is not None
    }
    if not actual and not target:
        return None
    unit = _series_unit(result, "cumulative_actual" if actual else "cumulative_target")
    days = sorted(set(actual) | set(target))
    position = {day: i for i, day in enumerate(days)}
    fmt = ctx.formatters
    target_total = target[days[-1]] if days[-1] in target else (max(target.values()) if target else None)

    # The forecast runs from today's actual to the period's end along the plan line's shape, so it stays flat over
    # weekends and holidays. Its end is the metric's own forecast when the result has one, so chart and text agree;
    # else the run rate over working days: actual so far / the share of the plan line reached by now.
    projection: list[tuple[int, float]] = []
    forecast = _measure_value(result, "forecast")
    if actual and target and target_total:
        last = max(actual)
        done = target.get(last, 0.0)
        if 0 < done < target_total and last < days[-1]:
            if forecast is None:
                forecast = actual[last] * target_total / done
            still = forecast - actual[last]
            projection = [
                (position[d], actual[last] + still * (target[d] - done) / (target_total - done))
                for d in days
                if d >= last and d in target
            ]
    attainment = _measure_value(result, "attainment")
    if attainment is None and actual and target_total:
        attainment = actual[max(actual)] / target_total
    line = _plan_line(result, ctx)
    if attainment is not None:
        of_plan = ctx.word("chart.{value} of plan", "{value} of plan").format(
            value=fmt.percent(attainment, 1)
        )
        ctx = replace(ctx, title=f"{ctx.title} · {line}: {of_plan}" if line else f"{ctx.title} · {of_plan}")
    elif line:
        ctx = replace(ctx, title=f"{ctx.title} · {line}")

    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    top_value = max([*actual.values(), *target.values(), *(p[1] for p in projection), 0.0])
    tick_text = (
        fmt.money_tick(top_value)
        if unit == "money" and fmt.money_tick
        else format_value(fmt, top_value, unit)
    )
    end_texts = [format_value(fmt, top_value, unit), ctx.word("chart.forecast", "forecast")]
    ax = add_axes(
        fig, left=0.35 + text_width([tick_text]), bottom=0.6, right=0.5 + text_width(end_texts, TICK_SIZE)
    )
    label_at_end = []
    if target:
        xs = [position[d] for d in sorted(target)]
        ax.plot(xs, [target[d] for d in sorted(target)], color=GREY, linewidth=2, linestyle=(0, (6, 3)))
        label_at_end.append((xs[-1], target[max(target)], ctx.word("chart.plan", "plan"), INK_SOFT))
    if projection:
        ax.plot(
            [p[0] for p in projection],
            [p[1] for p in projection],
            color=ACCENT_LIGHT,
            linewidth=2.5,
            linestyle=(0, (2, 2)),
        )
        label_at_end.append(
            (projection[-1][0], projection[-1][1], ctx.word("chart.forecast", "forecast"), ACCENT)
        )
    if actual:
        xs = [position[d] for d in sorted(actual)]
        ax.plot(xs, [actual[d] for d in sorted(actual)], color=ACCENT, linewidth=3.5, solid_capstyle="round")
        last = max(actual)
        ax.plot([position[last]], [actual[last]], marker="o", color=ACCENT, markersize=8)
        # Label the latest actual on the side away from the plan line: below when behind plan, above when ahead;
        # above as well when below would reach the day labels under the plot.
        behind = actual[last] < target.get(last, 0.0)
        low = actual[last] < top_value * 0.18
        below = behind and not low
        ax.annotate(
            ctx.word("chart.{value} to date", "{value} to date").format(
                value=format_value(fmt, actual[last], unit)
            )
            if last < days[-1]
            else format_value(fmt, actual[last], unit),
            (position[last], actual[last]),
            xytext=(8, -12) if below else (8, 12) if low else (-6, 12),
            textcoords="offset points",
            ha="left" if below or low else "right",
            va="top" if below else "bottom",
            fontsize=LABEL_SIZE,
            color=ACCENT,
            fontweight="bold",
            # A white backing keeps the number readable where the forecast line passes behind it.
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5},
        )
    style_axes(ax, grid="y", unit=unit, fmt=fmt)
    ax.set_xlim(-0.5, len(days) - 0.5)
    ax.set_ylim(0, top_value * 1.08 if top_value > 0 else 1)
    _spread_end_labels(ax, fig, label_at_end, unit, ctx)
    ticks = [i for i, day in enumerate(days) if day.weekday() == 0 or len(days) <= 10] or [0]
    step = max(1, math.ceil(len(ticks) / 7))
    ticks = ticks[::step]
    ax.set_xticks(ticks, [day_name(days[i], ctx) for i in ticks])
    return fig


def _plan_line(result: MetricResult, ctx: ChartContext) -> str | None:
    """The name of the headline plan line ("Revenue"), from its key "revenue.attainment"."""
    if not result.measures or "." not in result.headline.key:
        return None
    line = result.headline.key.split(".", 1)[0]
    english = result.headline.label.split(":", 1)[0]
    return ctx.label(line, english)


def _spread_end_labels(ax, fig, labels, unit: Unit, ctx: ChartContext) -> None:
    """Name the plan and forecast lines at their right ends, nudged apart when they end close together."""
    _, y_max = ax.get_ylim()
    plot_height_in = ax.get_position().height * fig.get_size_inches()[1]
    min_gap = 0.42 / plot_height_in * y_max  # two lines of 13-pt text
    placed: list[float] = []
    for x, y, name, color in sorted(labels, key=lambda item: -item[1]):
        y_text = y
        for other in placed:
            if abs(other - y_text) < min_gap:
                y_text = other - min_gap
        placed.append(y_text)
        ax.annotate(
            f"{name}\n{format_value(ctx.formatters, y, unit)}",
            (x, y),
            # Just right of the plot, whatever the number of days: a data offset ran off a one-day chart.
            xytext=(1.015, y_text),
            textcoords=("axes fraction", "data"),
            ha="left",
            va="center",
            fontsize=TICK_SIZE,
            color=color,
            annotation_clip=False,
        )


def draw_plan_dynamics(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Attainment over the last periods as columns against the 100 % line; the latest period in the accent."""
    points = series_points(result, "dynamics")
    if not points or all(v is None for _, v in points):
        return None
    values = [None if v is None else float(v) for _, v in points]
    label = next(s.label for s in result.series if s.key == "dynamics")
    line = _plan_line(result, ctx)
    attainment = ctx.label("attainment", "Attainment").lower()
    name = f"{line}: {attainment}" if line else ctx.word("chart." + label, label)
    fig = new_figure(WIDE)
    put_titles(fig, f"{ctx.title} · {name}", ctx.subtitle)
    ax = add_axes(fig, left=0.9, bottom=0.6, right=0.8)
    xs = list(range(len(points)))
    colors = [ACCENT if i == len(points) - 1 else GREY for i in xs]
    bars = ax.bar(xs, [v or 0.0 for v in values], width=0.62, color=colors)
    tz = result.period.tz
    partial = [bucket_is_partial(str(code), ctx, tz) for code, _ in points]
    for bar, is_partial in zip(bars, partial, strict=True):
        if is_partial:
            bar.set_facecolor(ACCENT_LIGHT)
            bar.set_edgecolor(ACCENT)
            bar.set_hatch(PARTIAL_HATCH)
    style_axes(ax, grid="y", unit="percent", fmt=ctx.formatters)
    top = max([*(v for v in values if v is not None), 1.0]) * 1.15
    ax.set_ylim(0, top)
    mark_full(ax, ctx, across="y")
    to_date = ctx.word("chart.to date", "to date")
    for x, value in zip(xs, values, strict=True):
        text = ctx.word("chart.n/a", "n/a") if value is None else ctx.formatters.percent(value, 1)
        if partial[x]:
            text = f"{text}\n{to_date}"
        ax.annotate(
            text,
            (x, value or 0.0),
            xytext=(0, 5),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
            color=INK,
            fontweight="bold" if x == len(xs) - 1 else "normal",
        )
    category_ticks(
        ax, [bucket_name(str(code), ctx, tz) for code, _ in points], width_in=fig.get_size_inches()[0] - 1.4
    )
    ax.set_xlim(-0.6, len(points) - 0.4)
    return fig


def draw_cohorts(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Cohorts (first-order month) × months since, the share still ordering in each cell; n/a cells blank."""
    table = next((t for t in result.tables if t.key == "cohorts"), None)
    if table is None or not table.rows:
        return None
    columns = list(table.columns)
    months = [(i, int(m.group(1))) for i, c in enumerate(columns) if (m := _MONTH_COLUMN.match(c))]
    cohort_at = columns.index("cohort") if "cohort" in columns else 0
    size_at = columns.index("customers") if "customers" in columns else None
    # Cohorts with nothing observable (months still ahead, months without new customers) are left out.
    shown = [row for row in table.rows if any(row[i] is not None for i, _ in months)]
    if not months or not shown:
        return None
    # Month 0 is 100 % for every cohort (a first order is an order): a column that says nothing, and a dozen
    # labels fewer to draw. The youngest cohort keeps its row (name and size) with nothing observable yet.
    later = [(i, k) for i, k in months if k > 0]
    if later and all(row[i] in (None, 1.0) for i, k in months if k == 0 for row in shown):
        months = later
    grid = np.array([[np.nan if row[i] is None else float(row[i]) for i, _ in months] for row in shown])
    tz = result.period.tz
    row_labels = [
        f"{bucket_name(str(row[cohort_at]), ctx, tz)} · {ctx.formatters.number(row[size_at], 0)}"
        if size_at is not None
        else bucket_name(str(row[cohort_at]), ctx, tz)
        for row in shown
    ]
    fig = new_figure(SQUARE)
    put_titles(fig, ctx.title, ctx.subtitle)
    ax = add_axes(fig, left=0.4 + text_width(row_labels), bottom=0.85, right=1.25, top=1.05)
    cmap = colormaps["Blues"]
    # A mesh of cells draws much faster than an image resampled to the axes; masked (n/a) cells stay blank.
    rows, cols = grid.shape
    mesh = ax.pcolormesh(
        np.arange(cols + 1) - 0.5,
        np.arange(rows + 1) - 0.5,
        np.ma.masked_invalid(grid),
        cmap=cmap,
        vmin=0,
        vmax=1,
        edgecolors="white",
        linewidth=1.5,
    )
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    for side in ax.spines.values():
        side.set_visible(False)
    # The colour legend: what share a shade means, right of the grid.
    box = ax.get_position()
    width_in, height_in = fig.get_size_inches()
    cax = fig.add_axes((box.x1 + 0.2 / width_in, box.y0, 0.22 / width_in, box.height))
    bar = fig.colorbar(mesh, cax=cax, ticks=[0, 0.25, 0.5, 0.75, 1.0])
    bar.outline.set_visible(False)
    cax.yaxis.set_major_formatter(value_axis_formatter(ctx.formatters, "percent"))
    cax.tick_params(labelsize=TICK_SIZE - 2, colors=INK, length=0, pad=4)
    bar.set_label(
        ctx.word("chart.share still ordering", "share still ordering"), fontsize=TICK_SIZE - 2, color=INK_SOFT
    )
    # Row and column names as plain text: tick objects cost several times more to build and draw.
    ax.set_xticks([])
    ax.set_yticks([])
    for r, label in enumerate(row_labels):
        row_label(ax, label, r)
    for c, (_, k) in enumerate(months):
        ax.annotate(
            str(k),
            (c, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -6),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=TICK_SIZE,
            color=INK,
        )
    ax.set_xlabel(
        ctx.word("chart.months since first order", "months since first order"),
        fontsize=LABEL_SIZE,
        color=INK_SOFT,
        labelpad=26,
    )
    # Fit the cell text to the cell: one decimal as everywhere while "100.0%" fits at 11 pt or more, else whole
    # percents, which stay legible on a phone where a tiny "37.5%" would not.
    box = ax.get_position()
    cell_w_pt = box.width * fig.get_size_inches()[0] * 72 / len(months) - 6
    cell_h_pt = box.height * fig.get_size_inches()[1] * 72 / len(row_labels)
    decimals = 1
    size = min(LABEL_SIZE, cell_w_pt / _em_width(ctx.formatters.percent(1.0, 1)), cell_h_pt * 0.5)
    if size < 11:
        decimals = 0
        size = min(LABEL_SIZE, cell_w_pt / _em_width(ctx.formatters.percent(1.0, 0)), cell_h_pt * 0.5)
    for r, c in np.argwhere(~np.isnan(grid)):
        value = grid[r, c]
        ax.text(
            c,
            r,
            ctx.formatters.percent(value, decimals),
            ha="center",
            va="center",
            fontsize=size,
            color="white" if value > 0.55 else INK,
        )
    # A cell whose calendar month is not over yet (cohort month + months since = now's month) is hatched.
    partial_cells = []
    for r, row in enumerate(shown):
        cohort = bucket_period(str(row[cohort_at]), tz)
        if cohort is None or cohort.grain != "month":
            continue
        for c, (_, k) in enumerate(months):
            month = cohort.start_date.month - 1 + k
            when = bucket_period(f"{cohort.start_date.year + month // 12}-{month % 12 + 1:02d}", tz)
            if when is not None and ctx.is_partial(when) and not np.isnan(grid[r, c]):
                partial_cells.append((r, c))
    for r, c in partial_cells:
        ax.add_patch(
            Rectangle(
                (c - 0.5, r - 0.5), 1, 1, fill=False, hatch=PARTIAL_HATCH, edgecolor="white", linewidth=0
            )
        )
    if partial_cells:
        ax.set_xlabel(
            ax.get_xlabel() + " · " + ctx.word("chart.hatched: month to date", "hatched: month to date"),
            fontsize=LABEL_SIZE,
            color=INK_SOFT,
            labelpad=26,
        )
    return fig
