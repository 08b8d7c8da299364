"""The parts digests are made of: slices of the organisation's rows for what a reader may see, the plan, activity
and funnel lines, the reader's formatter and the footer. The digests themselves are alerts/digests/content.py's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

from alerts.audience import Person
from alerts.digests.numbers import DigestNumbers
from bot.reply.formatting import Formatter
from bot.reply.messages import Line, Span
from metrics.result import BreakdownRow, Measure, MetricResult
from storage.config.settings import Settings

__all__ = [
    "ACTIVITY_KEYS",
    "FUNNEL_KEYS",
    "activity_label",
    "activity_text",
    "footer",
    "formatter",
    "funnel_line",
    "plan_line",
    "plan_numbers",
    "rows_of",
    "summed",
    "value_of",
    "visible_reps",
]

FUNNEL_KEYS = ("lead", "mql", "sql", "won")
ACTIVITY_KEYS = ("activities", "calls", "meetings")


def rows_of(result: MetricResult, ids: Sequence[str]) -> list[BreakdownRow]:
    wanted = set(ids)
    return [row for row in result.rows if row.key in wanted]


def value_of(row: BreakdownRow | None, key: str) -> float | None:
    if row is None:
        return None
    try:
        value = row.measure(key).value
    except KeyError:
        return None
    return None if value is None else float(value)


def summed(rows: Sequence[BreakdownRow], key: str, label: str, unit="count") -> Measure:
    values, previous = [], []
    for row in rows:
        try:
            measure = row.measure(key)
        except KeyError:
            continue
        if measure.value is not None:
            values.append(float(measure.value))
        if measure.previous is not None:
            previous.append(float(measure.previous))
    return Measure(key, label, unit, sum(values), sum(previous) if previous else None)


def visible_reps(person: Person, people: Mapping[str, Person]) -> list[Person]:
    """The reps whose rows a digest for `person` shows: their reports, or everyone for an admin."""
    return [
        p
        for p in people.values()
        if p.user_id != person.user_id and p.role == "rep" and person.may_see(p.user_id)
    ]


def plan_line(fmt: Formatter, numbers: DigestNumbers, actual: float | None, target: float | None) -> Line:
    t = fmt.t
    metric = numbers.settings.digests.plan_metric
    label = t(f"measure.{metric}", metric)
    if not target:
        return (Span(t("digest.plan_none", "{metric}: no plan for this month.", metric=label)),)
    attainment = (actual or 0.0) / target
    pace = attainment / numbers.elapsed_share if numbers.elapsed_share else None
    return (
        Span(f"{label}: ", bold=True),
        Span(
            t(
                "digest.plan_line",
                "{attainment} of plan, pace {pace}",
                attainment=fmt.percent(attainment),
                pace=fmt.percent(pace),
            )
        ),
    )


def plan_numbers(numbers: DigestNumbers, rows: Sequence[BreakdownRow]) -> tuple[float, float]:
    metric = numbers.settings.digests.plan_metric
    actual = sum(
        value_of(row, f"{metric}.actual") or 0.0 for row in rows if value_of(row, f"{metric}.target")
    )
    target = sum(value_of(row, f"{metric}.target") or 0.0 for row in rows)
    return actual, target


def activity_text(fmt: Formatter, row: BreakdownRow | None) -> str:
    values = {key: int(value_of(row, key) or 0) for key in ACTIVITY_KEYS}
    return fmt.t(
        "digest.activity_line",
        "{activities} activities done ({calls} calls, {meetings} meetings)",
        **{key: fmt.count(v) for key, v in values.items()},
    )


def formatter(person: Person, settings: Settings) -> Formatter:
    return Formatter(person.locale or settings.org.locale, settings.org.currency)


def footer(fmt: Formatter, numbers: DigestNumbers, name: str) -> str:
    return fmt.t(
        "digest.footer",
        "Digest of {date} · /unsubscribe {name} to stop it",
        date=fmt.date(numbers.day),
        name=name,
    )


def funnel_line(fmt: Formatter, numbers: DigestNumbers, ids: Sequence[str]) -> Line:
    """ "Funnel, Dec 1, 2026 (month to date): Leads 33 (▲ 10.0%) · … — vs Nov 1–2, as many working days (1)"."""
    t = fmt.t
    rows = rows_of(numbers.funnel, ids)
    before = rows_of(numbers.funnel_before, ids) if numbers.funnel_before is not None else None
    parts = []
    for key in FUNNEL_KEYS:
        measure = summed(rows, key, key)
        if before is not None:
            measure = replace(measure, previous=summed(before, key, key).value)
        text = f"{t(f'measure.{key}', key)} {fmt.count(measure.value)}"
        delta = fmt.delta(measure, "prev", short=True)
        parts.append(f"{text} ({delta})" if delta else text)
    if numbers.funnel_period == numbers.month:
        title = t("digest.funnel", "Funnel, {month}", month=fmt.period(numbers.month))
    else:
        title = t(
            "digest.funnel_to_date",
            "Funnel, {dates} (month to date)",
            dates=fmt.dates(numbers.funnel_period),
        )
    compared = numbers.funnel_comparison
    if compared is None:
        against = t("digest.funnel_no_comparison", "no working day of the month is over yet to compare")
    elif numbers.funnel_period == numbers.month:
        against = t("digest.funnel_vs_month", "vs {month}", month=fmt.period(compared))
    else:
        against = t(
            "digest.funnel_vs_days",
            "vs {dates}, as many working days ({days})",
            dates=fmt.dates(compared),
            days=fmt.count(numbers.working_days_so_far),
        )
    return (Span(title + ": ", bold=True), Span(" · ".join(parts)), Span(f" — {against}", italic=True))


def activity_label(fmt: Formatter, numbers: DigestNumbers) -> str:
    if numbers.activity_day == numbers.day - timedelta(days=1):
        return fmt.t("digest.yesterday", "Yesterday")
    return fmt.t("digest.on_day", "On {date}", date=fmt.date(numbers.activity_day))
