"""The outbox against Telegram: the real python-telegram-bot library and kpibot's TelegramSender over real HTTP to
the fake Bot API, which answers 429 and 500 on demand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from telegram import Bot

from alerts.delivery.outbox import OutboxItem, deliveries, drain_outbox, enqueue
from bot.reply.messages import Reply, Span
from bot.telegram.sender import TelegramSender
from storage.config.settings import DeliverySettings
from tests.bot.telegram.conftest import TOKEN, fake_api  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


def _queue(engine) -> None:
    reply = Reply(title="Team digest", lines=((Span("Yesterday: 6 activities done by 2 reps"),),))
    item = OutboxItem(
        "digest:team_digest:mgr-a:2026-11-17", "digest", "team_digest", "mgr-a", "telegram", "555001", reply
    )
    with engine.begin() as conn:
        enqueue(conn, [item], NOW)


async def _drain_at(engine, api, moments, delivery=None):
    bot = Bot(TOKEN, base_url=f"{api.base_url}/bot", base_file_url=f"{api.base_url}/file/bot")
    reports = []
    async with bot:
        senders = {"telegram": TelegramSender(bot, engine, clock=lambda: NOW)}
        for moment in moments:
            reports.append(await drain_outbox(engine, senders, moment, delivery=delivery))
    return reports


def test_429_then_500_is_retried_and_arrives_once(engine, fake_api):  # noqa: F811
    _queue(engine)
    fake_api.fail_next("sendMessage", status=429, retry_after=3)
    fake_api.fail_next("sendMessage", status=500, description="Internal Server Error")
    # 09:00 a 429 asks for 3 s; 09:00:03 a 500 backs off 30 s; 09:00:33 it goes through.
    reports = asyncio.run(
        _drain_at(
            engine,
            fake_api,
            [NOW, NOW + timedelta(seconds=3), NOW + timedelta(seconds=33), NOW + timedelta(hours=1)],
        )
    )
    assert [(len(r.sent), len(r.retried)) for r in reports] == [(0, 1), (0, 1), (1, 0), (0, 0)]
    calls = fake_api.calls_of("sendMessage")
    assert len(calls) == 3 and calls[-1].params["chat_id"] == "555001"
    assert "6 activities" in calls[-1].params["text"]
    [row] = deliveries(engine)
    assert (row.status, row.attempts) == ("sent", 2)  # the 429 cost no attempt


def test_a_chat_that_keeps_failing_ends_dead_with_its_error(engine, fake_api):  # noqa: F811
    _queue(engine)
    for _ in range(5):
        fake_api.fail_next("sendMessage", status=500, description="Internal Server Error")
    moments = [NOW, NOW + timedelta(seconds=30), NOW + timedelta(seconds=90), NOW + timedelta(hours=2)]
    reports = asyncio.run(_drain_at(engine, fake_api, moments, delivery=DeliverySettings(max_attempts=3)))
    assert [len(r.dead) for r in reports] == [0, 0, 1, 0]
    [row] = deliveries(engine, status="dead")
    assert row.attempts == 3 and "Internal Server Error" in (row.last_error or "")
    assert len(fake_api.calls_of("sendMessage")) == 3


def test_a_blocked_bot_is_dead_at_once(engine, fake_api):  # noqa: F811
    _queue(engine)
    fake_api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    [report] = asyncio.run(_drain_at(engine, fake_api, [NOW]))
    assert len(report.dead) == 1
    assert "blocked" in (deliveries(engine)[0].last_error or "")
