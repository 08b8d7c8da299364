"""The numbers digests show, computed for many recipients at once.

For one local day in one time zone, `DigestNumbers` asks the metrics core a few grouped questions for the whole
organisation — activity yesterday by rep, the funnel month to date by rep and the same for the start of the previous
month, the plan month to date by rep — and every recipient's digest is a slice of those rows, cut to what that
recipient may see. The numbers are "as of" the local midnight that starts the digest's day, so a digest shows
complete days only and two instances computing it get the same text.

The funnel compares like with like: the month so far against the previous month up to as many working days
(on Wednesday Dec 2 — one working day over, Dec 1 — against Nov 1–2, whose one working day is Monday Nov 2), and the
line says which days it compared. On the 1st, the month just ended is compared with the whole month before; before
a month's first working day is over there is nothing like to compare with, and the funnel shows no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from alerts.digests.weekly_changes import WeeklyNumbers
from metrics.catalogue import MetricQuery, query
from metrics.periods import (
    Period,
    day_period,
    elapsed_working_share,
    is_working_day,
    local_midnight,
    month_period,
    range_period,
    working_days,
)
from metrics.result import MetricResult
from metrics.scope import SYSTEM_VIEWER, Scope
from storage.config.settings import Settings
from storage.freshness import Freshness

__all__ = ["DigestNumbers", "FiringAlert"]


@dataclass(frozen=True)
class FiringAlert:
    rule_id: str
    title: str
    scope_key: str
    scope_label: str
    builtin: bool = False  # a built-in rule's own name: shown in the reader's language


@dataclass
class DigestNumbers:
    """The organisation's numbers for the digests of one local day `day` in zone `tz` (queried on first use)."""

    conn: Connection
    settings: Settings
    tz: ZoneInfo
    day: date
    freshness: Freshness | None = None  # None: no sync or import on record (storage/freshness.py)
    now: datetime | None = None  # when the digest is composed: what "stale" is measured against

    @property
    def as_of(self):
        return local_midnight(self.day, self.tz)

    @property
    def month(self):
        # The month holding yesterday: on the 1st the digest reports the month that just ended.
        return month_period(self.day - timedelta(days=1), self.tz)

    def _ask(self, metric: str, period, *, compare=None, options=()) -> MetricResult:
        return query(
            self.conn,
            self.settings,
            MetricQuery(
                metric=metric,
                viewer_id=SYSTEM_VIEWER.user_id,
                now=self.as_of,
                period=period,
                scope=Scope("org"),
                by="rep",
                compare=compare,
                options=options,
            ),
            viewer=SYSTEM_VIEWER,
        )

    @cached_property
    def activity_day(self) -> date:
        """The working day the activity summary covers: yesterday, or on a Monday (or after a holiday) the last
        working day before — a rep reads "what did I do on my last day", not "what did I do on Sunday"."""
        day = self.day - timedelta(days=1)
        for _ in range(14):
            if is_working_day(day, self.settings.org.holidays):
                return day
            day -= timedelta(days=1)
        return self.day - timedelta(days=1)

    @cached_property
    def activity(self) -> MetricResult:
        return self._ask("activity", day_period(self.activity_day, self.tz))

    @cached_property
    def funnel_period(self) -> Period:
        """The funnel's days: the month up to the digest's day (the whole month on the 1st)."""
        month = self.month
        if month.contains(self.as_of) and self.day > month.start_date:
            return range_period(month.start_date, self.day, self.tz)
        return month

    @cached_property
    def working_days_so_far(self) -> int:
        return working_days(
            self.funnel_period.start_date, self.funnel_period.end_date, self.settings.org.holidays
        )

    @cached_property
    def funnel_comparison(self) -> Period | None:
        """The previous month's part that is like the funnel's days: the whole month before a whole month, else
        its first days up to as many working days as are over (see the module docstring); None before any is."""
        previous = self.month.previous()
        if self.funnel_period == self.month:
            return previous
        wanted = self.working_days_so_far
        if wanted == 0:
            return None
        holidays = self.settings.org.holidays
        day, seen = previous.start_date, 0
        while day < previous.end_date and seen < wanted:
            seen += is_working_day(day, holidays)
            day += timedelta(days=1)
        return range_period(previous.start_date, day, self.tz)

    @cached_property
    def funnel(self) -> MetricResult:
        return self._ask("funnel", self.funnel_period)

    @cached_property
    def funnel_before(self) -> MetricResult | None:
        """The funnel over `funnel_comparison`, whose numbers the digest's deltas compare with."""
        return self._ask("funnel", self.funnel_comparison) if self.funnel_comparison is not None else None

    @cached_property
    def plan(self) -> MetricResult:
        # Digests show the plan lines only: no dynamics, no "what it takes" (the costly trailing-90-day part).
        options = (("detail", "summary"), ("plan_metric", self.settings.digests.plan_metric))
        return self._ask("plan", self.month, options=options)

    @cached_property
    def weekly(self) -> WeeklyNumbers:
        """The last complete week's changes (alerts/digests/weekly_changes.py), asked once per scope."""
        return WeeklyNumbers(self.conn, self.settings, self.tz, self.day)

    @cached_property
    def elapsed_share(self) -> float:
        return elapsed_working_share(self.month, self.as_of, self.settings.org.holidays)
