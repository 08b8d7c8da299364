"""What a `by …` breakdown groups on, how its rows are named, and the `source=` / `product=` filters, in SQL — with
the refusal of a filter value that names nothing the data knows (`product=blorp` is a mistake, not $0).

Every grouped query here is built in two levels: an inner select that puts the group key beside each row (a rep's
team is a correlated lookup, a local month a CASE over the bucket boundaries), and an outer select that aggregates
by that key. That keeps the same SQL valid on SQLite and PostgreSQL, whichever breakdown is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Connection, String, case, cast, func, literal, or_, select, union_all

from metrics.periods import Period, iter_buckets
from metrics.result import BreakdownRow, Measure
from storage.errors import UserError
from storage.schema import Account, Campaign, Deal, Lead, Product, Spend, Team, User

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "NO_KEY",
    "TIME_BREAKDOWNS",
    "time_buckets",
    "bucket_of",
    "group_key",
    "matches_campaign",
    "known_campaign",
    "check_filter_values",
    "lead_filters",
    "product_filter",
    "breakdown_rows",
    "add_up",
]

NO_KEY = ""
"""The key of the row holding everything without a value (no owner, no source, outside any bucket)."""

TIME_BREAKDOWNS = {"month": "month", "week": "week"}

_EMPTY_LABELS = {"rep": "(no owner)", "team": "(no team)", "product": "(no product)"}


def time_buckets(period: Period, by: str) -> list[Period]:
    """The local months or weeks of the period (the first and last clipped to it), labelled 2026-10 / 2026-W44."""
    return list(iter_buckets(period, "month" if by == "month" else "week"))


def bucket_of(column: Any, buckets: Iterable[Period]) -> ColumnElement[str]:
    """The label of the bucket a naive-UTC timestamp falls in (NULL outside them); boundaries come from Python."""
    buckets = list(buckets)
    whens = [
        ((column >= b.start_utc) & (column < b.end_utc), cast(literal(b.label), String)) for b in buckets
    ]
    return case(*whens, else_=cast(literal(NO_KEY), String))


def group_key(
    by: str | None,
    *,
    period: Period,
    owner: Any = None,
    lead: Any = None,
    product: Any = None,
    time: Any = None,
) -> ColumnElement[str]:
    """The expression to group on for `by`: `owner` for rep/team, `lead` (Lead or an alias) for source, segment,
    campaign, `product` for product, `time` (naive UTC) for month/week. No breakdown groups everything as one."""
    if by is None:
        return cast(literal(NO_KEY), String)
    if by == "rep":
        return func.coalesce(owner, NO_KEY)
    if by == "team":
        team = select(User.team_id).where(User.user_id == owner).scalar_subquery()
        return func.coalesce(team, NO_KEY)
    if by in ("source", "segment"):
        return func.coalesce(getattr(lead, by), NO_KEY)
    if by == "campaign":
        return func.coalesce(lead.campaign_id, NO_KEY)
    if by == "product":
        return func.coalesce(product, NO_KEY)
    if by in TIME_BREAKDOWNS:
        return bucket_of(time, time_buckets(period, by))
    raise ValueError(f"no group key for breakdown {by!r}")


def matches_campaign(column: Any, value: str) -> ColumnElement[bool]:
    """Whether a campaign id column is the campaign `value` names, by its id or its name."""
    # People type the campaign's name more often than its CRM id; either finds it.
    by_name = select(Campaign.campaign_id).where(func.lower(Campaign.name) == value.lower())
    return or_(column == value, column.in_(by_name))


def known_campaign(conn: Connection, value: str) -> str:
    """The id of the campaign `value` names (its id or its name); a UserError when it names none."""
    found = conn.execute(
        select(Campaign.campaign_id).where(
            or_(Campaign.campaign_id == value, func.lower(Campaign.name) == value.lower())
        )
    ).scalar()
    if found is None:
        raise UserError("campaign.unknown", "I don't know a campaign called '{name}'.", name=value)
    return str(found)


def _seen(conn: Connection, *matches: Any) -> bool:
    """Whether any row fits any of the (column, condition) pairs."""
    rows = union_all(*(select(column).where(condition) for column, condition in matches))
    return conn.execute(select(rows.subquery()).limit(1)).first() is not None


def check_filter_values(conn: Connection, filters: Mapping[str, str]) -> None:
    """Refuse, in one line, a filter value that names nothing in the data: a source no lead or spend has, a segment
    no lead or account has, a product or campaign by neither id nor name — found as the filters find them."""
    if "campaign" in filters:
        known_campaign(conn, filters["campaign"])
    if (value := filters.get("product")) is not None and not _seen(
        conn,
        (Product.product_id, or_(Product.product_id == value, func.lower(Product.name) == value.lower())),
        (Deal.product_id, Deal.product_id == value),
    ):
        raise UserError("product.unknown", "I don't know a product called '{name}'.", name=value)
    if (value := filters.get("source")) is not None and not _seen(
        conn,
        (Lead.source, func.lower(Lead.source) == value.lower()),
        (Spend.channel, func.lower(Spend.channel) == value.lower()),
    ):
        raise UserError("source.unknown", "I don't know a source called '{name}'.", name=value)
    if (value := filters.get("segment")) is not None and not _seen(
        conn,
        (Lead.segment, func.lower(Lead.segment) == value.lower()),
        (Account.segment, func.lower(Account.segment) == value.lower()),
    ):
        raise UserError("segment.unknown", "I don't know a segment called '{name}'.", name=value)


def lead_filters(filters: Mapping[str, str], lead: Any) -> list[ColumnElement[bool]]:
    """WHERE clauses for the `source=`, `segment=` and `campaign=` filters on a lead (case-insensitive)."""
    clauses: list[ColumnElement[bool]] = []
    for name in ("source", "segment"):
        if name in filters:
            clauses.append(func.lower(getattr(lead, name)) == filters[name].lower())
    if "campaign" in filters:
        clauses.append(matches_campaign(lead.campaign_id, filters["campaign"]))
    return clauses


def product_filter(filters: Mapping[str, str], product: Any) -> list[ColumnElement[bool]]:
    """WHERE clause for the `product=` filter on a product id column; the product's name also finds it."""
    if "product" not in filters:
        return []
    value = filters["product"]
    by_name = select(Product.product_id).where(func.lower(Product.name) == value.lower())
    return [or_(product == value, product.in_(by_name))]


def _labels(conn: Connection, by: str, keys: Iterable[str]) -> dict[str, str]:
    keys = [k for k in keys if k != NO_KEY]
    lookups = {
        "rep": (User.user_id, User.name),
        "team": (Team.team_id, Team.name),
        "campaign": (Campaign.campaign_id, Campaign.name),
        "product": (Product.product_id, Product.name),
    }
    if by not in lookups or not keys:
        return {k: k for k in keys}
    key_col, name_col = lookups[by]
    found = dict(conn.execute(select(key_col, name_col).where(key_col.in_(keys))).tuples().all())
    return {k: found.get(k) or k for k in keys}


Counts = TypeVar("Counts", bound="DataclassInstance")


def add_up(groups: Iterable[Counts], zero: Counts) -> Counts:
    """The field-by-field sum of a breakdown's groups (dataclasses of counts and amounts), for a breakdown whose
    groups split the rows with none left over, so the total needs no query of its own."""
    total = zero
    for group in groups:
        total = replace(
            total, **{f.name: getattr(total, f.name) + getattr(group, f.name) for f in fields(group)}
        )
    return total


def breakdown_rows(
    conn: Connection,
    by: str,
    period: Period,
    values: Mapping[str, Any],
    measures: Callable[[Any], tuple[Measure, ...]],
    *,
    empty: Any = None,
) -> tuple[BreakdownRow, ...]:
    """One row per group: months/weeks in order (empty ones included, given `empty`), others by name.

    `values` maps each group key to whatever `measures` turns into that row's measures.
    """
    if by in TIME_BREAKDOWNS:
        # A time bucket with nothing in it is still a point of the chart, with zero counts.
        labels = [b.label for b in time_buckets(period, by)]
        return tuple(BreakdownRow(label, label, measures(values.get(label, empty))) for label in labels)
    names = _labels(conn, by, values)
    keys = sorted(values, key=lambda k: (k == NO_KEY, (names.get(k) or k).lower(), k))
    return tuple(
        BreakdownRow(k, names.get(k) or _EMPTY_LABELS.get(by, "(none)"), measures(values[k])) for k in keys
    )
