"""The Period value and the calendar arithmetic around it: local-day boundaries, comparisons, chart buckets and
working days.

Every period is a run of whole local days in the asker's time zone, stored as the half-open interval
`[start, end)` of tz-aware datetimes at local midnight. The store keeps naive UTC, so SQL uses `start_utc` /
`end_utc`; a day that is 23 or 25 hours long because of a DST change is still one day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from metrics.result import Coverage
from storage.times import naive_utc

__all__ = [
    "Grain",
    "BucketGrain",
    "Period",
    "local_midnight",
    "day_period",
    "week_period",
    "month_period",
    "quarter_period",
    "year_period",
    "range_period",
    "iter_buckets",
    "plan_periods_covering",
    "is_working_day",
    "working_days",
    "elapsed_working_share",
    "remaining_working_days",
    "period_coverage",
]

Grain = Literal["day", "week", "month", "quarter", "year", "days", "custom"]
BucketGrain = Literal["day", "week", "month", "quarter", "year"]

_ONE_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`.

    Where a DST jump skips midnight itself, zoneinfo reads the missing 00:00 with the offset in force before the
    jump, which is exactly the day's first real instant.
    """
    return datetime.combine(day, time(), tzinfo=tz)


def _quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


@dataclass(frozen=True)
class Period:
    """A run of whole local days `[start, end)` in the asker's zone, with its grain and a canonical label."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    grain: Grain
    label: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a period's boundaries must be tz-aware")
        if self.start.astimezone(UTC) >= self.end.astimezone(UTC):
            raise ValueError(f"a period must end after it starts: {self.start} .. {self.end}")

    @property
    def start_date(self) -> date:
        """The first local day of the period."""
        return self.start.astimezone(self.tz).date()

    @property
    def end_date(self) -> date:
        """The local day just after the period (exclusive end)."""
        return self.end.astimezone(self.tz).date()

    @property
    def last_date(self) -> date:
        """The last local day of the period (inclusive): the day of its last instant, so a to-date comparison that
        ends at noon ends on that day, not the one before."""
        return (self.end - _ONE_MICROSECOND).astimezone(self.tz).date()

    @property
    def start_utc(self) -> datetime:
        """The start as naive UTC, the way the store keeps timestamps."""
        return naive_utc(self.start)

    @property
    def end_utc(self) -> datetime:
        """The exclusive end as naive UTC, the way the store keeps timestamps."""
        return naive_utc(self.end)

    @property
    def days(self) -> int:
        """Length in calendar days (a DST day counts as one day, whatever its hours)."""
        return (self.end_date - self.start_date).days

    @property
    def key(self) -> str:
        """A stable code for idempotency keys and plan lookups: 2026-11-21, 2026-W47, 2026-11, 2026-Q4, 2026,
        or 2026-10-01..2026-10-15 for a run of days."""
        first = self.start_date
        if self.grain == "day":
            return first.isoformat()
        if self.grain == "week":
            iso = first.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        if self.grain == "month":
            return f"{first.year}-{first.month:02d}"
        if self.grain == "quarter":
            return f"{first.year}-Q{_quarter_of(first)}"
        if self.grain == "year":
            return str(first.year)
        return f"{first.isoformat()}..{self.last_date.isoformat()}"

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the period; a naive `moment` is read as UTC, like the store's columns."""
        if moment.tzinfo is None:
            return self.start_utc <= moment < self.end_utc
        # Compare in UTC: aware datetimes sharing one tzinfo are compared by wall clock, which is wrong
        # inside the repeated hour of an autumn DST change.
        utc = moment.astimezone(UTC)
        return self.start.astimezone(UTC) <= utc < self.end.astimezone(UTC)

    def previous(self) -> Period:
        """The period of equal length just before: the previous calendar day, week, month, quarter or year; for a
        run of days (`last 30 days`, a custom range, `ytd`) the same number of days just before it."""
        first = self.start_date
        if self.grain == "day":
            return day_period(first - _ONE_DAY, self.tz)
        if self.grain == "week":
            return week_period(first - timedelta(days=7), self.tz)
        if self.grain == "month":
            return month_period(first - relativedelta(months=1), self.tz)
        if self.grain == "quarter":
            return quarter_period(first - relativedelta(months=3), self.tz)
        if self.grain == "year":
            return year_period(first.year - 1, self.tz)
        return range_period(first - timedelta(days=self.days), first, self.tz, grain=self.grain)

    def year_ago(self) -> Period:
        """The same period a year earlier, by the calendar: Feb 29 becomes Feb 28, a month stays a whole month,
        and ISO week 53 (when last year had none) becomes week 52."""
        first = self.start_date
        if self.grain == "day":
            return day_period(first - relativedelta(years=1), self.tz)
        if self.grain == "week":
            iso = first.isocalendar()
            week = iso.week
            if week == 53 and date(iso.year - 1, 12, 28).isocalendar().week == 52:
                week = 52
            return week_period(date.fromisocalendar(iso.year - 1, week, 1), self.tz)
        if self.grain == "month":
            return month_period(first - relativedelta(years=1), self.tz)
        if self.grain == "quarter":
            return quarter_period(first - relativedelta(years=1), self.tz)
        if self.grain == "year":
            return year_period(first.year - 1, self.tz)
        return range_period(
            first - relativedelta(years=1), self.end_date - relativedelta(years=1), self.tz, grain=self.grain
        )


def _make(first: date, end: date, tz: ZoneInfo, grain: Grain, label: str | None) -> Period:
    period = Period(local_midnight(first, tz), local_midnight(end, tz), tz, grain, "")
    return Period(period.start, period.end, tz, grain, label if label is not None else period.key)


def day_period(day: date, tz: ZoneInfo, *, label: str | None = None) -> Period:
    """The local day `day`."""
    return _make(day, day + _ONE_DAY, tz, "day", label)


def week_period(day: date, tz: ZoneInfo, *, label: str | None = None) -> Period:
    """The Monday-to-Sunday week containing `day`."""
    monday = day - timedelta(days=day.weekday())
    return _make(monday, monday + timedelta(days=7), tz, "week", label)


def month_period(day: date, tz: ZoneInfo, *, label: str | None = None) -> Period:
    """The calendar month containing `day`."""
    first = day.replace(day=1)
    return _make(first, first + relativedelta(months=1), tz, "month", label)


def quarter_period(day: date, tz: ZoneInfo, *, label: str | None = None) -> Period:
    """The calendar quarter containing `day`."""
    first = date(day.year, 3 * (_quarter_of(day) - 1) + 1, 1)
    return _make(first, first + relativedelta(months=3), tz, "quarter", label)


def year_period(year: int, tz: ZoneInfo, *, label: str | None = None) -> Period:
    """The calendar year `year`."""
    return _make(date(year, 1, 1), date(year + 1, 1, 1), tz, "year", label)


def range_period(
    first: date, end: date, tz: ZoneInfo, *, grain: Grain = "custom", label: str | None = None
) -> Period:
    """The local days `[first, end)`; the label defaults to the inclusive ISO range."""
    return _make(first, end, tz, grain, label)


def _year_containing(day: date, tz: ZoneInfo) -> Period:
    return year_period(day.year, tz)


_BUCKET_MAKERS: dict[str, Callable[[date, ZoneInfo], Period]] = {
    "day": day_period,
    "week": week_period,
    "month": month_period,
    "quarter": quarter_period,
    "year": _year_containing,
}


def iter_buckets(period: Period, grain: BucketGrain) -> Iterator[Period]:
    """The day/week/month/… buckets of `period` for charts and `by month` breakdowns, in order.

    The first and last bucket are clipped to the period so the buckets add up to the period's total; each bucket
    keeps the label of its whole calendar unit (a week clipped to Nov 1 is still labelled 2026-W44).
    """
    make = _BUCKET_MAKERS[grain]
    cursor = period.start_date
    while cursor < period.end_date:
        whole = make(cursor, period.tz)
        end = min(whole.end_date, period.end_date)
        yield _make(cursor, end, period.tz, grain, whole.label)
        cursor = end


def plan_periods_covering(period: Period) -> tuple[str, ...]:
    """Plan period codes (month, quarter, year; finest first) whose whole span contains `period`.

    `/plan last week` in mid-November looks for a 2026-11 plan, then 2026-Q4, then 2026.
    """
    codes = []
    for make in (month_period, quarter_period):
        whole = make(period.start_date, period.tz)
        if period.end_date <= whole.end_date:
            codes.append(whole.key)
    if period.end_date <= date(period.start_date.year + 1, 1, 1):
        codes.append(str(period.start_date.year))
    return tuple(codes)


def is_working_day(day: date, holidays: Iterable[date] = ()) -> bool:
    """Monday to Friday, and not one of the organisation's holidays."""
    return day.weekday() < 5 and day not in set(holidays)


def working_days(start: date, end: date, holidays: Iterable[date] = ()) -> int:
    """Working days (Monday–Friday minus holidays) on the half-open range `[start, end)`."""
    total = (end - start).days
    if total <= 0:
        return 0
    full_weeks, rest = divmod(total, 7)
    count = 5 * full_weeks
    tail = start + timedelta(days=7 * full_weeks)
    count += sum(1 for offset in range(rest) if (tail + timedelta(days=offset)).weekday() < 5)
    # A holiday on a weekend never was a working day, so only weekday holidays take one away.
    count -= sum(1 for day in set(holidays) if start <= day < end and day.weekday() < 5)
    return count


def _local_today(period: Period, now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be tz-aware")
    return now.astimezone(period.tz).date()


def elapsed_working_share(period: Period, now: datetime, holidays: Iterable[date] = ()) -> float:
    """Share (0..1) of the period's working days already over at `now`, for pace and run-rate forecasts.

    A day counts as elapsed once it has ended in the period's zone: on Wednesday of a Monday-start week, Monday
    and Tuesday are elapsed (2 of 5 = 0.4) and Wednesday is not, so a morning's pace is never judged against a
    day that has barely begun. On the first working day the share is 0 (no pace yet). A period with no working
    days at all counts as 0 until it has ended and 1 afterwards.
    """
    today = _local_today(period, now)
    total = working_days(period.start_date, period.end_date, holidays)
    if total == 0:
        return 1.0 if today >= period.end_date else 0.0
    cutoff = min(max(today, period.start_date), period.end_date)
    return working_days(period.start_date, cutoff, holidays) / total


def remaining_working_days(period: Period, now: datetime, holidays: Iterable[date] = ()) -> int:
    """Working days left in the period at `now`, today included (work can still be done today)."""
    today = _local_today(period, now)
    return working_days(max(today, period.start_date), period.end_date, holidays)


def period_coverage(period: Period, now: datetime, holidays: Iterable[date] = ()) -> Coverage:
    """Which days of `period` the numbers cover at `now` (metrics.result.Coverage): the working days over are
    counted as by `elapsed_working_share`, so "1 of 22 working days" and the plan's pace agree."""
    today = _local_today(period, now)
    holidays = tuple(holidays)
    total = working_days(period.start_date, period.end_date, holidays)
    cutoff = min(max(today, period.start_date), period.end_date)
    start_utc, end_utc = period.start.astimezone(UTC), period.end.astimezone(UTC)
    moment = min(max(now.astimezone(UTC), start_utc), end_utc)
    future = now.astimezone(UTC) < start_utc
    partial = not future and now.astimezone(UTC) < end_utc
    return Coverage(
        start=period.start_date,
        end=period.end_date,
        last_day=today if partial else period.last_date,
        working_days_elapsed=working_days(period.start_date, cutoff, holidays),
        working_days_total=total,
        elapsed_share=(moment - start_utc) / (end_utc - start_utc),
        partial=partial,
        future=future,
    )
