"""Held messages: alerts queued outside their recipient's working hours wait in the outbox, and go out together.

- **Held.** A message queued outside the window (alerts/delivery/quiet_hours.py) is a row with `status='held'` and
  `release_at`, the start of the recipient's next working window; no sender claims it (claims take `pending` rows).
  Its payload keeps the recipient's language and zone (`held`), for the grouped message.
- **Superseded.** A resolve notice for an alert whose notice is still held marks that row `superseded`, and is
  itself recorded as `superseded`: the reader never learns of an alert that came and went overnight. A later
  notice of the same alert (a repeat) supersedes an earlier one still held, at release.
- **Released.** Once `release_at` has come, the held rows of one chat become one grouped message with its own
  idempotency key `held:<platform>:<chat id>:<local release day>`, and the rows themselves are marked `grouped`;
  a single held row is released as itself (`pending`). The release runs in one transaction that locks the rows it
  reads (FOR UPDATE on PostgreSQL; on SQLite a conditional UPDATE that must change every row it read), so two
  instances, or a restart mid-release, release each held row once; the grouped key is inserted with
  ON CONFLICT DO NOTHING besides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import OperationalError

from alerts.delivery.outbox import OutboxItem, enqueue
from alerts.delivery.payload import payload_to_reply
from bot.reply.i18n import translator
from bot.reply.messages import Action, Line, Reply, Span
from storage.schema import OutboxMessage
from storage.times import naive_utc

__all__ = ["HELD", "GROUPED", "SUPERSEDED", "held_extra", "supersede_held", "release_held", "grouped_reply"]

log = logging.getLogger(__name__)

HELD = "held"
# Buttons of a grouped message: those of its first alerts (each alert's text is there in full either way), so the
# message stays within what Slack and Telegram show comfortably.
_MAX_BUTTONS = 12
GROUPED = "grouped"
SUPERSEDED = "superseded"


def held_extra(locale: str, zone: ZoneInfo) -> dict[str, Any]:
    """What a held row keeps beside its reply: the language and zone its grouped message is written in."""
    return {"held": {"locale": locale, "zone": zone.key}}


def supersede_held(conn: Connection, source: str, scope_key: str | None, recipient: str) -> int:
    """Mark the held notices of this alert (rule, scope) to this recipient `superseded`; how many there were."""
    if scope_key is None:
        return 0
    o = OutboxMessage
    return (
        conn.execute(
            update(o)
            .where(o.status == HELD, o.source == source, o.scope_key == scope_key, o.recipient == recipient)
            .values(status=SUPERSEDED)
        ).rowcount
        or 0
    )


@dataclass(frozen=True)
class _Held:
    id: int
    key: str
    kind: str
    source: str
    recipient: str
    platform: str
    chat_id: str
    scope_key: str | None
    payload: dict[str, Any]
    release_at: datetime


class _Lost(Exception):
    """Another instance released some of these rows first: this transaction is rolled back."""


def grouped_reply(members: Sequence[Reply], locale: str) -> Reply:
    """One message for several held ones: each numbered under its own title, its buttons numbered alike (a button
    that opens the same command for several is shown once)."""
    t = translator(locale)
    lines: list[Line] = []
    actions: list[Action] = []
    commands: set[str] = set()
    for number, member in enumerate(members, start=1):
        lines.append((Span(f"{number}. {member.title}", bold=True),))
        lines.extend(member.lines)
        if member.footer:
            lines.append((Span(member.footer, italic=True),))
        for action in member.actions:
            if action.command in commands or len(actions) >= _MAX_BUTTONS:
                continue
            commands.add(action.command)
            shared = sum(action.command in {a.command for a in m.actions} for m in members) > 1
            label = action.label if shared else f"{action.label} ({number})"
            actions.append(Action(label, action.command))
    title = "🌅 " + t.plural("held.title", len(members), count=len(members))
    return Reply(title=title, lines=tuple(lines), actions=tuple(actions), kind="info")


def _latest_per_alert(rows: Sequence[_Held]) -> tuple[list[_Held], list[_Held]]:
    """(the rows to send, the rows a later notice of the same alert replaced)."""
    latest: dict[tuple[str, str], _Held] = {}
    for row in rows:  # in id order: a later notice replaces an earlier one
        if row.scope_key is None:
            latest[(row.key, "")] = row
        else:
            latest[(row.source, row.scope_key)] = row
    kept = sorted(latest.values(), key=lambda r: r.id)
    return kept, [r for r in rows if r not in kept]


def _mark(conn: Connection, ids: Sequence[int], **values: Any) -> None:
    if not ids:
        return
    o = OutboxMessage
    changed = conn.execute(update(o).where(o.id.in_(list(ids)), o.status == HELD).values(**values)).rowcount
    if changed != len(ids):
        raise _Lost


def _release_chat(conn: Connection, rows: Sequence[_Held], at: datetime) -> list[str]:
    kept, replaced = _latest_per_alert(rows)
    _mark(conn, [r.id for r in replaced], status=SUPERSEDED)
    if len(kept) == 1:
        _mark(conn, [kept[0].id], status="pending", next_attempt_at=at)
        return [kept[0].key]
    held = kept[0].payload.get("held", {})
    locale = held.get("locale", "en")
    zone = ZoneInfo(held.get("zone", "UTC"))
    day = max(r.release_at for r in kept).replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()
    first = kept[0]
    key = f"held:{first.platform}:{first.chat_id}:{day.isoformat()}"
    reply = grouped_reply([payload_to_reply(r.payload) for r in kept], locale)
    kinds = {r.kind for r in kept}
    item = OutboxItem(
        key,
        kinds.pop() if len(kinds) == 1 else "grouped",
        "held",
        first.recipient,
        first.platform,
        first.chat_id,
        reply,
    )
    if not enqueue(conn, [item], at):
        # That day's grouped message exists already (held again after it was made): these go out one by one.
        _mark(conn, [r.id for r in kept], status="pending", next_attempt_at=at)
        return [r.key for r in kept]
    _mark(conn, [r.id for r in kept], status=GROUPED)
    return [key]


def release_held(engine: Engine, now: datetime) -> list[str]:
    """Release every held message whose time has come: one grouped message per chat (or the single one as
    itself). The keys now pending; none when another instance released them first."""
    o = OutboxMessage
    at = naive_utc(now)
    stmt = (
        select(o.id, o.idempotency_key, o.kind, o.source, o.recipient, o.platform, o.chat_id, o.scope_key,
               o.payload, o.release_at)
        .where(o.status == HELD, o.release_at <= at)
        .order_by(o.platform, o.chat_id, o.id)
    )  # fmt: skip
    released: list[str] = []
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # A second instance waits here, then reads the rows again and finds them no longer held.
                stmt = stmt.with_for_update()
            chats: dict[tuple[str, str], list[_Held]] = {}
            for r in conn.execute(stmt):
                chats.setdefault((r.platform, r.chat_id), []).append(_Held(*r))
            for rows in chats.values():
                released += _release_chat(conn, rows, at)
    except _Lost:
        log.info("held messages: another instance released them first")
        return []
    except OperationalError as exc:
        if engine.dialect.name != "sqlite":
            raise
        # SQLite's single writer: another instance wrote between this one's read and its write; the next pass
        # finds what is still held.
        log.info("held messages not released this pass (%s)", type(exc.orig).__name__)
        return []
    return released
