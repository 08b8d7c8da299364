"""Working hours: whether a moment is inside a person's working window, and when the next window opens.

A window is `delivery.working_hours` (default 08:00–20:00) in the person's own zone, on a working day — Monday to
Friday and not one of `org.holidays`, the calendar the digests and plan pace use (`metrics.calendar`). Outside it,
an alert to that person is held in the outbox until the window's start (alerts/delivery/held.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from metrics.calendar import is_working_day
from storage.config.settings import WorkingHours

__all__ = ["release_time"]

# Longer than any run of holidays a calendar could hold: a year without a working day is a configuration error.
_MAX_DAYS_AHEAD = 370


def _local(day: date, hours: WorkingHours, tz: ZoneInfo) -> datetime:
    # Through UTC and back, so a start that does not exist on a spring-forward day comes out an hour later.
    return datetime.combine(day, hours.start_time, tzinfo=tz).astimezone(UTC).astimezone(tz)


def release_time(
    now: datetime, tz: ZoneInfo, hours: WorkingHours, holidays: Iterable[date] = ()
) -> datetime | None:
    """None when `now` is inside a working window in `tz` (or working hours are off); else the start of the next
    window, tz-aware in `tz`."""
    if not hours.enabled:
        return None
    holidays = frozenset(holidays)
    local = now.astimezone(tz)
    today = local.date()
    clock = local.time().replace(tzinfo=None)
    if is_working_day(today, holidays) and hours.start_time <= clock < hours.end_time:
        return None
    day = today if clock < hours.start_time else today + timedelta(days=1)
    for _ in range(_MAX_DAYS_AHEAD):
        if is_working_day(day, holidays):
            return _local(day, hours, tz)
        day += timedelta(days=1)
    raise ValueError("no working day within a year: check org.holidays")
