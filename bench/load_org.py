"""The load test's database and people: a copy of the benchmark org, chat accounts linked, and the CSV it imports.

The load test writes (an import of 100 k leads, the replays memory, the outbox), so it runs on a copy of the demo
org — a file copy on SQLite, `CREATE DATABASE … TEMPLATE` on PostgreSQL — and the org the other parts measure stays
as it was built.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.engine import make_url

from storage.config.alerts import DIGEST_NAMES
from storage.db import make_engine
from storage.schema import OutboxMessage, Subscription, User

__all__ = ["Asker", "copy_database", "link_askers", "TELEGRAM_ID_BASE"]

TELEGRAM_ID_BASE = 91_000_000
ASKERS_PER_PLATFORM = 25


@dataclass(frozen=True)
class Asker:
    """One person asking one command on one platform."""

    user_id: str
    role: str  # rep / manager / admin
    platform: str  # telegram / slack
    account: str  # the Telegram user id (= private chat id), or the Slack user id
    channel: str  # the chat the request is typed in (Slack: a direct-message channel of the request's own)


def copy_database(source_url: str, copy_name: str, data_dir: Path) -> str:
    """A fresh copy of the database at `source_url`, named `copy_name`; its URL."""
    url = make_url(source_url)
    if url.get_backend_name() == "sqlite":
        source = Path(str(url.database))
        engine = make_engine(source_url)
        with engine.connect() as conn:  # the WAL folded into the file, so the copy is whole
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        target = data_dir / f"{copy_name}.db"
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        with admin.connect() as conn:
            # TEMPLATE needs the source without other sessions; the benchmark's own engine was disposed.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{copy_name}"'))
            conn.execute(text(f'CREATE DATABASE "{copy_name}" TEMPLATE "{url.database}"'))
    finally:
        admin.dispose()
    return url.set(database=copy_name).render_as_string(hide_password=False)


def link_askers(engine: Engine, now: datetime) -> list[Asker]:
    """25 people on Telegram and 25 others on Slack (the admin, managers and reps on each), their accounts linked.

    The Telegram askers' digests are switched off (a subscription row each), so a digest never lands in a chat
    whose reply is being timed; the Slack askers keep theirs, which arrive as chat.postMessage in their own
    direct-message channel, apart from the replies (response_url, files in the request's channel).
    """
    with engine.begin() as conn:
        people = conn.execute(
            select(User.user_id, User.role).where(User.active.is_(True)).order_by(User.user_id)
        ).all()
        by_role: dict[str, list[str]] = {}
        for user_id, role in people:
            by_role.setdefault(str(role), []).append(str(user_id))
        admins, managers, reps = by_role.get("admin", []), by_role.get("manager", []), by_role.get("rep", [])
        half = max(1, len(managers) // 2)
        groups = {
            "telegram": admins[:1] + managers[:half],
            "slack": admins[1:2] + managers[half:],
        }
        spare = iter(reps)
        for platform in groups:
            while len(groups[platform]) < ASKERS_PER_PLATFORM:
                groups[platform].append(next(spare))
        role_of = {str(u): str(r) for u, r in people}
        conn.execute(update(User).values(telegram_user_id=None, slack_user_id=None))
        askers = []
        for i, user_id in enumerate(groups["telegram"]):
            account = TELEGRAM_ID_BASE + i
            conn.execute(update(User).where(User.user_id == user_id).values(telegram_user_id=account))
            askers.append(Asker(user_id, role_of[user_id], "telegram", str(account), str(account)))
        for i, user_id in enumerate(groups["slack"]):
            account = f"UL{i:06d}"
            conn.execute(update(User).where(User.user_id == user_id).values(slack_user_id=account))
            askers.append(Asker(user_id, role_of[user_id], "slack", account, f"DQ{i:06d}"))
        telegram_ids = [a.user_id for a in askers if a.platform == "telegram"]
        conn.execute(delete(Subscription).where(Subscription.user_id.in_(telegram_ids)))
        conn.execute(insert(Subscription), [
            {"user_id": u, "digest": d, "enabled": False, "updated_at": now.astimezone(UTC).replace(tzinfo=None)}
            for u in telegram_ids for d in DIGEST_NAMES
        ])  # fmt: skip
        conn.execute(delete(OutboxMessage))
    return askers
