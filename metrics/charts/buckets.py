"""Periods on a chart in words: what people call a period ("December 2026", "Q4 2026"), a day ("2 Dec"), and the
bucket codes of a series (2026-10, 2026-W44, 2026-Q4) as periods, names and whether one is still in progress."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_interval

from metrics.calendar import day_period, month_period, quarter_period, week_period, year_period
from metrics.charts.context import ChartContext

if TYPE_CHECKING:
    from metrics.calendar import Period

__all__ = [
    "period_name",
    "day_name",
    "bucket_period",
    "bucket_name",
    "bucket_is_partial",
    "bucket_is_ahead",
]


def period_name(period: Period, ctx: ChartContext) -> str:
    """What people call the period, as the replies do: "December 2026", "Q4 2026", "2026", "Dec 2, 2026", days."""
    first = period.start_date
    if period.grain == "day":
        return format_date(first, "medium", locale=ctx.locale)
    if period.grain == "month":
        return format_date(first, "LLLL yyyy", locale=ctx.locale)
    if period.grain == "quarter":
        return ctx.words("period.quarter", "Q{quarter} {year}").format(
            quarter=(first.month - 1) // 3 + 1, year=first.year
        )
    if period.grain == "year":
        return str(first.year)
    if period.grain == "week":
        return ctx.words("period.week", "week of {start}").format(
            start=format_date(first, "medium", locale=ctx.locale)
        )
    if first == period.last_date:
        return format_date(first, "medium", locale=ctx.locale)
    return format_interval(first, period.last_date, "yMMMd", locale=ctx.locale)


def day_name(day: date, ctx: ChartContext) -> str:
    """A day the short way: "2 Dec" / "2 дек."."""
    return format_date(day, "d MMM", locale=ctx.locale)


_BUCKET = re.compile(r"^(\d{4})(?:-(?:(\d{2})(?:-(\d{2}))?|W(\d{2})|Q([1-4])))?$")


def bucket_period(key: str, tz: ZoneInfo) -> Period | None:
    """The local period a bucket code names: 2026-10-05 (a day), 2026-W44, 2026-10, 2026-Q4, 2026; None else."""
    found = _BUCKET.match(key.strip())
    if found is None:
        return None
    year, month, day, week, quarter = found.groups()
    try:
        if day:
            return day_period(date(int(year), int(month), int(day)), tz)
        if month:
            return month_period(date(int(year), int(month), 1), tz)
        if week:
            return week_period(date.fromisocalendar(int(year), int(week), 1), tz)
        if quarter:
            return quarter_period(date(int(year), 3 * int(quarter) - 2, 1), tz)
        return year_period(int(year), tz)
    except ValueError:
        return None


def bucket_name(key: str, ctx: ChartContext, tz: ZoneInfo, within: Period | None = None) -> str:
    """A bucket code in words: 2026-10 → "Oct 2026", 2026-W44 → "26 Oct", 2026-Q4 → "Q4 2026"; else as it is.
    A week is named by its first day `within` the result's period (Dec 1, not Mon Nov 30, for December's first)."""
    period = bucket_period(key, tz)
    if period is None:
        return key
    if period.grain == "month":
        return format_date(period.start_date, "LLL yyyy", locale=ctx.locale)
    if period.grain in ("week", "day"):
        first = max(period.start_date, within.start_date) if within is not None else period.start_date
        return day_name(first, ctx)
    return period_name(period, ctx)


def bucket_is_ahead(key: str, ctx: ChartContext, tz: ZoneInfo) -> bool:
    """Whether the bucket `key` starts after the day in progress: nothing has happened in it yet."""
    period = bucket_period(key, tz)
    return period is not None and ctx.today is not None and period.start_date > ctx.today


def bucket_is_partial(key: str, ctx: ChartContext, tz: ZoneInfo) -> bool:
    """Whether the bucket `key` is still in progress at the time of asking."""
    period = bucket_period(key, tz)
    return period is not None and ctx.is_partial(period)
