"""`/winrate`: how many closed deals were won, how many pipeline leads turned into won deals, and how many new
leads one won deal takes (SPEC 3.2). The SQL report (`/sql`) lives in `metrics.kpis.sql_report`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, outerjoin, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.result import BreakdownRow, Measure, ratio
from metrics.sql.breakdowns import (
    TIME_BREAKDOWNS,
    breakdown_rows,
    group_key,
    lead_filters,
    product_filter,
    time_buckets,
)
from storage.journeys import journey
from storage.schema import Deal, Lead

__all__ = ["WIN_RATE", "win_rate_measures"]

_NO_PRODUCT = "leads have no product"


def win_rate_measures(
    won: int, lost: int, new_leads: int | None, pipeline: int | None
) -> tuple[Measure, ...]:
    """Win rate first; the lead-based measures are n/a (None) when leads can't be counted (a product filter)."""
    lead_detail = None if new_leads is not None else _NO_PRODUCT
    return (
        Measure(
            "win_rate", "Win rate", "percent", ratio(won, won + lost), detail=f"{won} / ({won} + {lost})"
        ),
        Measure("won", "Deals won", "count", won),
        Measure("lost", "Deals lost", "count", lost),
        Measure(
            "close_rate",
            "Close rate",
            "percent",
            ratio(won, pipeline),
            detail=f"{won} / {pipeline}" if pipeline is not None else lead_detail,
        ),
        Measure(
            "leads_per_deal",
            "Leads per won deal",
            "number",
            ratio(new_leads, won),
            detail=f"{new_leads} / {won}" if new_leads is not None else lead_detail,
        ),
        Measure("leads", "New leads", "count", new_leads, detail=lead_detail),
        Measure("pipeline_leads", "Leads in pipeline", "count", pipeline, detail=lead_detail),
    )


def _closed_deals(ctx: ComputeContext, by: str | None) -> dict[str, tuple[int, int]]:
    """Per group: deals won and deals lost with `closed_at` in the period."""
    key = group_key(
        by, period=ctx.period, owner=Deal.owner_id, lead=Lead, product=Deal.product_id, time=Deal.closed_at
    )
    inner = (
        select(key.label("grp"), Deal.status)
        .select_from(outerjoin(Deal, Lead, Lead.lead_id == Deal.lead_id))
        .where(
            Deal.status.in_(("won", "lost")),
            Deal.closed_at >= ctx.start,
            Deal.closed_at < ctx.end,
            ctx.owner_in_scope(Deal.owner_id),
            *lead_filters(ctx.filters, Lead),
            *product_filter(ctx.filters, Deal.product_id),
        )
        .subquery("closed_deals")
    )
    stmt = select(
        inner.c.grp,
        func.count(case((inner.c.status == "won", 1))),
        func.count(case((inner.c.status == "lost", 1))),
    ).group_by(inner.c.grp)
    return {grp: (won, lost) for grp, won, lost in ctx.conn.execute(stmt).tuples()}


def _scoped_leads(ctx: ComputeContext, lead: Any = Lead) -> list[ColumnElement[bool]]:
    """The scope's leads with the question's filters, on `lead` (`Lead`, or a journey's columns)."""
    return [ctx.owner_in_scope(lead.owner_id), *lead_filters(ctx.filters, lead)]


def _new_leads(ctx: ComputeContext, by: str | None) -> dict[str, int]:
    """Per group: leads created in the period."""
    key = group_key(by, period=ctx.period, owner=Lead.owner_id, lead=Lead, time=Lead.created_at)
    inner = (
        select(key.label("grp"))
        .where(Lead.created_at >= ctx.start, Lead.created_at < ctx.end, *_scoped_leads(ctx))
        .subquery("new_leads")
    )
    stmt = select(inner.c.grp, func.count()).group_by(inner.c.grp)
    return dict(ctx.conn.execute(stmt).tuples().all())


def _pipeline_leads(ctx: ComputeContext, by: str | None) -> dict[str, int]:
    """Per group: leads in the pipeline during the period (or during each month of it, for `by month`)."""
    path = journey(
        ctx.conn, ctx.settings, lambda lead: [lead.created_at < ctx.end, *_scoped_leads(ctx, lead)]
    )
    if by in TIME_BREAKDOWNS:
        # A lead open across two months is in both months' pipelines, so months are columns, not groups.
        buckets = time_buckets(ctx.period, by)
        columns = [
            func.count(
                case(
                    (
                        and_(
                            path.c.created_at < b.end_utc,
                            or_(path.c.closed_at.is_(None), path.c.closed_at >= b.start_utc),
                        ),
                        1,
                    )
                )
            )
            for b in buckets
        ]
        row = ctx.conn.execute(select(*columns)).one()
        return {b.label: n for b, n in zip(buckets, row, strict=True)}
    key = group_key(by, period=ctx.period, owner=path.c.owner_id, lead=path.c, time=path.c.created_at)
    inner = (
        select(key.label("grp"))
        .where(or_(path.c.closed_at.is_(None), path.c.closed_at >= ctx.start))
        .subquery("pipeline_leads")
    )
    stmt = select(inner.c.grp, func.count()).group_by(inner.c.grp)
    return dict(ctx.conn.execute(stmt).tuples().all())


Numbers = tuple[int, int, int | None, int | None]  # won, lost, new leads, pipeline leads


def _leads_countable(ctx: ComputeContext, by: str | None) -> bool:
    return "product" not in ctx.filters and by != "product"


def _nothing(ctx: ComputeContext, by: str | None) -> Numbers:
    return (0, 0, 0, 0) if _leads_countable(ctx, by) else (0, 0, None, None)


def _numbers(ctx: ComputeContext, by: str | None) -> dict[str, Numbers]:
    deals = _closed_deals(ctx, by)
    if not _leads_countable(ctx, by):
        return {k: (won, lost, None, None) for k, (won, lost) in deals.items()}
    new, pipeline = _new_leads(ctx, by), _pipeline_leads(ctx, by)
    numbers: dict[str, Numbers] = {}
    for k in set(deals) | set(new) | set(pipeline):
        won, lost = deals.get(k, (0, 0))
        numbers[k] = (won, lost, new.get(k, 0), pipeline.get(k, 0))
    return numbers


# Breakdowns that split every deal and every lead into exactly one group, so the groups add up to the totals.
_PARTITIONS = ("rep", "team", "source", "segment")


def _win_rate(ctx: ComputeContext) -> Computed:
    groups = _numbers(ctx, ctx.by) if ctx.by is not None else None
    if groups is not None and ctx.by in _PARTITIONS:
        # Adding up the groups saves asking the database the same questions a second time without grouping.
        totals: Numbers = tuple(sum(n[i] or 0 for n in groups.values()) for i in range(4))  # type: ignore[assignment]
    else:
        totals = next(iter(_numbers(ctx, None).values()), _nothing(ctx, None))
    rows: tuple[BreakdownRow, ...] = ()
    if groups is not None and ctx.by is not None:
        empty = _nothing(ctx, ctx.by)
        rows = breakdown_rows(
            ctx.conn, ctx.by, ctx.period, groups, lambda n: win_rate_measures(*n), empty=empty
        )
    return Computed(measures=win_rate_measures(*totals), rows=rows)


WIN_RATE = MetricDef(
    name="win_rate",
    title="Win rate",
    description=(
        "Win rate = deals won / (won + lost), over deals closed in the period. Close rate = deals won in the "
        "period / leads in the pipeline during it (created before its end and not closed before its start; "
        "a lead closes at its first won, lost or disqualified event or when a linked deal is won or lost). "
        "Leads per won deal = leads created in the period / deals won in it. Deals count for their owner, "
        "leads for theirs; with a product filter or by product, the lead-based numbers are n/a, because "
        "leads have no product."
    ),
    compute=_win_rate,
    needs=("deals", "leads", "lead_stage_events"),
    breakdowns=("rep", "team", "source", "segment", "product", "month"),
    filters=("source", "segment", "product", "campaign"),
    aliases=("winrate", "close_rate"),
    defines=(
        "win_rate",
        "won",
        "lost",
        "close_rate",
        "leads_per_deal",
        "leads",
        "pipeline_leads",
    ),
)
