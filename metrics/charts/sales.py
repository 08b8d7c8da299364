"""Charts of counts and durations: the funnel, activity by type and by day, stage durations.

Each `draw_*` takes a result and a ChartContext and returns a Figure, or None when the result holds nothing to
plot (the caller then shows the "no data" card or leaves the chart out).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from babel.dates import format_date
from matplotlib.figure import Figure

from metrics.charts.bars import has_values, hbar_figure, hbars, series_points
from metrics.charts.buckets import day_name
from metrics.charts.context import ChartContext
from metrics.charts.style import (
    ACCENT,
    ACCENT_LIGHT,
    GREY,
    GREY_LIGHT,
    INK,
    INK_SOFT,
    LABEL_SIZE,
    PARTIAL_HATCH,
    TICK_SIZE,
    WEEKEND,
    WIDE,
    add_axes,
    new_figure,
    put_titles,
    style_axes,
    text_width,
)
from metrics.kpis.activity import TYPE_MEASURES
from metrics.labels import humanize
from metrics.result import MetricResult, Series

__all__ = ["draw_funnel", "draw_activity_by_type", "draw_activity_by_day", "draw_stages"]


def _find_series(result: MetricResult, key: str) -> Series | None:
    return next((s for s in result.series if s.key == key), None)


def draw_funnel(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Stages as horizontal bars with counts, the step conversion between bars, and first → last overall."""
    points = series_points(result, "stages")
    counts = [p[1] for p in points]
    if not has_values(counts):
        return None
    labels = [ctx.category(str(p[0])) for p in points]
    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    ax = add_axes(fig, left=0.45 + text_width(labels), bottom=0.6)
    hbars(ax, ctx, labels, counts, "count")
    fmt = ctx.formatters
    for i in range(len(points) - 1):
        here, after = counts[i], counts[i + 1]
        step = None if not here or after is None else float(after) / float(here)
        text = "↓ " + (fmt.percent(step, 1) if step is not None else ctx.word("chart.n/a", "n/a"))
        ax.annotate(
            text,
            (0, i + 0.5),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=LABEL_SIZE - 1,
            color=INK_SOFT,
        )
    first, last = counts[0], counts[-1]
    if len(points) > 1 and first and last is not None:
        overall = f"{labels[0]} → {labels[-1]}: {fmt.percent(float(last) / float(first), 1)}"
        fig.text(
            0.97, 0.04, overall, ha="right", va="bottom", fontsize=LABEL_SIZE, color=INK, fontweight="bold"
        )
    return fig


def draw_activity_by_type(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Done activities by type, most frequent first."""
    points = sorted(series_points(result, "by_type"), key=lambda p: -float(p[1] or 0))
    if not has_values([p[1] for p in points]):
        return None
    ctx = _titled_by_series(result, "by_type", ctx)
    labels = [ctx.label(TYPE_MEASURES.get(str(p[0]), str(p[0])), humanize(str(p[0]))) for p in points]
    return hbar_figure(ctx, labels, [p[1] for p in points], "count")


# What each chart of a result with several adds to the title, in chart words: "Activity · by type".
_SERIES_TITLES = {"by_type": "by type", "by_day": "by day"}


def _titled_by_series(result: MetricResult, key: str, ctx: ChartContext) -> ChartContext:
    """The title names the series ("Activity · by day") when a result has several charts."""
    series = _find_series(result, key)
    if series is None:
        return ctx
    english = _SERIES_TITLES.get(key, series.label)
    if not english:
        return ctx
    return replace(ctx, title=f"{ctx.title} · {ctx.word('chart.' + english, english)}")


def draw_activity_by_day(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Columns per day of the period; days missing from the series are gaps, weekends are light grey."""
    by_day = {date.fromisoformat(day): value for day, value in series_points(result, "by_day")}
    if not has_values(list(by_day.values())):
        return None
    # The whole period is shown, so the weekends and days still ahead read as what they are.
    first = min(min(by_day), result.period.start_date)
    last = max(max(by_day), result.period.last_date)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    values = [float(by_day.get(day) or 0) for day in days]
    colors = [GREY_LIGHT if day.weekday() >= 5 else ACCENT for day in days]
    today = ctx.today
    ctx = _titled_by_series(result, "by_day", ctx)
    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    ax = add_axes(fig, left=0.35 + text_width([ctx.formatters.number(max(values), 0)]), bottom=0.6)
    # A faint band behind each weekend tells a quiet Saturday from a weekday nobody worked.
    for i, day in enumerate(days):
        if day.weekday() == 5 or (i == 0 and day.weekday() == 6):
            ax.axvspan(
                i - 0.5, min(i + 1.5 - day.weekday() + 5, len(days) - 0.5), color=WEEKEND, lw=0, zorder=0
            )
    bars = ax.bar(range(len(days)), values, width=0.75, color=colors)
    # Today is not over: its column is hatched and says "to date"; the days after it are left empty.
    if today is not None and today in days:
        bar = bars[days.index(today)]
        bar.set_facecolor(ACCENT_LIGHT)
        bar.set_edgecolor(ACCENT)
        bar.set_hatch(PARTIAL_HATCH)
        at = days.index(today)
        ax.annotate(
            ctx.word("chart.today, to date", "today, to date"),
            (at, values[at]),
            xytext=(0, 20 if len(days) <= 16 else 6),
            textcoords="offset points",
            # Near the left edge the note starts at the column, so it never reaches the value axis.
            ha="left" if at < 3 else "center",
            va="bottom",
            fontsize=TICK_SIZE - 2,
            color=INK_SOFT,
        )
    style_axes(ax, grid="y", unit="count", fmt=ctx.formatters)
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.set_ylim(0, max(values) * 1.18)
    if len(days) <= 16:
        for x, value in enumerate(values):
            if value:
                ax.annotate(
                    ctx.formatters.number(value, 0),
                    (x, value),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=LABEL_SIZE - 1,
                    color=INK,
                )
    # A month or more reads best with a tick per week (Mondays); a short period gets every day.
    ticks = [i for i, day in enumerate(days) if len(days) <= 16 or day.weekday() == 0] or [0]
    labels, month = [], None
    for i in ticks:
        day = days[i]
        labels.append(day_name(day, ctx) if day.month != month else format_date(day, "d", locale=ctx.locale))
        month = day.month
    ax.set_xticks(ticks, labels)
    return fig


# Each panel of the stage chart by its series: the pipeline and the unit, in chart words.
_STAGE_PANELS = {"deal_stages": "Deal stages: median days", "lead_stages": "Lead stages: median days"}


def _panel_title(series: Series, ctx: ChartContext) -> str:
    english = _STAGE_PANELS.get(series.key, series.label)
    return ctx.word("chart." + english, english)


def draw_stages(result: MetricResult, ctx: ChartContext) -> Figure | None:
    """Median days per deal stage (and lead stage), the slowest stage in the accent colour."""
    groups = []
    for key in ("deal_stages", "lead_stages"):
        series = _find_series(result, key)
        if series is not None and has_values([p[1] for p in series.points]):
            groups.append(series)
    if not groups:
        return None
    fig = new_figure(WIDE)
    put_titles(fig, ctx.title, ctx.subtitle)
    labels = [ctx.category(str(p[0])) for s in groups for p in s.points]
    left = 0.45 + text_width(labels)
    width, height = fig.get_size_inches()
    # Panels share the plot height in proportion to their number of stages, so every bar is equally thick.
    total_rows = sum(len(s.points) for s in groups) + 1.2 * (len(groups) - 1)
    longest = max(float(p[1] or 0) for s in groups for p in s.points)
    unit_words = ctx.word("chart.median days", "median days")
    # The unit goes under the plot unless every panel's name already says it ("Deal stages: median days").
    needs_unit = not all(unit_words.lower() in _panel_title(s, ctx).lower() for s in groups)
    top = 1 - 1.2 / height
    usable = top - (0.75 if needs_unit else 0.35) / height
    for series in groups:
        share = usable * len(series.points) / total_rows
        ax = fig.add_axes((left / width, top - share, 1 - (left + 0.5) / width, share))
        values = [p[1] for p in series.points]
        slowest = max(range(len(values)), key=lambda i: float(values[i] or 0))
        colors = [ACCENT if i == slowest else GREY for i in range(len(values))]
        hbars(ax, ctx, [ctx.category(str(p[0])) for p in series.points], values, "days", colors)
        # One scale for both panels, so a long lead stage and a long deal stage look equally long.
        ax.set_xlim(0, longest * 1.18)
        ax.set_title(
            _panel_title(series, ctx),
            loc="left",
            fontsize=LABEL_SIZE,
            color=INK_SOFT,
            pad=4,
        )
        top -= share + usable * 1.2 / total_rows
    if needs_unit:
        ax.set_xlabel(unit_words, fontsize=LABEL_SIZE, color=INK_SOFT)
    return fig
