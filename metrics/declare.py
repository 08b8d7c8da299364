"""How a metric is declared: `MetricDef` (what it is, what it may be broken down and filtered by, how to compute it),
the `ComputeContext` its compute function gets and the `Computed` numbers it returns.

A metric module (metrics/kpis/, metrics/plan/) declares its MetricDefs as constants; metrics/catalogue.py lists them,
in order, and answers every question through one door.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Connection, true

from metrics.periods import Period, period_coverage
from metrics.result import BreakdownRow, Coverage, Measure, Note, Series, Table
from metrics.scope import ResolvedScope, Viewer
from storage.config.settings import Settings
from storage.times import naive_utc

__all__ = ["Mode", "ComputeContext", "Computed", "MetricDef"]

Mode = Literal["cohort", "flow"]


@dataclass(frozen=True)
class ComputeContext:
    """What a metric's compute function gets: one period, one resolved scope, validated filters."""

    conn: Connection
    settings: Settings
    period: Period
    scope: ResolvedScope
    viewer: Viewer
    now: datetime
    filters: Mapping[str, str]
    by: str | None
    mode: Mode
    options: Mapping[str, str]
    is_comparison: bool = False

    def owner_in_scope(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting an owner column to the scope (always true for the org)."""
        if self.scope.owner_ids is None:
            return true()
        return column.in_(self.scope.owner_ids)

    @property
    def start(self) -> datetime:
        """The period's start as naive UTC, as stored."""
        return self.period.start_utc

    @property
    def end(self) -> datetime:
        return self.period.end_utc

    @property
    def now_utc(self) -> datetime:
        return naive_utc(self.now)

    @property
    def coverage(self) -> Coverage:
        """Which days of the period the data covers at `now` (partial periods, working days elapsed)."""
        return period_coverage(self.period, self.now, self.settings.org.holidays)


@dataclass(frozen=True)
class Computed:
    """A metric module's numbers for one period."""

    measures: tuple[Measure, ...]
    rows: tuple[BreakdownRow, ...] = ()
    series: tuple[Series, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str | Note, ...] = ()


@dataclass(frozen=True)
class MetricDef:
    """A catalogue entry: what the metric is, what it may be broken down and filtered by, how to compute it."""

    name: str
    title: str
    description: str  # the definition, shown by /help <command> and under every reply
    compute: Callable[[ComputeContext], Computed]
    needs: tuple[str, ...] = ()  # tables it reads
    breakdowns: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    modes: tuple[Mode, ...] = ("cohort",)
    comparable: bool = True
    # An in-progress period is compared with the same elapsed part of the comparison period ("month to date vs
    # the same days of last month"); metrics whose numbers are already normalised for elapsed time (plan pace)
    # compare with the whole comparison period instead.
    compare_to_date: bool = True
    # A period that has not begun holds no data: most metrics refuse it in one line instead of a reply of zeros;
    # a plan has a target for a future period, so /plan answers it.
    answers_future: bool = False
    # Answered for the whole organisation only (metrics.sql.customers.require_org refuses any other scope): of use
    # only to those who may see the organisation's numbers (metrics.scope.sees_org), so offered to no one else.
    org_wide: bool = False
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)
    # Every measure the metric shows, in the order /help <command> defines them (message `define.<name>.<key>`);
    # measures made per stage or plan line are defined once by `defined_as`'s pattern (`step`, `line_pace` …).
    defines: tuple[str, ...] = ()

    def defined_as(self, key: str, stages: Sequence[str] = ()) -> str:
        """The entry of `defines` that defines the measure `key`: itself when listed; else a per-stage key
        (`deal:Demo:median_days`) by its statistic (`stage_median_days`), a plan line's part (`revenue.pace`) as
        `line_pace`, a step between two funnel `stages` (`mql_to_sal`) as `step`, a funnel stage as `stage`."""
        if key in self.defines:
            return key
        if ":" in key:
            return "stage_" + key.rsplit(":", 1)[1]
        _line, dot, part = key.partition(".")
        if dot:
            return "line_" + part
        before, sep, after = key.partition("_to_")
        if sep and before in stages and after in stages:
            return "step"
        return "stage" if key in stages else key
