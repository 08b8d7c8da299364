"""Pipeline speed (SPEC 3.5): `/cycle`, how long won deals took, and `/stages`, where deals and leads wait."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_, func, literal, or_, outerjoin, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.result import BreakdownRow, Measure, Series
from metrics.sql.breakdowns import (
    NO_KEY,
    breakdown_rows,
    bucket_of,
    group_key,
    lead_filters,
    product_filter,
    time_buckets,
)
from metrics.sql.durations import DurationStats, days_between, group_stats, stats_of
from metrics.sql.lead_journey import was_touched
from storage.deal_spans import deal_spans
from storage.journeys import lead_spans
from storage.schema import Deal, Lead

__all__ = ["CYCLE", "STAGES", "cycle_measures", "stage_measures", "stage_key"]

_NONE = DurationStats(0, None, None)


def _in_period(ctx: ComputeContext, column) -> ColumnElement[bool]:
    return and_(column >= ctx.start, column < ctx.end)


# --- /cycle -----------------------------------------------------------------------------------------------------


def cycle_measures(stats: DurationStats) -> tuple[Measure, ...]:
    """Median first: one very long deal should not move the headline."""
    detail = f"{stats.count} deals"
    return (
        Measure("median_days", "Median sales cycle", "days", stats.median, detail=detail),
        Measure("mean_days", "Mean sales cycle", "days", stats.mean, detail=detail),
        Measure("deals", "Deals won", "count", stats.count),
    )


def _cycle(ctx: ComputeContext) -> Computed:
    """One fetch of every won deal's duration with its group and month; the medians are taken from it in Python
    (a rep's quarter is a few dozen rows, the organisation's a few ten thousand), where asking the database for the
    total, each group and each month would sort the same rows three times."""
    months = time_buckets(ctx.period, "month")
    trend = len(months) > 1 and not ctx.is_comparison
    began = func.coalesce(Lead.created_at, Deal.created_at)
    key = group_key(
        ctx.by,
        period=ctx.period,
        owner=Deal.owner_id,
        lead=Lead,
        product=Deal.product_id,
        time=Deal.closed_at,
    )
    durations = (
        select(
            key.label("grp"),
            (bucket_of(Deal.closed_at, months) if trend else literal(NO_KEY)).label("month"),
            days_between(began, Deal.closed_at).label("days"),
        )
        .select_from(outerjoin(Deal, Lead, Lead.lead_id == Deal.lead_id))
        .where(
            Deal.status == "won",
            _in_period(ctx, Deal.closed_at),
            ctx.owner_in_scope(Deal.owner_id),
            *lead_filters(ctx.filters, Lead),
            *product_filter(ctx.filters, Deal.product_id),
        )
    )
    every: list[float] = []
    by_group: dict[str, list[float]] = defaultdict(list)
    by_month: dict[str, list[float]] = defaultdict(list)
    for grp, month, days in ctx.conn.execute(durations).tuples().all():
        every.append(float(days))
        by_group[grp].append(float(days))
        by_month[month].append(float(days))
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by is not None:
        groups = {grp: stats_of(days) for grp, days in by_group.items()}
        rows = breakdown_rows(ctx.conn, ctx.by, ctx.period, groups, cycle_measures, empty=_NONE)
    series: tuple[Series, ...] = ()
    if trend:
        points = tuple((m.label, stats_of(by_month.get(m.label, [])).median) for m in months)
        series = (Series("cycle_by_month", "Median sales cycle by month", points, unit="days"),)
    return Computed(measures=cycle_measures(stats_of(every)), rows=rows, series=series)


CYCLE = MetricDef(
    name="cycle",
    title="Sales cycle",
    description=(
        "For deals won in the period (closed_at in it): days from the linked lead's creation (or, without "
        "a lead, the deal's creation) to the close, in fractional days; median (headline) and mean. "
        "Deals count for their owner."
    ),
    compute=_cycle,
    needs=("deals", "leads"),
    breakdowns=("rep", "team", "source", "segment", "product", "month"),
    filters=("source", "segment", "product", "campaign"),
    aliases=("sales_cycle",),
    defines=(
        "median_days",
        "mean_days",
        "deals",
    ),
)


# --- /stages ----------------------------------------------------------------------------------------------------


def stage_key(kind: str, stage: str, stat: str) -> str:
    """A per-stage measure key: `deal:Discovery:median_days`, `lead:mql:exits` (stage names as the CRM has them)."""
    return f"{kind}:{stage}:{stat}"


def _stage_triplet(kind: str, stage: str, stats: DurationStats) -> list[Measure]:
    detail = f"{stats.count} exits"
    return [
        Measure(
            stage_key(kind, stage, "median_days"), f"{stage}: median", "days", stats.median, detail=detail
        ),
        Measure(stage_key(kind, stage, "mean_days"), f"{stage}: mean", "days", stats.mean, detail=detail),
        Measure(stage_key(kind, stage, "exits"), f"{stage}: exits", "count", stats.count),
    ]


def _deal_order(deal: Mapping[str, DurationStats]) -> list[str]:
    # CRM stage names are free text; their usual place in a deal's history orders them.
    return sorted(deal, key=lambda s: (deal[s].position or 0.0, s))


def stage_measures(
    deal: Mapping[str, DurationStats], lead: Mapping[str, DurationStats], funnel: tuple[str, ...]
) -> tuple[Measure, ...]:
    """The slowest deal stage (by median) first, then each deal stage in its usual order, then each lead stage
    in funnel order."""
    timed = [s for s in _deal_order(deal) if deal[s].median is not None]
    slowest = max(timed, key=lambda s: deal[s].median or 0.0) if timed else None
    measures = [
        Measure(
            "slowest_deal_stage_days",
            f"Slowest deal stage: {slowest}" if slowest else "Slowest deal stage",
            "days",
            deal[slowest].median if slowest else None,
            detail=f"median of {deal[slowest].count} exits" if slowest else None,
        )
    ]
    for stage in _deal_order(deal):
        measures += _stage_triplet("deal", stage, deal[stage])
    for stage in funnel:
        if stage in lead:
            measures += _stage_triplet("lead", stage, lead[stage])
    return tuple(measures)


def _deal_stage_stats(ctx: ComputeContext, by: str | None) -> dict[tuple, DurationStats]:
    # An exit in the period is the deal's next stage event in it: the deal moved in the period.
    spans = deal_spans(ctx.conn, lambda c: [_in_period(ctx, c.left_at), ctx.owner_in_scope(c.owner_id)])
    durations = select(
        group_key(by, period=ctx.period, owner=spans.c.owner_id).label("grp"),
        spans.c.stage,
        spans.c.days,
        spans.c.position,
    )
    return group_stats(ctx.conn, durations, ("grp", "stage"))


def _lead_stage_stats(ctx: ComputeContext, by: str | None) -> dict[tuple, DurationStats]:
    scoped = ctx.scope.owner_ids is not None

    def counted(c) -> list[ColumnElement[bool]]:
        # A lead counts in a period that touched it (an event, a deal opened or closed): an exit by anything but
        # the lead's creation is such a touch; the few others are looked up.
        touched = or_(c.left_by_touch, was_touched(c.lead_id, ctx.start, ctx.end, scoped=True))
        return [_in_period(ctx, c.left_at), ctx.owner_in_scope(c.owner_id), touched]

    # Worked out live only for these (every lead a period touched when the kept spans do not answer).
    leads = select(Lead.lead_id).where(
        ctx.owner_in_scope(Lead.owner_id), was_touched(Lead.lead_id, ctx.start, ctx.end, scoped=scoped)
    )
    spans = lead_spans(ctx.conn, ctx.settings, counted, leads)
    durations = select(
        group_key(by, period=ctx.period, owner=spans.c.owner_id).label("grp"),
        spans.c.stage,
        spans.c.days,
    )
    return group_stats(ctx.conn, durations, ("grp", "stage"))


def _by_group(stats: Mapping[tuple, DurationStats]) -> dict[str, dict[str, DurationStats]]:
    grouped: dict[str, dict[str, DurationStats]] = defaultdict(dict)
    for (grp, stage), s in stats.items():
        grouped[grp][stage] = s
    return grouped


def _stages(ctx: ComputeContext) -> Computed:
    funnel = ctx.settings.funnel.stages
    deal = _by_group(_deal_stage_stats(ctx, None)).get(NO_KEY, {})
    lead = _by_group(_lead_stage_stats(ctx, None)).get(NO_KEY, {})
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by is not None:
        deals_by, leads_by = (
            _by_group(_deal_stage_stats(ctx, ctx.by)),
            _by_group(_lead_stage_stats(ctx, ctx.by)),
        )
        groups = {k: (deals_by.get(k, {}), leads_by.get(k, {})) for k in set(deals_by) | set(leads_by)}
        rows = breakdown_rows(
            ctx.conn, ctx.by, ctx.period, groups, lambda g: stage_measures(g[0], g[1], funnel), empty=({}, {})
        )
    series = (
        Series("deal_stages", "Deal stages: median days", _points(_deal_order(deal), deal), unit="days"),
        Series(
            "lead_stages", "Lead stages: median days", _points([s for s in funnel if s in lead], lead), "days"
        ),
    )
    return Computed(measures=stage_measures(deal, lead, funnel), rows=rows, series=series)


def _points(stages: list[str], stats: Mapping[str, DurationStats]) -> tuple[tuple[str, float | None], ...]:
    return tuple((stage, stats[stage].median) for stage in stages)


STAGES = MetricDef(
    name="stages",
    title="Stage duration",
    description=(
        "Days spent in each stage: from entering it to entering the next one, for stage exits (the next "
        "entry) in the period; median and mean per stage. Deal stages are the CRM's own, in each deal's "
        "time order; lead stages follow the funnel, from each stage's first entry to the next stage "
        "entered (a lost or disqualified event also ends a stage), with a lead's creation entering 'lead' "
        "and a linked deal entering opportunity and won. Keys: deal:<stage>:median_days, "
        "lead:<stage>:mean_days, …:exits; the headline is the slowest deal stage by median."
    ),
    compute=_stages,
    needs=("deal_stage_events", "deals", "lead_stage_events", "leads"),
    breakdowns=("rep", "team"),
    aliases=("stage_duration",),
    defines=(
        "slowest_deal_stage_days",
        "stage_median_days",
        "stage_mean_days",
        "stage_exits",
    ),
)
