"""The scheduler's chat commands through the conversation, as people type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import alerts.chat  # noqa: F401  (registers the commands)
from alerts.delivery.outbox import OutboxItem, enqueue
from alerts.digests.run import load_choices
from alerts.rules.control import alert_states
from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request, Span
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from tests.fixtures.alerts_org import seed_november

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
RULE = AlertRule(id="calls-yesterday", name="Calls yesterday", metric="activity", measure="calls",
                 condition="below", threshold=4, period="yesterday", every="15m", repeat_every="1h")  # fmt: skip
# Per rep, calls yesterday below 3: Rita (2) and Rae (1) fire, Rob (3) does not.
PER_REP = AlertRule(id="rep-calls", name="My calls yesterday", metric="activity", measure="calls",
                    condition="below", threshold=3, period="yesterday", every="15m", scope="each rep")  # fmt: skip
SETTINGS = Settings(alerts=[RULE, PER_REP])


def say(engine, user: str, text: str, now: datetime = NOW, locale: str = "en") -> Reply:
    return Conversation(engine, SETTINGS, build_registry()).handle(
        Request("console", text, now, user, locale=locale)
    )


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


def _firing(text: str, rule_id: str) -> str:
    line = next(line for line in text.splitlines() if line.startswith(rule_id + " "))
    return line.split(" · ", 1)[1]


def test_the_list_shows_each_person_only_the_firing_they_may_see(engine):
    seed_november(engine)
    run_alerts(engine, SETTINGS, NOW, platforms=("console",))
    # Bravo (1 call) is below 4; Rita (2) and Rae (1) are below 3.
    assert _firing(say(engine, "admin", "/alerts").plain_text, "rep-calls") == "firing: rep:rep-1, rep:rep-3"
    mia = say(engine, "mgr-a", "/alerts").plain_text
    assert (_firing(mia, "calls-yesterday"), _firing(mia, "rep-calls")) == ("ok", "firing: rep:rep-1")
    rae = say(engine, "rep-3", "/alerts").plain_text
    assert (_firing(rae, "calls-yesterday"), _firing(rae, "rep-calls")) == ("ok", "firing: rep:rep-3")
    rob = say(engine, "rep-2", "/alerts").plain_text
    assert "rep:rep-" not in rob and "team:" not in rob


def test_only_an_admin_mutes_or_silences_a_whole_rule(engine):
    seed_november(engine)
    run_alerts(engine, SETTINGS, NOW, platforms=("console",))
    for text in ("/alerts mute calls-yesterday", "/alerts unmute calls-yesterday",
                 "/alerts mute calls-yesterday team:t-a", "/alerts snooze calls-yesterday 4h",
                 "/alerts ack rep-calls"):  # fmt: skip
        assert say(engine, "mgr-a", text).kind == "user_error", text
    assert not [r for r in alert_states(engine) if r.muted or r.acknowledged_by or r.snoozed_until]
    assert say(engine, "admin", "/alerts mute calls-yesterday").kind == "info"
    assert [r.muted for r in alert_states(engine) if r.scope_key == "*"] == [True]
    # And each is shown only what they may do.
    assert "/alerts mute RULE" not in say(engine, "mgr-a", "/alerts").plain_text
    assert "/alerts snooze RULE SCOPE 4h" in say(engine, "mgr-a", "/alerts").plain_text
    assert "/alerts mute RULE" in say(engine, "admin", "/alerts").plain_text


def test_a_manager_acts_only_on_the_alerts_of_their_own_teams(engine):
    seed_november(engine)
    run_alerts(engine, SETTINGS, NOW, platforms=("console",))
    for user, text in (("mgr-a", "/alerts snooze calls-yesterday team:t-b 4h"),
                       ("mgr-a", "/alerts snooze calls-yesterday org 4h"),
                       ("mgr-a", "/alerts ack rep-calls rep:rep-3"),
                       ("mgr-a", "/alerts ack rep-calls rep:mgr-a")):  # fmt: skip
        reply = say(engine, user, text)
        assert reply.kind == "user_error", (user, text)
        assert reply.plain_text.count("\n") == 0, "a refusal is one line"
    assert "acknowledged" in say(engine, "mgr-a", "/alerts ack rep-calls rep:rep-1").plain_text
    assert say(engine, "mgr-b", "/alerts snooze rep-calls rep:rep-3 1h").kind == "info"
    touched = {(r.rule_id, r.scope_key): (r.acknowledged_by, r.snoozed_until) for r in alert_states(engine)
               if r.acknowledged_by or r.snoozed_until}  # fmt: skip
    assert touched == {
        ("rep-calls", "rep:rep-1"): ("mgr-a", None),
        ("rep-calls", "rep:rep-3"): (None, (NOW + timedelta(hours=1)).replace(tzinfo=None)),
    }


def test_a_rep_cannot_silence_an_alert_about_themselves_or_anyone(engine):
    seed_november(engine)
    run_alerts(engine, SETTINGS, NOW, platforms=("console",))
    # Rae (1 call) and Rita (2 calls) fire rep-calls; their managers would see it, so neither may silence it.
    for user, text in (("rep-3", "/alerts ack rep-calls rep:rep-3"),
                       ("rep-3", "/alerts snooze rep-calls rep:rep-3 1h"),
                       ("rep-3", "/alerts snooze rep-calls rep:rep-1 1h"),
                       ("rep-3", "/alerts ack calls-yesterday team:t-b"),
                       ("rep-3", "/alerts ack rep-calls")):  # fmt: skip
        reply = say(engine, user, text)
        assert reply.kind == "user_error", (user, text)
        # What she may do instead, never the command just refused.
        assert reply.plain_text == (
            "Only managers and admins can snooze or acknowledge alerts; /alerts shows what is firing, and your "
            "manager gets the alerts about your numbers."
        ), text
    russian = say(engine, "rep-1", "/alerts snooze rep-calls rep:rep-1 4h", locale="ru")
    assert russian.plain_text == (
        "Откладывать и подтверждать алерты могут только руководители и администраторы; /alerts покажет, что "
        "сработало, а алерты о ваших показателях получает ваш руководитель."
    )
    assert not [r for r in alert_states(engine) if r.acknowledged_by or r.snoozed_until or r.muted]
    # The list still shows Rae her own firing, but offers her nothing she may not do.
    listing = say(engine, "rep-3", "/alerts").plain_text
    assert "firing: rep:rep-3" in listing and "/alerts snooze" not in listing and "/alerts ack" not in listing


def test_deliveries_is_for_admins(engine):
    seed_november(engine)
    with engine.begin() as conn:
        enqueue(conn, [OutboxItem("k1", "digest", "rep_daily", "rep-1", "console", "rep-1",
                                  Reply(title="Your day", lines=((Span("x"),),)))], NOW)  # fmt: skip
    assert say(engine, "mgr-a", "/deliveries").kind == "user_error"
    text = say(engine, "admin", "/deliveries").plain_text
    assert "sent 0 · pending 1 · dead 0" in text and "console:rep-1 rep_daily — Your day" in text
