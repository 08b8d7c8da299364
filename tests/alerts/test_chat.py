"""The scheduler's chat commands through the conversation, as people type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import alerts.chat  # noqa: F401  (registers the commands)
from alerts.config import AlertRule
from alerts.control import alert_states
from alerts.digests import load_choices
from alerts.outbox import OutboxItem, enqueue
from alerts.rules import run_alerts
from bot.conversation import Conversation
from bot.messages import Reply, Request, Span
from storage.config import Settings
from tests.alerts.org import seed_november

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
RULE = AlertRule(id="calls-yesterday", name="Calls yesterday", metric="activity", measure="calls",
                 condition="below", threshold=4, period="yesterday", every="15m", repeat_every="1h")  # fmt: skip
SETTINGS = Settings(alerts=[RULE])


def say(engine, user: str, text: str, now: datetime = NOW) -> Reply:
    return Conversation(engine, SETTINGS).handle(Request("console", text, now, user, locale="en"))


def test_a_manager_chooses_a_digest_and_its_time(engine):
    seed_november(engine)
    reply = say(engine, "mgr-a", "/subscribe team_digest 08:30")
    assert reply.kind == "info" and "08:30" in reply.plain_text
    assert say(engine, "mgr-a", "/unsubscribe rep_daily").kind == "info"
    with engine.connect() as conn:
        choices = load_choices(conn)
    assert (choices[("mgr-a", "team_digest")].enabled, choices[("mgr-a", "team_digest")].local_time) == (
        True,
        "08:30",
    )
    assert choices[("mgr-a", "rep_daily")].enabled is False
    listing = say(engine, "mgr-a", "/subscribe").plain_text
    assert "team_digest: on at 08:30" in listing and "rep_daily: off" in listing


def test_a_rep_cannot_take_the_team_digest(engine):
    seed_november(engine)
    reply = say(engine, "rep-2", "/subscribe team_digest")
    assert reply.kind == "user_error" and "managers" in reply.plain_text


def test_digest_previews_mine_now(engine):
    seed_november(engine)
    reply = say(engine, "rep-2", "/digest rep_daily")
    assert "3 activities done (3 calls, 0 meetings)" in reply.plain_text


def test_snooze_from_the_button_then_the_list_shows_it(engine):
    seed_november(engine)
    run_alerts(engine, SETTINGS, NOW, platforms=("console",))
    reply = say(engine, "mgr-b", "/alerts snooze calls-yesterday team:t-b 4h")
    assert reply.kind == "info" and "snoozed until 2026-11-17 14:00" in reply.plain_text
    [row] = [r for r in alert_states(engine) if r.scope_key == "team:t-b"]
    assert row.snoozed_until == (NOW + timedelta(hours=4)).replace(tzinfo=None)
    assert "firing: team:t-b" in say(engine, "mgr-b", "/alerts").plain_text
    assert "acknowledged" in say(engine, "mgr-b", "/alerts ack calls-yesterday team:t-b").plain_text
    assert say(engine, "rep-3", "/alerts mute calls-yesterday").kind == "user_error"


def test_deliveries_is_for_admins(engine):
    seed_november(engine)
    with engine.begin() as conn:
        enqueue(conn, [OutboxItem("k1", "digest", "rep_daily", "rep-1", "console", "rep-1",
                                  Reply(title="Your day", lines=((Span("x"),),)))], NOW)  # fmt: skip
    assert say(engine, "mgr-a", "/deliveries").kind == "user_error"
    text = say(engine, "admin", "/deliveries").plain_text
    assert "sent 0 · pending 1 · dead 0" in text and "console:rep-1 rep_daily — Your day" in text
