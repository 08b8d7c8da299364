"""What was actually done, for each plan metric: one grouped SQL query per metric, by owner or by time bucket.

Results come back grouped by owner so one query serves a rep, a team, the organisation and every `by rep` /
`by team` row: the caller adds up the owners it needs. An average (`avg_deal_size`) keeps its numerator and
denominator apart so it can be re-averaged over any group of owners.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select, true

from metrics.periods import Period
from metrics.result import Number, ratio
from storage.config.settings import Settings
from storage.schema import MONEY_PLAN_METRICS, PLAN_METRICS, Activity, Deal, Lead, Order

__all__ = [
    "PLAN_METRICS",
    "AVERAGE_METRICS",
    "MONEY_METRICS",
    "Actual",
    "plan_actual",
    "plan_totals",
    "plan_actual_by_bucket",
    "bucket_label",
]


AVERAGE_METRICS = frozenset({"avg_deal_size"})
MONEY_METRICS = MONEY_PLAN_METRICS

NO_OWNER = ""
"""The owner key of rows without an owner (an org-wide lead or order); only the organisation sees them."""


@dataclass(frozen=True)
class Actual:
    """A plan metric's actual value per owner; `denominator` is set only for averages."""

    numerator: Mapping[str, Number]
    denominator: Mapping[str, Number] | None = None

    def value(self, owners: Collection[str] | None = None) -> Number | None:
        """The actual over `owners` (None: everyone in the query); n/a for an average over nothing."""
        top = _total(self.numerator, owners)
        if self.denominator is None:
            return top
        return ratio(top, _total(self.denominator, owners))


def _total(values: Mapping[str, Number], owners: Collection[str] | None) -> Number:
    picked = [v for owner, v in values.items() if owners is None or owner in owners]
    if any(isinstance(v, Decimal) for v in picked):
        return sum((Decimal(v) for v in picked), Decimal(0))
    return sum(picked, 0)


@dataclass(frozen=True)
class _Source:
    """Where a metric's numbers come from: owner and time columns, the summed amount (None: count rows), filter."""

    owner: Any  # columns or ORM attributes
    at: Any
    amount: Any  # None: count rows
    where: ColumnElement[bool]

    def aggregate(self, amount: Any = None) -> ColumnElement:
        """sum(amount) or count(*); `amount` replaces the column when reading it through a subquery."""
        if self.amount is None:
            return func.count()
        return func.sum(amount if amount is not None else self.amount)


_ACTIVITY_TYPES = {"calls": ("call",), "meetings": ("meeting",)}
_DEAL_METRICS = ("revenue", "deals_won", "avg_deal_size", "product_units", "product_revenue")


def _sources(settings: Settings, metric: str, product_id: str) -> tuple[_Source, _Source | None]:
    """The numerator source (and the denominator's, for an average) of a plan metric."""
    by_product = product_id != "" and metric in ("product_units", "product_revenue")
    if settings.revenue.source == "orders" and metric in _DEAL_METRICS and metric != "deals_won":
        where = Order.product_id == product_id if by_product else true()
        if metric == "product_units":
            return _Source(Order.owner_id, Order.ordered_at, func.coalesce(Order.quantity, 1), where), None
        amount = _Source(Order.owner_id, Order.ordered_at, Order.amount, where)
        if metric == "avg_deal_size":
            return amount, _Source(Order.owner_id, Order.ordered_at, None, where)
        return amount, None
    if metric in _DEAL_METRICS:
        won = Deal.status == "won"
        where = and_(won, Deal.product_id == product_id) if by_product else won
        revenue = _Source(Deal.owner_id, Deal.closed_at, func.coalesce(Deal.amount, 0), where)
        count = _Source(Deal.owner_id, Deal.closed_at, None, where)
        if metric in ("revenue", "product_revenue"):
            return revenue, None
        if metric == "deals_won":
            return count, None
        if metric == "avg_deal_size":
            return revenue, count
        return _Source(Deal.owner_id, Deal.closed_at, func.coalesce(Deal.quantity, 1), where), None
    if metric == "new_leads":
        return _Source(Lead.owner_id, Lead.created_at, None, true()), None
    if metric in ("calls", "meetings", "activities"):
        done = Activity.status == "done"
        if metric in _ACTIVITY_TYPES:
            done = and_(done, Activity.type.in_(_ACTIVITY_TYPES[metric]))
        return _Source(Activity.owner_id, Activity.completed_at, None, done), None
    raise ValueError(f"not a plan metric: {metric!r}")


def _owner_ok(source: _Source, owner_ids: Sequence[str] | None) -> ColumnElement[bool]:
    return true() if owner_ids is None else source.owner.in_(owner_ids)


def _by_owner(
    conn: Connection, source: _Source, start: datetime, end: datetime, owner_ids: Sequence[str] | None
) -> dict[str, Number]:
    stmt = (
        select(source.owner, source.aggregate())
        .where(source.where, source.at >= start, source.at < end, _owner_ok(source, owner_ids))
        .group_by(source.owner)
    )
    return {owner or NO_OWNER: value or 0 for owner, value in conn.execute(stmt)}


def plan_actual(
    conn: Connection,
    settings: Settings,
    metric: str,
    product_id: str,
    start: datetime,
    end: datetime,
    owner_ids: Sequence[str] | None,
) -> Actual:
    """The actual of one plan metric on `[start, end)` (naive UTC) per owner; `owner_ids` None: everyone."""
    top, bottom = _sources(settings, metric, product_id)
    numerator = _by_owner(conn, top, start, end, owner_ids)
    if bottom is None:
        return Actual(numerator)
    return Actual(numerator, _by_owner(conn, bottom, start, end, owner_ids))


def plan_totals(
    conn: Connection,
    settings: Settings,
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    owner_ids: Sequence[str] | None,
) -> dict[str, float]:
    """The total actual of each plan metric (not an average) on `[start, end)` (naive UTC) over `owner_ids` (None:
    everyone): one statement for the metrics read from the same rows, as revenue and deals won from won deals, or
    calls and meetings from done activities, so the table is read once for them."""
    together: dict[tuple[str, str], list[tuple[str, _Source]]] = {}
    for metric in metrics:
        source, denominator = _sources(settings, metric, "")
        if denominator is not None:
            raise ValueError(f"{metric!r} is an average; its total means nothing")
        together.setdefault((str(source.at), str(source.owner)), []).append((metric, source))
    totals: dict[str, float] = {}
    for sources in together.values():
        first = sources[0][1]
        columns = [
            func.count(case((source.where, 1)))
            if source.amount is None
            else func.sum(case((source.where, source.amount), else_=0))
            for _metric, source in sources
        ]
        row = conn.execute(
            select(*columns).where(
                or_(*(source.where for _metric, source in sources)),
                first.at >= start,
                first.at < end,
                _owner_ok(first, owner_ids),
            )
        ).one()
        totals.update(
            {metric: float(value or 0) for (metric, _source), value in zip(sources, row, strict=True)}
        )
    return totals


def bucket_label(column: Any, buckets: Sequence[Period]) -> ColumnElement[str]:
    """The label of the bucket a timestamp falls in (buckets in order; the caller keeps the column in range)."""
    return case(*((column < bucket.end_utc, literal(bucket.label)) for bucket in buckets), else_=None)


def plan_actual_by_bucket(
    conn: Connection,
    settings: Settings,
    metric: str,
    product_id: str,
    buckets: Sequence[Period],
    owner_ids: Sequence[str] | None,
) -> dict[str, Number]:
    """An additive plan metric's actual per time bucket (label -> value); buckets with nothing are left out."""
    source, bottom = _sources(settings, metric, product_id)
    if bottom is not None or not buckets:
        raise ValueError(f"{metric} is an average and has no per-bucket sums")
    amount = source.amount if source.amount is not None else literal(1)
    # Group by a labelled subquery column rather than by the CASE itself: PostgreSQL would see the CASE's bound
    # parameters in SELECT and in GROUP BY as two different expressions.
    inner = (
        select(bucket_label(source.at, buckets).label("bucket"), amount.label("amount"))
        .where(
            source.where,
            source.at >= buckets[0].start_utc,
            source.at < buckets[-1].end_utc,
            _owner_ok(source, owner_ids),
        )
        .subquery()
    )
    stmt = select(inner.c.bucket, source.aggregate(inner.c.amount)).group_by(inner.c.bucket)
    return {label: total or 0 for label, total in conn.execute(stmt) if label is not None}
