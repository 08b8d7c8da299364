"""Alert passes over the November fixture org (tests/fixtures/alerts_org.py), on SQLite and PostgreSQL.

The rule: "calls yesterday" below 4 for each team, evaluated every 15 minutes, repeated every hour. On Tuesday
2026-11-17, yesterday's calls were Alpha 5 (Rita 2, Rob 3) and Bravo 1 (Rae): Bravo's alert fires, Alpha's does
not.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from alerts.delivery.console import ConsoleSender
from alerts.delivery.outbox import drain_outbox
from alerts.rules.control import acknowledge, set_muted, snooze
from alerts.rules.run import run_alerts
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from storage.schema import Activity, AlertRun
from tests.fixtures.alerts_org import seed_november

CALLS = AlertRule(
    id="calls-yesterday",
    name="Calls yesterday",
    metric="activity",
    measure="calls",
    condition="below",
    threshold=4,
    scope="team",
    period="yesterday",
    every="15m",
    repeat_every="1h",
)
TEN = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def passes(engine, rule, *minutes):
    settings = Settings(alerts=[rule])
    return [run_alerts(engine, settings, TEN + timedelta(minutes=m), platforms=("console",)) for m in minutes]


def outcomes(result) -> dict[str, str]:
    return {scope: outcome for _, scope, outcome in result.evaluations}


def more_calls_for_rae(engine, count: int) -> None:
    at = datetime(2026, 11, 16, 15)
    with engine.begin() as conn:
        conn.execute(
            insert(Activity),
            [
                dict(activity_id=f"late-{i}", owner_id="rep-3", type="call", created_at=at, due_at=at,
                     completed_at=at, status="done")
                for i in range(count)
            ],
        )  # fmt: skip


def test_fires_once_repeats_resolves_and_every_run_is_logged(engine, tmp_path):
    seed_november(engine)
    first, quarter, hour = passes(engine, CALLS, 0, 15, 60)
    assert outcomes(first) == {"team:t-a": "quiet", "team:t-b": "fired"}
    assert first.queued == ["alert:calls-yesterday:team:t-b:fired:2026-11-17T10:00:00:mgr-b"]
    assert outcomes(quarter) == {"team:t-a": "quiet", "team:t-b": "firing"} and quarter.queued == []
    assert outcomes(hour)["team:t-b"] == "repeated" and len(hour.queued) == 1
    # The same slot again (another instance, a rerun): nothing is evaluated twice.
    assert passes(engine, CALLS, 60)[0].evaluations == []
    # Rae's late entries bring Bravo to 5 calls: resolved.
    more_calls_for_rae(engine, 4)
    [resolved] = passes(engine, CALLS, 75)
    assert outcomes(resolved)["team:t-b"] == "resolved" and len(resolved.queued) == 1

    with engine.connect() as conn:
        runs = conn.execute(
            select(AlertRun.scope_key, AlertRun.outcome, AlertRun.value).order_by(AlertRun.id)
        ).all()
    assert len(runs) == 8  # 4 passes × 2 teams
    assert (runs[1].scope_key, runs[1].outcome, runs[1].value) == ("team:t-b", "fired", 1.0)

    out = tmp_path / "out.jsonl"
    asyncio.run(drain_outbox(engine, {"console": ConsoleSender(out)}, TEN + timedelta(minutes=75)))
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["chat_id"] for m in messages] == ["mgr-b"] * 3
    fired = messages[0]["text"]
    assert "Calls yesterday · Bravo" in fired and "Calls: 1 (alert below 4)" in fired
    assert "Rae Rep" in fired
    assert messages[0]["actions"][0] == "/alerts snooze calls-yesterday team:t-b 4h"
    assert messages[2]["title"].startswith("✅")


def test_snoozed_it_stays_quiet_and_acknowledged_it_does_not_repeat(engine):
    seed_november(engine)
    snooze(engine, "calls-yesterday", "team:t-b", TEN + timedelta(hours=4))
    [during] = passes(engine, CALLS, 0)
    assert outcomes(during)["team:t-b"] == "snoozed" and during.queued == []
    # The snooze is over at 14:00: the alert that has been true all along is announced once.
    [after] = passes(engine, CALLS, 240)
    assert outcomes(after)["team:t-b"] == "fired" and len(after.queued) == 1
    assert acknowledge(engine, "calls-yesterday", "team:t-b", "mgr-b") == 1
    [next_hour] = passes(engine, CALLS, 300)
    assert outcomes(next_hour)["team:t-b"] == "acknowledged" and next_hour.queued == []


def test_a_muted_rule_is_evaluated_but_never_speaks(engine):
    seed_november(engine)
    set_muted(engine, "calls-yesterday", None, True)
    [result] = passes(engine, CALLS, 0)
    assert outcomes(result)["team:t-b"] == "muted" and result.queued == []


def test_below_its_minimum_sample_it_does_not_fire(engine):
    seed_november(engine)
    # At least 5 activities before calls are judged: Bravo did 1 activity, Alpha 6.
    rule = CALLS.model_copy(update={"min_sample": 5, "sample_measure": "activities", "threshold": 6})
    [result] = passes(engine, rule, 0)
    assert outcomes(result) == {"team:t-a": "fired", "team:t-b": "skipped"}


def test_each_rep_and_drops_by_against_the_same_weekday_last_week(engine):
    seed_november(engine)
    # Monday the 9th, Rita made 4 calls; Monday the 16th, 2: a 50 % drop. Rob made 3 both Mondays.
    at = datetime(2026, 11, 9, 12)
    with engine.begin() as conn:
        conn.execute(
            insert(Activity),
            [dict(activity_id=f"w-{o}-{i}", owner_id=o, type="call", created_at=at, due_at=at, completed_at=at,
                  status="done") for o, n in (("rep-1", 4), ("rep-2", 3)) for i in range(n)],
        )  # fmt: skip
    rule = AlertRule(
        id="calls-drop",
        metric="activity",
        measure="calls",
        condition="drops_by",
        threshold=30,
        compare="week_ago",
        scope="each rep",
        period="yesterday",
        every="1h",
    )
    [result] = passes(engine, rule, 0)
    assert outcomes(result) == {"rep:rep-1": "fired", "rep:rep-2": "quiet", "rep:rep-3": "skipped"}
    assert result.queued == ["alert:calls-drop:rep:rep-1:fired:2026-11-17T10:00:00:mgr-a"]


def test_a_direct_message_goes_only_to_someone_who_may_see_the_alert(engine, caplog):
    seed_november(engine)
    # Rita asked for the per-rep calls alert in her own chat: below 3, she (2) and Rae (1) fire.
    mine = CALLS.model_copy(
        update={"id": "rep-calls", "scope": "each rep", "threshold": 3, "target": "dm:rep-1"}
    )
    dry = run_alerts(engine, Settings(alerts=[mine]), TEN, platforms=("console",), dry_run=True)
    assert outcomes(dry)["rep:rep-3"] == "not_permitted"
    [result] = passes(engine, mine, 0)
    assert outcomes(result) == {"rep:rep-1": "fired", "rep:rep-2": "quiet", "rep:rep-3": "not_permitted"}
    assert result.queued == ["alert:rep-calls:rep:rep-1:fired:2026-11-17T10:00:00:rep-1"]
    # A team rule aimed at her would name Bravo's reps ("Moved it most: Rae Rep"): it is not sent to her.
    [team] = passes(engine, CALLS.model_copy(update={"target": "dm:rep-1"}), 0)
    assert outcomes(team) == {"team:t-a": "quiet", "team:t-b": "not_permitted"} and team.queued == []
    with engine.connect() as conn:
        runs = conn.execute(
            select(AlertRun.rule_id, AlertRun.scope_key, AlertRun.state, AlertRun.outcome)
            .where(AlertRun.outcome == "not_permitted")
            .order_by(AlertRun.rule_id)
        ).all()
    assert [tuple(r) for r in runs] == [
        ("calls-yesterday", "team:t-b", "firing", "not_permitted"),
        ("rep-calls", "rep:rep-3", "firing", "not_permitted"),
    ]
    assert "may not see team:t-b" in caplog.text
