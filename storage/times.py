"""Moments as the store keeps them: naive UTC (SQLite has no time zones; PostgreSQL columns are `timestamp`)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["naive_utc"]


def naive_utc(moment: datetime) -> datetime:
    """A tz-aware moment as the store keeps it (naive UTC); a naive one is taken as naive UTC already."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
