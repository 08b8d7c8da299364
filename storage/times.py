"""Moments as the store keeps them: naive UTC (SQLite has no time zones; PostgreSQL columns are `timestamp`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

__all__ = ["naive_utc", "aware_utc"]


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
