"""Who counts as a customer, and since when: the account-level building blocks shared by retention, MRR, revenue,
LTV and customer success.

A customer is an account. It is *active at* an instant t when it has an order in the W days before t
(W = `retention.window_days`) **or** MRR > 0 in the calendar month before the month t falls in — either is enough,
so an account known only from the `mrr` table and one that only places orders both count. The MRR month of t is
read in the period's time zone; if that month has no MRR rows at all yet (not loaded), the month before it is used.
An account is *acquired* at its first order or its first won deal, whichever came first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    FromClause,
    Select,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from metrics.declare import ComputeContext
from metrics.scope import sees_org
from storage.errors import PermissionDenied, UserError
from storage.schema import Account, Deal, Mrr, Order, Team, User

__all__ = [
    "day_number",
    "month_code",
    "shift_month",
    "mrr_month_before",
    "active_at",
    "acquisitions",
    "AccountGrouping",
    "account_grouping",
    "require_org",
    "sorted_rows",
    "ALL",
]

ALL = "all"
"""The group key of an un-broken-down result."""


class day_number(FunctionElement[float]):
    """A timestamp as a fractional day number, so day arithmetic reads the same on SQLite and PostgreSQL.

    Only differences and comparisons between two day numbers mean anything (the epochs differ per database).
    """

    type = Float()
    inherit_cache = True


@compiles(day_number, "sqlite")
def _day_number_sqlite(element, compiler, **kw) -> str:
    return f"julianday({compiler.process(element.clauses, **kw)})"


@compiles(day_number)
def _day_number_default(element, compiler, **kw) -> str:
    return f"(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) / 86400.0)"


def month_code(day: date) -> str:
    """The MRR table's month code of a day: 2026-10."""
    return f"{day.year}-{day.month:02d}"


def shift_month(code: str, months: int) -> str:
    """A month code moved by `months` (negative: back)."""
    year, month = (int(part) for part in code.split("-"))
    return month_code(date(year, month, 1) + relativedelta(months=months))


def _has_mrr_rows(conn: Connection, month: str) -> bool:
    return conn.execute(select(literal(1)).where(Mrr.month == month).limit(1)).first() is not None


def mrr_month_before(conn: Connection, local_day: date) -> str:
    """The MRR month that tells whether an account is active at the local midnight starting `local_day`: the month
    before the one `local_day` is in, or the month before that when nothing is loaded for it yet."""
    month = shift_month(month_code(local_day), -1)
    if not _has_mrr_rows(conn, month):
        return shift_month(month, -1)
    return month


def active_at(ctx: ComputeContext, at_utc: datetime, mrr_month: str, account_id: Any) -> ColumnElement[bool]:
    """A correlated condition: the account `account_id` is an active customer at `at_utc` (see the module doc)."""
    window_start = at_utc - timedelta(days=ctx.settings.retention.window_days)
    by_order = exists(
        select(literal(1)).where(
            Order.account_id == account_id, Order.ordered_at >= window_start, Order.ordered_at < at_utc
        )
    )
    by_mrr = exists(
        select(literal(1)).where(Mrr.account_id == account_id, Mrr.month == mrr_month, Mrr.mrr > 0)
    )
    return by_order | by_mrr


def acquisitions(accounts: Select | None = None) -> FromClause:
    """Per account, `acquired_at`: its first order or first won deal, whichever came first.

    `accounts` (a select of account ids) narrows it to the accounts a question is about, so a month's revenue
    reads those customers' histories rather than every order and deal of the organisation.
    """
    orders = select(Order.account_id.label("account_id"), Order.ordered_at.label("at"))
    deals = select(Deal.account_id, Deal.closed_at).where(
        Deal.status == "won", Deal.account_id.is_not(None), Deal.closed_at.is_not(None)
    )
    if accounts is not None:
        orders = orders.where(Order.account_id.in_(accounts))
        deals = deals.where(Deal.account_id.in_(accounts))
    firsts = union_all(orders, deals).subquery("firsts")
    return (
        select(firsts.c.account_id, func.min(firsts.c.at).label("acquired_at"))
        .group_by(firsts.c.account_id)
        .subquery("acquired")
    )


@dataclass(frozen=True)
class AccountGrouping:
    """How account rows are grouped for a `by rep|team|segment` breakdown (or not at all).

    It groups on plain columns (no expressions), so PostgreSQL accepts the same statement as SQLite; a missing
    owner, team or segment becomes the "" group with a readable label in `label_of`.
    """

    key: Any  # a column, or None for no grouping
    label: Any
    joins_users: bool = False
    joins_teams: bool = False
    empty_label: str = ""

    def select_from_accounts(self, *columns: Any) -> Select[Any]:
        """SELECT key, label, *columns FROM accounts (joined to owners/teams as the grouping needs)."""
        source: FromClause = Account.__table__
        if self.joins_users:
            source = source.outerjoin(User, User.user_id == Account.owner_id)
        if self.joins_teams:
            source = source.outerjoin(Team, Team.team_id == User.team_id)
        key = self.key if self.key is not None else literal(ALL)
        label = self.label if self.label is not None else literal(ALL)
        return select(key.label("group_key"), label.label("group_label"), *columns).select_from(source)

    def group(self, stmt: Select[Any]) -> Select[Any]:
        if self.key is None or self.label is None:
            return stmt
        return stmt.group_by(self.key, self.label)

    def key_of(self, key: str | None) -> str:
        return key if key is not None else ""

    def label_of(self, label: str | None) -> str:
        return label if label is not None else self.empty_label


def account_grouping(by: str | None) -> AccountGrouping:
    """The grouping of accounts for a breakdown: by owner (rep), by the owner's team, by segment, or one group."""
    if by == "rep":
        return AccountGrouping(Account.owner_id, User.name, True, False, "(no owner)")
    if by == "team":
        return AccountGrouping(User.team_id, Team.name, True, True, "(no team)")
    if by == "segment":
        return AccountGrouping(Account.segment, Account.segment, False, False, "(no segment)")
    return AccountGrouping(None, None)


def require_org(ctx: ComputeContext, metric_title: str, reason: str, reason_key: str | None = None) -> None:
    """Refuse a rep or team scope for a metric that only makes sense for the whole organisation — saying to ask for
    the org to those who may see it, and that it is for admins to those who may not. `reason_key` names the
    reason's wording in a chat's message catalogue (`reason.<key>`)."""
    if ctx.scope.owner_ids is not None:
        if not sees_org(ctx.viewer, ctx.settings):
            raise PermissionDenied(
                "metric.org_only_denied",
                "{metric} is an organisation-wide metric ({reason}), and the organisation's numbers are for admins.",
                metric=metric_title,
                reason=reason,
                reason_key=reason_key or "",
            )
        raise UserError(
            "metric.org_only",
            "{metric} is an organisation-wide metric ({reason}); ask for it with scope org.",
            metric=metric_title,
            reason=reason,
            reason_key=reason_key or "",
        )


def sorted_rows(rows: Sequence[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """Breakdown rows in label order, the "no …" group last."""
    return sorted(rows, key=lambda row: (row[0] == "", str(row[1]).lower()))
