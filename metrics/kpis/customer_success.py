"""Customer success (SPEC 3.7): portfolio growth, account and MRR retention, referrals, tickets and onboarding."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, literal

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.kpis.mrr import MrrMovement, mrr_months, mrr_movements
from metrics.kpis.retention import RetentionCounts, retention_counts
from metrics.result import BreakdownRow, Measure, ratio
from metrics.sql.customers import ALL, account_grouping, day_number, sorted_rows
from storage.schema import Account, Ticket

__all__ = ["CS", "Portfolio", "portfolios"]


@dataclass(frozen=True)
class Portfolio:
    """One group's book of accounts over the period."""

    active: RetentionCounts = RetentionCounts()
    mrr: MrrMovement = MrrMovement()
    referrals: int = 0
    tickets: int = 0
    onboarding_days: tuple[float, ...] = field(default_factory=tuple)


def _segment_filter(ctx: ComputeContext) -> ColumnElement[bool]:
    segment = ctx.filters.get("segment")
    return Account.segment == segment if segment else literal(True)


def portfolios(ctx: ComputeContext, by: str | None = None) -> dict[str, tuple[str, Portfolio]]:
    """Every customer-success number per group of accounts (owned by the scope's reps; `by` rep, team, segment)."""
    grouping = account_grouping(by)
    scoped = (ctx.owner_in_scope(Account.owner_id), _segment_filter(ctx))
    referred = func.coalesce(Account.referred_by, "") != ""
    referrals = grouping.group(
        grouping.select_from_accounts(func.count()).where(
            Account.created_at >= ctx.start, Account.created_at < ctx.end, referred, *scoped
        )
    )
    tickets = grouping.group(
        grouping.select_from_accounts(func.count())
        .join(Ticket, Ticket.account_id == Account.account_id)
        .where(Ticket.opened_at >= ctx.start, Ticket.opened_at < ctx.end, *scoped)
    )
    # The onboarded accounts of one period are few: their durations come back as a list for an exact median.
    onboarding = grouping.select_from_accounts(
        (day_number(Account.onboarded_at) - day_number(Account.created_at)).label("days")
    ).where(
        Account.onboarded_at >= ctx.start,
        Account.onboarded_at < ctx.end,
        Account.created_at.is_not(None),
        *scoped,
    )
    labels: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for name, stmt in (("referrals", referrals), ("tickets", tickets)):
        for key, label, n in ctx.conn.execute(stmt):
            labels[grouping.key_of(key)] = grouping.label_of(label)
            counts[grouping.key_of(key)][name] = int(n)
    durations: dict[str, list[float]] = defaultdict(list)
    for key, label, days in ctx.conn.execute(onboarding):
        labels[grouping.key_of(key)] = grouping.label_of(label)
        durations[grouping.key_of(key)].append(float(days))
    active = retention_counts(ctx, by)
    mrr = mrr_movements(ctx, by)
    for source in (active, mrr):
        labels.update({key: label for key, (label, _value) in source.items()})
    return {
        key: (
            label,
            Portfolio(
                active.get(key, ("", RetentionCounts()))[1],
                mrr.get(key, ("", MrrMovement()))[1],
                counts[key].get("referrals", 0),
                counts[key].get("tickets", 0),
                tuple(sorted(durations[key])),
            ),
        )
        for key, label in labels.items()
    }


def _measures(p: Portfolio, mrr_loaded: bool) -> tuple[Measure, ...]:
    growth = p.active.end - p.active.start
    days = p.onboarding_days
    return (
        Measure(
            "portfolio_growth",
            "Portfolio growth",
            "percent",
            ratio(growth, p.active.start),
            detail=f"({p.active.end} − {p.active.start}) / {p.active.start}",
        ),
        Measure("active_start", "Active accounts at start", "count", p.active.start),
        Measure("active_end", "Active accounts at end", "count", p.active.end),
        Measure(
            "account_retention",
            "Account retention (MRR)",
            "percent",
            ratio(p.mrr.accounts_kept, p.mrr.accounts_start) if mrr_loaded else None,
            detail=f"{p.mrr.accounts_kept} / {p.mrr.accounts_start}",
        ),
        Measure(
            "nrr",
            "Net revenue retention",
            "percent",
            ratio(p.mrr.end_of_start, p.mrr.start) if mrr_loaded else None,
        ),
        Measure("referrals", "Referrals", "count", p.referrals),
        Measure(
            "tickets_per_active_account",
            "Tickets per active account",
            "ratio",
            ratio(p.tickets, p.active.end),
            detail=f"{p.tickets} / {p.active.end}",
        ),
        Measure("tickets", "Tickets", "count", p.tickets),
        Measure("onboardings", "Onboardings completed", "count", len(days)),
        Measure(
            "median_onboarding_days",
            "Median days to onboard",
            "days",
            statistics.median(days) if days else None,
        ),
    )


def compute(ctx: ComputeContext) -> Computed:
    mrr_loaded = mrr_months(ctx)[1] is not None
    total = portfolios(ctx).get(ALL, ("", Portfolio()))[1]
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by:
        groups = [(key, label, p) for key, (label, p) in portfolios(ctx, ctx.by).items()]
        rows = tuple(
            BreakdownRow(key, label, _measures(p, mrr_loaded)) for key, label, p in sorted_rows(groups)
        )
    return Computed(measures=_measures(total, mrr_loaded), rows=rows)


CS = MetricDef(
    name="cs",
    title="Customer success",
    description=(
        "Portfolio growth = (active accounts at the period's end − at its start) / at its start (active as in "
        "/retention). Account retention = accounts with MRR > 0 in the month before the period that still have "
        "MRR > 0 in its last month / those accounts; NRR as in /mrr. Referrals = accounts created in the period "
        "with a referrer. Tickets per active account = tickets opened in the period / accounts active at its "
        "end. Onboardings = accounts onboarded in the period, with the median days from creation to onboarding."
    ),
    compute=compute,
    needs=("accounts", "orders", "mrr", "tickets"),
    breakdowns=("rep", "team", "segment"),
    filters=("segment",),
    defines=(
        "portfolio_growth",
        "active_start",
        "active_end",
        "account_retention",
        "nrr",
        "referrals",
        "tickets_per_active_account",
        "tickets",
        "onboardings",
        "median_onboarding_days",
    ),
)
