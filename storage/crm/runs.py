"""What the `sync_runs` log says: the last runs (`/syncs`).

Moments come back tz-aware in UTC; the store keeps them naive UTC (storage/times.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, select

from storage.schema import SyncRun

__all__ = ["RunRow", "recent_runs"]


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass(frozen=True)
class RunRow:
    """One sync run, as `/syncs` lists it."""

    id: int
    crm: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running / ok / failed
    full: bool
    read: int
    written: int
    rejected: int
    deleted: int
    error: str | None


def recent_runs(conn: Connection, limit: int = 10) -> list[RunRow]:
    """The newest `limit` runs of every CRM, newest first."""
    rows = conn.execute(select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit))
    return [
        RunRow(
            id=run.id,
            crm=run.crm,
            started_at=run.started_at.replace(tzinfo=UTC),
            finished_at=_aware(run.finished_at),
            status=run.status,
            full=bool(run.full),
            read=run.read or 0,
            written=run.written or 0,
            rejected=run.rejected or 0,
            deleted=run.deleted or 0,
            error=run.error,
        )
        for run in rows
    ]
