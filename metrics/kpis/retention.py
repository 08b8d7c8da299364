"""Customer retention (SPEC 3.3): CRR and churn, new and repeat customers, and the monthly cohort table."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    select,
    union_all,
)

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.periods import iter_buckets, local_midnight
from metrics.result import BreakdownRow, Measure, Table, ratio
from metrics.sql.breakdowns import add_up
from metrics.sql.customers import ALL, account_grouping, mrr_month_before, sorted_rows
from storage.account_months import kept_months, month_of, ordered_between, orders_between
from storage.schema import Account, Mrr
from storage.side_by_side import Part, account_parts, side_by_side
from storage.times import naive_utc

__all__ = ["RETENTION", "retention_counts", "RetentionCounts", "COHORT_MONTHS"]

COHORT_MONTHS = 12


@dataclass(frozen=True)
class RetentionCounts:
    """Customer counts of one group: active at start (S), at end (E), at both (S ∩ E), new (N), and of those with an
    order in the period, how many placed two or more (repeat) and how many in all (buyers)."""

    start: int = 0
    end: int = 0
    retained: int = 0
    new: int = 0
    repeat: int = 0
    buyers: int = 0


def _segment_filter(ctx: ComputeContext) -> ColumnElement[bool]:
    segment = ctx.filters.get("segment")
    return Account.segment == segment if segment else literal(True)


def _scope_accounts(ctx: ComputeContext) -> Select | None:
    """The ids of the accounts in scope, or None for every account: a rep's or a team's numbers read only their
    accounts' months, not every month of the organisation (which is what the organisation's numbers read anyway)."""
    if ctx.scope.owner_ids is None and "segment" not in ctx.filters:
        return None
    return select(Account.account_id).where(ctx.owner_in_scope(Account.owner_id), _segment_filter(ctx))


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _months(ctx: ComputeContext, start: datetime, end: datetime) -> tuple[str, str]:
    """The first and last calendar month (org time zone) with an instant of [start, end)."""
    tz = ctx.settings.org.tz
    return month_of(start, tz), month_of(end - timedelta(microseconds=1), tz)


def _marks(flag: int) -> list[Any]:
    """The s, e, n and o (orders in the period) columns of a mark with `flag` (0 s, 1 e) set."""
    return [literal_column(str(int(i == flag))).label(name) for i, name in enumerate(("s", "e", "n", "o"))]


def _paying(ctx: ComputeContext, accounts: Select | None, mrr_month: str, flag: int, part: Part) -> Select:
    """(account_id, s, e, n, o) with `flag` set for each account of `part` with MRR > 0 in `mrr_month`: the
    month's MRR rows for the organisation, each account's own row for a rep or a team."""
    paying = (Mrr.month == mrr_month, Mrr.mrr > 0)
    if accounts is None:
        return select(Mrr.account_id, *_marks(flag)).where(*paying, *part.holds(Mrr.account_id))
    own = exists(select(literal(1)).where(Mrr.account_id == Account.account_id, *paying))
    return select(Account.account_id, *_marks(flag)).where(
        ctx.owner_in_scope(Account.owner_id), _segment_filter(ctx), own
    )


def _yes(condition: ColumnElement[bool]) -> Any:
    return case((condition, 1), else_=0)


def _parts(ctx: ComputeContext) -> list[Part]:
    """The organisation's accounts in halves read side by side (storage.side_by_side), or one part: a rep's, a
    team's or a segment's accounts are few enough for one statement."""
    return [Part()] if _scope_accounts(ctx) is not None else account_parts(ctx.conn)


def retention_counts(ctx: ComputeContext, by: str | None = None) -> dict[str, tuple[str, RetentionCounts]]:
    """S (active at the period's start), E (active at its end), S ∩ E, N (first order in the period) and the
    period's repeat buyers and buyers per group."""
    answers = side_by_side(
        ctx.conn, lambda conn, part: _part_counts(replace(ctx, conn=conn), by, part), _parts(ctx)
    )
    if len(answers) == 1:
        return answers[0]
    # Every account lies in one part, so a group's counts are the sums of its counts in the parts.
    merged: dict[str, tuple[str, RetentionCounts]] = {}
    for answer in answers:
        for key, (label, counts) in answer.items():
            earlier = merged.get(key, (label, RetentionCounts()))[1]
            merged[key] = (label, add_up((earlier, counts), RetentionCounts()))
    return merged


def _part_counts(ctx: ComputeContext, by: str | None, part: Part) -> dict[str, tuple[str, RetentionCounts]]:
    """`retention_counts` of the accounts of `part`."""
    accounts = _scope_accounts(ctx)
    window = timedelta(days=ctx.settings.retention.window_days)
    # Active at an instant: an order in the window before it, or MRR in the month before (metrics.sql.customers).
    # The accounts that are, gathered in one pass over the months from the first window's to the period's end,
    # instead of asking each account's orders three times; the same pass counts each account's orders in the period
    # (its months from the period's start are among those read), for the repeat purchase rate.
    start_window, end_window = ctx.start - window, ctx.end - window
    rows = kept_months(ctx.conn, ctx.settings, accounts, _months(ctx, min(start_window, ctx.start), ctx.end))
    ordering = select(
        rows.c.account_id,
        _yes(ordered_between(rows.c, start_window, ctx.start)).label("s"),
        _yes(ordered_between(rows.c, end_window, ctx.end)).label("e"),
        _yes(and_(rows.c.first_order_at >= ctx.start, rows.c.first_order_at < ctx.end)).label("n"),
        orders_between(rows.c, ctx.start, ctx.end).label("o"),
    ).where(*part.holds(rows.c.account_id))
    marks = union_all(
        ordering,
        _paying(ctx, accounts, mrr_month_before(ctx.conn, ctx.period.start_date), 0, part),
        _paying(ctx, accounts, mrr_month_before(ctx.conn, ctx.period.end_date), 1, part),
    ).subquery("marks")
    flags = (
        select(
            marks.c.account_id,
            *(func.max(marks.c[name]).label(name) for name in ("s", "e", "n")),
            func.sum(marks.c.o).label("o"),
        )
        .group_by(marks.c.account_id)
        .subquery("flags")
    )
    grouping = account_grouping(by)
    stmt = grouping.group(
        grouping.select_from_accounts(
            _flag(flags.c.s == 1),
            _flag(flags.c.e == 1),
            _flag(and_(flags.c.s == 1, flags.c.e == 1)),
            _flag(flags.c.n == 1),
            _flag(flags.c.o >= 2),
            _flag(flags.c.o >= 1),
        )
        .outerjoin(flags, flags.c.account_id == Account.account_id)
        .where(ctx.owner_in_scope(Account.owner_id), _segment_filter(ctx), *part.holds(Account.account_id))
    )
    return {
        grouping.key_of(key): (grouping.label_of(label), RetentionCounts(*(int(count) for count in counts)))
        for key, label, *counts in ctx.conn.execute(stmt)
    }


def _measures(counts: RetentionCounts) -> tuple[Measure, ...]:
    crr = ratio(counts.retained, counts.start)
    return (
        Measure(
            "crr", "Customer retention rate", "percent", crr, detail=f"{counts.retained} / {counts.start}"
        ),
        Measure(
            "churn_rate",
            "Churn rate",
            "percent",
            None if crr is None else 1 - crr,
            detail=f"{counts.start - counts.retained} / {counts.start}",
        ),
        Measure("start_customers", "Customers at start", "count", counts.start),
        Measure("end_customers", "Customers at end", "count", counts.end),
        Measure("retained_customers", "Retained customers", "count", counts.retained),
        Measure("new_customers", "New customers", "count", counts.new),
        Measure(
            "repeat_purchase_rate",
            "Repeat purchase rate",
            "percent",
            ratio(counts.repeat, counts.buyers),
            detail=f"{counts.repeat} / {counts.buyers}",
        ),
    )


def _by_month(ctx: ComputeContext) -> tuple[BreakdownRow, ...]:
    rows = []
    for bucket in iter_buckets(ctx.period, "month"):
        sub = replace(ctx, period=bucket, by=None)
        counts = retention_counts(sub).get(ALL, ("", RetentionCounts()))[1]
        rows.append(BreakdownRow(bucket.label, bucket.label, _measures(counts)))
    return tuple(rows)


def _cohort_counts(
    ctx: ComputeContext, months: list[Any], month_index: Any, bounds: list[datetime], part: Part
) -> dict[tuple[int, int], int]:
    """(cohort, month index) -> accounts of `part` in that cohort with an order in that month."""
    # Each cohort customer's months with an order, straight from its kept months: the first order of every
    # account is kept with them, so no pass over the organisation's orders is needed to find the cohorts.
    kept = kept_months(
        ctx.conn,
        ctx.settings,
        _scope_accounts(ctx),
        (months[0].strftime("%Y-%m"), months[-2].strftime("%Y-%m")),
    )
    active = (
        select(
            kept.c.account_id,
            month_index(kept.c.first_order_at).label("cohort"),
            month_index(kept.c.first_at).label("month_index"),
        )
        .join(Account, Account.account_id == kept.c.account_id)
        .where(
            kept.c.first_order_at >= bounds[0],
            kept.c.first_order_at < bounds[-1],
            ctx.owner_in_scope(Account.owner_id),
            _segment_filter(ctx),
            *part.holds(kept.c.account_id),
        )
        .subquery("active")
    )
    # Grouping on the subquery's columns (not on the CASE itself) keeps PostgreSQL happy with bound parameters.
    # A row is one account's one month, so counting rows counts the accounts active in that month.
    stmt = select(active.c.cohort, active.c.month_index, func.count()).group_by(
        active.c.cohort, active.c.month_index
    )
    return {(int(c), int(m)): int(n) for c, m, n in ctx.conn.execute(stmt)}


def cohort_table(ctx: ComputeContext) -> Table:
    """The last 12 monthly cohorts (org time zone) up to the period's end: share of each with an order k months on."""
    tz = ctx.settings.org.tz
    last_month = (ctx.period.end.astimezone(tz) - timedelta(microseconds=1)).date().replace(day=1)
    first_month = last_month - relativedelta(months=COHORT_MONTHS - 1)
    months = [first_month + relativedelta(months=i) for i in range(COHORT_MONTHS + 1)]
    bounds = [naive_utc(local_midnight(m, tz)) for m in months]

    def month_index(column: Any) -> Any:
        return case(*((column < bound, i) for i, bound in enumerate(bounds[1:-1])), else_=COHORT_MONTHS - 1)

    parts = side_by_side(
        ctx.conn,
        lambda conn, part: _cohort_counts(replace(ctx, conn=conn), months, month_index, bounds, part),
        _parts(ctx),
    )
    # Every account lies in one part: a cell's count is the sum of its counts in the parts.
    counts: dict[tuple[int, int], int] = {}
    for part_counts in parts:
        for cell, n in part_counts.items():
            counts[cell] = counts.get(cell, 0) + n
    rows = []
    for cohort in range(COHORT_MONTHS):
        size = counts.get((cohort, cohort), 0)
        cells = [
            ratio(counts.get((cohort, cohort + k), 0), size) if cohort + k < COHORT_MONTHS else None
            for k in range(COHORT_MONTHS)
        ]
        rows.append((months[cohort].strftime("%Y-%m"), size, *cells))
    columns = ("cohort", "customers", *(f"m{k}" for k in range(COHORT_MONTHS)))
    units = ("number", "count", *(("percent",) * COHORT_MONTHS))
    return Table("cohorts", "Monthly cohorts", columns, tuple(rows), units)  # type: ignore[arg-type]


def compute(ctx: ComputeContext) -> Computed:
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by and ctx.by != "month":
        # Every account falls in exactly one group (a missing owner, team or segment is a group too), so the
        # totals are the groups' sums: the accounts are read once, not once for the groups and once more in all.
        grouped = retention_counts(ctx, ctx.by)
        counts = add_up((group for _label, group in grouped.values()), RetentionCounts())
        rows = tuple(
            BreakdownRow(key, label, _measures(group))
            for key, label, group in sorted_rows(
                [(key, label, group) for key, (label, group) in grouped.items()]
            )
        )
    else:
        counts = retention_counts(ctx).get(ALL, ("", RetentionCounts()))[1]
        if ctx.by == "month":
            rows = _by_month(ctx)
    tables = () if ctx.is_comparison else (cohort_table(ctx),)
    return Computed(measures=_measures(counts), rows=rows, tables=tables)


RETENTION = MetricDef(
    name="retention",
    title="Customer retention",
    description=(
        "CRR = customers active at both the period's start and its end / customers active at its start; "
        "churn = 1 − CRR. A customer (an account, counted for its owner) is active at a moment if it ordered "
        "in the retention window (default 90 days) before it, or had MRR > 0 in the previous calendar month — "
        "either is enough. New customers placed their first order in the period; repeat purchase rate = "
        "customers with 2+ orders / customers with an order, over orders in the period. Cohorts: customers by "
        "month of first order (org time zone), share ordering again k months later."
    ),
    compute=compute,
    needs=("accounts", "orders", "mrr"),
    breakdowns=("rep", "team", "segment", "month"),
    filters=("segment",),
    defines=(
        "crr",
        "churn_rate",
        "start_customers",
        "end_customers",
        "retained_customers",
        "new_customers",
        "repeat_purchase_rate",
    ),
)
