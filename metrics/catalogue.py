"""The metric catalogue (each metric declared once, as data) and the one door: `query(MetricQuery) -> MetricResult`.

Chat commands, digests, alerts and the CLI all come through `query`, so periods, scopes, permissions, filters,
breakdowns and comparisons are handled here once; a metric module only says how to compute its numbers for one
period and one scope (`compute(ctx) -> Computed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Engine, true

from metrics.periods import Period, check_bounds, parse_period
from metrics.result import BreakdownRow, Measure, MetricResult, Note, Series, Table
from metrics.scope import ResolvedScope, Scope, Viewer, load_viewer, resolve_scope
from storage.config.settings import Settings
from storage.errors import PermissionDenied, UserError

__all__ = [
    "BREAKDOWNS",
    "FILTERS",
    "MetricQuery",
    "MetricDef",
    "ComputeContext",
    "Computed",
    "register",
    "catalogue",
    "get_metric",
    "query",
]

BREAKDOWNS = ("rep", "team", "source", "segment", "product", "campaign", "month", "week", "list")
FILTERS = ("source", "segment", "product", "campaign")
Mode = Literal["cohort", "flow"]


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


@dataclass(frozen=True)
class ComputeContext:
    """What a metric's compute function gets: one period, one resolved scope, validated filters."""

    conn: Connection
    settings: Settings
    period: Period
    scope: ResolvedScope
    viewer: Viewer
    now: datetime
    filters: Mapping[str, str]
    by: str | None
    mode: Mode
    options: Mapping[str, str]
    is_comparison: bool = False

    def owner_in_scope(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting an owner column to the scope (always true for the org)."""
        if self.scope.owner_ids is None:
            return true()
        return column.in_(self.scope.owner_ids)

    @property
    def start(self) -> datetime:
        """The period's start as naive UTC, as stored."""
        return self.period.start_utc

    @property
    def end(self) -> datetime:
        return self.period.end_utc

    @property
    def now_utc(self) -> datetime:
        from datetime import UTC

        return self.now.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Computed:
    """A metric module's numbers for one period."""

    measures: tuple[Measure, ...]
    rows: tuple[BreakdownRow, ...] = ()
    series: tuple[Series, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str | Note, ...] = ()


@dataclass(frozen=True)
class MetricDef:
    """A catalogue entry: what the metric is, what it may be broken down and filtered by, how to compute it."""

    name: str
    title: str
    description: str  # the definition, shown by /help <command> and under every reply
    compute: Callable[[ComputeContext], Computed]
    needs: tuple[str, ...] = ()  # tables it reads
    breakdowns: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    modes: tuple[Mode, ...] = ("cohort",)
    comparable: bool = True
    # An in-progress period is compared with the same elapsed part of the comparison period ("month to date vs
    # the same days of last month"); metrics whose numbers are already normalised for elapsed time (plan pace)
    # compare with the whole comparison period instead.
    compare_to_date: bool = True
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)


_CATALOGUE: dict[str, MetricDef] = {}


def register(metric: MetricDef) -> MetricDef:
    """Add a metric to the catalogue (at import time of its module)."""
    if metric.name in _CATALOGUE:
        raise ValueError(f"metric {metric.name!r} declared twice")
    _CATALOGUE[metric.name] = metric
    return metric


def _load_modules() -> None:
    # Importing the metric modules registers them; kept here so `query` always sees the whole catalogue.
    import metrics.definitions  # noqa: F401


def catalogue() -> tuple[MetricDef, ...]:
    """Every metric, in declaration order."""
    _load_modules()
    return tuple(_CATALOGUE.values())


def get_metric(name: str) -> MetricDef:
    _load_modules()
    key = name.lower().replace("-", "_")
    for metric in _CATALOGUE.values():
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
    scope = resolve_scope(conn, viewer, q.scope, settings)
    _check_breakdown(viewer, scope, q.by, settings)
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
    if q.compare and metric.comparable:
        comparison_period = period.previous() if q.compare == "prev" else period.year_ago()
        if metric.compare_to_date:
            comparison_period = _to_date(comparison_period, period, q.now)
        check_bounds(comparison_period, q.by)
        previous = metric.compute(replace(ctx, period=comparison_period, is_comparison=True))
        measures, rows = _with_previous(current, previous, q.by)
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
    )
