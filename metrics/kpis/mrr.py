"""MRR retention (SPEC 3.3): NRR, GRR and the new / expansion / contraction / churned MRR that explain them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from metrics.declare import ComputeContext, Computed, MetricDef
from metrics.result import BreakdownRow, Measure, Note, ratio
from metrics.sql.customers import ALL, account_grouping, month_code, shift_month, sorted_rows
from storage.schema import Account, Mrr

__all__ = ["MRR", "MrrMovement", "mrr_months", "mrr_movements", "money"]

_CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """A summed money value as an exact Decimal in cents (SQLite hands sums back as floats)."""
    return Decimal(str(value or 0)).quantize(_CENT)


@dataclass(frozen=True)
class MrrMovement:
    """One group's MRR bridge from the month before the period (start) to the period's last month (end)."""

    start: Decimal = Decimal(0)  # Σ MRR_start over accounts with MRR_start > 0
    end_of_start: Decimal = Decimal(0)  # Σ MRR_end over those same accounts
    kept: Decimal = Decimal(0)  # Σ min(MRR_end, MRR_start) over them
    end: Decimal = Decimal(0)  # Σ MRR_end over every account, new ones included
    new: Decimal = Decimal(0)
    expansion: Decimal = Decimal(0)
    contraction: Decimal = Decimal(0)
    churned: Decimal = Decimal(0)
    accounts_start: int = 0
    accounts_kept: int = 0  # accounts with MRR at start that still have MRR > 0 at the end


def mrr_months(ctx: ComputeContext) -> tuple[str, str | None]:
    """(start month, end month): the month before the period's first month, and the period's last month — or,
    while that is not loaded yet, the latest month of the period that has MRR rows (None if none has)."""
    first, last = month_code(ctx.period.start_date), month_code(ctx.period.last_date)
    end = ctx.conn.execute(select(func.max(Mrr.month)).where(Mrr.month >= first, Mrr.month <= last)).scalar()
    return shift_month(first, -1), end


def _sum_if(condition: ColumnElement[bool], value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def mrr_movements(ctx: ComputeContext, by: str | None = None) -> dict[str, tuple[str, MrrMovement]]:
    """The MRR bridge per group (accounts of the scope's owners; `by` rep, team or segment)."""
    start_month, end_month = mrr_months(ctx)
    end_month = end_month or start_month  # nothing loaded yet: only the start is meaningful (the rest is n/a)
    at_start, at_end = aliased(Mrr), aliased(Mrr)
    start = func.coalesce(at_start.mrr, 0)
    end = func.coalesce(at_end.mrr, 0)
    base = start > 0
    segment = ctx.filters.get("segment")
    grouping = account_grouping(by)
    stmt = grouping.group(
        grouping.select_from_accounts(
            _sum_if(base, start),
            _sum_if(base, end),
            _sum_if(base, case((end < start, end), else_=start)),
            func.coalesce(func.sum(end), 0),
            _sum_if(and_(~base, end > 0), end),
            _sum_if(and_(base, end > start), end - start),
            _sum_if(and_(base, end > 0, end < start), start - end),
            _sum_if(and_(base, end <= 0), start),
            _sum_if(base, 1),
            _sum_if(and_(base, end > 0), 1),
        )
        .outerjoin(at_start, and_(at_start.account_id == Account.account_id, at_start.month == start_month))
        .outerjoin(at_end, and_(at_end.account_id == Account.account_id, at_end.month == end_month))
        .where(
            or_(at_start.mrr > 0, at_end.mrr > 0),
            ctx.owner_in_scope(Account.owner_id),
            Account.segment == segment if segment else literal(True),
        )
    )
    result = {}
    for key, label, *sums in ctx.conn.execute(stmt):
        amounts = [money(value) for value in sums[:8]]
        counts = [int(value) for value in sums[8:]]
        result[grouping.key_of(key)] = (grouping.label_of(label), MrrMovement(*amounts, *counts))  # type: ignore[arg-type]
    return result


def _measures(m: MrrMovement) -> tuple[Measure, ...]:
    return (
        Measure(
            "nrr",
            "Net revenue retention",
            "percent",
            ratio(m.end_of_start, m.start),
            detail=f"{m.end_of_start} / {m.start}",
        ),
        Measure(
            "grr",
            "Gross revenue retention",
            "percent",
            ratio(m.kept, m.start),
            detail=f"{m.kept} / {m.start}",
        ),
        Measure("mrr_start", "MRR at start", "money", m.start),
        Measure("mrr_end", "MRR at end", "money", m.end),
        Measure("new_mrr", "New MRR", "money", m.new),
        Measure("expansion_mrr", "Expansion MRR", "money", m.expansion),
        Measure("contraction_mrr", "Contraction MRR", "money", m.contraction),
        Measure("churned_mrr", "Churned MRR", "money", m.churned),
    )


def mrr_notes(ctx: ComputeContext) -> tuple[Note, ...]:
    """Say which MRR months were compared when the period's last month is not loaded (yet)."""
    start_month, end_month = mrr_months(ctx)
    if end_month is None:
        first, last = month_code(ctx.period.start_date), month_code(ctx.period.last_date)
        return (
            Note(
                "mrr.none_loaded",
                "No MRR is loaded for {first}–{last} yet.",
                (("first", first, None), ("last", last, None)),
            ),
        )
    if end_month != month_code(ctx.period.last_date):
        return (
            Note(
                "mrr.latest_loaded",
                "MRR compared: {start} → {end} (the latest month loaded).",
                (("start", start_month, None), ("end", end_month, None)),
            ),
        )
    return ()


def compute(ctx: ComputeContext) -> Computed:
    totals = mrr_movements(ctx).get(ALL, ("", MrrMovement()))[1]
    measures = _measures(totals)
    if mrr_months(ctx)[1] is None:  # nothing to compare with: every measure but the start is n/a
        measures = tuple(
            m if m.key == "mrr_start" else Measure(m.key, m.label, m.unit, None) for m in measures
        )
    rows: tuple[BreakdownRow, ...] = ()
    if ctx.by:
        groups = [(key, label, movement) for key, (label, movement) in mrr_movements(ctx, ctx.by).items()]
        rows = tuple(BreakdownRow(key, label, _measures(m)) for key, label, m in sorted_rows(groups))
    return Computed(measures=measures, rows=rows, notes=mrr_notes(ctx))


MRR = MetricDef(
    name="mrr",
    title="MRR retention",
    description=(
        "On accounts with MRR > 0 in the month before the period (MRR_start): NRR = Σ MRR_end / Σ MRR_start, "
        "GRR = Σ min(MRR_end, MRR_start) / Σ MRR_start, where MRR_end is the MRR of the period's last month "
        "(for a month not loaded yet, the latest loaded month of the period). MRR at end includes new MRR from "
        "accounts without MRR at start; expansion, contraction and churn are changes of the starting accounts."
    ),
    compute=compute,
    needs=("accounts", "mrr"),
    breakdowns=("rep", "team", "segment"),
    filters=("segment",),
    defines=(
        "nrr",
        "grr",
        "mrr_start",
        "mrr_end",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
    ),
)
