"""What the importer asks the store, in batches: which referenced ids exist, who holds a unique value, fx rates.

Everything runs on the import's own connection, so rows written earlier in the same file are seen too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, Table, select

from storage.schema import CRM_TABLES, FxRate

__all__ = ["StoreLookup"]

_CHUNK = 2000  # ids per IN (...) — well under every backend's parameter limit
_CACHE_LIMIT = 200_000  # known ids remembered per table; beyond that the store is simply asked again


def _table(name: str) -> Table:
    table = CRM_TABLES[name].__table__
    assert isinstance(table, Table)
    return table


class StoreLookup:
    """Batched questions to the store, remembering the answers that cannot change during one import."""

    def __init__(self, conn: Connection, before_query: Callable[[], None] = lambda: None) -> None:
        self._conn = conn
        self._before_query = before_query  # waits for a batch still being written on the same connection
        self._known: dict[str, set[str]] = {}
        self._rates: dict[str, tuple[list[date], list[Decimal]]] = {}

    def existing_ids(self, target: str, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that are rows of the table `target` (users, teams, leads …)."""
        known = self._known.setdefault(target, set())
        wanted = {i for i in ids if i not in known}
        found = {i for i in ids if i in known}
        table = _table(target)
        (key,) = table.primary_key.columns
        pending = sorted(wanted)
        if pending:
            self._before_query()
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            rows = self._conn.execute(select(key).where(key.in_(chunk))).scalars()
            found.update(rows)
        if len(known) < _CACHE_LIMIT:
            known.update(found)
        return found

    def holders(self, target: str, column: str, values: Iterable[object]) -> dict[object, str]:
        """For a unique column (users.telegram_user_id …): which row id holds each of `values` now."""
        table = _table(target)
        (key,) = table.primary_key.columns
        col = table.c[column]
        pending = sorted(set(values), key=str)
        holders: dict[object, str] = {}
        if pending:
            self._before_query()
        for start in range(0, len(pending), _CHUNK):
            chunk = pending[start : start + _CHUNK]
            for value, holder in self._conn.execute(select(col, key).where(col.in_(chunk))):
                holders[value] = holder
        return holders

    def fx_rate(self, currency: str, on: date | None) -> tuple[date, Decimal] | None:
        """The latest rate of `currency` on or before `on` (or the latest of all), with its day; None if none."""
        if currency not in self._rates:
            self._before_query()
            rows = self._conn.execute(
                select(FxRate.date, FxRate.rate).where(FxRate.currency == currency).order_by(FxRate.date)
            ).all()
            self._rates[currency] = ([r.date for r in rows], [Decimal(r.rate) for r in rows])
        days, rates = self._rates[currency]
        index = len(days) if on is None else bisect_right(days, on)
        if index == 0:
            return None
        return days[index - 1], rates[index - 1]
