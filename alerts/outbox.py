"""The delivery outbox: every scheduled message is a row first and a chat message second (SPEC section 6).

- **Once per key.** A message is inserted with its idempotency key (digest or rule, recipient, period) and
  `ON CONFLICT DO NOTHING`, so two instances (or a rerun) that compute the same digest queue it once.
- **Claimed with a lease.** A sender claims due rows by setting `status='claimed'`, `lease_until` and
  `claimed_by` in one statement: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` then the UPDATE in the same
  transaction, so two instances never claim the same row; on SQLite an atomic `UPDATE … WHERE id IN (SELECT …
  LIMIT n) AND <still due>`, which the database's single writer serialises. A claim whose lease ran out (the
  instance died after claiming and before sending) is due again.
- **Retried, then dead.** A rate limit waits its Retry-After; other failures back off exponentially; after
  `delivery.max_attempts` claims the row is `dead` with its last error kept. A refusal that can never succeed
  (chat not found, bot blocked) is dead at once.
- **Text before charts.** When an attempt with charts fails, the next one sends the text alone, so a chart that
  cannot be sent never holds the message back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts.payload import payload_to_reply, reply_to_payload
from alerts.sender import DeliveryError, Sender
from bot.messages import Reply
from storage.config import DeliverySettings
from storage.schema import OutboxMessage

__all__ = [
    "OutboxItem",
    "ClaimedMessage",
    "DrainReport",
    "enqueue",
    "existing_keys",
    "claim",
    "drain_outbox",
    "deliveries",
    "Delivery",
    "status_counts",
    "backoff",
    "worker_id",
    "naive_utc",
    "run_blocking",
]

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
_CLAIM_BATCH = 50
_MAX_ERROR = 2000

T = TypeVar("T")


async def run_blocking(executor: Executor | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the blocking `call` in `executor`, or with `asyncio.to_thread` (the loop's default pool) when None."""
    if executor is None:
        return await asyncio.to_thread(call, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(call, *args, **kwargs)
    )


def naive_utc(moment: datetime) -> datetime:
    """A tz-aware moment as the store keeps it (naive UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def worker_id() -> str:
    """Who claims: host, process and a random suffix, so two instances on one host differ too."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class OutboxItem:
    """A message to queue. `key` is the idempotency key; `recipient` a user id or chat address, for reading."""

    key: str
    kind: str  # digest / alert
    source: str  # digest name or rule id
    recipient: str
    platform: str
    chat_id: str
    reply: Reply


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    key: str
    platform: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class DrainReport:
    """What one drain pass did (row ids by outcome)."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)


def _insert(conn: Connection):
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(OutboxMessage)


def enqueue(conn: Connection, items: Iterable[OutboxItem], now: datetime) -> int:
    """Queue messages; one whose key is already queued (by anyone, ever) is left alone. Returns how many are new."""
    at = naive_utc(now)
    rows = [
        dict(
            idempotency_key=item.key,
            kind=item.kind,
            source=item.source,
            recipient=item.recipient,
            platform=item.platform,
            chat_id=item.chat_id,
            payload=reply_to_payload(item.reply),
            status="pending",
            attempts=0,
            created_at=at,
            next_attempt_at=at,
        )
        for item in items
    ]
    new = 0
    for row in rows:  # one by one: RETURNING tells which keys were new
        stmt = (
            _insert(conn)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(OutboxMessage.id)
        )
        new += len(conn.execute(stmt).all())
    return new


def existing_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    """Which of `keys` are already queued (so a pass does not compute what is already done)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        found.update(
            conn.execute(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(chunk))
            ).scalars()
        )
    return found


def _due(platforms: Sequence[str], at: datetime):
    o = OutboxMessage
    return and_(
        o.platform.in_(list(platforms)),
        or_(
            and_(o.status == "pending", o.next_attempt_at <= at),
            and_(o.status == "claimed", o.lease_until <= at),
        ),
    )


def claim(
    engine: Engine,
    platforms: Sequence[str],
    now: datetime,
    *,
    worker: str,
    lease: timedelta,
    limit: int = _CLAIM_BATCH,
) -> list[ClaimedMessage]:
    """Claim up to `limit` due messages for these platforms: each is then this worker's until the lease ends."""
    if not platforms:
        return []
    o = OutboxMessage
    at = naive_utc(now)
    values = dict(status="claimed", lease_until=at + lease, claimed_by=worker, attempts=o.attempts + 1)
    returning = (o.id, o.idempotency_key, o.platform, o.chat_id, o.payload, o.attempts)
    order = (o.next_attempt_at, o.id)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ids = list(
                conn.execute(
                    select(o.id)
                    .where(_due(platforms, at))
                    .order_by(*order)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return []
            stmt = update(o).where(o.id.in_(ids))
        else:
            chosen = select(o.id).where(_due(platforms, at)).order_by(*order).limit(limit)
            # Repeating the due condition makes the claim conditional on the row still being free.
            stmt = update(o).where(o.id.in_(chosen.scalar_subquery()), _due(platforms, at))
        rows = conn.execute(stmt.values(**values).returning(*returning)).all()
    return sorted(
        (ClaimedMessage(r.id, r.idempotency_key, r.platform, r.chat_id, r.payload, r.attempts) for r in rows),
        key=lambda m: m.id,
    )


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min … at most an hour."""
    delay = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_MAX)


def _finish(engine: Engine, message: ClaimedMessage, worker: str, **values: Any) -> None:
    o = OutboxMessage
    with engine.begin() as conn:
        # Only the holder of the claim records its outcome: a worker whose lease ran out and was re-claimed by
        # another must not overwrite what that one did.
        conn.execute(
            update(o)
            .where(o.id == message.id, o.claimed_by == worker, o.status == "claimed")
            .values(lease_until=None, **values)
        )


def _failed(
    engine: Engine,
    message: ClaimedMessage,
    worker: str,
    exc: Exception,
    at: datetime,
    delivery: DeliverySettings,
) -> str:
    error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
    payload = message.payload
    if payload.get("charts") and not (isinstance(exc, DeliveryError) and exc.retry_after is not None):
        payload = {**payload, "charts": [], "charts_dropped": True}
    if isinstance(exc, DeliveryError) and exc.permanent:
        _finish(engine, message, worker, status="dead", last_error=error, payload=payload)
        return "dead"
    if isinstance(exc, DeliveryError) and exc.retry_after is not None:
        # A rate limit is the platform asking to wait, not a failure of this message: it costs no attempt.
        _finish(
            engine,
            message,
            worker,
            status="pending",
            attempts=max(message.attempts - 1, 0),
            next_attempt_at=at + timedelta(seconds=max(exc.retry_after, 0.0)),
            last_error=error,
        )
        return "retried"
    if message.attempts >= delivery.max_attempts:
        _finish(engine, message, worker, status="dead", last_error=error, payload=payload)
        return "dead"
    _finish(
        engine,
        message,
        worker,
        status="pending",
        next_attempt_at=at + backoff(message.attempts),
        last_error=error,
        payload=payload,
    )
    return "retried"


async def drain_outbox(
    engine: Engine,
    senders: Mapping[str, Sender],
    now: datetime,
    *,
    delivery: DeliverySettings | None = None,
    worker: str | None = None,
    max_batches: int = 20,
    executor: Executor | None = None,
) -> DrainReport:
    """Send every message that is due at `now` through the sender of its platform; record each outcome.

    The database work runs in `executor` (the scheduler's own threads), else in the loop's default pool."""
    delivery = delivery or DeliverySettings()
    worker = worker or worker_id()
    at = naive_utc(now)
    report = DrainReport()
    lease = timedelta(seconds=delivery.lease_seconds)
    for _ in range(max_batches):
        batch = await run_blocking(executor, claim, engine, list(senders), now, worker=worker, lease=lease)
        if not batch:
            break
        for message in batch:
            reply = payload_to_reply(message.payload)
            try:
                await senders[message.platform].send(message.chat_id, reply)
            except Exception as exc:
                log.warning(
                    "delivery %s to %s:%s failed: %s", message.key, message.platform, message.chat_id, exc
                )
                outcome = await run_blocking(executor, _failed, engine, message, worker, exc, at, delivery)
                (report.dead if outcome == "dead" else report.retried).append(message.id)
                continue
            await run_blocking(
                executor, _finish, engine, message, worker, status="sent", sent_at=at, last_error=None
            )
            report.sent.append(message.id)
    return report


@dataclass(frozen=True)
class Delivery:
    id: int
    key: str
    kind: str
    source: str
    recipient: str
    platform: str
    chat_id: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    title: str


def deliveries(engine: Engine, *, status: str | None = None, limit: int = 50) -> list[Delivery]:
    """The latest messages of the outbox (newest first), optionally of one status."""
    table = OutboxMessage.__table__
    stmt = select(table).order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(table.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        Delivery(
            id=m["id"],
            key=m["idempotency_key"],
            kind=m["kind"],
            source=m["source"],
            recipient=m["recipient"],
            platform=m["platform"],
            chat_id=m["chat_id"],
            status=m["status"],
            attempts=m["attempts"],
            created_at=m["created_at"],
            next_attempt_at=m["next_attempt_at"],
            sent_at=m["sent_at"],
            last_error=m["last_error"],
            title=(m["payload"] or {}).get("title", ""),
        )
        for m in rows
    ]


def status_counts(engine: Engine) -> dict[str, int]:
    """How many messages are in each status."""
    o = OutboxMessage
    with engine.connect() as conn:
        return {s: n for s, n in conn.execute(select(o.status, func.count()).group_by(o.status))}
