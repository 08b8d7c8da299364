"""Marketing returns (SPEC 3.6): campaign ROI and email list growth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, func, select, true

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.kpis.mrr import money
from metrics.result import BreakdownRow, Measure, ratio
from metrics.sql.breakdowns import known_campaign
from metrics.sql.customers import require_org
from storage.schema import Campaign, Deal, EmailList, Lead, Spend

__all__ = ["ROI", "EMAIL", "campaign_returns", "ListGrowth", "list_growth"]


def _campaign_filter(ctx: ComputeContext) -> str | None:
    """The campaign id asked for with `campaign=` (its id or its name), or None."""
    value = ctx.filters.get("campaign")
    return known_campaign(ctx.conn, value) if value else None


def campaign_returns(ctx: ComputeContext) -> dict[str, tuple[Decimal, Decimal]]:
    """Per campaign id: (revenue of deals won in the period from its leads, its spend on the period's days)."""
    only = _campaign_filter(ctx)
    won = (
        select(Lead.campaign_id, func.sum(Deal.amount))
        .join(Lead, Lead.lead_id == Deal.lead_id)
        .where(
            Deal.status == "won",
            Deal.closed_at >= ctx.start,
            Deal.closed_at < ctx.end,
            Lead.campaign_id.is_not(None),
            Lead.campaign_id != "",
            Lead.campaign_id == only if only else true(),
        )
        .group_by(Lead.campaign_id)
    )
    spent = (
        select(Spend.campaign_id, func.sum(Spend.amount))
        .where(
            Spend.date >= ctx.period.start_date,
            Spend.date < ctx.period.end_date,
            Spend.campaign_id != "",
            Spend.campaign_id == only if only else true(),
        )
        .group_by(Spend.campaign_id)
    )
    revenue = {key: money(value) for key, value in ctx.conn.execute(won)}
    spend = {key: money(value) for key, value in ctx.conn.execute(spent)}
    return {key: (revenue.get(key, money(0)), spend.get(key, money(0))) for key in {**revenue, **spend}}


def _roi_measures(revenue: Decimal, spend: Decimal) -> tuple[Measure, ...]:
    return (
        Measure(
            "roi",
            "Campaign ROI",
            "percent",
            ratio(revenue - spend, spend),
            detail=f"({revenue} − {spend}) / {spend}",
        ),
        Measure("revenue", "Revenue from campaign leads", "money", revenue),
        Measure("spend", "Campaign spend", "money", spend),
    )


def _campaign_names(ctx: ComputeContext, ids: Mapping[str, object]) -> dict[str, str]:
    found = ctx.conn.execute(
        select(Campaign.campaign_id, Campaign.name).where(Campaign.campaign_id.in_(list(ids)))
    )
    return {str(key): str(name) for key, name in found}


def compute_roi(ctx: ComputeContext) -> Computed:
    require_org(
        ctx,
        "Campaign ROI",
        "campaign spend is not attributed to reps or teams",
        "campaign_spend_not_attributed",
    )
    returns = campaign_returns(ctx)
    revenue = sum((r for r, _ in returns.values()), money(0))
    spend = sum((s for _, s in returns.values()), money(0))
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by == "campaign":
        names = _campaign_names(ctx, returns)
        ordered = sorted(returns, key=lambda key: str(names.get(key, key)).lower())
        rows = tuple(BreakdownRow(key, names.get(key, key), _roi_measures(*returns[key])) for key in ordered)
    return Computed(measures=_roi_measures(revenue, spend), rows=rows)


@dataclass(frozen=True)
class ListGrowth:
    """One email list over the period: joins, leaves, and its size before and after."""

    subscribed: int = 0
    unsubscribed: int = 0
    size_start: int = 0
    size_end: int = 0


def _sizes_before(ctx: ComputeContext, day: date) -> dict[str, int]:
    """Each list's size at the end of its latest recorded day before `day`."""
    latest = (
        select(EmailList.list_id, func.max(EmailList.date).label("last_day"))
        .where(EmailList.date < day)
        .group_by(EmailList.list_id)
        .subquery("latest")
    )
    stmt = select(EmailList.list_id, EmailList.size).join(
        latest, and_(latest.c.list_id == EmailList.list_id, latest.c.last_day == EmailList.date)
    )
    return {key: int(size) for key, size in ctx.conn.execute(stmt)}


def list_growth(ctx: ComputeContext) -> dict[str, ListGrowth]:
    """Per list id, its growth over the period's local days."""
    flows = {
        key: (int(sub or 0), int(unsub or 0))
        for key, sub, unsub in ctx.conn.execute(
            select(EmailList.list_id, func.sum(EmailList.subscribed), func.sum(EmailList.unsubscribed))
            .where(EmailList.date >= ctx.period.start_date, EmailList.date < ctx.period.end_date)
            .group_by(EmailList.list_id)
        )
    }
    start, end = _sizes_before(ctx, ctx.period.start_date), _sizes_before(ctx, ctx.period.end_date)
    return {
        key: ListGrowth(*flows.get(key, (0, 0)), start.get(key, 0), end.get(key, 0))
        for key in sorted({**flows, **start, **end})
    }


def _email_measures(g: ListGrowth) -> tuple[Measure, ...]:
    net = g.subscribed - g.unsubscribed
    return (
        Measure(
            "growth_rate",
            "List growth rate",
            "percent",
            ratio(net, g.size_start),
            detail=f"({g.subscribed} − {g.unsubscribed}) / {g.size_start}",
        ),
        Measure("subscribed", "New subscribers", "count", g.subscribed),
        Measure("unsubscribed", "Unsubscribes", "count", g.unsubscribed),
        Measure("size_start", "List size at start", "count", g.size_start),
        Measure("size_end", "List size at end", "count", g.size_end),
    )


def compute_email(ctx: ComputeContext) -> Computed:
    require_org(
        ctx, "Email list growth", "email lists belong to the whole organisation", "email_lists_org_wide"
    )
    lists = list_growth(ctx)
    total = ListGrowth(*(sum(getattr(g, f) for g in lists.values()) for f in ListGrowth.__dataclass_fields__))
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by == "list":
        rows = tuple(BreakdownRow(key, key, _email_measures(g)) for key, g in lists.items())
    return Computed(measures=_email_measures(total), rows=rows)


ROI = MetricDef(
    name="roi",
    org_wide=True,
    title="Campaign ROI",
    description=(
        "Campaign ROI = (revenue of deals won in the period from the campaign's leads − the campaign's spend on "
        "the period's days) / that spend; revenue 1,000 for spend 100 is 900 %. The total adds up every "
        "campaign; a campaign without spend has n/a ROI. Organisation-wide only."
    ),
    compute=compute_roi,
    needs=("deals", "leads", "spend", "campaigns"),
    breakdowns=("campaign",),
    filters=("campaign",),
    defines=(
        "roi",
        "revenue",
        "spend",
    ),
)

EMAIL = MetricDef(
    name="email",
    org_wide=True,
    title="Email list growth",
    description=(
        "Growth rate = (new subscribers − unsubscribes over the period's days) / list size at the period's "
        "start (the size at the end of the last recorded day before it). Sizes and counts add up over lists; "
        "a list that did not exist yet starts at 0. Organisation-wide only."
    ),
    compute=compute_email,
    needs=("email_list",),
    breakdowns=("list",),
    defines=(
        "growth_rate",
        "subscribed",
        "unsubscribed",
        "size_start",
        "size_end",
    ),
)
