"""Quiet hours over the November fixture org (tests/fixtures/alerts_org.py), on SQLite and PostgreSQL.

Mia (mgr-a, Alpha) works in Tokyo and Max (mgr-b, Bravo) in Berlin, 08:00–20:00 on working days. Yesterday
(Monday 2026-11-16) Alpha made 5 calls in 6 activities, Bravo 1 call in 1 activity. Two team rules fire for both
teams: calls below 6 and activities below 7.

The pass runs on Tuesday 2026-11-17 at 21:00 UTC: Wednesday 06:00 in Tokyo, Tuesday 22:00 in Berlin — both outside
their hours. Tokyo's window opens on Wednesday at 08:00 = Tuesday 23:00 UTC; Berlin's at 08:00 CET = 07:00 UTC.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update

import alerts.chat  # noqa: F401  (registers the commands)
from alerts.delivery.console import ConsoleSender
from alerts.delivery.held import release_held
from alerts.delivery.outbox import drain_outbox
from alerts.delivery.quiet_hours import release_time
from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.messages import Request
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import DeliverySettings, OrgSettings, Settings, WorkingHours
from storage.schema import Activity, OutboxMessage, User
from tests.fixtures.alerts_org import seed_november

CALLS = AlertRule(id="calls-yesterday", name="Calls yesterday", metric="activity", measure="calls",
                  condition="below", threshold=6, period="yesterday", every="15m", repeat_every="1d")  # fmt: skip
ACTIVITIES = AlertRule(id="activities-yesterday", name="Activities yesterday", metric="activity",
                       measure="activities", condition="below", threshold=7, period="yesterday", every="15m",
                       repeat_every="1d")  # fmt: skip
EVENING = datetime(2026, 11, 17, 21, 0, tzinfo=UTC)
TOKYO_MORNING = datetime(2026, 11, 17, 23, 0, tzinfo=UTC)
BERLIN_MORNING = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
HOURS = WorkingHours()


def seed(engine) -> None:
    seed_november(engine)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "mgr-a").values(timezone="Asia/Tokyo"))
        conn.execute(update(User).where(User.user_id == "mgr-b").values(timezone="Europe/Berlin"))


def rows(engine) -> list[tuple[str, str, str, datetime | None]]:
    o = OutboxMessage
    with engine.connect() as conn:
        found = conn.execute(select(o.idempotency_key, o.recipient, o.status, o.release_at).order_by(o.id))
        return [tuple(r) for r in found]


def deliver(engine, now: datetime, out) -> list[dict]:
    """Release what is due, drain, and return the messages delivered by this call."""
    before = len(out.read_text().splitlines()) if out.exists() else 0
    release_held(engine, now)
    asyncio.run(drain_outbox(engine, {"console": ConsoleSender(out)}, now))
    lines = out.read_text().splitlines() if out.exists() else []
    return [json.loads(line) for line in lines[before:]]


def test_alerts_held_overnight_arrive_at_eight_in_tokyo_and_in_berlin_as_one_message_each(engine, tmp_path):
    seed(engine)
    result = run_alerts(engine, Settings(alerts=[CALLS, ACTIVITIES]), EVENING, platforms=("console",))
    assert len(result.queued) == 4  # two rules × two teams, each to its manager
    held = rows(engine)
    assert {(recipient, status, release) for _, recipient, status, release in held} == {
        ("mgr-a", "held", datetime(2026, 11, 17, 23, 0)),
        ("mgr-b", "held", datetime(2026, 11, 18, 7, 0)),
    }
    out = tmp_path / "out.jsonl"
    assert deliver(engine, EVENING + timedelta(minutes=30), out) == []  # nobody's morning yet
    assert deliver(engine, TOKYO_MORNING - timedelta(minutes=1), out) == []

    [tokyo] = deliver(engine, TOKYO_MORNING, out)
    assert tokyo["chat_id"] == "mgr-a" and tokyo["title"] == "🌅 While you were away: 2 alerts"
    assert (
        "1. 🔔 Fired: Calls yesterday · Alpha" in tokyo["text"]
        and "Calls: 5 (alert below 6)" in tokyo["text"]
    )
    assert "2. 🔔 Fired: Activities yesterday · Alpha" in tokyo["text"]
    # Each alert keeps its buttons, numbered by the alert they belong to.
    assert tokyo["actions"] == [
        "/alerts snooze calls-yesterday team:t-a 4h",
        "/alerts ack calls-yesterday team:t-a",
        "/alerts snooze activities-yesterday team:t-a 4h",
        "/alerts ack activities-yesterday team:t-a",
    ]
    assert deliver(engine, BERLIN_MORNING - timedelta(minutes=1), out) == []
    [berlin] = deliver(engine, BERLIN_MORNING, out)
    assert berlin["chat_id"] == "mgr-b" and "Calls: 1 (alert below 6)" in berlin["text"]

    statuses = {(key, status) for key, _, status, _ in rows(engine)}
    assert ("held:console:mgr-a:2026-11-18", "sent") in statuses  # Wednesday in Tokyo
    assert ("held:console:mgr-b:2026-11-18", "sent") in statuses
    assert sorted(status for key, _, status, _ in rows(engine) if key.startswith("alert:")) == ["grouped"] * 4
    # Released again (a second instance, a restart): nothing more.
    assert release_held(engine, BERLIN_MORNING) == []
    assert deliver(engine, BERLIN_MORNING + timedelta(hours=1), out) == []


def more_calls_for_rae(engine, count: int) -> None:
    at = datetime(2026, 11, 16, 15)
    with engine.begin() as conn:
        conn.execute(
            insert(Activity),
            [dict(activity_id=f"late-{i}", owner_id="rep-3", type="call", created_at=at, due_at=at,
                  completed_at=at, status="done") for i in range(count)],
        )  # fmt: skip


def test_an_alert_that_resolves_while_held_is_never_sent_nor_its_resolve(engine, tmp_path):
    seed(engine)
    bravo = CALLS.model_copy(update={"threshold": 4, "teams": ("t-b",)})
    settings = Settings(alerts=[bravo])
    fired = run_alerts(engine, settings, EVENING, platforms=("console",))
    assert fired.queued == ["alert:calls-yesterday:team:t-b:fired:2026-11-17T21:00:00:mgr-b"]
    # Rae's late entries bring Bravo to 1 + 4 = 5 calls, not below 4: it resolves at 21:15, still in Max's night.
    more_calls_for_rae(engine, 4)
    resolved = run_alerts(engine, settings, EVENING + timedelta(minutes=15), platforms=("console",))
    assert resolved.evaluations == [("calls-yesterday", "team:t-b", "resolved")] and resolved.queued == []
    assert [status for _, _, status, _ in rows(engine)] == ["superseded", "superseded"]
    assert deliver(engine, BERLIN_MORNING, tmp_path / "out.jsonl") == []


def test_a_channel_is_not_held_unless_its_rule_opts_in(engine, tmp_path):
    seed(engine)
    channel = CALLS.model_copy(update={"teams": ("t-b",), "target": "console:sales-room"})
    run_alerts(engine, Settings(alerts=[channel]), EVENING, platforms=("console",))
    quiet = channel.model_copy(update={"id": "calls-quiet", "quiet_hours": True})
    # The channel's zone is the organisation's: Berlin, where 21:00 UTC is 22:00.
    settings = Settings(alerts=[quiet], org=OrgSettings(timezone="Europe/Berlin"))
    run_alerts(engine, settings, EVENING, platforms=("console",))
    assert [(status, release) for _, _, status, release in rows(engine)] == [
        ("pending", None),
        ("held", datetime(2026, 11, 18, 7, 0)),
    ]
    [sent] = deliver(engine, EVENING, tmp_path / "out.jsonl")
    assert sent["chat_id"] == "sales-room" and sent["title"].startswith("🔔 Fired: Calls yesterday")


def test_working_hours_turned_off_send_at_once(engine):
    seed(engine)
    settings = Settings(alerts=[CALLS], delivery=DeliverySettings(working_hours=WorkingHours(enabled=False)))
    run_alerts(engine, settings, EVENING, platforms=("console",))
    assert {status for _, _, status, _ in rows(engine)} == {"pending"}


def test_the_next_window_skips_weekends_and_holidays_in_the_persons_zone():
    friday_evening = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)  # 20:30 in Berlin: after hours
    assert release_time(friday_evening, BERLIN, HOURS) == datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    # Monday the 23rd a holiday: Tuesday.
    monday_off = (date(2026, 11, 23),)
    assert release_time(friday_evening, BERLIN, HOURS, monday_off) == datetime(
        2026, 11, 24, 8, 0, tzinfo=BERLIN
    )
    # Inside the window: not held. Before 08:00 on a working day: that same morning.
    assert release_time(datetime(2026, 11, 17, 9, 0, tzinfo=UTC), BERLIN, HOURS) is None
    early = datetime(2026, 11, 17, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    assert release_time(early, BERLIN, HOURS) == datetime(2026, 11, 17, 8, 0, tzinfo=BERLIN)
    # 20:00 sharp is after hours (the window is [08:00, 20:00)).
    assert release_time(datetime(2026, 11, 17, 19, 0, tzinfo=UTC), BERLIN, HOURS) is not None
    # Across the clock change: Monday 2026-03-30 08:00 in Berlin is 06:00 UTC (summer time), Friday's was 07:00.
    spring = release_time(datetime(2026, 3, 27, 20, 0, tzinfo=UTC), BERLIN, HOURS)
    assert spring is not None and spring.astimezone(UTC) == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)


def test_a_repeat_held_with_its_first_notice_replaces_it(engine, tmp_path):
    seed(engine)
    bravo = CALLS.model_copy(update={"teams": ("t-b",), "repeat_every": "1h"})
    settings = Settings(alerts=[bravo])
    # 21:00 fired, 22:00 repeated: both in Max's night, both held for 07:00 UTC.
    run_alerts(engine, settings, EVENING, platforms=("console",))
    run_alerts(engine, settings, EVENING + timedelta(hours=1), platforms=("console",))
    assert [status for _, _, status, _ in rows(engine)] == ["held", "held"]
    [one] = deliver(engine, BERLIN_MORNING, tmp_path / "out.jsonl")
    assert one["title"].startswith("🔁") and "Calls: 1 (alert below 6)" in one["text"]
    assert [status for _, _, status, _ in rows(engine)] == ["superseded", "sent"]


def test_two_instances_releasing_at_once_release_each_held_message_once(engine):
    seed(engine)
    run_alerts(engine, Settings(alerts=[CALLS, ACTIVITIES]), EVENING, platforms=("console",))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: release_held(engine, TOKYO_MORNING), range(2)))
    # Whichever got there first released Mia's two alerts as one message; the other found nothing to do.
    assert sorted(results, key=len) == [[], ["held:console:mgr-a:2026-11-18"]]
    keys = [key for key, _, _, _ in rows(engine) if key.startswith("held:")]
    assert keys == ["held:console:mgr-a:2026-11-18"]


def test_an_admin_sees_what_is_held_and_until_when(engine):
    seed(engine)
    settings = Settings(alerts=[CALLS, ACTIVITIES])
    run_alerts(engine, settings, EVENING, platforms=("console",))
    conversation = Conversation(engine, settings, build_registry())
    reply = conversation.handle(Request("console", "/deliveries held", EVENING, "admin", locale="en"))
    text = reply.plain_text
    assert "sent 0 · pending 0 · dead 0 · held for working hours 4" in text
    # Each held message with its release time (UTC): 23:00 for Tokyo, 07:00 for Berlin.
    assert text.count("held 11-17 23:00 console:mgr-a") == 2
    assert text.count("held 11-18 07:00 console:mgr-b") == 2
