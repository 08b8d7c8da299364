"""The outbox on SQLite and PostgreSQL: a key is queued once, a claim is exclusive until its lease ends, a run that
died after claiming is completed by the next one, failures back off and end as dead, and charts never hold the
text back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.delivery.console import ConsoleSender
from alerts.delivery.outbox import OutboxItem, backoff, claim, deliveries, drain_outbox, enqueue
from bot.reply.messages import Action, Chart, Reply, Span
from bot.reply.sender import DeliveryError
from storage.config.settings import DeliverySettings
from storage.schema import OutboxMessage

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)


def item(key: str = "digest:rep_daily:rep-1:2026-11-16", charts: bool = False) -> OutboxItem:
    reply = Reply(
        title="Your day",
        lines=((Span("Yesterday: "), Span("5 calls", bold=True)),),
        actions=(Action("Snooze 4h", "/alerts snooze x org 4h"),),
        charts=(Chart("a.png", b"\x89PNG fake", "chart"),) if charts else (),
    )
    return OutboxItem(key, "digest", "rep_daily", "rep-1", "console", "rep-1", reply)


class Recorder:
    """A Sender that records what it sends and fails as scripted (one exception per call, then success)."""

    platform = "console"

    def __init__(self, *failures: Exception, fail_with_charts: bool = False) -> None:
        self.failures = list(failures)
        self.fail_with_charts = fail_with_charts
        self.sent: list[tuple[str, Reply]] = []
        self.calls = 0

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.calls += 1
        if self.fail_with_charts and reply.charts:
            raise RuntimeError("sendPhoto: image too big")
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((chat_id, reply))


def drain(engine, sender, now, **kw):
    return asyncio.run(drain_outbox(engine, {"console": sender}, now, **kw))


def test_a_key_is_queued_once(engine):
    with engine.begin() as conn:
        assert enqueue(conn, [item()], NOW) == 1
    with engine.begin() as conn:
        assert enqueue(conn, [item()], NOW + timedelta(minutes=1)) == 0
    with engine.connect() as conn:
        assert conn.execute(select(OutboxMessage.idempotency_key)).scalars().all() == [item().key]


def test_the_reply_arrives_as_it_was_queued(engine, tmp_path):
    with engine.begin() as conn:
        enqueue(conn, [item()], NOW)
    out = tmp_path / "console.jsonl"
    report = drain(engine, ConsoleSender(out), NOW)
    assert len(report.sent) == 1
    line = out.read_text().splitlines()
    assert len(line) == 1 and '"Yesterday: 5 calls"' not in line[0]  # title and text in one JSON line
    assert "Your day\\nYesterday: 5 calls" in line[0] and "/alerts snooze x org 4h" in line[0]
    [row] = deliveries(engine)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW.replace(tzinfo=None))


def test_a_claim_is_exclusive_until_its_lease_ends(engine):
    with engine.begin() as conn:
        enqueue(conn, [item(f"k{i}") for i in range(3)], NOW)
    first = claim(engine, ["console"], NOW, worker="a", lease=LEASE)
    assert [m.key for m in first] == ["k0", "k1", "k2"]
    assert claim(engine, ["console"], NOW + timedelta(seconds=119), worker="b", lease=LEASE) == []
    # Another platform's messages are not claimed by a worker that cannot send them.
    assert claim(engine, ["telegram"], NOW + timedelta(hours=1), worker="c", lease=LEASE) == []


def test_a_run_killed_after_claiming_is_completed_once_by_the_next(engine):
    with engine.begin() as conn:
        enqueue(conn, [item()], NOW)
    # The first run claims and dies before sending: nothing was sent, the row is held by its lease.
    assert len(claim(engine, ["console"], NOW, worker="dead-run", lease=LEASE)) == 1
    sender = Recorder()
    assert drain(engine, sender, NOW + timedelta(seconds=60)).sent == []  # lease still running
    report = drain(engine, sender, NOW + timedelta(seconds=121))
    assert len(report.sent) == 1 and len(sender.sent) == 1
    assert drain(engine, sender, NOW + timedelta(hours=1)).sent == []
    [row] = deliveries(engine)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_rate_limit_waits_its_retry_after_and_costs_no_attempt(engine):
    with engine.begin() as conn:
        enqueue(conn, [item()], NOW)
    sender = Recorder(DeliveryError("429", retry_after=30))
    assert len(drain(engine, sender, NOW).retried) == 1
    assert drain(engine, sender, NOW + timedelta(seconds=29)).sent == []
    assert len(drain(engine, sender, NOW + timedelta(seconds=30)).sent) == 1
    [row] = deliveries(engine)
    assert (row.status, row.attempts, len(sender.sent)) == ("sent", 1, 1)


def test_failures_back_off_and_end_dead_with_the_error(engine):
    with engine.begin() as conn:
        enqueue(conn, [item()], NOW)
    sender = Recorder(*[RuntimeError("HTTP 500: internal error")] * 10)
    delivery = DeliverySettings(max_attempts=3)
    at = NOW
    assert len(drain(engine, sender, at, delivery=delivery).retried) == 1
    at += backoff(1)  # 30 s
    assert len(drain(engine, sender, at, delivery=delivery).retried) == 1
    at += backoff(2)  # 60 s
    assert len(drain(engine, sender, at, delivery=delivery).dead) == 1
    assert drain(engine, sender, at + timedelta(days=1), delivery=delivery).sent == []
    [row] = deliveries(engine, status="dead")
    assert row.attempts == 3 and "HTTP 500: internal error" in (row.last_error or "")
    assert sender.calls == 3


def test_a_permanent_refusal_is_dead_at_once(engine):
    with engine.begin() as conn:
        enqueue(conn, [item()], NOW)
    report = drain(engine, Recorder(DeliveryError("chat not found", permanent=True)), NOW)
    assert len(report.dead) == 1
    assert "chat not found" in (deliveries(engine)[0].last_error or "")


def test_a_chart_that_cannot_be_sent_does_not_hold_the_text_back(engine):
    with engine.begin() as conn:
        enqueue(conn, [item(charts=True)], NOW)
    sender = Recorder(fail_with_charts=True)
    assert len(drain(engine, sender, NOW).retried) == 1
    assert len(drain(engine, sender, NOW + backoff(1)).sent) == 1
    [(_, reply)] = sender.sent
    assert reply.charts == () and reply.plain_text.startswith("Your day")
