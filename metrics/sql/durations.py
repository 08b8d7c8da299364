"""Durations in fractional days, and their median and mean per group, computed in the database.

SQLite has no percentile function, so the median is taken with window functions (row_number and count over each
group), which read the same on SQLite and PostgreSQL and return one row per group, not every duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Select, and_, case, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["days_between", "DurationStats", "duration_stats", "stats_of"]


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


def stats_of(days: Sequence[float]) -> DurationStats:
    """The same count, median and mean as `duration_stats`, of durations already fetched (one group's)."""
    if not days:
        return DurationStats(0, None, None)
    ordered = sorted(days)
    n = len(ordered)
    return DurationStats(n, (ordered[(n - 1) // 2] + ordered[n // 2]) / 2, sum(ordered) / n)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
