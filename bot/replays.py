"""A short memory of the webhook deliveries already answered, so that a replay or a platform's retry is not.

Slack retries an Events API delivery it got no 2xx for within three seconds (at once, after a minute, after five
minutes, each with `X-Slack-Retry-Num`), and anyone who captured a signed request may post it again while its
timestamp is within Slack's five minutes. Telegram redelivers an update until a webhook answers 200, for up to a
day. Several kpibot instances behind a load balancer see these copies on different machines, so the memory is a
table in the shared database (`handled_requests`), not a set in one process: the first instance to insert a
delivery's key answers it, every later copy is acknowledged and dropped.

The key is claimed before the answer is worked out: at most once, never twice. An instance that dies between the
claim and its reply leaves that one request unanswered (the person asks again) rather than answered twice.

Each row expires; the expired ones are deleted by the next claim, so the table holds only the last minutes (Slack)
or day (Telegram) of traffic.

On SQLite the memory lives in a file of its own beside the database (`<database>-replays`): SQLite lets one writer
at a time into a file, and an import or a journeys refresh holds the database's write lock for tens of seconds, so
a claim in the database itself waited that long before the webhook could answer — past Slack's three seconds, and
past the busy timeout ("database is locked") when the import was long. Every instance on SQLite shares the same
files, so a sibling file is as shared as the database. PostgreSQL keeps the `handled_requests` table.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta

from sqlalchemy import Delete, Engine, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from storage.db import make_engine
from storage.schema import HandledRequest
from storage.times import naive_utc

__all__ = ["request_key", "first_delivery", "replay_store"]

_PRUNE_BATCH = 500  # rows deleted by one claim at most: the table shrinks steadily, no request pays for all


def request_key(*parts: str) -> str:
    """The stored key of a delivery named by `parts` (platform, then what identifies it): a SHA-256, so nothing
    a sender chose is kept and every key has the same length."""
    # JSON keeps the parts apart whatever they hold (and escapes a lone surrogate instead of failing on it).
    return hashlib.sha256(json.dumps(list(parts)).encode("ascii")).hexdigest()


def replay_store(engine: Engine) -> Engine:
    """Where the memory of `engine`'s deliveries is kept: the engine itself, or on SQLite a file beside its database
    (made with its table on first use, disposed with the engine)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return engine
    with _making:  # webhooks arrive together: one store per file, its table made once
        store = _stores.get(database)
        if store is None:
            url = engine.url.set(database=f"{database}-replays").render_as_string(hide_password=False)
            store = make_engine(url)
            with store.begin() as conn:  # IF NOT EXISTS: another instance may be making it at the same moment
                conn.execute(CreateTable(HandledRequest.__table__, if_not_exists=True))  # type: ignore[arg-type]
                for index in HandledRequest.__table__.indexes:  # type: ignore[attr-defined]
                    conn.execute(CreateIndex(index, if_not_exists=True))
            _stores[database] = store
            event.listen(engine, "engine_disposed", lambda _engine: _forget(database))
    return store


_stores: dict[str, Engine] = {}  # by the database file they sit beside
_making = threading.Lock()


def _forget(key: str) -> None:
    with _making:
        store = _stores.pop(key, None)
    if store is not None:
        store.dispose()


def first_delivery(engine: Engine, key: str, *, now: datetime, keep: timedelta) -> bool:
    """Remember `key` until `now + keep`; True the first time (or once the memory of it expired), False for a copy
    still remembered. Expired rows are pruned on the way, a bounded batch at a time."""
    engine = replay_store(engine)
    at = naive_utc(now)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(HandledRequest).values(request_key=key, expires_at=at + keep)
    # An expired row of the same key is taken over in place: correctness never waits for the pruning.
    claim = stmt.on_conflict_do_update(
        index_elements=["request_key"],
        set_={"expires_at": stmt.excluded.expires_at},
        where=HandledRequest.expires_at <= at,
    ).returning(HandledRequest.request_key)  # RETURNING, not rowcount: psycopg reports -1 for an upsert
    with engine.begin() as conn:
        claimed = len(conn.execute(claim).all()) == 1
    with engine.begin() as conn:
        conn.execute(_prune(engine.dialect.name, at))
    return claimed


def _prune(dialect: str, at: datetime) -> Delete:
    expired = (
        select(HandledRequest.request_key)
        .where(HandledRequest.expires_at <= at)
        .order_by(HandledRequest.expires_at)
        .limit(_PRUNE_BATCH)
    )
    if dialect == "postgresql":
        # Instances pruning at the same moment skip each other's rows instead of waiting on them (or deadlocking).
        expired = expired.with_for_update(skip_locked=True)
    return delete(HandledRequest).where(HandledRequest.request_key.in_(expired))
