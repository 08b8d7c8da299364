"""Plan milestones: "Enterprise passed 90% of the December 2026 plan for revenue", once per milestone and period.

Each pass asks the metrics core once per rule for the plan of the current period (`month`, `quarter` or `year`
in the organisation's zone) by team, and compares each team's attainment with the rule's levels. Every message
goes through the outbox with the idempotency key

    milestone:<rule>:<team>:<period>:<level>:<recipient>     e.g. milestone:revenue:t-ent:2026-12:90:telegram:-100

so two instances, or a pass run again, queue it once. The outbox is also the memory: a level is announced only
when neither it nor a higher level of the same rule, team, period and recipient has been queued before.

Several levels passed at once (a large deal takes a team from 40 % to 95 % between two passes): only the highest,
90 %, is announced, and the 50 % that was skipped is never announced afterwards. A team that falls back below a
level (a won deal reopened) and passes it again is not told twice. Levels edited in the middle of a period do not
announce again what was told: any level already queued for the rule, team, period and recipient at or above the
one reached counts (the keys with the prefix `milestone:<rule>:<team>:<period>:`).

A level reached in the last hours of a period is still announced after the period ended: for
`delivery.catch_up_hours` after its end the previous period is looked at too. A pass on stale data (older than
`data.stale_after`, storage/freshness.py) announces nothing, since a milestone told from old numbers cannot be
taken back; the next pass on fresh data tells it. A rule with a team id no team has is reported as a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.numbers import format_percent
from sqlalchemy import Connection, Engine, select

from alerts.audience import DEFAULT_PLATFORMS, Person, address_of, load_people
from alerts.delivery.outbox import OutboxItem, enqueue
from bot.reply.arguments import Arguments, to_words
from bot.reply.formatting import Formatter
from bot.reply.messages import Action, Reply, Span
from bot.reply.render import measure_label
from metrics.catalogue import MetricQuery, query
from metrics.periods import Period, month_period, quarter_period, year_period
from metrics.result import Measure, find_measure
from metrics.scope import SYSTEM_VIEWER, Scope
from storage.config.milestones import MilestoneRule
from storage.config.settings import Settings
from storage.freshness import data_freshness
from storage.schema import OutboxMessage, Team

__all__ = [
    "MilestonePass",
    "Milestone",
    "milestone_period",
    "passed_level",
    "milestone_reply",
    "run_milestones",
]

log = logging.getLogger(__name__)


def _year(day: date, tz: ZoneInfo) -> Period:
    return year_period(day.year, tz)


_PERIODS = {"month": month_period, "quarter": quarter_period, "year": _year}


@dataclass
class MilestonePass:
    """What one pass found due (keys, also on a dry run), queued (new keys), found queued already, the errors by
    rule, the configuration warnings (a team id no team has), and whether the data was too stale to look."""

    due: list[str] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stale: bool = False


@dataclass(frozen=True)
class Milestone:
    """A team that has passed `level` percent of its plan line in `period`."""

    rule: MilestoneRule
    team_id: str
    team_name: str
    period: Period
    level: float
    attainment: float
    actual: Measure
    target: Measure


def milestone_period(rule: MilestoneRule, settings: Settings, now: datetime) -> Period:
    """The plan period the rule watches at `now`: the month (quarter, year) holding it, in the org's zone."""
    tz = settings.org.tz
    return _PERIODS[rule.period](now.astimezone(tz).date(), tz)


def passed_level(levels: Sequence[float], attainment: float | None) -> float | None:
    """The highest of `levels` (percent) that `attainment` (a fraction) has reached, or None."""
    if attainment is None:
        return None
    reached = [level for level in levels if attainment * 100 >= level - 1e-9]
    return max(reached) if reached else None


def watched_periods(rule: MilestoneRule, settings: Settings, now: datetime) -> list[Period]:
    """The period holding `now`, and the one before while it ended at most `delivery.catch_up_hours` ago."""
    period = milestone_period(rule, settings, now)
    before = period.previous()
    if (now - before.end).total_seconds() <= settings.delivery.catch_up_hours * 3600:
        return [before, period]
    return [period]


def _milestones(
    engine: Engine, settings: Settings, rule: MilestoneRule, period: Period, now: datetime
) -> list[Milestone]:
    result = query(
        engine,
        settings,
        MetricQuery(
            metric="plan",
            viewer_id=SYSTEM_VIEWER.user_id,
            now=now,
            period=period,
            scope=Scope("org"),
            by="team",
            options=(("detail", "summary"), ("plan_metric", rule.plan_metric)),
        ),
        viewer=SYSTEM_VIEWER,
    )
    found = []
    for row in result.rows:
        if rule.teams and row.key not in rule.teams:
            continue
        line = rule.plan_metric
        attainment = find_measure(row.measures, f"{line}.attainment")
        actual, target = (
            find_measure(row.measures, f"{line}.actual"),
            find_measure(row.measures, f"{line}.target"),
        )
        if attainment is None or attainment.value is None or actual is None or target is None:
            continue
        level = passed_level(rule.levels, float(attainment.value))
        if level is not None:
            found.append(
                Milestone(rule, row.key, row.label, period, level, float(attainment.value), actual, target)
            )
    return found


def _level_text(level: float) -> str:
    return f"{level:g}"


def _prefix(milestone: Milestone) -> str:
    m = milestone
    return f"milestone:{m.rule.id}:{m.team_id}:{m.period.key}:"


def milestone_key(milestone: Milestone, level: float, recipient: str) -> str:
    return f"{_prefix(milestone)}{_level_text(level)}:{recipient}"


def told_levels(conn: Connection, milestone: Milestone, recipient: str) -> list[float]:
    """The levels already queued for the milestone's rule, team, period and recipient, whatever the levels are
    configured now."""
    prefix = _prefix(milestone)
    keys = conn.execute(
        select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.like(prefix + "%"))
    ).scalars()
    found = []
    for key in keys:
        level, _, who = key.removeprefix(prefix).partition(":")
        if key.startswith(prefix) and who == recipient:
            try:
                found.append(float(level))
            except ValueError:
                continue
    return found


def milestone_reply(milestone: Milestone, fmt: Formatter) -> Reply:
    """The message: who passed which share of which plan, the numbers, and a button that opens the plan."""
    t, m = fmt.t, milestone
    plan = measure_label(fmt, m.rule.plan_metric, m.rule.plan_metric).lower()
    level = format_percent(m.level / 100, locale=fmt.locale)
    # A language may word a plan line of its own ("план по выручке"); else the one sentence for every line.
    own = f"milestone.passed.{m.rule.plan_metric}"
    title = "🎯 " + t(
        own if t.has(own) else "milestone.passed",
        "{team} passed {level} of the {period} plan for {plan}",
        team=m.team_name,
        level=level,
        period=fmt.period(m.period),
        plan=plan,
    )
    detail = t(
        "milestone.detail",
        "{actual} of {target} ({attainment})",
        actual=fmt.value(m.actual.value, m.actual.unit),
        target=fmt.value(m.target.value, m.target.unit),
        attainment=fmt.percent(m.attainment),
    )
    words = to_words(Arguments(period=m.period, scope=Scope("team", m.team_name)), locale=fmt.locale)
    command = " ".join(["/plan", m.rule.plan_metric, *words])
    return Reply(
        title=title,
        lines=((Span(detail),),),
        actions=(Action(t("milestone.action", "Open the plan"), command),),
        kind="info",
        footer=fmt.period(m.period),
    )


def _targets(
    rule: MilestoneRule,
    team_id: str,
    people: Mapping[str, Person],
    settings: Settings,
    platforms: Sequence[str],
) -> list[tuple[str, str, str, str]]:
    """(recipient, platform, chat id, locale) for each place the milestone goes. A person is told only about a team
    whose numbers they may see (as an alert's `dm:` target); a channel is the admin's choice and not checked."""
    if rule.target == "managers":
        chosen = [p for p in people.values() if team_id in p.managed_team_ids]
    elif rule.target.startswith("dm:"):
        person = people.get(rule.target.removeprefix("dm:"))
        chosen = [person] if person is not None and person.may_see_scope(f"team:{team_id}") else []
    else:
        platform, _, chat_id = rule.target.partition(":")
        return [(rule.target, platform, chat_id, rule.locale or settings.org.locale)]
    found = []
    for person in chosen:
        address = address_of(person, platforms)
        if address is not None:
            found.append((person.user_id, *address, person.locale or settings.org.locale))
    return found


def run_milestones(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    rules: Sequence[MilestoneRule] | None = None,
    dry_run: bool = False,
) -> MilestonePass:
    """One pass: queue the milestone messages due at `now` (see the module docstring); with `dry_run`, only say
    which are due."""
    result = MilestonePass()
    chosen = list(rules if rules is not None else settings.milestones)
    if not chosen:
        return result
    with engine.connect() as conn:
        fresh = data_freshness(conn)
        if fresh is not None and fresh.stale(now, settings.stale_after):
            log.warning("milestones: the data is stale (as of %s); nothing is announced", fresh.as_of)
            result.stale = True
            return result
        people = load_people(conn)
        teams = set(conn.execute(select(Team.team_id)).scalars())
    for rule in chosen:
        unknown = [team for team in rule.teams if team not in teams]
        if unknown:
            result.warnings.append(f"milestone {rule.id}: no team {', '.join(unknown)}")
        try:
            milestones = [
                found
                for period in watched_periods(rule, settings, now)
                for found in _milestones(engine, settings, rule, period, now)
            ]
        except Exception as exc:
            log.exception("milestone %s could not be evaluated", rule.id)
            result.errors[rule.id] = f"{type(exc).__name__}: {exc}"
            continue
        for milestone in milestones:
            for recipient, platform, chat_id, locale in _targets(
                rule, milestone.team_id, people, settings, platforms
            ):
                key = milestone_key(milestone, milestone.level, recipient)
                with engine.connect() as conn:
                    told = [
                        level for level in told_levels(conn, milestone, recipient) if level >= milestone.level
                    ]
                if told:
                    result.already.append(key)
                    continue
                result.due.append(key)
                if dry_run:
                    continue
                reply = milestone_reply(milestone, Formatter(locale, settings.org.currency))
                item = OutboxItem(key, "milestone", rule.id, recipient, platform, chat_id, reply)
                with engine.begin() as conn:
                    (result.queued if enqueue(conn, [item], now) else result.already).append(key)
    return result
