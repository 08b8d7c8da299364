"""What the metrics core answers with: immutable values a chat reply, a digest and an alert can all explain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from metrics.periods import Period
    from metrics.scope import ResolvedScope

__all__ = [
    "find_measure",
    "number_of",
    "Unit",
    "Number",
    "Note",
    "Measure",
    "LOWER_IS_BETTER",
    "lower_is_better",
    "RUN_RATES",
    "is_run_rate",
    "BreakdownRow",
    "Series",
    "Table",
    "Coverage",
    "EARLY_WORKING_DAYS",
    "EARLY_SHARE",
    "MetricResult",
    "ratio",
]

Unit = Literal["count", "percent", "money", "days", "ratio", "number"]
Number = int | float | Decimal


LOWER_IS_BETTER = frozenset(
    {
        "churn_rate",
        "cac",
        "cost_per_sql",
        "cost_per_sql_lagged",
        "cost_per_lead",
        "cost_per_mql",
        "overdue",
        "leads_per_deal",
        "lost",
        "median_days",
        "mean_days",
        "slowest_deal_stage_days",
        "contraction_mrr",
        "churned_mrr",
        "tickets_per_active_account",
        "median_onboarding_days",
    }
)
"""Measures where less is better (costs, churn, days): who is "ahead" and which way a leaderboard ranks."""


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of the measure `key` is the better one (stage keys like `deal:Demo:median_days` too)."""
    return key in LOWER_IS_BETTER or key.rsplit(":", 1)[-1] in LOWER_IS_BETTER


def ratio(numerator: Number | None, denominator: Number | None) -> float | None:
    """numerator / denominator, or None ("n/a") when the denominator is zero or missing."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)


RUN_RATES = frozenset({"forecast", "cltv_predictive", "ltv_cac", "arpa"})
"""Measures extrapolated from the part of a running period that is over — a plan line's forecast, /ltv's monthly
revenue per account and the CLTV and LTV:CAC made of it: while the coverage is early a reply flags them "(early)"."""


def is_run_rate(key: str) -> bool:
    """Whether the measure `key` is a run-rate (RUN_RATES), a plan line's `revenue.forecast` too."""
    return key in RUN_RATES or key.rsplit(".", 1)[-1] in RUN_RATES


@dataclass(frozen=True)
class Note:
    """A remark under a result that a chat can translate: `key` names it in the message catalogue, `text` is the
    English template, `params` are (name, value, unit) so each value is formatted for the reader's locale."""

    key: str
    text: str
    params: tuple[tuple[str, Number | str | None, Unit | None], ...] = ()

    def __str__(self) -> str:
        return self.text.format(**{name: "n/a" if value is None else value for name, value, _ in self.params})


@dataclass(frozen=True)
class Measure:
    """One number: `value` is None for "n/a"; percentages are fractions (0.238 is 23.8 %)."""

    key: str
    label: str
    unit: Unit
    value: Number | None
    previous: Number | None = None
    detail: str | None = None  # the arithmetic behind it, e.g. "10 / 42"

    @property
    def delta(self) -> float | None:
        """Change against the comparison: percentage points (as a fraction) for rates, relative change otherwise."""
        if self.value is None or self.previous is None:
            return None
        if self.unit == "percent":
            return float(self.value) - float(self.previous)
        return ratio(float(self.value) - float(self.previous), abs(float(self.previous)))

    @property
    def direction(self) -> Literal["up", "down", "flat"] | None:
        if self.value is None or self.previous is None:
            return None
        if float(self.value) > float(self.previous):
            return "up"
        if float(self.value) < float(self.previous):
            return "down"
        return "flat"


@dataclass(frozen=True)
class BreakdownRow:
    """One row of a `by …` breakdown: `key` is the id (rep id, source, '2026-10'), `label` what people read."""

    key: str
    label: str
    measures: tuple[Measure, ...]

    def measure(self, key: str) -> Measure:
        return _find(self.measures, key)


@dataclass(frozen=True)
class Series:
    """A sequence for a chart: points of (x label, value); `kind` tells the chart what it is."""

    key: str
    label: str
    points: tuple[tuple[str, Number | None], ...]
    unit: Unit = "count"


@dataclass(frozen=True)
class Table:
    """An extra table (cohort matrix, "what it takes"); cells are plain values, None for n/a."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    units: tuple[Unit | None, ...] = ()


EARLY_WORKING_DAYS = 3
EARLY_SHARE = 0.1
"""A run-rate is early while fewer than max(EARLY_WORKING_DAYS, EARLY_SHARE × the period's working days) of the
period's working days are over: the first three days of a week or a month, the first 7 of a quarter, 25 of a year."""


@dataclass(frozen=True)
class Coverage:
    """Which days a result's numbers cover at the moment it was asked (`now`), so a reply can say "month to date:
    Dec 1–2, 1 of 22 working days", a chart can mark its partial bar, and a monthly rate can be prorated.

    - `start` / `end`: the period's first local day and the day after its last (exclusive), as in Period.
    - `last_day`: the last local day with any data counted: today while the period runs, else its last day.
    - `working_days_elapsed` / `working_days_total`: the period's working days (Mon–Fri minus org.holidays) that
      are over at `now`, and all of them — counted exactly as plan pace counts them: a day counts once it has
      ended, so on the morning of Wednesday Dec 2 only Tuesday Dec 1 is over (1 of 22).
    - `elapsed_share`: the share of the period's time (by the clock) that has passed at `now`, 0..1; money per
      month is prorated by it (Dec 1 00:00 to Dec 2 10:00 is 34 of 744 hours, 0.0457).
    - `partial`: the period had begun but not ended at `now`; `future`: it had not begun.
    """

    start: date
    end: date
    last_day: date
    working_days_elapsed: int
    working_days_total: int
    elapsed_share: float
    partial: bool
    future: bool = False

    @property
    def complete(self) -> bool:
        """The period is over: every number is final."""
        return not self.partial and not self.future

    @property
    def early(self) -> bool:
        """Too few working days are over for a run-rate (forecast) to mean much (EARLY_WORKING_DAYS)."""
        if not self.partial:
            return False
        needed = max(EARLY_WORKING_DAYS, EARLY_SHARE * self.working_days_total)
        return self.working_days_elapsed < needed


@dataclass(frozen=True)
class MetricResult:
    """The answer to one MetricQuery."""

    metric: str
    title: str
    description: str
    period: Period
    scope: ResolvedScope
    measures: tuple[Measure, ...]  # the headline first
    comparison: Literal["prev", "year"] | None = None
    comparison_period: Period | None = None
    breakdown_by: str | None = None
    rows: tuple[BreakdownRow, ...] = ()
    series: tuple[Series, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str | Note, ...] = field(default_factory=tuple)
    mode: str | None = None
    # Which days the numbers cover at the time asked (None only for results built outside the catalogue).
    coverage: Coverage | None = None
    # A comparison was asked and computed but the compared period holds no data (every measure's value there is
    # 0 or n/a): the deltas are missing for that reason, and no reply or chart should promise "vs …".
    comparison_empty: bool = False

    @property
    def headline(self) -> Measure:
        return self.measures[0]

    def measure(self, key: str) -> Measure:
        return _find(self.measures, key)

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)

    def series_by_key(self, key: str) -> Series:
        for series in self.series:
            if series.key == key:
                return series
        raise KeyError(key)


def _find(measures: tuple[Measure, ...], key: str) -> Measure:
    for measure in measures:
        if measure.key == key:
            return measure
    raise KeyError(f"no measure {key!r}; have {[m.key for m in measures]}")


def find_measure(measures: Sequence[Measure], key: str) -> Measure | None:
    """The measure `key` of `measures`, or None when there is none (a row or answer without it)."""
    return next((m for m in measures if m.key == key), None)


def number_of(measure: Measure | None, previous: bool = False) -> float | None:
    """A measure's value (or its comparison's, with `previous`) as a float; None for a missing measure or n/a."""
    if measure is None:
        return None
    value = measure.previous if previous else measure.value
    return None if value is None else float(value)
