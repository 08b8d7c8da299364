"""The rep's own nudge over the November fixture org (tests/fixtures/alerts_org.py), on SQLite and PostgreSQL.

The rule: each rep's calls yesterday (Monday 2026-11-16) below 3, to each rep, and the grouped view to managers.
Yesterday: Rita (rep-1, Alpha, Russian) 2 calls, Rob (rep-2, Alpha) 3, Rae (rep-3, Bravo) 1, and Ruth (rep-4,
Bravo, added here) none at all — she counts as 0. So Rita, Rae and Ruth fire, Rob does not.
Alpha: 1 of its 2 reps below 3 (Rita 2). Bravo: 2 of 2 (Ruth 0, Rae 1).

The pass runs on Tuesday 2026-11-17 at 14:00 UTC: 17:00 in Moscow, 09:00 in New York, 14:00 for the managers
(UTC) — inside everyone's working hours.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert

import alerts.chat  # noqa: F401  (registers the commands)
from alerts.delivery.console import ConsoleSender
from alerts.delivery.outbox import drain_outbox
from alerts.rules.control import alert_states
from alerts.rules.evaluate import Notice, Observation
from alerts.rules.nudges import nudge_reply
from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.formatting import Formatter
from bot.reply.messages import Request
from metrics.periods import parse_period
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from storage.schema import User
from tests.fixtures.alerts_org import seed_november

NUDGE = AlertRule(id="my-calls", name="My calls", metric="activity", measure="calls", condition="below",
                  threshold=3, period="yesterday", every="15m", scope="each rep", target="each rep",
                  also="managers")  # fmt: skip
AFTERNOON = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
TODAY = parse_period("today", now=AFTERNOON, tz=ZoneInfo("UTC"))
SLOT = "2026-11-17T14:00:00"


def seed(engine) -> None:
    seed_november(engine)
    with engine.begin() as conn:
        conn.execute(insert(User), [dict(user_id="rep-4", name="Ruth Rep", role="rep", team_id="t-b",
                                         manager_id="mgr-b", timezone="UTC", locale="en",
                                         email="rep-4@fixture.example")])  # fmt: skip


def delivered(engine, tmp_path, rule: AlertRule = NUDGE) -> tuple[list[str], dict[str, dict]]:
    result = run_alerts(engine, Settings(alerts=[rule]), AFTERNOON, platforms=("console",))
    out = tmp_path / "out.jsonl"
    asyncio.run(drain_outbox(engine, {"console": ConsoleSender(out)}, AFTERNOON))
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    assert len({m["chat_id"] for m in messages}) == len(messages)  # one message per chat
    return result.queued, {m["chat_id"]: m for m in messages}


def test_each_rep_gets_only_their_own_number_and_each_manager_the_team(engine, tmp_path):
    seed(engine)
    queued, messages = delivered(engine, tmp_path)
    assert sorted(queued) == sorted([
        f"alert:my-calls:rep:rep-1:fired:{SLOT}:rep-1",
        f"alert:my-calls:rep:rep-3:fired:{SLOT}:rep-3",
        f"alert:my-calls:rep:rep-4:fired:{SLOT}:rep-4",
        f"alert:my-calls:team:t-a:group:{SLOT}:mgr-a",
        f"alert:my-calls:team:t-b:group:{SLOT}:mgr-b",
    ])  # fmt: skip
    assert set(messages) == {"rep-1", "rep-3", "rep-4", "mgr-a", "mgr-b"}  # Rob made 3: nothing for him

    rita = messages["rep-1"]  # in Russian: 2 → «звонка»
    assert rita["title"] == "🔔 Сработал: My calls"
    assert "У вас 2 звонка вчера (16 нояб. 2026\u202fг.) — ниже порога 3" in rita["text"]
    assert rita["actions"] == ["/alerts snooze my-calls rep:rep-1 4h", "/alerts ack my-calls rep:rep-1",
                               "/activity yesterday"]  # fmt: skip
    assert "You have 1 call yesterday (Nov 16, 2026), below the line of 3" in messages["rep-3"]["text"]
    assert "You have 0 calls yesterday (Nov 16, 2026), below the line of 3" in messages["rep-4"]["text"]
    for rep, others in (("rep-1", ("Rob", "Rae", "Ruth")), ("rep-3", ("Rita", "Ruth")), ("rep-4", ("Rae",))):
        assert not any(name in messages[rep]["text"] for name in others)

    alpha, bravo = messages["mgr-a"], messages["mgr-b"]
    assert alpha["title"] == "🔔 Fired: My calls · Alpha"
    assert "Below 3: 1 of 2 reps" in alpha["text"] and "Rita Rep: 2" in alpha["text"]
    assert "Rob" not in alpha["text"] and "Rae" not in alpha["text"]
    # Lowest first: Ruth 0, then Rae 1.
    assert "Below 3: 2 of 2 reps" in bravo["text"]
    assert bravo["text"].index("Ruth Rep: 0") < bravo["text"].index("Rae Rep: 1")
    assert bravo["actions"][-1] == "/activity yesterday team t-b by rep"
    # The footer names the day, so a list held overnight and read the next morning still says which day it meant;
    # the rep's own message has the dated period in its sentence instead.
    assert bravo["text"].endswith("\nyesterday (Nov 16, 2026)")
    assert not messages["rep-3"]["text"].endswith("(Nov 16, 2026)")
    assert "/alerts snooze my-calls rep:rep-4 4h" in bravo["actions"]


def test_without_also_managers_the_managers_get_nothing(engine, tmp_path):
    seed(engine)
    _, messages = delivered(engine, tmp_path, NUDGE.model_copy(update={"also": None}))
    assert set(messages) == {"rep-1", "rep-3", "rep-4"}


def test_the_russian_nouns_follow_babels_plural_rule():
    fmt = Formatter("ru", "USD")
    rule = NUDGE.model_copy(update={"period": "today", "threshold": 14})

    def said(calls: int) -> str:
        notice = Notice("fired", Observation("rep:rep-1", "Rita Rep", float(calls)))
        return nudge_reply(rule, notice, fmt, period=TODAY).lines[0][0].text

    # one: 1, 21; few: 2–4, 22; many: 0, 5–20, 11.
    assert said(1) == "У вас 1 звонок сегодня (17 нояб. 2026\u202fг.) — ниже порога 14"
    assert said(3) == "У вас 3 звонка сегодня (17 нояб. 2026\u202fг.) — ниже порога 14"
    assert said(5) == "У вас 5 звонков сегодня (17 нояб. 2026\u202fг.) — ниже порога 14"
    assert said(11).startswith("У вас 11 звонков") and said(21).startswith("У вас 21 звонок")
    assert said(0).startswith("У вас 0 звонков")
    english = nudge_reply(rule, Notice("fired", Observation("rep:rep-3", "Rae", 3.0)), Formatter("en", "USD"),
                          period=TODAY)  # fmt: skip
    assert english.lines[0][0].text == "You have 3 calls today (Nov 17, 2026), below the line of 14"


def test_a_rep_snoozes_their_own_nudge_but_not_someone_elses(engine):
    seed(engine)
    settings = Settings(alerts=[NUDGE])

    def say(user: str, text: str):
        conversation = Conversation(engine, settings, build_registry())
        return conversation.handle(Request("console", text, AFTERNOON, user, locale="en"))

    run_alerts(engine, settings, AFTERNOON, platforms=("console",))  # Rae's nudge fires (1 call)
    assert "acknowledged" in say("rep-3", "/alerts ack my-calls rep:rep-3").plain_text
    assert say("rep-3", "/alerts snooze my-calls rep:rep-3 4h").kind == "info"
    states = {(row.scope_key, row.acknowledged_by, row.snoozed_until) for row in alert_states(engine)
              if row.scope_key == "rep:rep-3"}  # fmt: skip
    assert states == {("rep:rep-3", "rep-3", datetime(2026, 11, 17, 18, 0))}
    # Ruth's nudge is hers: Rae is refused, as a rep is for any other alert.
    refused = say("rep-3", "/alerts snooze my-calls rep:rep-4 4h")
    assert refused.kind != "info" and "managers" in refused.plain_text
