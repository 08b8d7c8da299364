"""Each account's calendar months with an order, live from `orders` or from the `account_months` table that keeps
them.

Retention asks of every account whether it ordered in a window, how often it ordered in a period, and when it
first ordered; over the organisation's orders that is a correlated look-up per account, or a pass over every
order ever placed for the first orders. `account_months` holds one row per account and month (in the org's time
zone) with an order: how many, the first and the last of them, and the account's first order ever. It is kept
the way `lead_journeys` is (storage/marks.py): triggers on `orders` put the accounts any writer changes into
`account_month_dirty`; a reader takes a listed account's months live, and `refresh_account_months` (with the
journeys, in `storage.journeys.refresh_store`: after an import, the demo, at the console's start and every minute
in the scheduler) works them out again and empties the list. The table answers for the time zone recorded in
`account_month_state`; under another one readers take every account's months live until a refresh rebuilds it.

The first and last order of a month answer "did the account order in [a, b)" exactly whatever the bounds: a
month wholly inside has an order in it, a month holding a or b has one there exactly when its last order is at or
after a (or its first before b). Only a month holding both a and b with orders on either side says nothing, and
the caller looks at that account's orders then (`ordered_between`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)

from storage.config.settings import Settings
from storage.marks import Marking, clear_marks, lock_marks
from storage.schema import Account, Order, account_month_dirty, account_month_state, account_months
from storage.times import naive_utc

__all__ = [
    "ACCOUNT_MONTH_MARKS",
    "ACCOUNT_MONTH_SOURCES",
    "month_of",
    "account_months_current",
    "kept_months",
    "ordered_between",
    "orders_between",
    "refresh_account_months",
]

ACCOUNT_MONTH_SOURCES = ("orders",)
"""The CRM tables account months are worked out from."""

ACCOUNT_MONTH_MARKS = Marking(
    name="account_month",
    function="account_month_mark",
    dirty="account_month_dirty",
    key="account_id",
    watched={"orders": "account_id, ordered_at"},
)
"""The accounts `orders` changes, with the columns their months read."""

_COLUMNS = ("month", "account_id", "orders", "first_at", "last_at", "first_order_at")


def month_of(at: datetime, tz: tzinfo) -> str:
    """The calendar month (YYYY-MM, in `tz`) of a naive UTC instant."""
    return at.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m")


def _month_starts(conn: Connection, tz: tzinfo) -> list[tuple[str, datetime]]:
    """(month, its first instant in naive UTC) for every month from the first order's to the last one's."""
    first, last = conn.execute(select(func.min(Order.ordered_at), func.max(Order.ordered_at))).one()
    if first is None:
        return [("", datetime.min)]
    local = first.replace(tzinfo=UTC).astimezone(tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = month_of(last, tz)
    months: list[tuple[str, datetime]] = []
    while not months or months[-1][0] < end:
        months.append((local.strftime("%Y-%m"), naive_utc(_local_midnight(local, tz))))
        local = local + relativedelta(months=1)
    return months


def _local_midnight(local: datetime, tz: tzinfo) -> datetime:
    return datetime(local.year, local.month, local.day, tzinfo=tz)


def _month_case(column: Any, months: Sequence[tuple[str, datetime]]) -> Any:
    """The month of `column` among `months` (in order, `column` within them), by halving: a few comparisons a row
    even over decades of orders."""
    if len(months) == 1:
        return literal(months[0][0])
    middle = len(months) // 2
    return case(
        (column < months[middle][1], _month_case(column, months[:middle])),
        else_=_month_case(column, months[middle:]),
    )


def _live_rows(conn: Connection, tz: tzinfo, accounts: Select | None) -> Select:
    """The rows of `account_months` for the accounts `accounts` selects (None: every account), from `orders`."""
    where = [] if accounts is None else [Order.account_id.in_(accounts)]
    firsts = (
        select(Order.account_id, func.min(Order.ordered_at).label("first_order_at"))
        .where(*where)
        .group_by(Order.account_id)
        .subquery("firsts")
    )
    dated = select(
        Order.account_id,
        _month_case(Order.ordered_at, _month_starts(conn, tz)).label("month"),
        Order.ordered_at,
    ).where(*where)
    # Grouping on the subquery's month column (not the CASE itself) keeps PostgreSQL happy with bound parameters.
    each = dated.subquery("dated")
    grouped = (
        select(
            each.c.month,
            each.c.account_id,
            func.count().label("orders"),
            func.min(each.c.ordered_at).label("first_at"),
            func.max(each.c.ordered_at).label("last_at"),
        )
        .group_by(each.c.month, each.c.account_id)
        .subquery("grouped")
    )
    return select(*(grouped.c[name] for name in _COLUMNS[:-1]), firsts.c.first_order_at).join(
        firsts, firsts.c.account_id == grouped.c.account_id
    )


def account_months_current(conn: Connection, settings: Settings) -> tuple[bool, bool]:
    """(whether `account_months` answers for the org's time zone, whether any account waits to be refreshed)."""
    tz, dirty = conn.execute(
        select(
            select(account_month_state.c.tz).scalar_subquery(),
            select(account_month_dirty.c.account_id).limit(1).exists(),
        )
    ).one()
    return tz == str(settings.org.tz), bool(dirty)


def kept_months(
    conn: Connection, settings: Settings, accounts: Select | None, months: tuple[str, str] | None = None
) -> Subquery:
    """The `account_months` rows (month, account_id, orders, first_at, last_at, first_order_at) of the accounts
    `accounts` selects (None: every account), with `month` in `months` (first, last; None: every month): from the
    table where it is current, worked out live for the accounts waiting and for all under another time zone."""
    tz = settings.org.tz
    current, dirty = account_months_current(conn, settings)
    if not current:
        return _in_months(_live_rows(conn, tz, accounts), months).subquery("account_months")
    kept = account_months.c
    fresh = select(*(kept[name] for name in _COLUMNS))
    if accounts is not None:
        fresh = fresh.where(kept.account_id.in_(accounts))
    if months is not None:
        fresh = fresh.where(kept.month >= months[0], kept.month <= months[1])
    if not dirty:
        return fresh.subquery("account_months")
    waiting = select(account_month_dirty.c.account_id)
    if accounts is not None:
        waiting = waiting.where(account_month_dirty.c.account_id.in_(accounts))
    stale = _in_months(_live_rows(conn, tz, waiting), months)
    return union_all(fresh.where(kept.account_id.not_in(waiting)), stale).subquery("account_months")


def _in_months(rows: Select, months: tuple[str, str] | None) -> Select:
    if months is None:
        return rows
    inner = rows.subquery("live_months")
    return select(*(inner.c[name] for name in _COLUMNS)).where(
        inner.c.month >= months[0], inner.c.month <= months[1]
    )


def ordered_between(rows: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    """Whether the month row `rows` (columns of `kept_months`) holds an order on [start, end): from its first and
    last order, and from the account's orders only when the month holds both bounds with orders on either side."""
    decided = or_(rows.first_at >= start, rows.last_at < end)
    looked_up = exists(
        select(literal(1)).where(
            Order.account_id == rows.account_id, Order.ordered_at >= start, Order.ordered_at < end
        )
    )
    return and_(rows.last_at >= start, rows.first_at < end, or_(decided, looked_up))


def orders_between(rows: Any, start: datetime, end: datetime) -> Any:
    """How many orders of the month row `rows` fall on [start, end): all, none, or counted from the account's
    orders when the month straddles a bound (the row's orders lie between its first and last)."""
    counted = (
        select(func.count())
        .where(
            Order.account_id == rows.account_id,
            Order.ordered_at >= start,
            Order.ordered_at < end,
            Order.ordered_at >= rows.first_at,
            Order.ordered_at <= rows.last_at,
        )
        .scalar_subquery()
    )
    return case(
        (and_(rows.first_at >= start, rows.last_at < end), rows.orders),
        (or_(rows.last_at < start, rows.first_at >= end), 0),
        else_=counted,
    )


def refresh_account_months(conn: Connection, settings: Settings, *, wait: bool = True) -> int:
    """Bring `account_months` up to date in the caller's transaction: the waiting accounts, or every account when
    the time zone changed or many are waiting; how many accounts were marked.

    Without `wait`, a writer still marking accounts makes PostgreSQL refuse at once with `OperationalError`.
    """
    current, dirty = account_months_current(conn, settings)
    if current and not dirty:
        return 0
    lock_marks(conn, account_month_dirty, wait=wait)
    waiting = select(account_month_dirty.c.account_id)
    changed = conn.execute(select(func.count()).select_from(account_month_dirty)).scalar_one()
    accounts = conn.execute(select(func.count()).select_from(Account)).scalar_one()
    which: Select | None = waiting
    # Past a fifth of the accounts, one pass over all orders beats looking each changed account up.
    if not current or changed * 5 > accounts:
        conn.execute(delete(account_months))
        conn.execute(delete(account_month_state))
        conn.execute(insert(account_month_state).values(tz=str(settings.org.tz)))
        which = None
    else:
        conn.execute(delete(account_months).where(account_months.c.account_id.in_(waiting)))
    rows = _live_rows(conn, settings.org.tz, which).order_by("month", "account_id")
    conn.execute(insert(account_months).from_select(list(_COLUMNS), rows))
    clear_marks(conn, account_month_dirty)
    return int(changed)
