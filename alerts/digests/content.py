"""What a digest says, computed for many recipients at once.

For one local day in one time zone, `DigestNumbers` asks the metrics core a few grouped questions for the whole
organisation — activity yesterday by rep, the funnel month to date by rep and the same for the start of the previous
month, the plan month to date by rep — and every recipient's digest is a slice of those rows, cut to what that
recipient may see. The numbers are "as of" the local midnight that starts the digest's day, so a digest shows
complete days only and two instances computing it get the same text.

The funnel compares like with like: the month so far against the previous month up to as many working days
(on Wednesday Dec 2 — one working day over, Dec 1 — against Nov 1–2, whose one working day is Monday Nov 2), and the
line says which days it compared. On the 1st, the month just ended is compared with the whole month before; before
a month's first working day is over there is nothing like to compare with, and the funnel shows no change.

Every digest also says when the data was last brought up to date (storage/freshness.py) — "data as of 09:45", the
finish of the last successful CRM sync in the recipient's zone, or "data as of 09:45 (last import)" when an import
was newer — and, when that is older than `data.stale_after`, opens with a warning that the data is stale since
then (for an import, the warning is the "data as of …" line itself, at the top). With no sync or import on record
(the demo organisation, data loaded before imports were logged) it gets neither line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from alerts.audience import Person
from alerts.digests.weekly_changes import WeeklyNumbers
from alerts.digests.weekly_text import weekly_changes
from bot.reply.formatting import Formatter
from bot.reply.messages import Line, Reply, Span
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
from metrics.result import BreakdownRow, Measure, MetricResult, Table
from metrics.scope import SYSTEM_VIEWER, Scope
from storage.config.settings import Settings
from storage.freshness import Freshness

__all__ = ["DigestNumbers", "FiringAlert", "rep_daily", "team_digest", "weekly_plan", "build_digest"]

_FUNNEL_KEYS = ("lead", "mql", "sql", "won")
_ACTIVITY_KEYS = ("activities", "calls", "meetings")


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


def _rows(result: MetricResult, ids: Sequence[str]) -> list[BreakdownRow]:
    wanted = set(ids)
    return [row for row in result.rows if row.key in wanted]


def _value(row: BreakdownRow | None, key: str) -> float | None:
    if row is None:
        return None
    try:
        value = row.measure(key).value
    except KeyError:
        return None
    return None if value is None else float(value)


def _summed(rows: Sequence[BreakdownRow], key: str, label: str, unit="count") -> Measure:
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


def _visible_reps(person: Person, people: Mapping[str, Person]) -> list[Person]:
    """The reps whose rows a digest for `person` shows: their reports, or everyone for an admin."""
    return [
        p
        for p in people.values()
        if p.user_id != person.user_id and p.role == "rep" and person.may_see(p.user_id)
    ]


def _plan_line(fmt: Formatter, numbers: DigestNumbers, actual: float | None, target: float | None) -> Line:
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


def _plan_numbers(numbers: DigestNumbers, rows: Sequence[BreakdownRow]) -> tuple[float, float]:
    metric = numbers.settings.digests.plan_metric
    actual = sum(_value(row, f"{metric}.actual") or 0.0 for row in rows if _value(row, f"{metric}.target"))
    target = sum(_value(row, f"{metric}.target") or 0.0 for row in rows)
    return actual, target


def _activity_text(fmt: Formatter, row: BreakdownRow | None) -> str:
    values = {key: int(_value(row, key) or 0) for key in _ACTIVITY_KEYS}
    return fmt.t(
        "digest.activity_line",
        "{activities} activities done ({calls} calls, {meetings} meetings)",
        **{key: fmt.count(v) for key, v in values.items()},
    )


def _formatter(person: Person, settings: Settings) -> Formatter:
    return Formatter(person.locale or settings.org.locale, settings.org.currency)


def _footer(fmt: Formatter, numbers: DigestNumbers, name: str) -> str:
    return fmt.t(
        "digest.footer",
        "Digest of {date} · /unsubscribe {name} to stop it",
        date=fmt.date(numbers.day),
        name=name,
    )


def _moment(fmt: Formatter, moment: datetime, today: date | None) -> str:
    """`09:45` on the day the digest is read, else `Nov 16, 2026 09:45`."""
    if moment.date() == today:
        return f"{moment:%H:%M}"
    return f"{fmt.date(moment.date())} {moment:%H:%M}"


def _with_freshness(fmt: Formatter, numbers: DigestNumbers, lines: list[Line]) -> tuple[Line, ...]:
    """The digest's lines with the data's freshness (see the module docstring): a warning first when the data is
    stale, "data as of …" last."""
    fresh = numbers.freshness
    if fresh is None:
        return tuple(lines)
    t = fmt.t
    now = numbers.now
    today = now.astimezone(numbers.tz).date() if now is not None else None
    if fresh.as_of is None:
        warning = t("digest.never_synced", "⚠ No CRM sync has completed yet: the data may be incomplete.")
        return ((Span(warning, bold=True),), *lines)
    since = _moment(fmt, fresh.as_of.astimezone(numbers.tz), today)
    stale = now is not None and fresh.stale(now, numbers.settings.stale_after)
    imported = fresh.source == "import"
    if imported:
        as_of_text = t("digest.data_as_of_import", "Data as of {time} (last import)", time=since)
    else:
        as_of_text = t("digest.data_as_of", "Data as of {time}", time=since)
    as_of = (Span(as_of_text, italic=True),)
    if not stale:
        return (*lines, as_of)
    if imported:  # the "data as of …" line itself is the warning, at the top
        warning = t("digest.stale_import", "⚠ Data as of {since} (last import): nothing newer has come in.",
                    since=since)  # fmt: skip
        return ((Span(warning, bold=True),), *lines)
    warning = t("digest.stale", "⚠ The data is stale: not updated from the CRM since {since}.", since=since)
    return ((Span(warning, bold=True),), *lines, as_of)


def _funnel_line(fmt: Formatter, numbers: DigestNumbers, ids: Sequence[str]) -> Line:
    """ "Funnel, Dec 1, 2026 (month to date): Leads 33 (▲ 10.0%) · … — vs Nov 1–2, as many working days (1)"."""
    t = fmt.t
    rows = _rows(numbers.funnel, ids)
    before = _rows(numbers.funnel_before, ids) if numbers.funnel_before is not None else None
    parts = []
    for key in _FUNNEL_KEYS:
        measure = _summed(rows, key, key)
        if before is not None:
            measure = replace(measure, previous=_summed(before, key, key).value)
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


def _activity_label(fmt: Formatter, numbers: DigestNumbers) -> str:
    if numbers.activity_day == numbers.day - timedelta(days=1):
        return fmt.t("digest.yesterday", "Yesterday")
    return fmt.t("digest.on_day", "On {date}", date=fmt.date(numbers.activity_day))


def rep_daily(person: Person, numbers: DigestNumbers, settings: Settings) -> Reply:
    """A rep's morning summary: what they did yesterday and where their plan stands."""
    fmt = _formatter(person, settings)
    t = fmt.t
    mine = _rows(numbers.activity, [person.user_id])
    plan_rows = _rows(numbers.plan, [person.user_id])
    actual, target = _plan_numbers(numbers, plan_rows)
    lines: list[Line] = [
        (
            Span(_activity_label(fmt, numbers) + ": ", bold=True),
            Span(_activity_text(fmt, mine[0] if mine else None)),
        ),
        _plan_line(fmt, numbers, actual, target),
    ]
    return Reply(
        title=t("digest.rep_daily.title", "Your day · {date}", date=fmt.date(numbers.day)),
        lines=_with_freshness(fmt, numbers, lines),
        kind="info",
        footer=_footer(fmt, numbers, "rep_daily"),
    )


def team_digest(
    person: Person,
    numbers: DigestNumbers,
    settings: Settings,
    people: Mapping[str, Person],
    firing: Sequence[FiringAlert] = (),
) -> Reply:
    """A manager's morning digest: yesterday per rep, the funnel month to date vs the previous month, plan pace
    with who is behind, and the alerts that are firing for their team."""
    fmt = _formatter(person, settings)
    t = fmt.t
    reps = _visible_reps(person, people)
    ids = [p.user_id for p in reps]
    names = {p.user_id: p.name for p in reps}
    lines: list[Line] = []

    activity_rows = {row.key: row for row in _rows(numbers.activity, ids)}
    total = sum(int(_value(row, "activities") or 0) for row in activity_rows.values())
    lines.append(
        (
            Span(_activity_label(fmt, numbers) + ": ", bold=True),
            Span(
                t(
                    "digest.team_activity",
                    "{count} activities done by {reps} reps",
                    count=fmt.count(total),
                    reps=fmt.count(len(reps)),
                )
            ),
        )
    )
    table = Table(
        key="digest_activity",
        title=_activity_label(fmt, numbers),
        columns=(t("by.rep", "Rep"), *(t(f"measure.{k}", k.capitalize()) for k in _ACTIVITY_KEYS)),
        rows=tuple(
            (
                names[rep_id],
                *(fmt.count(int(_value(activity_rows.get(rep_id), k) or 0)) for k in _ACTIVITY_KEYS),
            )
            for rep_id in sorted(ids, key=lambda i: names[i])
        ),
    )

    lines.append(_funnel_line(fmt, numbers, ids))

    plan_rows = _rows(numbers.plan, ids)
    actual, target = _plan_numbers(numbers, plan_rows)
    lines.append(_plan_line(fmt, numbers, actual, target))
    metric = settings.digests.plan_metric
    behind = []
    for row in plan_rows:
        pace = _value(row, f"{metric}.pace")
        if pace is not None and pace < 1.0:
            behind.append((pace, names.get(row.key, row.label)))
    if behind:
        text = ", ".join(f"{name} ({fmt.percent(pace)})" for pace, name in sorted(behind))
        lines.append((Span(t("digest.behind", "Behind pace") + ": ", bold=True), Span(text)))

    if firing:
        titles = [t(f"alert_rule.{a.rule_id}", a.title) if a.builtin else a.title for a in firing]
        text = ", ".join(
            f"{title} ({alert.scope_label})" for title, alert in zip(titles, firing, strict=True)
        )
        lines.append((Span(t("digest.firing", "Alerts firing") + ": ", bold=True), Span(text)))
    return Reply(
        title=t("digest.team_digest.title", "Team digest · {date}", date=fmt.date(numbers.day)),
        lines=_with_freshness(fmt, numbers, lines),
        table=table,
        kind="info",
        footer=_footer(fmt, numbers, "team_digest"),
    )


def weekly_plan(
    person: Person, numbers: DigestNumbers, settings: Settings, people: Mapping[str, Person]
) -> Reply:
    """The weekly plan summary: a rep's own attainment and pace; a manager's per rep and for the team."""
    fmt = _formatter(person, settings)
    t = fmt.t
    metric = settings.digests.plan_metric
    reps = _visible_reps(person, people) if (person.is_manager or person.is_admin) else [person]
    ids = [p.user_id for p in reps]
    names = {p.user_id: p.name for p in reps}
    rows = _rows(numbers.plan, ids)
    actual, target = _plan_numbers(numbers, rows)
    lines: list[Line] = [_plan_line(fmt, numbers, actual, target)]
    table = None
    if len(reps) > 1 or person.is_manager:
        by_id = {row.key: row for row in rows}
        table = Table(
            key="digest_plan",
            title=t(f"measure.{metric}", metric),
            columns=(
                t("by.rep", "Rep"),
                t("measure.attainment", "Attainment"),
                t("measure.pace", "Pace"),
                t("measure.forecast", "Forecast"),
            ),
            rows=tuple(
                (
                    names[rep_id],
                    fmt.percent(_value(by_id.get(rep_id), f"{metric}.attainment")),
                    fmt.percent(_value(by_id.get(rep_id), f"{metric}.pace")),
                    fmt.count(_value(by_id.get(rep_id), f"{metric}.forecast")),
                )
                for rep_id in sorted(ids, key=lambda i: names[i])
            ),
        )
    return Reply(
        title=t("digest.weekly_plan.title", "Plan this month · {month}", month=fmt.period(numbers.month)),
        lines=_with_freshness(fmt, numbers, lines),
        table=table,
        kind="info",
        footer=_footer(fmt, numbers, "weekly_plan"),
    )


def build_digest(
    name: str,
    person: Person,
    numbers: DigestNumbers,
    settings: Settings,
    people: Mapping[str, Person],
    firing: Sequence[FiringAlert] = (),
) -> Reply:
    """The digest `name` for `person`."""
    if name == "rep_daily":
        return rep_daily(person, numbers, settings)
    if name == "team_digest":
        mine = [a for a in firing if person.may_see_scope(a.scope_key)]
        return team_digest(person, numbers, settings, people, mine)
    if name == "weekly_plan":
        return weekly_plan(person, numbers, settings, people)
    if name == "weekly_changes":
        reply = weekly_changes(person, numbers.weekly, settings)
        return replace(reply, lines=_with_freshness(_formatter(person, settings), numbers, list(reply.lines)))
    raise KeyError(name)
