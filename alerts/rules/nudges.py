"""The rep's own nudge: a rule with `scope: each rep` and `target: each rep` tells each rep, in a direct message,
their own number ("You have 3 calls today, below the line of 14"), and with `also: managers` each team's manager
gets one grouped message listing the team's reps beyond the line.

The rep reads only their own value; the manager only the reps of a team they manage. A rep with no rows in the
period counts as 0 for counts and amounts, and as n/a for rates (which decides nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from alerts.audience import Person, address_of
from alerts.delivery.outbox import OutboxItem
from alerts.rules.evaluate import Notice, Observation, condition_holds
from alerts.rules.notices import period_text, rule_title, threshold_text
from alerts.rules.quiet import queue_notice
from bot.reply.formatting import Formatter
from bot.reply.messages import Action, Line, Reply, Span
from bot.reply.render import measure_label
from metrics.periods import Period
from metrics.result import Measure
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from storage.schema import Team, User
from storage.times import naive_utc

__all__ = ["own_target", "absent_reps", "zero_measures", "nudge_reply", "team_view_reply", "queue_team_views"]

# Units in which "no rows" means none done: counts and amounts. A rate of nothing is n/a.
_ZERO_UNITS = ("count", "money")
_TEAM_BUTTONS = 3  # snooze and acknowledge buttons for the first reps listed; the list itself names them all


def own_target(
    scope_key: str, people: Mapping[str, Person], platforms: Sequence[str]
) -> list[tuple[str, str, str, str | None]]:
    """The rep a `rep:<id>` scope is about, where they are reached: their own nudge goes to them alone."""
    kind, _, ref = scope_key.partition(":")
    person = people.get(ref) if kind == "rep" else None
    address = address_of(person, platforms) if person is not None else None
    return [(person.user_id, *address, person.locale)] if person is not None and address else []


def absent_reps(conn: Connection, observed: set[str]) -> list[tuple[str, str]]:
    """(user id, name) of every active rep with no row in an each-rep breakdown (`observed` holds `rep:<id>`)."""
    rows = conn.execute(
        select(User.user_id, User.name)
        .where(User.active.is_(True), User.role == "rep")
        .order_by(User.user_id)
    )
    return [(user_id, name) for user_id, name in rows if f"rep:{user_id}" not in observed]


def zero_measures(measures: Sequence[Measure]) -> tuple[Measure, ...]:
    """The measures of a rep who did nothing: 0 for counts and amounts, n/a for everything else."""
    return tuple(
        Measure(m.key, m.label, m.unit, 0 if m.unit in _ZERO_UNITS else None, None) for m in measures
    )


def _unit(rule: AlertRule, observation: Observation) -> str:
    return "percent" if rule.condition == "pace_below" else observation.unit


def _said(fmt: Formatter, rule: AlertRule, observation: Observation, period: str) -> str:
    """ "You have 3 calls today" for a count with a noun of its own, else "Your MQL rate this month: 12 %"."""
    t = fmt.t
    measure = rule.watched_measure or rule.metric
    unit = _unit(rule, observation)
    value = observation.value
    if unit == "count" and value is not None and t.has(f"nudge.unit.{measure}.other"):
        noun = t.plural(f"nudge.unit.{measure}", value)
        return t("nudge.have", "You have {count} {noun} {period}", count=fmt.count(value), noun=noun,
                 period=period)  # fmt: skip
    if rule.condition == "pace_below":
        plan = measure_label(fmt, rule.plan_metric, rule.plan_metric)
        return t("nudge.pace", "Your plan pace for {plan} {period}: {value}", plan=plan, period=period,
                 value=fmt.value(value, unit))  # fmt: skip
    label = measure_label(fmt, measure, measure)
    return t("nudge.yours", "Your {label} {period}: {value}", label=label, period=period,
             value=fmt.value(value, unit))  # fmt: skip


def _against(fmt: Formatter, rule: AlertRule, observation: Observation, said: str) -> str:
    t = fmt.t
    threshold = threshold_text(fmt, rule, _unit(rule, observation))
    if rule.condition == "drops_by":
        value, previous = observation.value, observation.previous
        drop = (previous - value) / previous if value is not None and previous else None
        comparison = t(
            f"alert.compare.{rule.compare}", "vs prev" if rule.compare == "prev" else "vs a week ago"
        )
        return t("nudge.drops_by", "{said}, down {drop} {comparison} (the line is a drop of {threshold})",
                 said=said, drop=fmt.percent(drop), comparison=comparison, threshold=threshold)  # fmt: skip
    return t(f"nudge.{rule.condition}", "{said}, against the line of {threshold}", said=said,
             threshold=threshold)  # fmt: skip


def _open(fmt: Formatter, rule: AlertRule, *words: str) -> Action:
    command = " ".join((f"/{rule.query_metric}", rule.period, *words))
    return Action(fmt.t("nudge.action.open", "Open /{command}", command=rule.query_metric), command)


def _title(fmt: Formatter, rule: AlertRule, kind: str, scope_label: str | None = None) -> str:
    head = {"fired": "🔔", "repeated": "🔁", "resolved": "✅"}[kind]
    title = f"{head} {fmt.t(f'alert.{kind}', kind.capitalize())}: {rule_title(fmt.t, rule)}"
    return f"{title} · {scope_label}" if scope_label else title


def nudge_reply(rule: AlertRule, notice: Notice, fmt: Formatter, *, period: Period) -> Reply:
    """A rep's own alert: their number, the line, and buttons to snooze, acknowledge or open the command."""
    t = fmt.t
    obs = notice.observation
    said = _said(fmt, rule, obs, period_text(fmt, period))
    if notice.kind == "resolved":
        line = t("nudge.resolved", "{said}, back on the right side of the line", said=said)
    else:
        line = _against(fmt, rule, obs, said)
    actions: tuple[Action, ...] = (_open(fmt, rule),)
    if notice.kind != "resolved":
        target = f"{rule.id} {obs.scope_key}"
        actions = (
            Action(t("alert.action.snooze", "Snooze 4h"), f"/alerts snooze {target} 4h"),
            Action(t("alert.action.ack", "Acknowledge"), f"/alerts ack {target}"),
            *actions,
        )
    return Reply(
        title=_title(fmt, rule, notice.kind),
        lines=((Span(line, bold=notice.kind != "resolved"),),),
        actions=actions,
        kind="info",
    )  # no footer: the period is in the sentence


def team_view_reply(
    rule: AlertRule,
    team_id: str,
    team_label: str,
    beyond: Sequence[Observation],
    total: int,
    fmt: Formatter,
    *,
    period: Period,
) -> Reply:
    """A manager's grouped view of a nudge rule: how many of the team's reps are beyond the line, and each of them."""
    t = fmt.t
    unit = _unit(rule, beyond[0])
    threshold = threshold_text(fmt, rule, unit)
    reps = t.plural("nudge.team.reps", total)
    head = t(f"nudge.team.{rule.condition}", "Beyond the line of {threshold}: {count} of {total} {reps}",
             threshold=threshold, count=fmt.count(len(beyond)), total=fmt.count(total), reps=reps)  # fmt: skip
    lines: list[Line] = [(Span(head, bold=True),)]
    for obs in beyond:
        value = fmt.value(obs.value, unit)
        if rule.condition == "drops_by":
            value = t("nudge.team.was", "{value}, was {previous}", value=value,
                      previous=fmt.value(obs.previous, unit))  # fmt: skip
        lines.append((Span(f"{obs.scope_label}: "), Span(value)))
    actions: list[Action] = []
    for obs in beyond[:_TEAM_BUTTONS]:
        target = f"{rule.id} {obs.scope_key}"
        actions.append(Action(f"{t('alert.action.snooze', 'Snooze 4h')} · {obs.scope_label}",
                              f"/alerts snooze {target} 4h"))  # fmt: skip
        actions.append(
            Action(f"{t('alert.action.ack', 'Acknowledge')} · {obs.scope_label}", f"/alerts ack {target}")
        )
    actions.append(_open(fmt, rule, "team", team_id, "by", "rep"))
    return Reply(
        title=_title(fmt, rule, "fired", team_label),
        lines=tuple(lines),
        actions=tuple(actions),
        kind="info",
        footer=period_text(fmt, period),
    )


def _sorted_beyond(rule: AlertRule, observations: Sequence[Observation]) -> list[Observation]:
    rising = rule.condition == "above"
    return sorted(
        observations, key=lambda o: (-(o.value or 0.0) if rising else (o.value or 0.0), o.scope_label)
    )


def queue_team_views(
    engine: Engine,
    settings: Settings,
    rule: AlertRule,
    observations: Sequence[Observation],
    notified: set[str],
    slot: datetime,
    now: datetime,
    people: Mapping[str, Person],
    platforms: Sequence[str],
    period: Period,
) -> list[str]:
    """For each team with a rep whose nudge went out this pass (`notified` scope keys), one message to each of
    its managers listing the team's reps beyond the line; the keys newly queued."""
    at = naive_utc(slot)
    by_rep = {obs.scope_key: obs for obs in observations}
    queued: list[str] = []
    with engine.begin() as conn:
        teams = dict(conn.execute(select(Team.team_id, Team.name)).tuples().all())
        for team_id, team_name in sorted(teams.items()):
            members = [by_rep[f"rep:{p.user_id}"] for p in people.values()
                       if p.team_id == team_id and f"rep:{p.user_id}" in by_rep]  # fmt: skip
            if not any(obs.scope_key in notified for obs in members):
                continue
            beyond = _sorted_beyond(rule, [obs for obs in members if condition_holds(rule, obs)])
            if not beyond:
                continue
            for manager in (p for p in people.values() if team_id in p.managed_team_ids):
                address = address_of(manager, platforms)
                if address is None:
                    continue
                fmt = Formatter(manager.locale or settings.org.locale, settings.org.currency)
                reply = team_view_reply(rule, team_id, team_name or team_id, beyond, len(members), fmt,
                                        period=period)  # fmt: skip
                key = f"alert:{rule.id}:team:{team_id}:group:{at.isoformat()}:{manager.user_id}"
                item = OutboxItem(key, "alert", rule.id, manager.user_id, *address, reply,
                                  scope_key=f"team:{team_id}")  # fmt: skip
                if queue_notice(conn, settings, rule, "fired", item, manager, now):
                    queued.append(key)
    return queued
