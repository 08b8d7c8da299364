"""Durations in fractional days, and their count, median and mean per group.

The median of an even count is the mean of the two middle ones, the same whichever way it is taken:
- in the database (`duration_stats`) with PostgreSQL's percentile_disc, one row per group — the way for
  PostgreSQL, whose client takes far longer to hand over a hundred thousand durations than the server to rank
  them (percentile_cont would interpolate, a + (b - a) / 2, which can differ from (a + b) / 2 in the last bit);
- here (`fetched_stats`), from every duration fetched — the way for SQLite, which has no percentile function and
  runs window functions far slower than Python sorts, while its rows cost little to fetch.
`group_stats` picks the way for the connection's database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Select, func, select

from storage.times import days_between

__all__ = ["days_between", "DurationStats", "group_stats", "duration_stats", "fetched_stats", "stats_of"]


@dataclass(frozen=True)
class DurationStats:
    """How many durations a group has, and their median and mean in days."""

    count: int
    median: float | None
    mean: float | None
    position: float | None = None  # mean of the optional `position` column (to order CRM stages)


def group_stats(conn: Connection, durations: Select, groups: tuple[str, ...]) -> dict[tuple, DurationStats]:
    """Count, median and mean of the `days` column of `durations` per combination of its `groups` columns (the
    columns before it), taken the faster way for the database; a `position` column after it has its mean returned
    alongside."""
    if conn.dialect.name == "postgresql":
        return duration_stats(conn, durations, groups)
    return fetched_stats(conn, durations, groups)


def duration_stats(
    conn: Connection, durations: Select, groups: tuple[str, ...]
) -> dict[tuple, DurationStats]:
    """What `group_stats` answers, ranked in the database (PostgreSQL's ordered-set aggregates)."""
    rows = durations.subquery("durations")
    keys = [rows.c[name] for name in groups]
    # The lower middle (position ceil(n / 2)) in rising order and again in falling order: the upper middle when
    # n is even, the one middle twice when it is odd.
    lower = func.percentile_disc(0.5).within_group(rows.c.days)
    upper = func.percentile_disc(0.5).within_group(rows.c.days.desc())
    has_position = "position" in rows.c
    stmt = select(
        *keys,
        func.count(),
        (lower + upper) / 2,
        func.avg(rows.c.days),
        *([func.avg(rows.c.position)] if has_position else []),
    ).group_by(*keys)
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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
