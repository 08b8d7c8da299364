"""Durations in fractional days, and their median and mean per group, computed in the database.

SQLite has no percentile function, so the median is taken with window functions (row_number and count over each
group), which read the same on SQLite and PostgreSQL and return one row per group, not every duration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Select, and_, case, func, select

from storage.times import days_between

__all__ = ["days_between", "DurationStats", "duration_stats", "fetched_stats", "stats_of"]


@dataclass(frozen=True)
class DurationStats:
    """How many durations a group has, and their median and mean in days."""

    count: int
    median: float | None
    mean: float | None
    position: float | None = None  # mean of the optional `position` column (to order CRM stages)


def duration_stats(
    conn: Connection, durations: Select, groups: tuple[str, ...]
) -> dict[tuple, DurationStats]:
    """Median, mean and count of the `days` column of `durations` per combination of its `groups` columns.

    `durations` may also carry a `position` column, whose mean is returned alongside.
    """
    rows = durations.subquery("durations")
    keys = [rows.c[name] for name in groups]
    ranked = select(
        *keys,
        rows.c.days,
        *([rows.c.position] if "position" in rows.c else []),
        func.row_number().over(partition_by=keys, order_by=rows.c.days).label("rank"),
        func.count().over(partition_by=keys).label("n"),
    ).subquery("ranked")
    # The middle row (odd n) or the two middle rows (even n): 2·rank within [n, n + 2].
    middle = and_(2 * ranked.c["rank"] >= ranked.c.n, 2 * ranked.c["rank"] <= ranked.c.n + 2)
    position = func.avg(ranked.c.position) if "position" in ranked.c else None
    ranked_keys = [ranked.c[name] for name in groups]
    stmt = select(
        *ranked_keys,
        func.count(),
        func.avg(case((middle, ranked.c.days))),
        func.avg(ranked.c.days),
        *([position] if position is not None else []),
    ).group_by(*ranked_keys)
    result: dict[tuple, DurationStats] = {}
    for row in conn.execute(stmt).tuples():
        key, (count, median, mean, *rest) = tuple(row[: len(groups)]), row[len(groups) :]
        result[key] = DurationStats(
            count=count,
            median=_float(median),
            mean=_float(mean),
            position=_float(rest[0]) if rest else None,
        )
    return result


def fetched_stats(conn: Connection, durations: Select, groups: tuple[str, ...]) -> dict[tuple, DurationStats]:
    """What `duration_stats` answers, from every duration fetched and sorted here: for durations already kept (a
    column, not a computation), reading them beats ranking them in the database, where SQLite's window functions
    sort each group far slower than Python does."""
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
    """The same count, median and mean as `duration_stats`, of durations already fetched (one group's)."""
    if not days:
        return DurationStats(0, None, None)
    ordered = sorted(days)
    n = len(ordered)
    return DurationStats(n, (ordered[(n - 1) // 2] + ordered[n // 2]) / 2, sum(ordered) / n)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
