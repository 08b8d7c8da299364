"""The delivery outbox: every scheduled message is a row first and a chat message second (docs/digests_and_alerts.md).

- **Once per key.** A message is inserted with its idempotency key (digest or rule, recipient, period) and
  `ON CONFLICT DO NOTHING`, so two instances (or a rerun) that compute the same digest queue it once.
- **Claimed with a lease and a fencing token.** A sender claims due rows by setting `status='claimed'`,
  `lease_until` and `claimed_by` in one statement: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` then the UPDATE
  in the same transaction, so two instances never claim the same row; on SQLite an atomic `UPDATE … WHERE id IN
  (SELECT … LIMIT n) AND <still due>`, which the database's single writer serialises. `claimed_by` is the claim's
  own token — the worker's id and a fresh nonce per claim — so a later claim of the same row, even by the same
  worker, holds a different token. A claim whose lease ran out (the instance died, or froze, after claiming) is
  due again.
- **Exactly once while the holder lives.** Leases are measured on a clock that moves during the drain (`clock`,
  by default the pass's `now` plus the time elapsed), never on the pass's fixed `now`. While a batch is being
  sent, a heartbeat renews the lease of every row still held every third of a lease, so a batch, or a single
  send, slower than the lease stays this worker's. Right before each send the row is re-checked: a conditional
  UPDATE renews its lease only `WHERE claimed_by = <this claim's token> AND status = 'claimed'`, in its own
  committed transaction. When that matches nothing, the row was claimed by someone else after this worker's
  lease ran out (its heartbeat was stalled: the process was paused, the database unreachable), and it is skipped
  without sending. The outcome is recorded with the same token in the WHERE clause, so a worker that lost its
  claim never overwrites what the new holder did.
- **The window that remains.** Neither platform lets a sender make a message idempotent: Telegram's Bot API
  (sendMessage, sendPhoto) has no idempotency key and a bot cannot read back what it sent; Slack's
  chat.postMessage has none either (a message's `metadata` could be searched with conversations.history, which
  needs history scopes the app does not ask for). So the outcome is recorded in its own short transaction the
  moment the send returns, with nothing in between; a process killed (SIGKILL, power loss) after the platform
  accepted a message and before that commit sends it again once its lease has run out — at least once, never
  lost. The same holds for a worker frozen past its lease in the middle of a send. A graceful stop (SIGTERM)
  lets the message being sent finish and be recorded, and hands the rest of the batch back at once.
- **Retried, then dead.** A rate limit waits its Retry-After; other failures back off exponentially; after
  `delivery.max_attempts` claims the row is `dead` with its last error kept. A refusal that can never succeed
  (chat not found, bot blocked) is dead at once. Every stored error goes through the settings' redactor first
  (`storage.config.secrets.Redactor`), so no token reaches `kpibot deliveries` or `/deliveries`.
- **Held, grouped, superseded.** A row queued outside its recipient's working hours is `held` until `release_at`
  and never claimed; alerts/delivery/held.py releases it (alone, or inside one grouped message whose members
  become `grouped`), or marks it `superseded` when its alert resolved first.
- **Text before charts.** When an attempt with charts fails, the next one sends the text alone, so a chart that
  cannot be sent never holds the message back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts.delivery.payload import payload_to_reply, reply_to_payload
from bot.reply.messages import Reply
from bot.reply.sender import DeliveryError, Sender
from storage.config.secrets import Redactor
from storage.config.settings import DeliverySettings
from storage.schema import OutboxMessage
from storage.telemetry import telemetry
from storage.times import naive_utc

__all__ = [
    "OutboxItem",
    "ClaimedMessage",
    "DrainReport",
    "enqueue",
    "existing_keys",
    "claim",
    "release",
    "drain_outbox",
    "deliveries",
    "Delivery",
    "status_counts",
    "backoff",
    "error_text",
    "worker_id",
    "run_blocking",
]

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
_CLAIM_BATCH = 50
_MAX_ERROR = 2000
# The heartbeat renews a batch's leases three times per lease: two renewals may come late before the rows are due
# for anyone else.
_RENEWALS_PER_LEASE = 3
# Without the settings' secrets at hand (a caller that passes no redactor), token-shaped strings are still blanked.
_TOKEN_SHAPES_ONLY = Redactor()

T = TypeVar("T")


async def run_blocking(executor: Executor | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the blocking `call` in `executor`, or with `asyncio.to_thread` (the loop's default pool) when None."""
    if executor is None:
        return await asyncio.to_thread(call, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(call, *args, **kwargs)
    )


def worker_id() -> str:
    """Who claims: host, process and a random suffix, so two instances on one host differ too."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _claim_token(worker: str) -> str:
    """A claim's fencing token, kept in `claimed_by` (64 characters): who claims, and a nonce no other claim has."""
    return f"{worker[:55]}/{uuid.uuid4().hex[:8]}"


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
    status: str = "pending"  # or held (until `release_at`), superseded (recorded, never sent)
    scope_key: str | None = None  # an alert's scope (`team:t-a`, `rep:rep-1`, `org`)
    release_at: datetime | None = None
    extra: Mapping[str, Any] | None = None  # kept in the payload beside the reply (a held message's language)


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    key: str
    platform: str
    chat_id: str
    payload: dict[str, Any]
    attempts: int
    token: str = ""  # the claim's fencing token: the row is this claim's only while its claimed_by is this


@dataclass
class DrainReport:
    """What one drain pass did (row ids by outcome). `lost`: claimed, then claimed by another worker once this
    one's lease had run out, so left to that one unsent; `released`: handed back unsent when the drain stopped."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)


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
            payload={**reply_to_payload(item.reply), **(item.extra or {})},
            status=item.status,
            attempts=0,
            created_at=at,
            next_attempt_at=naive_utc(item.release_at) if item.release_at else at,
            scope_key=item.scope_key,
            release_at=naive_utc(item.release_at) if item.release_at else None,
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
    """Claim up to `limit` due messages for these platforms under one fresh fencing token: each is then this
    worker's until the lease ends, or for as long as the worker renews it."""
    if not platforms:
        return []
    o = OutboxMessage
    at = naive_utc(now)
    token = _claim_token(worker)
    values = dict(status="claimed", lease_until=at + lease, claimed_by=token, attempts=o.attempts + 1)
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
        (
            ClaimedMessage(r.id, r.idempotency_key, r.platform, r.chat_id, r.payload, r.attempts, token)
            for r in rows
        ),
        key=lambda m: m.id,
    )


def _held(messages: Sequence[ClaimedMessage]):
    """The rows are still these claims': nobody claimed them since (which would have changed their token)."""
    o = OutboxMessage
    by_token: dict[str, list[int]] = {}
    for message in messages:
        by_token.setdefault(message.token, []).append(message.id)
    return and_(
        o.status == "claimed",
        or_(*(and_(o.claimed_by == token, o.id.in_(ids)) for token, ids in by_token.items())),
    )


def renew(engine: Engine, messages: Sequence[ClaimedMessage], until: datetime) -> set[int]:
    """Extend the leases of those `messages` whose claim is still this one to `until`; their ids.

    A lease that has run out is renewed too while the token still matches: then nobody claimed the row
    meanwhile, and after this commit nobody can until `until`."""
    if not messages:
        return set()
    o = OutboxMessage
    with engine.begin() as conn:
        rows = conn.execute(
            update(o).where(_held(messages)).values(lease_until=naive_utc(until)).returning(o.id)
        ).all()
    return {r.id for r in rows}


def release(engine: Engine, messages: Sequence[ClaimedMessage]) -> list[int]:
    """Hand back claimed messages that were never tried: due at once for anyone, and their claim costs no
    attempt. The ids handed back (those still held)."""
    if not messages:
        return []
    o = OutboxMessage
    with engine.begin() as conn:
        rows = conn.execute(
            update(o)
            .where(_held(messages))
            .values(status="pending", lease_until=None, claimed_by=None, attempts=o.attempts - 1)
            .returning(o.id)
        ).all()
    return sorted(r.id for r in rows)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min … at most an hour."""
    delay = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_MAX)


def error_text(exc: BaseException, redact: Callable[[str], str] = _TOKEN_SHAPES_ONLY) -> str:
    """What is kept of a failure: its type and message with every secret blanked, cut to a bounded length."""
    # Redacted before it is cut, so a cut never leaves the head of a secret behind.
    return redact(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]


def _finish(engine: Engine, message: ClaimedMessage, **values: Any) -> bool:
    """Record an outcome in one short transaction of its own; False when the claim was no longer this one."""
    o = OutboxMessage
    with engine.begin() as conn:
        # Only the holder of the claim records its outcome (its token is compared in the UPDATE): a worker whose
        # lease ran out and whose row was claimed by another must not overwrite what that one did.
        done = conn.execute(update(o).where(_held([message])).values(lease_until=None, **values)).rowcount
    return done == 1


def _failed(
    engine: Engine,
    message: ClaimedMessage,
    exc: Exception,
    at: datetime,
    delivery: DeliverySettings,
    redact: Callable[[str], str],
) -> str:
    error = error_text(exc, redact)
    payload = message.payload
    if payload.get("charts") and not (isinstance(exc, DeliveryError) and exc.retry_after is not None):
        payload = {**payload, "charts": [], "charts_dropped": True}
    if isinstance(exc, DeliveryError) and exc.permanent:
        _finish(engine, message, status="dead", last_error=error, payload=payload)
        return "dead"
    if isinstance(exc, DeliveryError) and exc.retry_after is not None:
        # A rate limit is the platform asking to wait, not a failure of this message: it costs no attempt.
        _finish(
            engine,
            message,
            status="pending",
            attempts=max(message.attempts - 1, 0),
            next_attempt_at=at + timedelta(seconds=max(exc.retry_after, 0.0)),
            last_error=error,
        )
        return "retried"
    if message.attempts >= delivery.max_attempts:
        _finish(engine, message, status="dead", last_error=error, payload=payload)
        return "dead"
    _finish(
        engine,
        message,
        status="pending",
        next_attempt_at=at + backoff(message.attempts),
        last_error=error,
        payload=payload,
    )
    return "retried"


@contextlib.asynccontextmanager
async def _heartbeat(
    engine: Engine,
    held: list[ClaimedMessage],
    clock: Callable[[], datetime],
    lease: timedelta,
    executor: Executor | None,
) -> AsyncIterator[None]:
    """While the block runs, renew the leases of the messages in `held` (the caller removes those it is done
    with) every third of a lease, so neither a long batch nor one slow send lets them fall due for others."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(lease.total_seconds() / _RENEWALS_PER_LEASE)
            if not held:
                continue
            try:
                await run_blocking(executor, renew, engine, list(held), clock() + lease)
            except Exception as exc:  # the next beat tries again; the re-check before each send still fences
                log.warning("renewing the outbox leases failed: %s", type(exc).__name__)

    task = asyncio.create_task(beat(), name="outbox-lease-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def drain_outbox(
    engine: Engine,
    senders: Mapping[str, Sender],
    now: datetime,
    *,
    delivery: DeliverySettings | None = None,
    worker: str | None = None,
    max_batches: int = 20,
    executor: Executor | None = None,
    clock: Callable[[], datetime] | None = None,
    redact: Callable[[str], str] | None = None,
    stopping: asyncio.Event | None = None,
) -> DrainReport:
    """Send every message that is due at `now` through the sender of its platform; record each outcome.

    Leases are measured on `clock` (default: `now` plus the time elapsed since the call), which moves while the
    drain runs; what is due, and when a retry is, go by `now`. Errors are stored through `redact` (default:
    token shapes only; pass the settings' `Redactor`). Once `stopping` is set, the message being sent is
    finished and recorded and the rest of its batch is handed back. The database work runs in `executor` (the
    scheduler's own threads), else in the loop's default pool."""
    delivery = delivery or DeliverySettings()
    worker = worker or worker_id()
    redact = redact or _TOKEN_SHAPES_ONLY
    if clock is None:
        started = time.monotonic()
        clock = lambda: now + timedelta(seconds=time.monotonic() - started)  # noqa: E731
    at = naive_utc(now)
    report = DrainReport()
    lease = timedelta(seconds=delivery.lease_seconds)
    for _ in range(max_batches):
        if stopping is not None and stopping.is_set():
            break
        batch = await run_blocking(
            executor, claim, engine, list(senders), clock(), worker=worker, lease=lease
        )
        if not batch:
            break
        waiting = list(batch)  # claimed, not yet tried: what the heartbeat keeps
        async with _heartbeat(engine, waiting, clock, lease, executor):
            while waiting:
                if stopping is not None and stopping.is_set():
                    report.released += await run_blocking(executor, release, engine, list(waiting))
                    waiting.clear()
                    break
                message = waiting[0]
                # The re-check right before sending, committed on its own: still this claim's, for a whole lease.
                if not await run_blocking(executor, renew, engine, [message], clock() + lease):
                    log.warning("delivery %s: claimed by another worker after the lease ran out", message.key)
                    report.lost.append(message.id)
                    waiting.pop(0)
                    continue
                await _send(engine, senders, message, at, delivery, redact, executor, report)
                waiting.pop(0)
    return report


async def _send(
    engine: Engine,
    senders: Mapping[str, Sender],
    message: ClaimedMessage,
    at: datetime,
    delivery: DeliverySettings,
    redact: Callable[[str], str],
    executor: Executor | None,
    report: DrainReport,
) -> None:
    """Send one claimed message and record its outcome at once: nothing happens between the platform's answer
    and the commit of that record (a crash in between sends the message again; see the module docstring)."""
    reply = payload_to_reply(message.payload)
    try:
        await senders[message.platform].send(message.chat_id, reply)
    except Exception as exc:
        outcome = await run_blocking(executor, _failed, engine, message, exc, at, delivery, redact)
        log.warning(
            "delivery %s to %s:%s failed: %s",
            message.key,
            message.platform,
            message.chat_id,
            error_text(exc, redact),
        )
        (report.dead if outcome == "dead" else report.retried).append(message.id)
        telemetry().deliveries.labels(message.platform, outcome).inc()
        return
    recorded = await run_blocking(
        executor, _finish, engine, message, status="sent", sent_at=at, last_error=None
    )
    if not recorded:
        log.warning(
            "delivery %s was sent, but another worker claimed it meanwhile and may send it again", message.key
        )
    report.sent.append(message.id)
    telemetry().deliveries.labels(message.platform, "sent").inc()


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
    release_at: datetime | None = None


def deliveries(
    engine: Engine,
    *,
    status: str | None = None,
    limit: int = 50,
    redact: Callable[[str], str] = _TOKEN_SHAPES_ONLY,
) -> list[Delivery]:
    """The latest messages of the outbox (newest first), optionally of one status.

    Errors are stored redacted; `redact` is applied again on the way out, for rows stored before that was so."""
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
            last_error=redact(m["last_error"]) if m["last_error"] else m["last_error"],
            title=(m["payload"] or {}).get("title", ""),
            release_at=m["release_at"],
        )
        for m in rows
    ]


def status_counts(engine: Engine) -> dict[str, int]:
    """How many messages are in each status."""
    o = OutboxMessage
    with engine.connect() as conn:
        return {s: n for s, n in conn.execute(select(o.status, func.count()).group_by(o.status))}
