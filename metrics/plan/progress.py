"""Plan progress arithmetic: attainment, pace, forecast and what is still needed per working day.

With `share` = the elapsed share of the period's working days (a day counts once it is over, so on the first
working day nothing has elapsed yet):

- attainment = actual / target
- pace = actual / (target × share) — 100 % means exactly on the straight line to the target
- forecast = actual / share — the linear run-rate to the period's end
- needed per day = (target − actual) / remaining working days, today included; 0 once the target is made, n/a
  once the period is over (nothing can be done in it any more, whether the target was made or not)

Each is n/a where its denominator is zero (no target, nothing elapsed, no working day left). An average
(`avg_deal_size`) does not accumulate over the period, so its pace is its attainment, its forecast its actual, and
it has no per-day need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection

from metrics.periods import Period, elapsed_working_share, remaining_working_days
from metrics.plan.actuals import AVERAGE_METRICS, MONEY_METRICS, plan_actual
from metrics.plan.targets import PlanKey, Target, holders_of, load_plan_book, resolve_target
from metrics.result import Measure, Number, Unit, ratio
from metrics.scope import ResolvedScope
from storage.config.settings import Settings

__all__ = ["Progress", "progress", "progress_measures", "scope_progress", "metric_label", "unit_of"]

_LABELS = {
    "revenue": "Revenue",
    "deals_won": "Deals won",
    "avg_deal_size": "Average deal size",
    "product_units": "Units sold",
    "product_revenue": "Product revenue",
    "new_leads": "New leads",
    "calls": "Calls",
    "meetings": "Meetings",
    "activities": "Activities",
}


def metric_label(key: PlanKey) -> str:
    """What people read for a plan line: "Revenue", "Units sold (P-PRO)"."""
    label = _LABELS.get(key.metric, key.metric)
    return f"{label} ({key.product_id})" if key.product_id else label


def unit_of(key: PlanKey) -> Unit:
    """Money for revenue-like lines, a count for the rest."""
    return "money" if key.metric in MONEY_METRICS else "count"


@dataclass(frozen=True)
class Progress:
    """One plan line for one scope and period, with every derived number (None: n/a)."""

    key: PlanKey
    actual: Number | None
    target: Decimal
    basis: str
    attainment: float | None
    pace: float | None
    forecast: float | None
    needed_per_day: float | None
    elapsed_share: float
    remaining_days: int

    @property
    def unit(self) -> Unit:
        return unit_of(self.key)


def progress(
    target: Target, actual: Number | None, period: Period, now: datetime, holidays: Sequence[date] = ()
) -> Progress:
    """Attainment, pace, forecast and need per day of one target (module doc)."""
    share = elapsed_working_share(period, now, holidays)
    remaining = remaining_working_days(period, now, holidays)
    attainment = ratio(actual, target.value)
    if target.key.metric in AVERAGE_METRICS:
        return Progress(
            target.key, actual, target.value, target.basis, attainment, attainment,
            None if actual is None else float(actual), None, share, remaining,
        )  # fmt: skip
    done = float(actual or 0)
    missing = max(float(target.value) - done, 0.0)
    # Once the period is over no working day is left to need anything in: n/a (shown as —), made or not.
    needed = None if remaining == 0 else 0.0 if missing == 0 else ratio(missing, remaining)
    return Progress(
        key=target.key,
        actual=actual,
        target=target.value,
        basis=target.basis,
        attainment=attainment,
        pace=ratio(done, float(target.value) * share),
        forecast=ratio(done, share),
        needed_per_day=needed,
        elapsed_share=share,
        remaining_days=remaining,
    )


def progress_measures(p: Progress) -> tuple[Measure, ...]:
    """The six measures of a plan line, attainment first: `<line>.attainment`, `.actual`, `.target`, `.pace`,
    `.forecast`, `.needed_per_day`."""
    code, label, unit = p.key.code, metric_label(p.key), p.unit
    per_day_unit: Unit = "number" if unit == "count" else unit  # 0.4 calls a day must not print as 0
    expected = float(p.target) * p.elapsed_share
    return (
        Measure(f"{code}.attainment", f"{label}: attainment", "percent", p.attainment,
                detail=f"{_num(p.actual)} / {_num(p.target)}"),
        Measure(f"{code}.actual", label, unit, p.actual),
        Measure(f"{code}.target", f"{label}: target", unit, p.target, detail=p.basis),
        Measure(f"{code}.pace", f"{label}: pace", "percent", p.pace,
                detail=f"{_num(p.actual)} / ({_num(p.target)} × {p.elapsed_share:.3f}) = "
                f"{_num(p.actual)} / {expected:.2f}"),
        Measure(f"{code}.forecast", f"{label}: forecast", unit, p.forecast,
                detail=f"{_num(p.actual)} / {p.elapsed_share:.3f}"),
        Measure(f"{code}.needed_per_day", f"{label}: needed per working day", per_day_unit, p.needed_per_day,
                detail=f"still missing over {p.remaining_days} working days"),
    )  # fmt: skip


def _num(value: Number | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def scope_progress(
    conn: Connection,
    settings: Settings,
    scope: ResolvedScope,
    period: Period,
    now: datetime,
    metric: str,
    product_id: str = "",
) -> Progress | None:
    """The progress of one plan metric for a scope and period, or None when it has no target."""
    holidays = settings.org.holidays
    book = load_plan_book(conn, [period], holidays)
    target = resolve_target(book, holders_of(scope), period, PlanKey(metric, product_id), holidays)
    if target is None:
        return None
    actual = plan_actual(
        conn, settings, metric, product_id, period.start_utc, period.end_utc, scope.owner_ids
    ).value()
    return progress(target, actual, period, now, holidays)
