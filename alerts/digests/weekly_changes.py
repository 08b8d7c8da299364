"""What changed last week, in numbers: the team's key metrics for the last complete week against the week before
and the same week four weeks earlier, each movement worth a sentence with the reps, sources and segments that
moved it most.

The key metrics come through the metrics core like every digest's numbers (one grouped query per metric and
breakdown, `compare=prev` giving the week before in the same answer):

    revenue            revenue of deals won (metric revenue)          sample: deals won
    deals_won          deals won (metric revenue)                     sample: deals won
    win_rate           won / (won + lost) (metric win_rate)           sample: deals closed (won + lost)
    acceptance_rate    SQL / MQL entries (metric funnel, flow mode)   sample: MQL entries
    activities         activities done (metric activity)              sample: activities done
    pipeline_created   entries into the opportunity stage (funnel,    sample: those entries
                       flow mode): leads that became a deal

The funnel's flow mode counts the stage entries made during the week, so a week's acceptance is not held down by
leads that had no time yet to be accepted. Activities break down by rep only (an activity has no lead source).

Which movements are mentioned (digests.weekly_changes, storage/config/alerts.py): a rate that moved by at least
`min_change_pts` points with at least `min_sample` items in each of the two weeks; a count or amount that moved by
at least `min_change_pct` percent (any change from 0) with at least `min_sample` items in one of them. A
contributor is a row of the breakdown that moved the same way as the total with at least `min_row_sample` items
(in both weeks for a rate, in one for a count); the biggest per breakdown is named — for a count or amount the
largest change, for a rate the largest change in points weighted by the row's items this week, so a rep whose
win rate fell 18 points on 11 deals outweighs one who fell 40 points on 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from alerts.rules.evaluate import Contributor
from metrics.catalogue import MetricQuery, query
from metrics.declare import Mode
from metrics.periods import Period, local_midnight, week_period
from metrics.result import BreakdownRow, Measure, MetricResult, Unit, ratio
from metrics.scope import SYSTEM_VIEWER, Scope, resolve_scope
from storage.config.alerts import WeeklyChangesConfig
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

_EVERYWHERE = ("rep", "source", "segment")


@dataclass(frozen=True)
class KeyMetric:
    """One key metric of the digest: which measure of which catalogue metric, what its sample counts, how it
    breaks down, and the chat command that shows it."""

    key: str
    metric: str
    measure: str
    sample: tuple[str, ...]
    noun: str  # what the sample counts, for "on 11 deals": deals, mqls, activities, leads
    command: str
    breakdowns: tuple[str, ...] = _EVERYWHERE
    mode: Mode | None = None
    numerator: tuple[str, ...] = ()  # a rate: the measures over `sample` that make it


KEY_METRICS: tuple[KeyMetric, ...] = (
    KeyMetric("revenue", "revenue", "revenue", ("deals_won",), "deals", "revenue"),
    KeyMetric("deals_won", "revenue", "deals_won", ("deals_won",), "deals", "revenue"),
    KeyMetric("win_rate", "win_rate", "win_rate", ("won", "lost"), "deals", "winrate", numerator=("won",)),
    KeyMetric(
        "acceptance_rate",
        "funnel",
        "acceptance_rate",
        ("mql",),
        "mqls",
        "funnel",
        mode="flow",
        numerator=("sql",),
    ),  # fmt: skip
    KeyMetric("activities", "activity", "activities", ("activities",), "activities", "activity", ("rep",)),
    KeyMetric("pipeline_created", "funnel", "opportunity", ("opportunity",), "leads", "funnel", mode="flow"),
)


@dataclass(frozen=True)
class Mover:
    """A rep, source or segment that moved a number: its change (points as a fraction for a rate) and the items
    behind its number this week."""

    by: str
    row: BreakdownRow
    change: float
    sample: int


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


def is_movement(
    unit: Unit, value: float, previous: float, samples: tuple[int, int], config: WeeklyChangesConfig
) -> bool:
    """Whether a number that went from `previous` to `value`, on (this week's, last week's) items, is worth a
    sentence (see the module docstring)."""
    if unit == "percent":
        if min(samples) < config.min_sample:
            return False
        return abs(value - previous) * 100 >= config.min_change_pts - 1e-9
    if max(samples) < config.min_sample or value == previous:
        return False
    if previous == 0:
        return True
    return abs(value - previous) / abs(previous) * 100 >= config.min_change_pct - 1e-9


def _number(measure: Measure | None, previous: bool = False) -> float | None:
    if measure is None:
        return None
    value = measure.previous if previous else measure.value
    return None if value is None else float(value)


def _find(measures: Sequence[Measure], key: str) -> Measure | None:
    return next((m for m in measures if m.key == key), None)


def _added(measures: Sequence[Measure], keys: Sequence[str], previous: bool = False) -> float:
    return sum(_number(_find(measures, key), previous) or 0.0 for key in keys)


def _sample(measures: Sequence[Measure], keys: Sequence[str], previous: bool = False) -> int:
    return int(_added(measures, keys, previous))


def _movers(
    spec: KeyMetric,
    by: str,
    rows: Sequence[BreakdownRow],
    unit: Unit,
    rising: bool,
    config: WeeklyChangesConfig,
) -> list[Mover]:
    """The rows of one breakdown that moved the number the way it went, biggest first (module docstring)."""
    found = []
    for row in rows:
        measure = _find(row.measures, spec.measure)
        moved = Contributor(row.key, row.label, _number(measure), _number(measure, previous=True))
        change = moved.change
        if change is None or change == 0 or (change > 0) != rising:
            continue
        now, before = _sample(row.measures, spec.sample), _sample(row.measures, spec.sample, previous=True)
        enough = min(now, before) if unit == "percent" else max(now, before)
        if enough < config.min_row_sample:
            continue
        found.append(Mover(by, row, change, now))
    weight = (lambda m: abs(m.change) * m.sample) if unit == "percent" else (lambda m: abs(m.change))
    found.sort(key=lambda m: (-weight(m), m.row.label))
    return found[: config.contributors]


@dataclass(frozen=True)
class _Totals:
    """A scope's number in the week and the week before, and the items behind it in each."""

    value: float | None
    previous: float | None
    samples: tuple[int, int]


def _rows_of(result: MetricResult, owners: tuple[str, ...] | None) -> list[BreakdownRow]:
    if owners is None:
        return list(result.rows)
    wanted = set(owners)
    return [row for row in result.rows if row.key in wanted]


def _sum(rows: Sequence[BreakdownRow], keys: Sequence[str], previous: bool) -> float:
    return sum(_added(row.measures, keys, previous) for row in rows)


def _totals(spec: KeyMetric, result: MetricResult, owners: tuple[str, ...] | None) -> _Totals:
    """The scope's totals from the organisation's rows by rep: the org's own headline, or a team's members' rows
    added up — counts summed, a rate as its summed numerator over its summed denominator."""
    if owners is None:
        measure = _find(result.measures, spec.measure)
        samples = (_sample(result.measures, spec.sample), _sample(result.measures, spec.sample, True))
        return _Totals(_number(measure), _number(measure, previous=True), samples)
    rows = _rows_of(result, owners)
    samples = (int(_sum(rows, spec.sample, False)), int(_sum(rows, spec.sample, True)))
    if spec.numerator:
        value = ratio(_sum(rows, spec.numerator, False), samples[0])
        previous = ratio(_sum(rows, spec.numerator, True), samples[1])
        return _Totals(value, previous, samples)
    return _Totals(_sum(rows, (spec.measure,), False), _sum(rows, (spec.measure,), True), samples)


@dataclass
class WeeklyNumbers:
    """The weekly changes of the digests of one local day `day` in zone `tz`.

    Each key metric is asked once for the whole organisation by rep (with the week before): every team's totals
    and its reps are slices of that answer. Only a team's movements ask more — its sources and segments, and the
    week four weeks earlier (that one by rep for the whole organisation again, once)."""

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

    def _ask(self, spec: KeyMetric, period: Period, scope: Scope, by: str, compare: bool) -> MetricResult:
        # Revenue and deals won share their answers, as do acceptance and pipeline created (one funnel).
        key = (spec.metric, spec.mode, period.start, scope.kind, scope.ref, by, compare)
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
                    compare="prev" if compare else None,
                    mode=spec.mode,
                ),
                viewer=SYSTEM_VIEWER,
            )
        return self._answers[key]

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

    def _compute(self, scope: Scope) -> WeeklyChanges:
        config = self.settings.digests.weekly_changes
        resolved = resolve_scope(self.conn, SYSTEM_VIEWER, scope, self.settings)
        owners = resolved.owner_ids
        org = Scope("org")
        movements = []
        for spec in KEY_METRICS:
            if not self._available(spec):
                continue
            by_rep = self._ask(spec, self.week, org, "rep", compare=True)
            unit = next((m.unit for m in by_rep.measures if m.key == spec.measure), None)
            totals = _totals(spec, by_rep, owners)
            value, previous = totals.value, totals.previous
            if unit is None or value is None or previous is None:
                continue
            if not is_movement(unit, value, previous, totals.samples, config):
                continue
            earlier = _totals(spec, self._ask(spec, self.four_weeks_ago, org, "rep", compare=False), owners)
            rising = value > previous
            movers = []
            for by in spec.breakdowns:
                answer = by_rep if by == "rep" else self._ask(spec, self.week, scope, by, compare=True)
                rows = _rows_of(answer, owners) if by == "rep" else list(answer.rows)
                movers += _movers(spec, by, rows, unit, rising, config)
            movements.append(
                Movement(spec, unit, value, previous, earlier.value, totals.samples[0], tuple(movers))
            )
        return WeeklyChanges(
            scope, resolved.label, self.week, self.week.previous(), self.four_weeks_ago, tuple(movements)
        )
