"""What a customer costs and what one is worth (SPEC 3.6): CAC, historical and predictive CLTV, LTV:CAC."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.kpis.mrr import money
from metrics.kpis.retention import RetentionCounts, retention_counts
from metrics.result import BreakdownRow, Measure, Note, ratio
from metrics.sql.breakdowns import bucket_of, time_buckets
from metrics.sql.customers import ALL, acquisitions, require_org
from storage.schema import Account, Deal, Order, Spend

__all__ = ["CAC", "LTV", "spend_in", "new_customers", "cac_value", "AVERAGE_MONTH_DAYS"]

AVERAGE_MONTH_DAYS = 365.25 / 12


def spend_in(ctx: ComputeContext, kinds: tuple[str, ...] = ("marketing", "sales")) -> Decimal:
    """Spend of the given kinds on the period's local days."""
    total = ctx.conn.execute(
        select(func.sum(Spend.amount)).where(
            Spend.date >= ctx.period.start_date, Spend.date < ctx.period.end_date, Spend.kind.in_(kinds)
        )
    ).scalar()
    return money(total)


def new_customers(ctx: ComputeContext) -> int:
    """Accounts of the scope acquired (first order or first won deal) in the period."""
    acquired = acquisitions()
    return int(
        ctx.conn.execute(
            select(func.count())
            .select_from(acquired)
            .join(Account, Account.account_id == acquired.c.account_id)
            .where(
                acquired.c.acquired_at >= ctx.start,
                acquired.c.acquired_at < ctx.end,
                ctx.owner_in_scope(Account.owner_id),
            )
        ).scalar()
        or 0
    )


def cac_value(ctx: ComputeContext) -> tuple[float | None, Decimal, int]:
    """(CAC, spend, new customers) of the whole organisation in the period."""
    spend, customers = spend_in(ctx), new_customers(ctx)
    return ratio(spend, customers), spend, customers


def _cac_measures(cac: float | None, spend: Decimal, customers: int) -> tuple[Measure, ...]:
    return (
        Measure("cac", "Customer acquisition cost", "money", cac, detail=f"{spend} / {customers}"),
        Measure("spend", "Marketing and sales spend", "money", spend),
        Measure("new_customers", "New customers", "count", customers),
    )


def compute_cac(ctx: ComputeContext) -> Computed:
    require_org(ctx, "CAC", "spend is not attributed to reps or teams", "spend_not_attributed")
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by in ("month", "week"):
        acquired = acquisitions()
        buckets = time_buckets(ctx.period, ctx.by)
        counts: dict[str, int] = dict(
            ctx.conn.execute(
                select(bucket_of(acquired.c.acquired_at, buckets).label("b"), func.count())
                .where(acquired.c.acquired_at >= ctx.start, acquired.c.acquired_at < ctx.end)
                .group_by("b")
            )
            .tuples()
            .all()
        )
        built = []
        for bucket in buckets:
            spend, customers = spend_in(replace(ctx, period=bucket)), counts.get(bucket.label, 0)
            built.append(
                BreakdownRow(
                    bucket.label, bucket.label, _cac_measures(ratio(spend, customers), spend, customers)
                )
            )
        rows = tuple(built)
    return Computed(measures=_cac_measures(*cac_value(ctx)), rows=rows)


def _revenue_of_accounts(ctx: ComputeContext, account_ids: Any, start: datetime, end: datetime) -> Decimal:
    """Revenue (won deals or orders, per revenue.source) of the given accounts in [start, end)."""
    stmt: Select[Any]
    if ctx.settings.revenue.source == "orders":
        stmt = select(func.sum(Order.amount)).where(
            Order.account_id.in_(account_ids), Order.ordered_at >= start, Order.ordered_at < end
        )
    else:
        stmt = select(func.sum(Deal.amount)).where(
            Deal.status == "won",
            Deal.account_id.in_(account_ids),
            Deal.closed_at >= start,
            Deal.closed_at < end,
        )
    return money(ctx.conn.execute(stmt).scalar())


def compute_ltv(ctx: ComputeContext) -> Computed:
    acquired = acquisitions()
    in_scope = select(Account.account_id).where(ctx.owner_in_scope(Account.owner_id))
    cohort = select(acquired.c.account_id).where(
        acquired.c.acquired_at >= ctx.start,
        acquired.c.acquired_at < ctx.end,
        acquired.c.account_id.in_(in_scope),
    )
    cohort_size = int(ctx.conn.execute(select(func.count()).select_from(cohort.subquery())).scalar() or 0)
    cohort_revenue = _revenue_of_accounts(ctx, cohort, ctx.start, ctx.now_utc)

    customers = retention_counts(ctx).get(ALL, ("", RetentionCounts()))[1]
    # A comparison cut to the elapsed part of an in-progress period (`today vs prev` at noon, `this month vs
    # prev` in its first hour) may hold no whole day: no monthly rate can be made of it, so those are n/a.
    months = ctx.period.days / AVERAGE_MONTH_DAYS
    period_revenue = _revenue_of_accounts(ctx, in_scope, ctx.start, ctx.end)
    average_accounts = (customers.start + customers.end) / 2
    # A period still running has revenue only up to now: a month's revenue per account is made of the part that
    # has elapsed (by the clock), or Dec 1–2 would be read as a whole December.
    coverage = ctx.coverage
    revenue_months = months * coverage.elapsed_share if coverage.partial else months
    arpa = ratio(float(period_revenue) / revenue_months, average_accounts) if revenue_months > 0 else None
    crr = ratio(customers.retained, customers.start)
    # A quarter's churn is turned into a monthly rate geometrically, so 3 months at 10 % is not read as 30 %. A
    # running period's churn is not prorated: "active at its end" looks back from the period's end, so an account
    # that has lapsed by then without a new order counts as churned already — the whole period's churn.
    monthly_churn = None if crr is None or months <= 0 else 1 - math.pow(crr, 1 / months)
    predictive = None
    if arpa is not None and monthly_churn:
        predictive = arpa * ctx.settings.org.gross_margin / monthly_churn

    notes: list[Note] = []
    if coverage.partial and not ctx.is_comparison:
        notes.append(
            Note(
                "ltv.prorated",
                "The period is still running: monthly revenue per account is its revenue so far over the "
                "{days} days elapsed (of {total}), scaled to a month of {month} days.",
                (
                    ("days", round(ctx.period.days * coverage.elapsed_share, 1), "number"),
                    ("total", ctx.period.days, "count"),
                    ("month", round(AVERAGE_MONTH_DAYS, 2), "number"),
                ),
            )
        )
        if coverage.early:
            # As /plan's forecast says of its run-rate (metrics/plan/metric.py), in the same words.
            notes.append(
                Note(
                    "ltv.early",
                    "Monthly revenue per account from {elapsed} of {total} working days: early, a run-rate of "
                    "so few days can move a lot.",
                    (
                        ("elapsed", coverage.working_days_elapsed, "count"),
                        ("total", coverage.working_days_total, "count"),
                    ),
                )
            )
    cac = None
    if ctx.scope.owner_ids is None:
        cac = cac_value(ctx)[0]
    else:
        notes.append(
            Note(
                "ltv.cac_org_only",
                "LTV:CAC is shown for the whole organisation only: spend is not attributed to reps or teams.",
            )
        )
    return Computed(
        measures=(
            Measure(
                "cltv_historical",
                "CLTV (historical)",
                "money",
                ratio(cohort_revenue, cohort_size),
                detail=f"{cohort_revenue} / {cohort_size}",
            ),
            Measure("cltv_predictive", "CLTV (predictive)", "money", predictive),
            Measure("ltv_cac", "LTV:CAC", "ratio", ratio(predictive, cac)),
            Measure("new_customers", "Customers acquired", "count", cohort_size),
            Measure("arpa", "Monthly revenue per active account", "money", arpa),
            Measure("monthly_churn", "Monthly churn", "percent", monthly_churn),
            Measure("cac", "Customer acquisition cost", "money", cac),
        ),
        notes=tuple(notes),
    )


CAC = MetricDef(
    name="cac",
    org_wide=True,
    title="Customer acquisition cost",
    description=(
        "CAC = (marketing + sales spend on the period's days) / customers acquired in the period (accounts "
        "whose first order or first won deal falls in it). An organisation-wide metric: spend is not "
        "attributed to reps or teams, so a rep or team scope is refused."
    ),
    compute=compute_cac,
    needs=("spend", "orders", "deals"),
    breakdowns=("month", "week"),
    defines=(
        "cac",
        "spend",
        "new_customers",
    ),
)

LTV = MetricDef(
    name="ltv",
    title="Customer lifetime value",
    description=(
        "Historical CLTV = revenue to date of the customers acquired in the period / their number. Predictive "
        "CLTV = monthly revenue per active account (period revenue of the scope's accounts per month / average "
        "of customers active at start and end) × org.gross_margin / monthly churn (1 − CRR, made monthly); "
        "n/a when nobody churned. In a period still running, the revenue so far is spread over the elapsed part "
        "of the period only (Dec 1 00:00 to Dec 2 10:00 is 1.4 of 31 days). LTV:CAC uses the predictive CLTV "
        "and the organisation's CAC."
    ),
    compute=compute_ltv,
    needs=("accounts", "orders", "deals", "mrr", "spend"),
    defines=(
        "cltv_historical",
        "cltv_predictive",
        "ltv_cac",
        "new_customers",
        "arpa",
        "monthly_churn",
        "cac",
    ),
)
