"""Durations in fractional days, and their count, median and mean per group.

The durations are fetched and the medians taken here: ranking them in the database takes window functions
(SQLite has no percentile function), which SQLite runs far slower than a sort in Python, and a reply's durations
are at most a few hundred thousand numbers. The median of an even count is the mean of the two middle ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Select

from storage.times import days_between

__all__ = ["days_between", "DurationStats", "fetched_stats", "stats_of"]


@dataclass(frozen=True)
class DurationStats:
    """How many durations a group has, and their median and mean in days."""

    count: int
    median: float | None
    mean: float | None
    position: float | None = None  # mean of the optional `position` column (to order CRM stages)


def fetched_stats(conn: Connection, durations: Select, groups: tuple[str, ...]) -> dict[tuple, DurationStats]:
    """Count, median and mean of the `days` column of `durations` per combination of its `groups` columns (the
    columns before it); a `position` column after it has its mean returned alongside."""
    days: dict[tuple, list[float]] = defaultdict(list)
    positions: dict[tuple, list[int]] = defaultdict(list)
    has_position = "position" in durations.selected_columns
    width = len(groups)
    for row in conn.execute(durations).tuples():
        key = tuple(row[:width])
        days[key].append(float(row[width]))
        if has_position:
            positions[key].append(int(row[width + 1]))
    result = {}
    for key, values in days.items():
        stats = stats_of(values)
        if has_position:
            stats = replace(stats, position=sum(positions[key]) / len(positions[key]))
        result[key] = stats
    return result


def stats_of(days: Sequence[float]) -> DurationStats:
    """The count, median and mean of durations already fetched (one group's)."""
    if not days:
        return DurationStats(0, None, None)
    ordered = sorted(days)
    n = len(ordered)
    return DurationStats(n, (ordered[(n - 1) // 2] + ordered[n // 2]) / 2, sum(ordered) / n)
