"""Charts of metric results as PNG images, for a chat reply or a digest.

`render_charts(result, request)` picks the charts that suit a result (usually zero or one); `render_chart(kind,
result, request)` draws one kind on request; a ChartRequest (metrics/charts/request.py) says how they are to read. Charts use matplotlib's object API on an Agg canvas (never `pyplot`), one Figure each,
so they can be rendered from several threads of a server.

Empty data: `render_charts` leaves a chart out when its data is empty (the text of the reply already says so);
`render_chart` always returns an image, a card saying "no data for this period" when there is nothing to plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from babel.dates import format_date
from matplotlib.figure import Figure

from metrics.charts.breakdown import draw_breakdown, draw_leaderboard, draw_trend
from metrics.charts.buckets import period_name
from metrics.charts.cohorts import draw_cohorts
from metrics.charts.context import ChartContext, ChartFormatters, locale_formatters
from metrics.charts.money import draw_cac, draw_cs, draw_email, draw_ltv, draw_mrr_bridge, draw_roi
from metrics.charts.plan import draw_plan, draw_plan_dynamics
from metrics.charts.request import ChartRequest, chart_request
from metrics.charts.sales import (
    draw_activity_by_day,
    draw_activity_by_type,
    draw_funnel,
    draw_stages,
)
from metrics.charts.style import SQUARE, WIDE, finish, no_data_figure, to_png
from metrics.result import MetricResult

__all__ = [
    "ChartImage",
    "ChartRequest",
    "ChartFormatters",
    "CHART_KINDS",
    "render_chart",
    "render_charts",
    "build_chart",
    "build_charts",
    "chart_kinds_for",
    "locale_formatters",
]


@dataclass(frozen=True)
class ChartImage:
    """One rendered chart: `title` doubles as the caption or alt text."""

    filename: str
    png: bytes
    title: str


_Drawer = Callable[[MetricResult, ChartContext], Figure | None]

_DRAWERS: dict[str, _Drawer] = {
    "funnel": draw_funnel,
    "activity_by_type": draw_activity_by_type,
    "activity_by_day": draw_activity_by_day,
    "plan": draw_plan,
    "plan_dynamics": draw_plan_dynamics,
    "cohorts": draw_cohorts,
    "stages": draw_stages,
    "trend": draw_trend,
    "breakdown": draw_breakdown,
    "mrr_bridge": draw_mrr_bridge,
    "email_growth": draw_email,
    "ltv": draw_ltv,
    "cac": draw_cac,
    "roi": draw_roi,
    "cs": draw_cs,
    "leaderboard": draw_leaderboard,
}

CHART_KINDS: tuple[str, ...] = tuple(_DRAWERS)

# Which series or table of a result each metric-specific chart is drawn from, in the order they are shown.
_SOURCES: tuple[tuple[str, str], ...] = (
    ("funnel", "stages"),
    ("plan", "cumulative_actual"),
    ("plan_dynamics", "dynamics"),
    ("activity_by_type", "by_type"),
    ("activity_by_day", "by_day"),
    ("cohorts", "cohorts"),
    ("stages", "deal_stages"),
    ("stages", "lead_stages"),
)

# Charts drawn from a metric's own measures (no series): the metric and the measures it needs.
_MEASURE_CHARTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("mrr_bridge", "mrr", ("mrr_start", "mrr_end")),
    ("email_growth", "email", ("size_start", "size_end")),
    ("ltv", "ltv", ("cltv_historical", "cac")),
    ("cac", "cac", ("spend", "new_customers")),
    ("roi", "roi", ("revenue", "spend")),
    ("cs", "cs", ("account_retention", "nrr")),
)

_TREND_BREAKDOWNS = ("month", "week")

_ASKED = ChartRequest()  # in English, in dollars, as of no particular time


def _context(kind: str, result: MetricResult, request: ChartRequest) -> ChartContext:
    translate = request.translate
    ctx = ChartContext(
        formatters=request.formatters or locale_formatters(request.locale, request.currency),
        translate=translate,
        locale=request.locale,
        title="",
        subtitle="",
        words=request.words
        or (lambda key, english: translate(english) if key.startswith("chart.") else english),
        today=_today(result, request.now),
        measure=request.measure,
    )
    title = ctx.word(f"title.{result.metric}", ctx.translate(result.title))
    if kind == "breakdown" and result.breakdown_by:
        title = f"{title} · {ctx.word('chart.by ' + result.breakdown_by, 'by ' + result.breakdown_by)}"
    # The subtitle says whose numbers and which period; a period still in progress says up to which day. A
    # comparison is named only by the charts that draw it (their legends).
    when = period_name(result.period, ctx)
    if ctx.today is not None:
        when = ctx.word("chart.{period}, to {day}", "{period}, to {day}").format(
            period=when, day=format_date(ctx.today, "d MMM", locale=request.locale)
        )
    return replace(ctx, title=title, subtitle=f"{result.scope.label} · {when}")


def _today(result: MetricResult, now: datetime | None) -> date | None:
    """The local day in progress while the result's period runs: the result's own coverage says so when it has
    one (its last day with data), else the time of asking; None for a period that is over."""
    coverage = getattr(result, "coverage", None)
    if coverage is not None:
        return coverage.last_day if coverage.partial else None
    if now is not None and result.period.contains(now):
        return now.astimezone(result.period.tz).date()
    return None


def _draw(kind: str, result: MetricResult, request: ChartRequest) -> tuple[Figure | None, ChartContext]:
    drawer = _DRAWERS.get(kind)
    if drawer is None:
        raise ValueError(f"unknown chart kind {kind!r}; have {', '.join(CHART_KINDS)}")
    ctx = _context(kind, result, request)
    fig = drawer(result, ctx)
    return (None if fig is None else finish(fig)), ctx


def build_chart(kind: str, result: MetricResult, request: ChartRequest = _ASKED) -> Figure | None:
    """The Figure of one chart, not yet rendered (None when it has nothing to plot): what `render_chart` draws,
    for a test to read its texts and elements."""
    return _draw(kind, result, request)[0]


def build_charts(result: MetricResult, request: ChartRequest = _ASKED) -> tuple[tuple[str, Figure], ...]:
    """(kind, Figure) of every chart `render_charts` would send, in order, not yet rendered."""
    figures = []
    for kind in chart_kinds_for(result, measure=request.measure):
        fig, _ = _draw(kind, result, request)
        if fig is not None:
            figures.append((kind, fig))
    return tuple(figures)


def _image(kind: str, result: MetricResult, fig: Figure, ctx: ChartContext) -> ChartImage:
    title = fig.texts[0].get_text() if fig.texts else ctx.title
    return ChartImage(filename=f"{result.metric}_{kind}.png", png=to_png(fig), title=title)


def render_chart(kind: str, result: MetricResult, request: ChartRequest = _ASKED) -> ChartImage:
    """One chart of the given kind (one of CHART_KINDS), read as `request` asks (see ChartRequest); a "no data for
    this period" card when it has no data."""
    fig, ctx = _draw(kind, result, request)
    if fig is None:
        fig = finish(no_data_figure(ctx, SQUARE if kind == "cohorts" else WIDE))
    return _image(kind, result, fig, ctx)


def chart_kinds_for(result: MetricResult, *, measure: str | None = None) -> tuple[str, ...]:
    """The kinds that suit a result: its own series' charts (the funnel, plan vs actual …) or the chart of its
    measures (the MRR bridge …); broken down by rep, team or source, the first of them and the ranked breakdown;
    by month or week, the trend. `measure` asks for the leaderboard of that measure, rep by rep."""
    if measure is not None:
        return ("leaderboard",) if result.rows else ()
    if result.breakdown_by in _TREND_BREAKDOWNS:
        return ("trend",)
    present = {s.key for s in result.series} | {t.key for t in result.tables}
    # One day of activity (yesterday, today) makes a single column: the chart by type says more.
    if sum(1 for s in result.series if s.key == "by_day" for _ in s.points) < 2:
        present.discard("by_day")
    kinds: list[str] = []
    for kind, source in _SOURCES:
        if source in present and kind not in kinds:
            kinds.append(kind)
    measures = {m.key for m in result.measures}
    for kind, metric, needed in _MEASURE_CHARTS:
        if result.metric == metric and set(needed) <= measures:
            kinds.append(kind)
    if result.breakdown_by:
        return (*kinds[:1], "breakdown")
    return tuple(kinds)


def render_charts(
    result: MetricResult, request: ChartRequest | None = None, **fields: Any
) -> tuple[ChartImage, ...]:
    """The charts that suit a result (usually zero or one), leaving out those with no data to show; the request's
    `measure` asks for the leaderboard chart of that measure instead. The request's fields may come as keywords
    (`locale=…, now=…`), as the conversation passes them."""
    request = chart_request(request, fields)
    images = []
    for kind in chart_kinds_for(result, measure=request.measure):
        fig, ctx = _draw(kind, result, request)
        if fig is not None:
            images.append(_image(kind, result, fig, ctx))
    return tuple(images)
