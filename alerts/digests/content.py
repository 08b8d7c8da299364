"""What a digest says: the rep's day, the team digest, the weekly plan and the weekly changes, for one recipient,
from the numbers computed once for many (alerts/digests/numbers.py), built of the parts in alerts/digests/sections.py
and closed with the data's freshness (alerts/digests/banner.py).

The helpers keep their former private names here too (`_with_freshness`, `_formatter`, …) for the modules that
import them from this one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from alerts.audience import Person
from alerts.digests.banner import moment_text, with_freshness
from alerts.digests.numbers import DigestNumbers, FiringAlert
from alerts.digests.sections import (
    ACTIVITY_KEYS,
    FUNNEL_KEYS,
    activity_label,
    activity_text,
    footer,
    formatter,
    funnel_line,
    plan_line,
    plan_numbers,
    rows_of,
    summed,
    value_of,
    visible_reps,
)
from alerts.digests.weekly_text import weekly_changes
from bot.reply.messages import Line, Reply, Span
from metrics.result import Table
from storage.config.settings import Settings

__all__ = ["DigestNumbers", "FiringAlert", "rep_daily", "team_digest", "weekly_plan", "build_digest"]

# The former private names, kept for the modules that import them from here.
_FUNNEL_KEYS = FUNNEL_KEYS
_ACTIVITY_KEYS = ACTIVITY_KEYS
_rows = rows_of
_value = value_of
_summed = summed
_visible_reps = visible_reps
_plan_line = plan_line
_plan_numbers = plan_numbers
_activity_text = activity_text
_formatter = formatter
_footer = footer
_moment = moment_text
_with_freshness = with_freshness
_funnel_line = funnel_line
_activity_label = activity_label


def rep_daily(person: Person, numbers: DigestNumbers, settings: Settings) -> Reply:
    """A rep's morning summary: what they did yesterday and where their plan stands."""
    fmt = formatter(person, settings)
    t = fmt.t
    mine = rows_of(numbers.activity, [person.user_id])
    plan_rows = rows_of(numbers.plan, [person.user_id])
    actual, target = plan_numbers(numbers, plan_rows)
    lines: list[Line] = [
        (
            Span(activity_label(fmt, numbers) + ": ", bold=True),
            Span(activity_text(fmt, mine[0] if mine else None)),
        ),
        plan_line(fmt, numbers, actual, target),
    ]
    return Reply(
        title=t("digest.rep_daily.title", "Your day · {date}", date=fmt.date(numbers.day)),
        lines=with_freshness(fmt, numbers, lines),
        kind="info",
        footer=footer(fmt, numbers, "rep_daily"),
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
    fmt = formatter(person, settings)
    t = fmt.t
    reps = visible_reps(person, people)
    ids = [p.user_id for p in reps]
    names = {p.user_id: p.name for p in reps}
    lines: list[Line] = []

    activity_rows = {row.key: row for row in rows_of(numbers.activity, ids)}
    total = sum(int(value_of(row, "activities") or 0) for row in activity_rows.values())
    lines.append(
        (
            Span(activity_label(fmt, numbers) + ": ", bold=True),
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
        title=activity_label(fmt, numbers),
        columns=(t("by.rep", "Rep"), *(t(f"measure.{k}", k.capitalize()) for k in ACTIVITY_KEYS)),
        rows=tuple(
            (
                names[rep_id],
                *(fmt.count(int(value_of(activity_rows.get(rep_id), k) or 0)) for k in ACTIVITY_KEYS),
            )
            for rep_id in sorted(ids, key=lambda i: names[i])
        ),
    )

    lines.append(funnel_line(fmt, numbers, ids))

    plan_rows = rows_of(numbers.plan, ids)
    actual, target = plan_numbers(numbers, plan_rows)
    lines.append(plan_line(fmt, numbers, actual, target))
    metric = settings.digests.plan_metric
    behind = []
    for row in plan_rows:
        pace = value_of(row, f"{metric}.pace")
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
        lines=with_freshness(fmt, numbers, lines),
        table=table,
        kind="info",
        footer=footer(fmt, numbers, "team_digest"),
    )


def weekly_plan(
    person: Person, numbers: DigestNumbers, settings: Settings, people: Mapping[str, Person]
) -> Reply:
    """The weekly plan summary: a rep's own attainment and pace; a manager's per rep and for the team."""
    fmt = formatter(person, settings)
    t = fmt.t
    metric = settings.digests.plan_metric
    reps = visible_reps(person, people) if (person.is_manager or person.is_admin) else [person]
    ids = [p.user_id for p in reps]
    names = {p.user_id: p.name for p in reps}
    rows = rows_of(numbers.plan, ids)
    actual, target = plan_numbers(numbers, rows)
    lines: list[Line] = [plan_line(fmt, numbers, actual, target)]
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
                    fmt.percent(value_of(by_id.get(rep_id), f"{metric}.attainment")),
                    fmt.percent(value_of(by_id.get(rep_id), f"{metric}.pace")),
                    fmt.count(value_of(by_id.get(rep_id), f"{metric}.forecast")),
                )
                for rep_id in sorted(ids, key=lambda i: names[i])
            ),
        )
    return Reply(
        title=t("digest.weekly_plan.title", "Plan this month · {month}", month=fmt.period(numbers.month)),
        lines=with_freshness(fmt, numbers, lines),
        table=table,
        kind="info",
        footer=footer(fmt, numbers, "weekly_plan"),
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
        return replace(reply, lines=with_freshness(formatter(person, settings), numbers, list(reply.lines)))
    raise KeyError(name)
