"""Charts of metric results as PNG images, for a chat reply or a digest.

`render_charts(result)` picks the charts that suit a result (usually zero or one); `render_chart(kind, result)`
draws one kind on request. Charts use matplotlib's object API on an Agg canvas (never `pyplot`), one Figure each,
so they can be rendered from several threads of a server.

Empty data: `render_charts` leaves a chart out when its data is empty (the text of the reply already says so);
`render_chart` always returns an image, a card saying "no data for this period" when there is nothing to plot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure

from metrics.charts.breakdown import draw_breakdown, draw_trend
from metrics.charts.plan import draw_cohorts, draw_plan, draw_plan_dynamics
from metrics.charts.sales import (
    draw_activity_by_day,
    draw_activity_by_type,
    draw_funnel,
    draw_stages,
)
from metrics.charts.style import (
    SQUARE,
    WIDE,
    ChartContext,
    ChartFormatters,
    locale_formatters,
    no_data_figure,
    to_png,
)
from metrics.result import MetricResult

__all__ = [
    "ChartImage",
    "ChartFormatters",
    "CHART_KINDS",
    "render_chart",
    "render_charts",
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

_TREND_BREAKDOWNS = ("month", "week")


def _context(
    kind: str,
    result: MetricResult,
    locale: str,
    translate: Callable[[str], str],
    formatters: ChartFormatters | None,
) -> ChartContext:
    title = translate(result.title)
    if kind == "breakdown" and result.breakdown_by:
        title = f"{title} · {translate('by ' + result.breakdown_by)}"
    subtitle = f"{result.scope.label} · {result.period.label}"
    # A comparison period without data draws no comparison, so the subtitle promises none.
    if result.comparison_period is not None and not result.comparison_empty:
        subtitle += f" · {translate('vs')} {result.comparison_period.label}"
    return ChartContext(
        formatters=formatters or locale_formatters(locale),
        translate=translate,
        locale=locale,
        title=title,
        subtitle=subtitle,
    )


def _draw(
    kind: str,
    result: MetricResult,
    locale: str,
    translate: Callable[[str], str],
    formatters: ChartFormatters | None,
) -> tuple[Figure | None, ChartContext]:
    drawer = _DRAWERS.get(kind)
    if drawer is None:
        raise ValueError(f"unknown chart kind {kind!r}; have {', '.join(CHART_KINDS)}")
    ctx = _context(kind, result, locale, translate, formatters)
    return drawer(result, ctx), ctx


def _image(kind: str, result: MetricResult, fig: Figure, ctx: ChartContext) -> ChartImage:
    title = fig.texts[0].get_text() if fig.texts else ctx.title
    return ChartImage(filename=f"{result.metric}_{kind}.png", png=to_png(fig), title=title)


def render_chart(
    kind: str,
    result: MetricResult,
    *,
    locale: str = "en",
    translate: Callable[[str], str] = lambda s: s,
    formatters: ChartFormatters | None = None,
) -> ChartImage:
    """One chart of the given kind (one of CHART_KINDS); a "no data for this period" card when it has no data.

    `formatters` default to the locale's number conventions (plain English for "en").
    """
    fig, ctx = _draw(kind, result, locale, translate, formatters)
    if fig is None:
        fig = no_data_figure(ctx, SQUARE if kind == "cohorts" else WIDE)
    return _image(kind, result, fig, ctx)


def chart_kinds_for(result: MetricResult) -> tuple[str, ...]:
    """The kinds that suit a result: its own series' charts (the funnel, plan vs actual …); broken down by rep,
    team or source, the first of them and the ranked breakdown; by month or week, the trend."""
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
    if result.breakdown_by:
        return (*kinds[:1], "breakdown")
    return tuple(kinds)


def render_charts(
    result: MetricResult,
    *,
    locale: str = "en",
    translate: Callable[[str], str] = lambda s: s,
    formatters: ChartFormatters | None = None,
) -> tuple[ChartImage, ...]:
    """The charts that suit a result (usually zero or one), leaving out those with no data to show."""
    images = []
    for kind in chart_kinds_for(result):
        fig, ctx = _draw(kind, result, locale, translate, formatters)
        if fig is not None:
            images.append(_image(kind, result, fig, ctx))
    return tuple(images)
