"""One alert pass: which rules are due, what the metrics core says for each scope, the pure evaluation, and the
run log, state and outbox rows that follow from it.

Every evaluation of a rule for a scope writes one `alert_runs` row keyed by (rule, scope, slot) — the scheduled
moment it answers for. The row is inserted first, inside the transaction that then reads and writes the state, so
when two instances evaluate the same slot the database lets one of them in and the other skips. A slot no scope
could be evaluated in leaves one rule-wide row (scope `*`): `error`, or `stale` when the store's data is older than
`data.stale_after` (storage/freshness.py) and old numbers must not be reported as news.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from alerts.audience import DEFAULT_PLATFORMS, Person, address_of, load_people
from alerts.delivery.outbox import OutboxItem
from alerts.rules.evaluate import AlertStatus, Contributor, Notice, Observation, evaluate
from alerts.rules.notices import notice_reply
from alerts.rules.nudges import absent_reps, nudge_reply, own_target, queue_team_views, zero_measures
from alerts.rules.quiet import queue_notice
from bot.reply.formatting import Formatter
from metrics.catalogue import MetricQuery, get_metric, query
from metrics.periods import Period, day_period, parse_period
from metrics.result import BreakdownRow, Measure, MetricResult
from metrics.scope import SYSTEM_VIEWER, Scope
from storage.config.alerts import EACH_REP, AlertRule, parse_duration
from storage.config.settings import Settings
from storage.freshness import Freshness, data_freshness
from storage.schema import AlertRun, AlertState, Team
from storage.telemetry import telemetry
from storage.times import aware_utc, naive_utc

__all__ = ["AlertPass", "due_slot", "observe", "run_alerts", "RULE_WIDE"]

log = logging.getLogger(__name__)

RULE_WIDE = "*"
"""The scope key of a rule-wide snooze or mute (`/alerts snooze <rule> 4h` without a scope)."""


@dataclass
class AlertPass:
    """What one pass did: (rule, scope, outcome) per evaluation, the queued keys, and errors by rule."""

    evaluations: list[tuple[str, str, str]] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def due_slot(rule: AlertRule, settings: Settings, now: datetime, last: datetime | None) -> datetime | None:
    """The latest scheduled moment at or before `now` not yet evaluated (after `last`), or None."""
    now_utc = now.astimezone(UTC)
    if rule.cron is None:
        step = parse_duration(rule.every or "15m").total_seconds()
        slot = datetime.fromtimestamp(int(now_utc.timestamp() // step * step), UTC)
    else:
        trigger = CronTrigger.from_crontab(rule.cron, timezone=settings.org.tz)
        start = now_utc - timedelta(hours=max(settings.delivery.catch_up_hours, 1))
        if last is not None:
            start = max(start, last.replace(tzinfo=UTC) + timedelta(seconds=1))
        found = None
        moment = trigger.get_next_fire_time(None, start)
        while moment is not None and moment <= now_utc:
            found = moment
            moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        if found is None:
            return None
        slot = found.astimezone(UTC)
    if last is not None and naive_utc(slot) <= last:
        return None
    return slot


def _number(value) -> float | None:
    return None if value is None else float(value)


def _measure(measures: Sequence[Measure], key: str | None) -> Measure | None:
    if not measures:
        return None
    if key is None:
        return measures[0]
    return next((m for m in measures if m.key == key), None)


def _ask(conn: Connection, settings: Settings, rule: AlertRule, now: datetime, period, scope: Scope, by):
    metric = get_metric(rule.query_metric)
    compare = "prev" if rule.compare == "prev" and metric.comparable else None
    options = (("plan_metric", rule.plan_metric),) if rule.query_metric == "plan" else ()
    return query(
        conn,
        settings,
        MetricQuery(
            metric=metric.name,
            viewer_id=SYSTEM_VIEWER.user_id,
            now=now,
            period=period,
            scope=scope,
            by=by if by in metric.breakdowns else None,
            compare=compare,
            options=options,
        ),
        viewer=SYSTEM_VIEWER,
    )


def _week_ago(period: Period, now: datetime) -> Period:
    """The same weekday a week earlier, cut to the same elapsed time when the day is still running."""
    before = day_period(period.start_date - timedelta(days=7), period.tz)
    if period.contains(now):
        elapsed = now.astimezone(period.tz) - period.start
        before = replace(
            before, end=(before.start + elapsed).astimezone(period.tz), label="week ago (to date)"
        )
    return before


def _previous_by(
    result: MetricResult | None,
) -> tuple[dict[str, float | None], dict[str, dict[str, float | None]]]:
    if result is None:
        return {}, {}
    headline = {m.key: _number(m.value) for m in result.measures}
    rows = {row.key: {m.key: _number(m.value) for m in row.measures} for row in result.rows}
    return headline, rows


def _observation(
    rule: AlertRule,
    scope_key: str,
    scope_label: str,
    measures: Sequence[Measure],
    rows: Sequence[BreakdownRow],
    week_ago: tuple[dict, dict] | None,
    week_ago_row: str | None = None,
) -> Observation:
    measure = _measure(measures, rule.watched_measure)
    key = measure.key if measure is not None else (rule.watched_measure or "")
    sample = _measure(measures, rule.sample_measure) if rule.sample_measure else None
    previous = _number(measure.previous) if measure is not None else None
    if week_ago is not None:
        source = week_ago[1].get(week_ago_row or "", {}) if week_ago_row else week_ago[0]
        previous = source.get(key)
    contributors = []
    for row in rows:
        row_measure = _measure(row.measures, key)
        if row_measure is None:
            continue
        before = _number(row_measure.previous)
        if week_ago is not None:
            before = week_ago[1].get(row.key, {}).get(key)
        contributors.append(Contributor(row.key, row.label, _number(row_measure.value), before))
    return Observation(
        scope_key=scope_key,
        scope_label=scope_label,
        value=_number(measure.value) if measure is not None else None,
        previous=previous,
        sample=int(sample.value) if sample is not None and sample.value is not None else None,
        unit=measure.unit if measure is not None else "count",
        contributors=tuple(contributors),
    )


def observe(
    conn: Connection, settings: Settings, rule: AlertRule, now: datetime
) -> tuple[list[Observation], Period]:
    """What the rule watches, for each of its scopes, at `now`; and the period it watched, for the message."""
    period = parse_period(rule.period, now=now, tz=settings.org.tz)
    week = rule.condition == "drops_by" and rule.compare == "week_ago"
    before_period = _week_ago(period, now) if week else None

    def ask(scope: Scope, by: str | None):
        result = _ask(conn, settings, rule, now, period, scope, by)
        earlier = _ask(conn, settings, rule, now, before_period, scope, by) if before_period else None
        return result, (_previous_by(earlier) if before_period else None)

    if rule.scope == "each rep":
        result, earlier = ask(Scope("org"), "rep")
        observations = [
            _observation(rule, f"rep:{row.key}", row.label, row.measures, (), earlier, week_ago_row=row.key)
            for row in result.rows
        ]
        # A rep with no rows did none: 0 calls, not a rep the rule forgets (alerts/rules/nudges.py).
        observed = {obs.scope_key for obs in observations}
        observations += [
            _observation(rule, f"rep:{rep_id}", name, zero_measures(result.measures), (), earlier, rep_id)
            for rep_id, name in absent_reps(conn, observed)
        ]
        return observations, period
    if rule.scope == "org":
        result, earlier = ask(Scope("org"), rule.explain_by)
        return [_observation(rule, "org", result.scope.label, result.measures, result.rows, earlier)], period
    team_ids = list(rule.teams) or list(conn.execute(select(Team.team_id).order_by(Team.team_id)).scalars())
    observations = []
    for team_id in team_ids:
        result, earlier = ask(Scope("team", team_id), rule.explain_by)
        observations.append(
            _observation(rule, f"team:{team_id}", result.scope.label, result.measures, result.rows, earlier)
        )
    return observations, period


def _last_evaluations(conn: Connection) -> dict[str, datetime]:
    rows = conn.execute(select(AlertRun.rule_id, func.max(AlertRun.evaluated_at)).group_by(AlertRun.rule_id))
    return {rule_id: at for rule_id, at in rows}


def _status(row) -> AlertStatus:
    if row is None:
        return AlertStatus()
    return AlertStatus(
        state=row.state,
        since=aware_utc(row.since),
        last_notified_at=aware_utc(row.last_notified_at),
        snoozed_until=aware_utc(row.snoozed_until),
        acknowledged_by=row.acknowledged_by,
        muted=bool(row.muted),
        last_value=row.last_value,
        breaches=row.breaches or 0,
    )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _targets(
    conn: Connection, rule: AlertRule, scope_key: str, people: Mapping[str, Person], platforms: Sequence[str]
) -> list[tuple[str, str, str, str | None]]:
    """(recipient, platform, chat id, locale) for each place the notice goes."""
    if rule.target == EACH_REP:
        return own_target(scope_key, people, platforms)
    if rule.target != "managers":
        kind, _, ref = rule.target.partition(":")
        if kind == "dm":
            person = people.get(ref)
            address = address_of(person, platforms) if person else None
            return [(ref, *address, person.locale)] if address and person else []
        return [(rule.target, kind, ref, None)]
    kind, _, ref = scope_key.partition(":")
    if kind == "team":
        chosen = [p for p in people.values() if ref in p.managed_team_ids]
    elif kind == "rep":
        chosen = [p for p in people.values() if ref in p.report_ids]
    else:
        chosen = [p for p in people.values() if p.is_admin]
    found = []
    for person in chosen:
        address = address_of(person, platforms)
        if address is not None:
            found.append((person.user_id, *address, person.locale))
    return found


def _dm_not_permitted(rule: AlertRule, scope_key: str, people: Mapping[str, Person]) -> str | None:
    """The user a `dm:<user>` rule would message although they may not see `scope_key`, else None.

    The notice names the scope and the reps who moved it most, so an org or team rule aimed at one rep's chat
    would show them their colleagues' numbers. Group and channel targets are an admin's choice and not checked.
    """
    kind, _, ref = rule.target.partition(":")
    person = people.get(ref) if kind == "dm" else None
    return ref if person is not None and not person.may_see_scope(scope_key) else None


def _claim_slot(conn: Connection, rule: AlertRule, observation: Observation, at: datetime) -> int:
    """The run row, written first: its unique (rule, scope, slot) makes a second instance's insert fail."""
    return conn.execute(
        insert(AlertRun)
        .values(
            rule_id=rule.id,
            scope_key=observation.scope_key,
            evaluated_at=at,
            value=observation.value,
            sample=observation.sample,
            state="pending",
            outcome="pending",
        )
        .returning(AlertRun.id)
    ).scalar_one()


def _read_status(conn: Connection, rule: AlertRule, scope_key: str) -> tuple[bool, AlertStatus, AlertStatus]:
    """(whether the scope has a state row, its own status, the status evaluation reads): a rule-wide snooze or
    mute (the `*` row) counts for every scope. Locked on PostgreSQL until the transaction ends."""
    s = AlertState
    stmt = select(s).where(s.rule_id == rule.id, s.scope_key.in_([scope_key, RULE_WIDE]))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    rows = {row.scope_key: row for row in conn.execute(stmt)}
    own = _status(rows.get(scope_key))
    wide = _status(rows.get(RULE_WIDE))
    effective = replace(
        own, snoozed_until=_latest(own.snoozed_until, wide.snoozed_until), muted=own.muted or wide.muted
    )
    return scope_key in rows, own, effective


def _write_status(
    conn: Connection,
    rule: AlertRule,
    scope_key: str,
    exists: bool,
    own: AlertStatus,
    new: AlertStatus,
    now: datetime,
) -> None:
    """The evaluated status; snoozes and mutes stay where they were set (the evaluation only reads them)."""
    s = AlertState
    snoozed = own.snoozed_until if own.snoozed_until and own.snoozed_until > now else None
    values = dict(
        state=new.state,
        since=naive_utc(new.since) if new.since else None,
        last_notified_at=naive_utc(new.last_notified_at) if new.last_notified_at else None,
        snoozed_until=naive_utc(snoozed) if snoozed else None,
        acknowledged_by=new.acknowledged_by,
        muted=own.muted,
        last_value=new.last_value,
        breaches=new.breaches,
    )
    if exists:
        conn.execute(update(s).where(s.rule_id == rule.id, s.scope_key == scope_key).values(**values))
    else:
        conn.execute(insert(s).values(rule_id=rule.id, scope_key=scope_key, **values))


def _queue_notices(
    conn: Connection,
    settings: Settings,
    rule: AlertRule,
    notice: Notice,
    scope_key: str,
    at: datetime,
    now: datetime,
    people: Mapping[str, Person],
    platforms: Sequence[str],
    period: Period,
) -> list[str]:
    """The notice for each recipient, in their language, into the outbox; the keys newly queued."""
    queued = []
    for recipient, platform, chat_id, locale in _targets(conn, rule, scope_key, people, platforms):
        fmt = Formatter(locale or settings.org.locale, settings.org.currency)
        key = f"alert:{rule.id}:{scope_key}:{notice.kind}:{at.isoformat()}:{recipient}"
        compose = nudge_reply if rule.target == EACH_REP else notice_reply
        reply = compose(rule, notice, fmt, period=period)
        item = OutboxItem(key, "alert", rule.id, recipient, platform, chat_id, reply, scope_key=scope_key)
        if queue_notice(conn, settings, rule, notice.kind, item, people.get(recipient), now):
            queued.append(item.key)
    return queued


def _record(
    engine: Engine,
    settings: Settings,
    rule: AlertRule,
    observation: Observation,
    slot: datetime,
    now: datetime,
    people: Mapping[str, Person],
    platforms: Sequence[str],
    period: Period,
) -> tuple[str | None, list[str]]:
    """Evaluate one scope in one transaction: run row first (the arbiter), then state, then the outbox.

    Returns the run's outcome (None when another instance evaluated this slot) and the queued keys."""
    at = naive_utc(slot)
    scope_key = observation.scope_key
    try:
        with engine.begin() as conn:
            run_id = _claim_slot(conn, rule, observation, at)
            exists, own, effective = _read_status(conn, rule, scope_key)
            evaluation = evaluate(rule, observation, effective, now)
            _write_status(conn, rule, scope_key, exists, own, evaluation.status, now)
            outcome: str = evaluation.outcome
            error: str | None = None
            refused = _dm_not_permitted(rule, scope_key, people) if evaluation.notice is not None else None
            if refused is not None:
                error = f"{evaluation.outcome} notice not sent: {refused} may not see {scope_key}"
                log.warning("alert %s: %s", rule.id, error)
                outcome = "not_permitted"
            conn.execute(
                update(AlertRun)
                .where(AlertRun.id == run_id)
                .values(state=evaluation.status.state, outcome=outcome, error=error)
            )
            queued: list[str] = []
            if evaluation.notice is not None and refused is None:
                queued = _queue_notices(
                    conn,
                    settings,
                    rule,
                    evaluation.notice,
                    scope_key,
                    at,
                    now,
                    people,
                    platforms,
                    period,
                )
            telemetry().alert_evaluations.labels(outcome).inc()
            return outcome, queued
    except IntegrityError:
        # Another instance evaluated this rule, scope and slot first.
        return None, []


def _log_rule_wide(
    engine: Engine, rule: AlertRule, slot: datetime, error: str, outcome: str = "error"
) -> None:
    """A rule-wide run row for a slot no scope was evaluated in: an `error`, or `stale` data (the reason kept)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(AlertRun).values(
                    rule_id=rule.id,
                    scope_key=RULE_WIDE,
                    evaluated_at=naive_utc(slot),
                    state=outcome,
                    outcome=outcome,
                    error=error[:2000],
                )
            )
        telemetry().alert_evaluations.labels(outcome).inc()
    except IntegrityError:  # another instance logged this slot
        pass


def _stale_reason(fresh: Freshness | None, settings: Settings, now: datetime) -> str | None:
    """Why no rule may be evaluated on the store's data at `now`, or None when it is fresh (or its age unknown)."""
    if fresh is None or not fresh.stale(now, settings.stale_after):
        return None
    if fresh.as_of is None:
        return "no CRM sync has completed yet"
    last = "last import" if fresh.source == "import" else "last CRM sync"
    return f"data as of {fresh.as_of:%Y-%m-%d %H:%M} UTC ({last}), older than data.stale_after {settings.stale_after}"


def run_alerts(
    engine: Engine,
    settings: Settings,
    now: datetime,
    *,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    dry_run: bool = False,
    rules: Sequence[AlertRule] | None = None,
) -> AlertPass:
    """One pass: evaluate every rule that is due at `now`, log each evaluation, queue the notices.

    With `dry_run`, evaluate against the stored state and report, but write nothing.
    """
    result = AlertPass()
    with engine.connect() as conn:
        last = _last_evaluations(conn)
        people = load_people(conn)
        stale = _stale_reason(data_freshness(conn), settings, now)
    for rule in rules if rules is not None else settings.alerts:
        slot = due_slot(rule, settings, now, last.get(rule.id))
        if slot is None:
            continue
        if stale is not None:  # old numbers are not news: the slot is logged, the state kept, nothing sent
            result.evaluations.append((rule.id, RULE_WIDE, "stale"))
            if not dry_run:
                _log_rule_wide(engine, rule, slot, stale, outcome="stale")
            continue
        try:
            with engine.connect() as conn:
                observations, period = observe(conn, settings, rule, now)
        except Exception as exc:
            log.exception("alert %s could not be evaluated", rule.id)
            result.errors[rule.id] = f"{type(exc).__name__}: {exc}"
            if not dry_run:
                _log_rule_wide(engine, rule, slot, result.errors[rule.id])
            continue
        notified: set[str] = set()
        for observation in observations:
            if dry_run:
                with engine.connect() as conn:
                    row = conn.execute(
                        select(AlertState).where(
                            AlertState.rule_id == rule.id, AlertState.scope_key == observation.scope_key
                        )
                    ).first()
                evaluation = evaluate(rule, observation, _status(row), now)
                refused = evaluation.notice is not None and _dm_not_permitted(
                    rule, observation.scope_key, people
                )
                result.evaluations.append(
                    (rule.id, observation.scope_key, "not_permitted" if refused else evaluation.outcome)
                )
                continue
            recorded, queued = _record(
                engine, settings, rule, observation, slot, now, people, platforms, period
            )
            if recorded is not None:
                result.evaluations.append((rule.id, observation.scope_key, recorded))
            if recorded in ("fired", "repeated"):
                notified.add(observation.scope_key)
            result.queued += queued
        if rule.also == "managers" and notified:
            result.queued += queue_team_views(
                engine, settings, rule, observations, notified, slot, now, people, platforms, period
            )
    return result
