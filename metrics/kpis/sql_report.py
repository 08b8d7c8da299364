"""`/sql`: the SQL report (SPEC 3.2): leads entering SQL in the period, the acceptance rate, and what marketing
paid for each lead, MQL and SQL — simple, and lagged by `marketing.lag_days` because today's SQLs were paid for
a month ago."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import String, cast, func, literal, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.kpis.funnel import stage_counts
from metrics.result import BreakdownRow, Measure, Note, ratio
from metrics.sql.breakdowns import NO_KEY, breakdown_rows, matches_campaign
from storage.schema import Spend

__all__ = ["SQL_REPORT", "sql_measures", "SPEND_IS_ORG_WIDE"]

SPEND_IS_ORG_WIDE = Note(
    "sql.spend_org_wide",
    "Marketing spend is organisation-wide, so costs are shown for the organisation, a source or a campaign, "
    "not for a rep, a team or a segment.",
)

# Spend rows carry a channel and a campaign, nothing else: only these breakdowns can split it.
_SPEND_KEYS = {None: None, "source": Spend.channel, "campaign": Spend.campaign_id}


def _count_at(counts: list[int], stages: tuple[str, ...], stage: str) -> int:
    return counts[stages.index(stage)] if stage in stages else 0


def sql_measures(
    leads: int, mql: int, sql: int, spend: Decimal | None, lagged: Decimal | None
) -> tuple[Measure, ...]:
    """SQLs first, then acceptance and the costs; `spend` None means costs are n/a for this scope."""
    hidden = "spend is organisation-wide" if spend is None else None

    def cost(key: str, label: str, paid: Decimal | None, count: int) -> Measure:
        detail = hidden or f"{paid} / {count}"
        return Measure(key, label, "money", ratio(paid, count) if paid is not None else None, detail=detail)

    return (
        Measure("sql", "SQLs", "count", sql),
        Measure("acceptance_rate", "Acceptance rate", "percent", ratio(sql, mql), detail=f"{sql} / {mql}"),
        cost("cost_per_sql", "Cost per SQL", spend, sql),
        cost("cost_per_sql_lagged", "Cost per SQL (lagged)", lagged, sql),
        cost("cost_per_lead", "Cost per lead", spend, leads),
        cost("cost_per_mql", "Cost per MQL", spend, mql),
        Measure("leads", "Leads", "count", leads),
        Measure("mql", "MQLs", "count", mql),
        Measure("spend", "Marketing spend", "money", spend, detail=hidden),
        Measure("spend_lagged", "Marketing spend (lagged window)", "money", lagged, detail=hidden),
    )


def _spend(ctx: ComputeContext, by: str | None, lag_days: int) -> dict[str, Decimal]:
    """Marketing spend per channel / campaign (or in all) over the period's local days shifted back by `lag_days`."""
    shift = timedelta(days=lag_days)
    first, end = ctx.period.start_date - shift, ctx.period.end_date - shift
    column = _SPEND_KEYS[by]
    key = cast(literal(NO_KEY), String) if column is None else column
    stmt = select(key.label("grp"), func.sum(Spend.amount)).where(
        Spend.kind == "marketing", Spend.date >= first, Spend.date < end
    )
    if "source" in ctx.filters:
        stmt = stmt.where(func.lower(Spend.channel) == ctx.filters["source"].lower())
    if "campaign" in ctx.filters:
        stmt = stmt.where(matches_campaign(Spend.campaign_id, ctx.filters["campaign"]))
    stmt = stmt.group_by(key)
    return {grp: Decimal(total or 0) for grp, total in ctx.conn.execute(stmt).tuples()}


def _spend_applies(ctx: ComputeContext, by: str | None) -> bool:
    return ctx.scope.owner_ids is None and "segment" not in ctx.filters and by in _SPEND_KEYS


def _report(
    ctx: ComputeContext, counts: Mapping[str, list[int]], by: str | None
) -> dict[str, tuple[int, int, int, Decimal | None, Decimal | None]]:
    stages = ctx.settings.funnel.stages
    spend: Mapping[str, Decimal] = {}
    lagged: Mapping[str, Decimal] = {}
    if _spend_applies(ctx, by):
        spend, lagged = _spend(ctx, by, 0), _spend(ctx, by, ctx.settings.marketing.lag_days)
    zero = Decimal(0) if _spend_applies(ctx, by) else None
    report = {}
    for k in set(counts) | set(spend) | set(lagged):
        c = counts.get(k, [0] * len(stages))
        report[k] = (
            c[0],
            _count_at(c, stages, "mql"),
            _count_at(c, stages, "sql"),
            spend.get(k, zero),
            lagged.get(k, zero),
        )
    return report


def _sql_report(ctx: ComputeContext) -> Computed:
    # SQLs "in the period" are entries into SQL during it, counted like /funnel flow: a lead that skipped
    # straight to opportunity entered SQL then too.
    flow = replace(ctx, mode="flow")
    stages = ctx.settings.funnel.stages
    groups = stage_counts(flow, ctx.by)
    totals = {NO_KEY: [sum(c[i] for c in groups.values()) for i in range(len(stages))]}
    whole = _report(ctx, totals, None)[NO_KEY]
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by is not None:
        zero = Decimal(0) if _spend_applies(ctx, ctx.by) else None
        rows = breakdown_rows(
            ctx.conn,
            ctx.by,
            ctx.period,
            _report(ctx, groups, ctx.by),
            lambda n: sql_measures(*n),
            empty=(0, 0, 0, zero, zero),
        )
    notes = () if _spend_applies(ctx, ctx.by) else (SPEND_IS_ORG_WIDE,)
    return Computed(measures=sql_measures(*whole), rows=rows, notes=notes)


SQL_REPORT = MetricDef(
    name="sql",
    title="SQL report",
    description=(
        "SQLs: leads entering SQL during the period, once per lead, including leads that skipped straight "
        "to a later stage. Acceptance rate = SQL entries / MQL entries in the period. Cost per SQL = "
        "marketing spend in the period / SQLs; lagged = marketing spend over the same number of days "
        "shifted back by the marketing lag (default 30 days) / SQLs. Cost per lead and per MQL are simple. "
        "Spend is organisation-wide: costs are shown for the organisation, by source (spend channel) or by "
        "campaign, and are n/a for a rep, a team or a segment."
    ),
    compute=_sql_report,
    needs=("leads", "lead_stage_events", "deals", "spend"),
    breakdowns=("rep", "team", "source", "segment", "campaign"),
    filters=("source", "segment", "campaign"),
    defines=(
        "sql",
        "acceptance_rate",
        "cost_per_sql",
        "cost_per_sql_lagged",
        "cost_per_lead",
        "cost_per_mql",
        "leads",
        "mql",
        "spend",
        "spend_lagged",
    ),
)
