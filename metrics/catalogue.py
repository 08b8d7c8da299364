"""The metric catalogue (each metric declared once, as data) and the one door: `query(MetricQuery) -> MetricResult`.

Chat commands, digests, alerts and the CLI all come through `query`, so periods, scopes, permissions, filters,
breakdowns and comparisons are handled here once; a metric module only says how to compute its numbers for one
period and one scope (`compute(ctx) -> Computed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from metrics.declare import ComputeContext, Computed, MetricDef, Mode
from metrics.kpis.acquisition import CAC, LTV
from metrics.kpis.activity import ACTIVITY
from metrics.kpis.conversion import WIN_RATE
from metrics.kpis.customer_success import CS
from metrics.kpis.funnel import FUNNEL
from metrics.kpis.marketing import EMAIL, ROI
from metrics.kpis.mrr import MRR
from metrics.kpis.pipeline import CYCLE, STAGES
from metrics.kpis.retention import RETENTION
from metrics.kpis.revenue import REVENUE
from metrics.kpis.sql_report import SQL_REPORT
from metrics.periods import Period, check_bounds, parse_period, period_coverage
from metrics.plan.metric import PLAN
from metrics.result import BreakdownRow, Measure, MetricResult
from metrics.scope import ResolvedScope, Scope, Viewer, load_viewer, resolve_scope
from metrics.sql.breakdowns import check_filter_values
from storage.config.settings import Settings
from storage.errors import PermissionDenied, UserError

__all__ = [
    "BREAKDOWNS",
    "FILTERS",
    "MetricQuery",
    "MetricDef",
    "ComputeContext",
    "Computed",
    "METRICS",
    "catalogue",
    "get_metric",
    "query",
]

BREAKDOWNS = ("rep", "team", "source", "segment", "product", "campaign", "month", "week", "list")
FILTERS = ("source", "segment", "product", "campaign")


@dataclass(frozen=True)
class MetricQuery:
    """One question. `period` is period words (parsed in the viewer's zone) or an already parsed Period."""

    metric: str
    viewer_id: str
    now: datetime  # tz-aware
    period: str | Period = ""
    scope: Scope | None = None  # None: the viewer's default (rep: me, manager: team, admin: org)
    filters: tuple[tuple[str, str], ...] = ()
    by: str | None = None
    compare: Literal["prev", "year"] | None = None
    mode: Mode | None = None
    options: tuple[tuple[str, str], ...] = ()  # metric-specific, e.g. (("plan_metric", "calls"),)


# Every metric, in the order of `kpibot metric --list` and of the digests; a name or alias given twice is refused.
METRICS: tuple[MetricDef, ...] = (
    MRR,
    RETENTION,
    CAC,
    LTV,
    ACTIVITY,
    FUNNEL,
    SQL_REPORT,
    WIN_RATE,
    CS,
    ROI,
    EMAIL,
    CYCLE,
    STAGES,
    PLAN,
    REVENUE,
)


def _check_unique(metrics: tuple[MetricDef, ...]) -> None:
    seen: set[str] = set()
    for metric in metrics:
        names = {metric.name, *metric.aliases}
        if names & seen:
            raise ValueError(f"metric {metric.name!r}: {sorted(names & seen)} declared twice")
        seen |= names


_check_unique(METRICS)


def catalogue() -> tuple[MetricDef, ...]:
    """Every metric, in declaration order."""
    return METRICS


def get_metric(name: str) -> MetricDef:
    key = name.lower().replace("-", "_")
    for metric in METRICS:
        if key == metric.name or key in metric.aliases:
            return metric
    raise UserError("metric.unknown", "I don't know the metric '{name}'.", name=name)


def _viewer_zone(viewer: Viewer, settings: Settings) -> ZoneInfo:
    return ZoneInfo(viewer.timezone) if viewer.timezone else settings.org.tz


def _validate(metric: MetricDef, q: MetricQuery) -> None:
    if q.by is not None and q.by not in metric.breakdowns:
        raise UserError(
            "breakdown.unsupported",
            "{metric} can't be broken down by {by}; try: {allowed}.",
            metric=metric.title,
            by=q.by,
            allowed=", ".join(metric.breakdowns) or "-",
        )
    for name, _value in q.filters:
        if name not in metric.filters:
            raise UserError(
                "filter.unsupported",
                "{metric} can't be filtered by {name}; try: {allowed}.",
                metric=metric.title,
                name=name,
                allowed=", ".join(metric.filters) or "-",
            )
    if q.mode is not None and q.mode not in metric.modes:
        raise UserError("mode.unsupported", "{metric} has no {mode} mode.", metric=metric.title, mode=q.mode)


_TIME_BREAKDOWNS = ("month", "week")


def _with_previous(
    current: Computed, previous: Computed, by: str | None = None
) -> tuple[tuple[Measure, ...], tuple[BreakdownRow, ...]]:
    """Fill `previous` into the current measures and rows. Rows match by key (the same rep, the same source);
    time buckets match by position — this period's first week against the comparison period's first week."""
    before = {m.key: m.value for m in previous.measures}
    measures = tuple(replace(m, previous=before.get(m.key)) for m in current.measures)
    if by in _TIME_BREAKDOWNS:
        paired = dict(zip((r.key for r in current.rows), previous.rows, strict=False))
    else:
        by_key = {r.key: r for r in previous.rows}
        paired = {r.key: by_key[r.key] for r in current.rows if r.key in by_key}
    rows = []
    for row in current.rows:
        earlier = {m.key: m.value for m in paired[row.key].measures} if row.key in paired else {}
        rows.append(
            replace(row, measures=tuple(replace(m, previous=earlier.get(m.key)) for m in row.measures))
        )
    return measures, tuple(rows)


def _to_date(comparison: Period, period: Period, now: datetime) -> Period:
    """Cut `comparison` to the part of it that has elapsed in `period` at `now`, when `period` is in progress."""
    if not period.contains(now):
        return comparison
    elapsed = now.astimezone(period.tz) - period.start
    end = (comparison.start + elapsed).astimezone(period.tz)
    if end >= comparison.end or end <= comparison.start:
        return comparison
    return replace(comparison, end=end, label=f"{comparison.label} (to {end:%Y-%m-%d %H:%M})")


def query(
    engine: Engine | Connection, settings: Settings, q: MetricQuery, *, viewer: Viewer | None = None
) -> MetricResult:
    """Answer one question, or raise UserError (bad input) / PermissionDenied (beyond the viewer's rights).

    The viewer is looked up by `q.viewer_id`; the scheduler passes its own `viewer` (SYSTEM_VIEWER) instead.
    """
    metric = get_metric(q.metric)
    _validate(metric, q)
    if isinstance(engine, Connection):
        return _answer(engine, settings, metric, q, viewer)
    with engine.connect() as conn:
        return _answer(conn, settings, metric, q, viewer)


def _check_breakdown(viewer: Viewer, scope: ResolvedScope, by: str | None, settings: Settings) -> None:
    # Org totals may be open to everyone (org.reps_see_org_totals); the org broken down by person or team is not:
    # that would show each rep's numbers to every other.
    if scope.kind == "org" and by in ("rep", "team") and not viewer.is_admin:
        raise PermissionDenied(
            "scope.denied",
            "You can't see {what}. You can see {allowed}.",
            what="the organisation's numbers by rep or team",
            allowed="the org totals" if settings.org.reps_see_org_totals else "your own numbers",
            denied="org_breakdown",
        )


def _answer(
    conn: Connection, settings: Settings, metric: MetricDef, q: MetricQuery, viewer: Viewer | None
) -> MetricResult:
    viewer = viewer or load_viewer(conn, q.viewer_id)
    tz = _viewer_zone(viewer, settings)
    period = q.period if isinstance(q.period, Period) else parse_period(q.period, now=q.now, tz=tz)
    check_bounds(period, q.by)
    coverage = period_coverage(period, q.now, settings.org.holidays)
    if coverage.future and not metric.answers_future:
        raise UserError(
            "period.future",
            "{period} has not started yet (it starts on {start}): there are no numbers for it.",
            period=period.label,
            start=coverage.start.isoformat(),
        )
    scope = resolve_scope(conn, viewer, q.scope, settings)
    _check_breakdown(viewer, scope, q.by, settings)
    check_filter_values(conn, dict(q.filters))
    ctx = ComputeContext(
        conn=conn,
        settings=settings,
        period=period,
        scope=scope,
        viewer=viewer,
        now=q.now,
        filters=dict(q.filters),
        by=q.by,
        mode=q.mode or metric.modes[0],
        options=dict(q.options),
    )
    current = metric.compute(ctx)
    measures, rows = current.measures, current.rows
    comparison_period = None
    comparison_empty = False
    if q.compare and metric.comparable:
        comparison_period = period.previous() if q.compare == "prev" else period.year_ago()
        if metric.compare_to_date:
            comparison_period = _to_date(comparison_period, period, q.now)
        check_bounds(comparison_period, q.by)
        previous = metric.compute(replace(ctx, period=comparison_period, is_comparison=True))
        measures, rows = _with_previous(current, previous, q.by)
        comparison_empty = _holds_no_data(previous, current)
    return MetricResult(
        metric=metric.name,
        title=metric.title,
        description=metric.description,
        period=period,
        scope=scope,
        measures=measures,
        comparison=q.compare if comparison_period else None,
        comparison_period=comparison_period,
        breakdown_by=q.by,
        rows=rows,
        series=current.series,
        tables=current.tables,
        notes=current.notes,
        mode=ctx.mode if len(metric.modes) > 1 else None,
        coverage=coverage,
        comparison_empty=comparison_empty,
    )


def _holds_no_data(previous: Computed, current: Computed) -> bool:
    """Whether a comparison period's numbers are all 0 or n/a — no data there, so no delta can be drawn.

    A measure that reads the same in both periods is left out: "overdue now" does not depend on the period, so
    it says nothing about whether the compared period has data (and if every measure reads the same, it has)."""
    now = {m.key: m.value for m in current.measures}
    telling = [m for m in previous.measures if m.key not in now or m.value != now[m.key]]
    return bool(telling) and all(m.value is None or m.value == 0 for m in telling)
