"""`/metrics` over real HTTP, parsed with prometheus-client's own parser, after a scripted conversation, two
digest passes and three deliveries of which two fail; every count worked out by hand below.

The fixture org (tests/fixtures/alerts_org.py): Rob (rep-2) is in UTC, Rita (rep-1) in Moscow (UTC+3), Rae
(rep-3) in New York (UTC−5); `rep_daily` goes out at 09:00 local on Tuesday 2026-11-17 and is the only digest on.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

import bot.conversation
from alerts.delivery.outbox import OutboxItem, drain_outbox, enqueue
from alerts.digests.run import run_digests
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request, Span
from bot.reply.sender import DeliveryError
from bot.serve import Runtime
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import ImportRun, SyncRun, SyncWatermark
from tests.fixtures.alerts_org import seed_november
from tests.ops.served import Served

SCRAPED_AT = datetime(2026, 11, 17, 15, 0, tzinfo=UTC)


class _FlakySender:
    """Chat "ok" takes the message; "later" is refused for now (a 500: retried); "gone" for good (a blocked bot)."""

    platform = "telegram"

    async def send(self, chat_id: str, reply: Reply) -> None:
        if chat_id == "later":
            raise DeliveryError("500 Internal Server Error")
        if chat_id == "gone":
            raise DeliveryError("403 Forbidden: bot was blocked by the user", permanent=True)


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_metrics_count_what_happened(engine, monkeypatch):
    seed_november(engine)
    settings = load_settings(
        config_path=None,
        env={"KPIBOT_HTTP_PORT": "0"},
        digests={name: {"enabled": False} for name in ("team_digest", "weekly_plan", "weekly_changes")},
    )
    conversation = Conversation(engine, settings, build_registry())
    afternoon = datetime(2026, 11, 17, 14, 0, tzinfo=UTC)

    def say(user: str, text: str) -> Reply:
        return conversation.handle(Request("console", text, afternoon, user, locale="en"))

    assert say("rep-2", "/activity yesterday").kind == "answer"
    assert say("rep-2", "/funel").kind == "answer"  # read as /funnel
    assert say("rep-2", "/plan 2027-99").kind == "user_error"
    assert say("rep-2", "hello there").kind == "user_error"  # no command: counted as "unknown"
    assert say("mgr-a", "/leaderboard").kind == "answer"
    real = bot.conversation.answer_metric_command

    def broken(ctx):
        if ctx.command.name == "cycle":
            raise RuntimeError("the metric failed")
        return real(ctx)

    monkeypatch.setattr(bot.conversation, "answer_metric_command", broken)
    assert say("mgr-a", "/cycle").kind == "failure"
    assert say("mgr-a", "/funnel").kind == "answer"

    # 09:03 UTC: Rob's 09:00 is 3 minutes ago (on time), Rita's 09:00 Moscow was 06:00 UTC (late); Rae's is at
    # 14:00 UTC. 14:10 UTC: Rae's, 10 minutes after it (late).
    first = run_digests(engine, settings, datetime(2026, 11, 17, 9, 3, tzinfo=UTC), platforms=("console",))
    second = run_digests(engine, settings, datetime(2026, 11, 17, 14, 10, tzinfo=UTC), platforms=("console",))
    assert sorted(first.queued) == ["digest:rep_daily:rep-1:2026-11-17", "digest:rep_daily:rep-2:2026-11-17"]
    assert second.queued == ["digest:rep_daily:rep-3:2026-11-17"]

    message = Reply(lines=((Span("hello"),),))
    with engine.begin() as conn:
        enqueue(conn, [OutboxItem(f"t:{chat}", "alert", "test", "x", "telegram", chat, message)
                       for chat in ("ok", "later", "gone")], afternoon)  # fmt: skip
        conn.execute(insert(SyncRun), [
            dict(crm="salesforce", started_at=datetime(2026, 11, 17, 13), status="ok", written=7,
                 objects=json.dumps([{"object": "Lead", "written": 5}, {"object": "Opportunity", "written": 2}])),
            dict(crm="salesforce", started_at=datetime(2026, 11, 17, 14), status="failed", written=3,
                 objects=json.dumps([{"object": "Lead", "written": 3}])),
        ])  # fmt: skip
        conn.execute(
            insert(SyncWatermark).values(
                crm="salesforce", object="Lead", watermark=datetime(2026, 11, 17, 14)
            )
        )
        conn.execute(insert(ImportRun), [
            dict(table_name="leads", source="a.csv", started_at=afternoon, finished_at=afternoon, status="ok",
                 written=10),
            dict(table_name="leads", source="b.csv", started_at=afternoon, finished_at=afternoon, status="ok",
                 written=4),
            dict(table_name="leads", source="c.csv", started_at=afternoon, finished_at=afternoon,
                 status="refused", written=0, read=7),
        ])  # fmt: skip
    report = asyncio.run(drain_outbox(engine, {"telegram": _FlakySender()}, afternoon))
    assert (len(report.sent), len(report.retried), len(report.dead)) == (1, 1, 1)

    runtime = Runtime(settings, engine, conversation, http_host="127.0.0.1", clock=lambda: SCRAPED_AT)
    with Served(runtime, lambda runtime: []) as served:
        response = served.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    m = _samples(response.text)

    def commands(command: str, outcome: str) -> float:
        return _value(m, "kpibot_commands_total", command=command, platform="console", outcome=outcome)

    assert commands("activity", "answer") == 1
    assert commands("funnel", "answer") == 2  # the typo and the manager's
    assert commands("plan", "user_error") == 1
    assert commands("unknown", "user_error") == 1
    assert commands("leaderboard", "answer") == 1
    assert commands("cycle", "failure") == 1
    assert _value(m, "kpibot_reply_seconds_count", platform="console") == 7
    assert _value(m, "kpibot_reply_seconds_sum", platform="console") > 0
    assert _value(m, "kpibot_digest_slots_late_total", digest="rep_daily") == 2  # Rita's and Rae's
    for outcome in ("sent", "retried", "dead"):
        assert _value(m, "kpibot_deliveries_total", platform="telegram", outcome=outcome) == 1
    # The outbox: three digests waiting (console has no sender here) and the retried one; one sent, one dead.
    assert _value(m, "kpibot_outbox_messages", status="pending") == 4
    assert _value(m, "kpibot_outbox_messages", status="sent") == 1
    assert _value(m, "kpibot_outbox_messages", status="dead") == 1
    assert _value(m, "kpibot_outbox_messages", status="held") == 0
    # The oldest due: Rob's digest, queued at 09:03 → 15:00 is 5 h 57 min later.
    assert _value(m, "kpibot_outbox_oldest_pending_seconds") == 5 * 3600 + 57 * 60
    assert _value(m, "kpibot_crm_sync_runs_total", crm="salesforce", status="ok") == 1
    assert _value(m, "kpibot_crm_sync_runs_total", crm="salesforce", status="failed") == 1
    assert _value(m, "kpibot_crm_sync_rows_total", crm="salesforce", object="Lead") == 8
    assert _value(m, "kpibot_crm_sync_rows_total", crm="salesforce", object="Opportunity") == 2
    assert _value(m, "kpibot_crm_sync_lag_seconds", crm="salesforce", object="Lead") == 3600
    assert _value(m, "kpibot_import_rows_total", table="leads") == 14  # the refused file wrote nothing


@pytest.mark.parametrize("text", ["/funnel Anna Rogers secret-word", "how much did tok-77 sell"])
def test_a_label_never_holds_what_was_typed(engine, text):
    conversation = Conversation(engine, load_settings(config_path=None, env={}), build_registry())
    conversation.handle(Request("console", text, datetime(2026, 11, 17, 14, tzinfo=UTC), "nobody"))
    from prometheus_client import generate_latest

    from storage.telemetry import telemetry

    scraped = generate_latest(telemetry().registry).decode()
    assert "secret-word" not in scraped and "tok-77" not in scraped and "Anna" not in scraped


def test_serving_again_reports_the_store_once(engine):
    # Each serve() watches its engine's store; a second one replaced nothing and every outbox family came twice.
    from prometheus_client import generate_latest

    from storage.telemetry import telemetry

    telemetry().watch_store(engine)
    telemetry().watch_store(engine)
    scraped = generate_latest(telemetry().registry).decode()
    assert scraped.count("# TYPE kpibot_outbox_oldest_pending_seconds gauge") == 1


def test_alert_evaluations_are_counted_by_outcome(engine):
    # Calls yesterday (Nov 16) per rep, below 3: Rita made 2 and Rae 1 (fired), Rob 3 (quiet). An hour later each
    # is evaluated again: Rita and Rae still firing (no second notice), Rob still quiet.
    from prometheus_client import generate_latest

    from alerts.rules.run import run_alerts
    from storage.config.alerts import AlertRule
    from storage.config.settings import Settings
    from storage.telemetry import telemetry

    seed_november(engine)
    per_rep = AlertRule(id="rep-calls", name="My calls yesterday", metric="activity", measure="calls",
                        condition="below", threshold=3, period="yesterday", every="15m", scope="each rep")  # fmt: skip
    settings = Settings(alerts=[per_rep])
    first = run_alerts(engine, settings, datetime(2026, 11, 17, 10, tzinfo=UTC), platforms=("console",))
    second = run_alerts(engine, settings, datetime(2026, 11, 17, 11, tzinfo=UTC), platforms=("console",))
    assert [o for _, _, o in first.evaluations] == ["fired", "quiet", "fired"]
    m = _samples(generate_latest(telemetry().registry).decode())
    assert _value(m, "kpibot_alert_evaluations_total", outcome="fired") == 2
    assert _value(m, "kpibot_alert_evaluations_total", outcome="firing") == 2
    assert _value(m, "kpibot_alert_evaluations_total", outcome="quiet") == 2
    assert len(second.evaluations) == 3
