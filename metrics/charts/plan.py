"""Charts of plan execution: actual vs plan with the forecast, and attainment over the last periods.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when there is nothing to plot.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

from matplotlib.figure import Figure

from metrics.charts.bars import category_ticks, series_points
from metrics.charts.buckets import bucket_is_partial, bucket_name, day_name
from metrics.charts.context import ChartContext, format_value
from metrics.charts.style import (
    ACCENT,
    ACCENT_LIGHT,
    GREY,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    PARTIAL_HATCH,
    TICK_SIZE,
    WIDE,
    add_axes,
    mark_full,
    new_figure,
    put_titles,
    style_axes,
    text_width,
)
from metrics.result import MetricResult, Unit

__all__ = ["draw_plan", "draw_plan_dynamics"]


def _series_unit(result: MetricResult, key: str) -> Unit:
    return next((s.unit for s in result.series if s.key == key), "number")


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
    # A period without attainment (no plan) gets no column, only its "n/a": a column of zero would read as 0 %.
    drawn = [x for x in xs if values[x] is not None]
    colors = [ACCENT if x == len(points) - 1 else GREY for x in drawn]
    bars = ax.bar(drawn, [values[x] or 0.0 for x in drawn], width=0.62, color=colors)
    tz = result.period.tz
    partial = [bucket_is_partial(str(code), ctx, tz) for code, _ in points]
    for bar, x in zip(bars, drawn, strict=True):
        if partial[x]:
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
