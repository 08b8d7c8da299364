"""The scheduler's chat commands: /digest, /subscribe, /unsubscribe, /alerts and (admins) /deliveries.

Declared here as the list `COMMANDS`, which run_bot.py adds to the one Registry, so the console, Telegram and Slack
all serve them; the buttons under an alert (snooze, acknowledge, mute) are plain `/alerts …` commands.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from alerts.audience import Person, load_people
from alerts.delivery import DELIVERY_STATUSES
from alerts.delivery.outbox import deliveries, status_counts
from alerts.digests.run import digest_time, load_choices, may_receive, preview_digests, receives
from alerts.rules.control import acknowledge, alert_states, set_muted, snooze
from alerts.rules.listing import hysteresis, rule_standing, stale_data
from alerts.rules.notices import rule_title
from alerts.rules.run import RULE_WIDE
from bot.reply.command import Command, CommandContext
from bot.reply.messages import Line, Reply, Span
from metrics.scope import Viewer
from storage.config.alerts import DIGEST_NAMES, EACH_REP, parse_duration, parse_local_time
from storage.errors import PermissionDenied, UserError
from storage.schema import Subscription
from storage.times import naive_utc

__all__ = ["COMMANDS", "ALERT_ACTIONS", "may_silence"]

# What `/alerts` does besides listing (the words it takes after its name).
ALERT_ACTIONS = ("snooze", "ack", "mute", "unmute", "list")


def _lines(*texts: str) -> tuple[Line, ...]:
    return tuple((Span(text),) for text in texts)


def _now(ctx: CommandContext) -> datetime:
    return ctx.request.now


def digest_command(ctx: CommandContext) -> Reply:
    """`/digest`: my digests as they would read now; `/digest weekly_changes`: one digest, received or not."""
    assert ctx.viewer is not None
    wanted = ctx.words[0].lower() if ctx.words else None
    if wanted is not None:
        if wanted not in DIGEST_NAMES:
            raise _unknown_digest(ctx, wanted)
        person = _person(ctx)
        if person is None or not may_receive(wanted, person):
            raise _not_for_you(wanted, person)
        if not ctx.settings.digests.get(wanted).enabled:
            return Reply(lines=_lines(ctx.t("digest.disabled", "The {name} digest is turned off for everyone.",
                                            name=wanted)), kind="info")  # fmt: skip
    found = preview_digests(
        ctx.engine, ctx.settings, ctx.viewer.user_id, _now(ctx), locale=ctx.locale, name=wanted
    )
    if not found:
        return Reply(lines=_lines(ctx.t("digest.none", "You receive no digests. Try: /subscribe rep_daily 09:00")),
                     kind="info")  # fmt: skip
    if len(found) == 1:
        return found[0][1]
    lines: list[Line] = []
    table = None
    for _name, reply in found:
        lines.append((Span(reply.title, bold=True),))
        lines.extend(reply.lines)
        table = table or reply.table
    return Reply(title=ctx.t("digest.preview", "Your digests"), lines=tuple(lines), table=table, kind="info")


def _save_choice(
    engine: Engine, user_id: str, digest: str, enabled: bool, local_time: str | None, now
) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    values = dict(enabled=enabled, local_time=local_time, updated_at=naive_utc(now))
    stmt = dialect.insert(Subscription).values(user_id=user_id, digest=digest, **values)
    if local_time is None:
        values.pop("local_time")  # /unsubscribe keeps the chosen time for a later /subscribe
    stmt = stmt.on_conflict_do_update(index_elements=["user_id", "digest"], set_=values)
    with engine.begin() as conn:
        conn.execute(stmt)


def _my_digests(ctx: CommandContext) -> Reply:
    assert ctx.viewer is not None
    with ctx.engine.connect() as conn:
        people = load_people(conn)
        choices = load_choices(conn)
    person = people[ctx.viewer.user_id]
    lines = []
    for name in DIGEST_NAMES:
        config = ctx.settings.digests.get(name)
        if not may_receive(name, person):
            continue
        on = receives(name, config, person, choices)
        at = digest_time(name, config, person, choices).strftime("%H:%M")
        state = ctx.t("subscribe.on", "on at {time}", time=at) if on else ctx.t("subscribe.off", "off")
        lines.append(f"{name}: {state}")
    lines.append(ctx.t("subscribe.usage", "Change with /subscribe NAME [HH:MM] or /unsubscribe NAME."))
    return Reply(title=ctx.t("subscribe.title", "Your digests"), lines=_lines(*lines), kind="info")


def _unknown_digest(ctx: CommandContext, name: str) -> UserError:
    """No digest of that name: the hint names only the digests the asker may have."""
    person = _person(ctx)
    allowed = [digest for digest in DIGEST_NAMES if person is not None and may_receive(digest, person)]
    return UserError("digest.unknown", "There is no digest '{name}'; try: {allowed}.", name=name,
                     allowed=", ".join(allowed or DIGEST_NAMES))  # fmt: skip


def _digest_name(ctx: CommandContext) -> str:
    name = ctx.words[0].lower()
    if name not in DIGEST_NAMES:
        raise _unknown_digest(ctx, name)
    return name


def _not_for_you(name: str, person: Person | None) -> PermissionDenied:
    """A refusal, so no "Try:" of the very command refused: the digests this person may have instead."""
    instead = [other for other in DIGEST_NAMES if person is not None and may_receive(other, person)]
    return PermissionDenied("subscribe.not_for_you", "The {name} digest is for managers of a team; you can "
                            "have {instead}, e.g. /subscribe {first}.", name=name,
                            instead=", ".join(instead), first=instead[0] if instead else "")  # fmt: skip


def subscribe_command(ctx: CommandContext) -> Reply:
    """`/subscribe team_digest 08:30`: receive a digest (at my own local time); `/subscribe`: what I receive."""
    assert ctx.viewer is not None
    if not ctx.words:
        return _my_digests(ctx)
    name = _digest_name(ctx)
    local_time = None
    if len(ctx.words) > 1:
        try:
            local_time = parse_local_time(ctx.words[1]).strftime("%H:%M")
        except ValueError:
            raise UserError("subscribe.time", "I don't understand the time '{text}'; write HH:MM.",
                            text=ctx.words[1]) from None  # fmt: skip
    with ctx.engine.connect() as conn:
        person = load_people(conn).get(ctx.viewer.user_id)
    if person is None or not may_receive(name, person):
        raise _not_for_you(name, person)
    _save_choice(ctx.engine, ctx.viewer.user_id, name, True, local_time, _now(ctx))
    at = local_time or ctx.settings.digests.get(name).time
    return Reply(lines=_lines(ctx.t("subscribe.done", "You will get {name} at {time} ({zone}) on its days.",
                                    name=name, time=at, zone=str(ctx.tz))), kind="info")  # fmt: skip


def unsubscribe_command(ctx: CommandContext) -> Reply:
    """`/unsubscribe rep_daily`: stop a digest."""
    assert ctx.viewer is not None
    if not ctx.words:
        return _my_digests(ctx)
    name = _digest_name(ctx)
    _save_choice(ctx.engine, ctx.viewer.user_id, name, False, None, _now(ctx))
    return Reply(
        lines=_lines(ctx.t("unsubscribe.done", "You will no longer get {name}.", name=name)), kind="info"
    )


def _rule(ctx: CommandContext, rule_id: str):
    for rule in ctx.settings.alerts:
        if rule.id == rule_id:
            return rule
    raise UserError("alerts.unknown", "There is no alert '{rule}'. Try: /alerts", rule=rule_id)


def _person(ctx: CommandContext) -> Person | None:
    assert ctx.viewer is not None
    with ctx.engine.connect() as conn:
        return load_people(conn).get(ctx.viewer.user_id)


def _may_act(person: Person | None, action: str, rule_id: str, scope: str | None) -> None:
    """Who may silence an alert (docs/digests_and_alerts.md): managers and admins only. An alert about a rep is
    meant for their manager, so a rep silencing it — even one about themselves — would hide it from the person it
    is for. Muting, unmuting and anything rule-wide silence alerts meant for other teams too: admins only. A
    manager snoozes or acknowledges one scope of their own: a team they manage or one of its members.

    Refusals are PermissionDenied: one line, with no usage hint that would suggest trying again — each says what
    the asker may do instead (a manager gets the command for a team of their own)."""
    _may_silence(person)
    assert person is not None
    if person.is_admin:
        return
    verb = action if action in ("snooze", "ack") else "snooze"
    example = f"/alerts {verb} {rule_id} team:{person.managed_team_ids[0]}" + (
        " 4h" if verb == "snooze" else ""
    )
    if action in ("mute", "unmute") or scope is None:
        raise PermissionDenied("alerts.admins_only", "Only an admin can mute or unmute an alert or silence a whole "
                               "rule; to snooze or acknowledge one alert, name its scope, e.g. {example}.",
                               example=example)  # fmt: skip
    # A team they manage or one of its members; never their own rep scope (the alert is for their manager).
    own = person.may_see_scope(scope) and scope != f"rep:{person.user_id}"
    if not own:
        raise PermissionDenied("alerts.not_your_scope", "You can only snooze or acknowledge alerts about your own "
                               "teams and their members, not {scope}; e.g. {example}.", scope=scope,
                               example=example)  # fmt: skip


def may_silence(who: Person | Viewer) -> bool:
    """Whether someone may snooze or acknowledge alerts at all: an admin, or a manager of a team."""
    return who.role == "admin" or (who.role == "manager" and bool(who.managed_team_ids))


def _own_nudge(ctx: CommandContext, person: Person | None, action: str) -> bool:
    """Whether this is someone snoozing or acknowledging their own nudge (`target: each rep`): that alert is meant
    for them, so it is theirs to silence — its own scope only (`/alerts snooze RULE rep:<me> 4h`)."""
    words = list(ctx.words[1:3])
    if person is None or action not in ("snooze", "ack") or len(words) < 2:
        return False
    rule = next((r for r in ctx.settings.alerts if r.id == words[0]), None)
    return rule is not None and rule.target == EACH_REP and words[1] == f"rep:{person.user_id}"


def _may_silence(person: Person | None) -> None:
    """A rep is refused before the command's words are checked, so they are never asked to complete it."""
    if person is None or not may_silence(person):
        raise PermissionDenied("alerts.managers_only", "Only managers and admins can snooze or acknowledge alerts; "
                               "/alerts shows what is firing, and your manager gets the alerts about your numbers.")  # fmt: skip


def _list_alerts(ctx: CommandContext) -> Reply:
    t = ctx.t
    states: dict[str, list] = {}
    for row in alert_states(ctx.engine):
        states.setdefault(row.rule_id, []).append(row)
    now = naive_utc(_now(ctx))
    person = _person(ctx)
    stale = stale_data(ctx.engine, ctx.settings, _now(ctx))

    def shown(scope_key: str) -> bool:
        # Which colleague is below a line is theirs and their managers' to know, as in the team digest.
        return person is not None and person.may_see_scope(scope_key)

    lines: list[Line] = []
    for rule in ctx.settings.alerts:
        rows = states.get(rule.id, [])
        wide = next((r for r in rows if r.scope_key == RULE_WIDE), None)
        notes = []
        if wide is not None and wide.muted:
            notes.append(t("alerts.muted", "muted"))
        if wide is not None and wide.snoozed_until and wide.snoozed_until > now:
            notes.append(
                t("alerts.snoozed", "snoozed until {until}", until=f"{wide.snoozed_until:%Y-%m-%d %H:%M} UTC")
            )
        status = rule_standing(t, rule, rows, shown, stale)
        condition = t(f"alerts.condition.{rule.condition}", rule.condition.replace("_", " "))
        text = f"{rule.id} — {rule_title(t, rule)}: {condition} {rule.threshold:g}{hysteresis(t, rule)} · {status}"
        if notes:
            text += f" ({', '.join(notes)})"
        lines.append((Span(text),))
    if not lines:
        lines.append((Span(t("alerts.none", "No alert rules are configured.")),))
    if person is None or not may_silence(person):
        return Reply(title=t("alerts.title", "Alerts"), lines=tuple(lines), kind="info")
    if person.is_admin:
        usage = t("alerts.usage", "/alerts snooze RULE [SCOPE] 4h · /alerts ack RULE [SCOPE] · "
                                  "/alerts mute RULE · /alerts unmute RULE")  # fmt: skip
    else:  # what a manager may do: snooze or acknowledge one alert of their own teams
        usage = t("alerts.usage_scoped", "/alerts snooze RULE SCOPE 4h · /alerts ack RULE SCOPE")
    lines.append((Span(usage, italic=True),))
    return Reply(title=t("alerts.title", "Alerts"), lines=tuple(lines), kind="info")


def alerts_command(ctx: CommandContext) -> Reply:
    """`/alerts`: the rules and what is firing; `/alerts snooze|ack|mute|unmute RULE [SCOPE] [4h]`."""
    if not ctx.words:
        return _list_alerts(ctx)
    action = ctx.words[0].lower()
    if action not in ALERT_ACTIONS:
        raise UserError("alerts.action", "I don't understand '{text}'.", text=action)
    if action == "list":
        return _list_alerts(ctx)
    assert ctx.viewer is not None
    person = _person(ctx)
    own = _own_nudge(ctx, person, action)
    if not own:
        _may_silence(person)
    rest = list(ctx.words[1:])
    if not rest:
        raise UserError("alerts.rule_needed", "Which alert? Try: /alerts")
    rule = _rule(ctx, rest.pop(0))
    duration = None
    if action == "snooze":
        if not rest:
            raise UserError(
                "alerts.duration_needed", "For how long? e.g. /alerts snooze {rule} 4h", rule=rule.id
            )
        try:
            duration = parse_duration(rest.pop())
        except ValueError:
            raise UserError("alerts.duration", "Write a duration like 30m, 4h or 1d.") from None
    scope = rest[0] if rest else None
    if not own:
        _may_act(person, action, rule.id, scope)
    t = ctx.t
    title = rule_title(t, rule)
    if action == "snooze":
        assert duration is not None
        until = _now(ctx) + duration
        snooze(ctx.engine, rule.id, scope, until)
        text = t("alerts.snoozed_done", "{rule} is snoozed until {until}.", rule=title,
                 until=until.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    elif action == "ack":
        count = acknowledge(ctx.engine, rule.id, scope, ctx.viewer.user_id)
        text = t("alerts.acked", "{rule}: acknowledged; no repeats until it resolves.", rule=title) if count \
            else t("alerts.not_firing", "{rule} is not firing.", rule=title)  # fmt: skip
    else:
        set_muted(ctx.engine, rule.id, scope, action == "mute")
        key = "alerts.muted_done" if action == "mute" else "alerts.unmuted_done"
        text = t(key, "{rule} is muted." if action == "mute" else "{rule} speaks again.", rule=title)
    return Reply(lines=_lines(text), kind="info")


def deliveries_command(ctx: CommandContext) -> Reply:
    """`/deliveries [sent|pending|dead]`: what the outbox sent, holds and gave up on (admins)."""
    status = ctx.words[0].lower() if ctx.words else None
    if status is not None and status not in DELIVERY_STATUSES:
        raise UserError("deliveries.status", "Try: /deliveries sent, pending or dead.")
    counts = status_counts(ctx.engine)
    t = ctx.t
    head = t("deliveries.counts", "sent {sent} · pending {pending} · dead {dead}", sent=counts.get("sent", 0),
             pending=counts.get("pending", 0) + counts.get("claimed", 0), dead=counts.get("dead", 0))  # fmt: skip
    if counts.get("held"):
        head += " · " + t("deliveries.held", "held for working hours {held}", held=counts["held"])
    lines = [head]
    for item in deliveries(ctx.engine, status=status, limit=10):
        when = item.sent_at or item.release_at or item.next_attempt_at
        line = f"{item.status} {when:%m-%d %H:%M} {item.platform}:{item.chat_id} {item.source} — {item.title}"
        if item.last_error and item.status != "sent":
            line += f" ({item.last_error[:80]})"
        lines.append(line)
    return Reply(title=t("deliveries.title", "Deliveries"), lines=_lines(*lines), kind="info")


COMMANDS = (
    Command("digest", "/digest", "help.digest", aliases=("дайджест",), handler=digest_command, chart=False,
            help_text="Preview my digests as they would read now.", group="team"),
    # The example is a digest everyone may have (may_receive), so a "Try:" never names one refused to the asker.
    Command("subscribe", "/subscribe rep_daily 08:30", "help.subscribe", aliases=("подписка",),
            handler=subscribe_command, chart=False,
            help_text="Choose a digest and its local time: /subscribe NAME [HH:MM].", group="team", changes=True),
    Command("unsubscribe", "/unsubscribe rep_daily", "help.unsubscribe", aliases=("отписка",),
            handler=unsubscribe_command, chart=False, help_text="Stop a digest: /unsubscribe NAME.", group="team",
            changes=True),
    Command("alerts", "/alerts snooze mql-rate 4h", "help.alerts", aliases=("алерты",), handler=alerts_command,
            chart=False, help_text="Alert rules and what is firing; snooze, acknowledge or mute them.", group="team",
            changes=True, may_change=may_silence),
    Command("deliveries", "/deliveries dead", "help.deliveries", handler=deliveries_command, chart=False,
            admin_only=True, help_text="What was sent, is pending or failed (admins).", group="team"),
)  # fmt: skip
