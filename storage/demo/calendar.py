"""The demo's clock: time as fractional days since the first day of the data, working days, months, local hours.

The generator works on numpy arrays of float64 "days since `start`" (UTC), which makes a million timestamps cheap to
shift, compare and bucket; they become SQL text only when written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

__all__ = ["DemoCalendar", "make_calendar", "month_label"]

_MINUTE = 1.0 / 1440.0
_HORIZON_DAYS = 120  # planned activities, plans and deal closes may look this far past `today`


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


@dataclass(frozen=True)
class DemoCalendar:
    """Days of the demo: [start, today) holds the history; `now` (today 00:00 UTC) is the cut-off for events."""

    start: date
    today: date
    zones: tuple[str, ...]
    is_workday: np.ndarray  # bool per day index, over history and horizon
    next_workday: np.ndarray  # day index -> the same or the next working day's index
    utc_offset_hours: np.ndarray  # [zone, day] -> hours east of UTC on that day
    month_starts: np.ndarray  # day index where each month begins (history months, then plan months)
    months: tuple[tuple[int, int], ...]  # (year, month) per entry of month_starts

    @property
    def now(self) -> float:
        """The cut-off in days: nothing in the data happens at or after today 00:00 UTC."""
        return float((self.today - self.start).days)

    @property
    def now_datetime(self) -> datetime:
        return datetime(self.today.year, self.today.month, self.today.day)

    @property
    def history_days(self) -> int:
        return (self.today - self.start).days

    @property
    def current_month(self) -> int:
        """Index (in `months`) of the month that holds `today`."""
        return self.months.index((self.today.year, self.today.month))

    def day_date(self, day: int) -> date:
        return self.start + timedelta(days=int(day))

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Index of the month each time falls in."""
        return np.searchsorted(self.month_starts, np.floor(days), side="right") - 1

    def recent_workdays(self, count: int) -> np.ndarray:
        """Day indexes of the last `count` working days before today, the most recent last."""
        history = np.flatnonzero(self.is_workday[: self.history_days])
        return history[-count:]

    def at_local_hour(self, days: np.ndarray, zone_idx: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """The UTC time of `hours` o'clock local time (in each zone) on each day (integers)."""
        days = days.astype(np.int64)
        offsets = self.utc_offset_hours[zone_idx, np.clip(days, 0, self.utc_offset_hours.shape[1] - 1)]
        return np.round((days + (hours - offsets) / 24.0) / _MINUTE) * _MINUTE

    def work_time(
        self,
        rng: np.random.Generator,
        days: np.ndarray,
        zone_idx: np.ndarray,
        not_before: np.ndarray | None = None,
    ) -> np.ndarray:
        """A time during local office hours (9-17) on the working day on or after each (fractional) day.

        With `not_before`, a time that would fall before it (or within ten minutes after) moves to the next
        working day, so follow-ups never precede what they follow.
        """
        hours = rng.uniform(9.0, 17.0, size=len(days))
        times = self.at_local_hour(self._workday(np.floor(days)), zone_idx, hours)
        if not_before is not None:
            early = times < not_before + 10 * _MINUTE
            later = self._workday(np.floor(not_before[early]) + 1)
            times[early] = self.at_local_hour(later, zone_idx[early], hours[early])
        return times

    def _workday(self, days: np.ndarray) -> np.ndarray:
        return self.next_workday[np.clip(days.astype(np.int64), 0, len(self.next_workday) - 1)]


def make_calendar(today: date, zones: tuple[str, ...]) -> DemoCalendar:
    """A year of history back from `today` (from the first day of the month a year ago) plus the horizon."""
    start = date(today.year - 1, today.month, 1)
    total = (today - start).days + _HORIZON_DAYS
    weekday = (start.weekday() + np.arange(total)) % 7
    is_workday = weekday < 5
    next_workday = np.arange(total)
    for day in range(total - 1, -1, -1):
        if not is_workday[day]:
            next_workday[day] = next_workday[day + 1] if day + 1 < total else day
    offsets = np.zeros((len(zones), total))
    for z, name in enumerate(zones):
        zone = ZoneInfo(name)
        # DST changes at most once a week or so: sample each day at noon, which is exact for office hours.
        for day in range(total):
            moment = datetime.combine(start + timedelta(days=day), datetime.min.time()) + timedelta(hours=12)
            delta = moment.replace(tzinfo=zone).utcoffset()
            offsets[z, day] = delta.total_seconds() / 3600.0 if delta is not None else 0.0
    months: list[tuple[int, int]] = []
    month_starts: list[int] = []
    year, month = start.year, start.month
    while True:
        first = date(year, month, 1)
        if (first - start).days >= total:
            break
        months.append((year, month))
        month_starts.append((first - start).days)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return DemoCalendar(
        start=start,
        today=today,
        zones=zones,
        is_workday=is_workday,
        next_workday=next_workday,
        utc_offset_hours=offsets,
        month_starts=np.array(month_starts, dtype=np.int64),
        months=tuple(months),
    )
