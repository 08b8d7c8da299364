"""Moments as the store keeps them: naive UTC (SQLite has no time zones; PostgreSQL columns are `timestamp`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import ColumnElement, Float, cast
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["naive_utc", "aware_utc", "days_between"]


def naive_utc(moment: datetime) -> datetime:
    """A tz-aware moment as the store keeps it (naive UTC); a naive one is taken as naive UTC already."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


@overload
def aware_utc(moment: datetime) -> datetime: ...
@overload
def aware_utc(moment: None) -> None: ...
def aware_utc(moment: datetime | None) -> datetime | None:
    """A moment read from the store (naive UTC) as a tz-aware UTC one; an aware one is kept, None stays None."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class _day_number(FunctionElement):
    """A timestamp as a day count (with fraction) from a fixed origin; only differences are meaningful."""

    type = Float()
    inherit_cache = True


@compiles(_day_number, "sqlite")
def _day_number_sqlite(element, compiler, **kw):
    return f"julianday({compiler.process(element.clauses, **kw)})"


@compiles(_day_number, "postgresql")
def _day_number_postgresql(element, compiler, **kw):
    return f"(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) / 86400.0)"


def days_between(start: Any, end: Any) -> ColumnElement[float]:
    """`end - start` in fractional days (naive UTC timestamps)."""
    return cast(_day_number(end) - _day_number(start), Float)
