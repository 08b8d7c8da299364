"""What changed last week, in numbers: the team's key metrics for the last complete week against the week before
and the same week four weeks earlier, each movement worth a sentence with the reps, sources and segments that
moved it most.

The key metrics, what counts as a movement and which rows are named as its movers: alerts/digests/weekly_metrics.py.
Each key metric is asked through the metrics core like every digest's number, one grouped query per metric,
breakdown and week; the week and the week before are asked separately and matched by key, so a rep who had
nothing in one of the two weeks still counts in the other week's total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from alerts.digests.weekly_metrics import (
    KEY_METRICS,
    KeyMetric,
    Mover,
    is_movement,
    movers,
    paired_headline,
    paired_rows,
    sample_keys,
    totals,
)
from metrics.catalogue import MetricQuery, query
from metrics.periods import Period, local_midnight, week_period
from metrics.result import BreakdownRow, MetricResult, Unit
from metrics.scope import SYSTEM_VIEWER, Scope, resolve_scope
from storage.config.settings import Settings

__all__ = [
    "KeyMetric",
    "KEY_METRICS",
    "Mover",
    "Movement",
    "WeeklyChanges",
    "WeeklyNumbers",
    "last_complete_week",
    "is_movement",
]


@dataclass(frozen=True)
class Movement:
    """A key metric that moved enough to be mentioned."""

    metric: KeyMetric
    unit: Unit
    value: float
    previous: float
    four_weeks_ago: float | None
    sample: int
    movers: tuple[Mover, ...]

    @property
    def change(self) -> float:
        return self.value - self.previous

    @property
    def relative(self) -> float | None:
        """The change as a share of the week before (None from 0)."""
        return self.change / abs(self.previous) if self.previous else None


@dataclass(frozen=True)
class WeeklyChanges:
    """The movements of one scope (a team, or the organisation) in `week`."""

    scope: Scope
    scope_label: str
    week: Period
    before: Period
    four_weeks_ago: Period
    movements: tuple[Movement, ...]


def last_complete_week(day: date, tz: ZoneInfo) -> Period:
    """The last Monday-to-Sunday week that is over on `day`: on a Monday the week that just ended."""
    return week_period(day - timedelta(days=day.weekday() + 1), tz)


@dataclass
class WeeklyNumbers:
    """The weekly changes of the digests of one local day `day` in zone `tz`.

    Each key metric is asked once for the whole organisation by rep for the week and once for the week before:
    every team's totals and its reps are slices of those answers. Only a team's movements ask more — its sources
    and segments in both weeks, and the week four weeks earlier (that one by rep for the whole organisation
    again, once)."""

    conn: Connection
    settings: Settings
    tz: ZoneInfo
    day: date
    _answers: dict[tuple, MetricResult] = field(default_factory=dict)
    _scopes: dict[tuple[str, str | None], WeeklyChanges] = field(default_factory=dict)

    @property
    def week(self) -> Period:
        return last_complete_week(self.day, self.tz)

    @property
    def four_weeks_ago(self) -> Period:
        return week_period(self.week.start_date - timedelta(days=28), self.tz)

    def _ask(self, spec: KeyMetric, period: Period, scope: Scope, by: str) -> MetricResult:
        # Revenue and deals won share their answers, as do acceptance and new opportunities (one funnel).
        key = (spec.metric, spec.mode, period.start, scope.kind, scope.ref, by)
        if key not in self._answers:
            self._answers[key] = query(
                self.conn,
                self.settings,
                MetricQuery(
                    metric=spec.metric,
                    viewer_id=SYSTEM_VIEWER.user_id,
                    now=local_midnight(self.day, self.tz),
                    period=period,
                    scope=scope,
                    by=by,
                    mode=spec.mode,
                ),
                viewer=SYSTEM_VIEWER,
            )
        return self._answers[key]

    def _rows(
        self, spec: KeyMetric, scope: Scope, by: str, owners: tuple[str, ...] | None
    ) -> list[BreakdownRow]:
        """The breakdown's rows of the week paired with the week before's (weekly_metrics.paired_rows)."""
        now = self._ask(spec, self.week, scope, by)
        return paired_rows(now, self._ask(spec, self.week.previous(), scope, by), owners)

    def _available(self, spec: KeyMetric) -> bool:
        stages = self.settings.funnel.stages
        needs = {"acceptance_rate": ("mql", "sql"), "pipeline_created": ("opportunity",)}.get(spec.key, ())
        return all(stage in stages for stage in needs)

    def changes(self, scope: Scope) -> WeeklyChanges:
        """The movements of `scope` (the org, or one team) last week, worked out once per scope and day."""
        key = (scope.kind, scope.ref)
        if key not in self._scopes:
            self._scopes[key] = self._compute(scope)
        return self._scopes[key]

    def _movement(self, spec: KeyMetric, scope: Scope, owners: tuple[str, ...] | None) -> Movement | None:
        config = self.settings.digests.weekly_changes
        sample = sample_keys(spec, self.settings)
        org = Scope("org")
        week = self._ask(spec, self.week, org, "rep")
        unit = next((m.unit for m in week.measures if m.key == spec.measure), None)
        by_rep = self._rows(spec, org, "rep", owners)
        headline = paired_headline(week, self._ask(spec, self.week.previous(), org, "rep"))
        found = totals(spec, headline, by_rep if owners is not None else None, sample)
        value, previous = found.value, found.previous
        if unit is None or value is None or previous is None:
            return None
        if not is_movement(unit, value, previous, found.samples, config):
            return None
        earlier_answer = self._ask(spec, self.four_weeks_ago, org, "rep")
        earlier_rows = None if owners is None else [r for r in earlier_answer.rows if r.key in set(owners)]
        earlier = totals(spec, earlier_answer.measures, earlier_rows, sample)
        rising = value > previous
        named: list[Mover] = []
        for by in spec.breakdowns:
            rows = by_rep if by == "rep" else self._rows(spec, scope, by, None)
            named += movers(spec, by, rows, unit, rising, config, sample)
        return Movement(spec, unit, value, previous, earlier.value, found.samples[0], tuple(named))

    def _compute(self, scope: Scope) -> WeeklyChanges:
        resolved = resolve_scope(self.conn, SYSTEM_VIEWER, scope, self.settings)
        found = [
            self._movement(spec, scope, resolved.owner_ids) for spec in KEY_METRICS if self._available(spec)
        ]
        return WeeklyChanges(
            scope,
            resolved.label,
            self.week,
            self.week.previous(),
            self.four_weeks_ago,
            tuple(movement for movement in found if movement is not None),
        )
