"""The replay memory: a delivery is answered once while it is remembered, and forgotten (and pruned) after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.replays import first_delivery, replay_store, request_key
from storage.schema import HandledRequest

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEEP = timedelta(minutes=15)


def test_a_delivery_is_first_once_until_its_memory_expires(engine):
    key = request_key("slack", "event", "Ev0001")
    assert first_delivery(engine, key, now=T0, keep=KEEP)
    assert not first_delivery(engine, key, now=T0 + timedelta(minutes=1), keep=KEEP)  # Slack's 1-minute retry
    assert not first_delivery(engine, key, now=T0 + timedelta(minutes=14, seconds=59), keep=KEEP)
    assert first_delivery(engine, key, now=T0 + KEEP, keep=KEEP)  # forgotten: a new delivery
    assert not first_delivery(engine, key, now=T0 + KEEP, keep=KEEP)
    other = request_key("telegram", "7000001", "1")
    assert first_delivery(engine, other, now=T0, keep=KEEP)


def test_expired_deliveries_are_pruned_as_new_ones_arrive(engine):
    for i in range(3):
        assert first_delivery(engine, request_key("slack", "signed", f"v0={i}"), now=T0, keep=KEEP)
    assert first_delivery(
        engine, request_key("slack", "signed", "v0=late"), now=T0 + timedelta(hours=1), keep=KEEP
    )
    with replay_store(engine).connect() as conn:
        assert conn.execute(select(func.count()).select_from(HandledRequest)).scalar() == 1


def test_keys_are_hashes_of_the_same_length_whatever_the_sender_put_in_them():
    assert len(request_key("slack", "signed", "x" * 10_000)) == 64
    assert request_key("slack", "a", "b") != request_key(
        "slack", "a\x1fb"
    )  # parts cannot run into each other
    assert len(request_key("telegram", "\ud800")) == 64  # a lone surrogate does not break the hash


def test_a_delivery_is_claimed_while_an_import_holds_the_sqlite_databases_write_lock(engine):
    """An import writes in one transaction for tens of seconds; the webhook's claim must not wait for it (it did,
    past Slack's three seconds and, for a long import, past the busy timeout: "database is locked")."""
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL lets every writer in at once
    import sqlite3

    importer = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        importer.execute("BEGIN IMMEDIATE")  # the write lock, held as an import's transaction holds it
        importer.execute("INSERT INTO teams (team_id, name) VALUES ('t-import', 'Imported')")
        key = request_key("telegram", "7000001", "42")
        assert first_delivery(engine, key, now=T0, keep=KEEP)
        assert not first_delivery(engine, key, now=T0 + timedelta(minutes=1), keep=KEEP)  # still once only
    finally:
        importer.execute("ROLLBACK")
        importer.close()


def test_webhooks_arriving_together_share_one_memory_and_each_delivery_is_first_once(engine):
    from concurrent.futures import ThreadPoolExecutor

    keys = [
        request_key("telegram", "7000001", str(i % 10)) for i in range(40)
    ]  # each of 10 deliveries 4 times
    with ThreadPoolExecutor(8) as pool:
        firsts = list(pool.map(lambda key: first_delivery(engine, key, now=T0, keep=KEEP), keys))
    assert sum(firsts) == 10
