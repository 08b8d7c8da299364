"""What the `sync_runs` log says: the last runs (`/syncs`) and when a CRM last started a sync (the scheduler's
due-ness). How fresh the data is, from these runs and the imports, is storage/freshness.py's.

Moments come back tz-aware in UTC; the store keeps them naive UTC (storage/times.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage.schema import SyncClaim, SyncRun
from storage.times import aware_utc as _aware
from storage.times import naive_utc as _naive

__all__ = ["EXPORT_SUFFIX", "RunRow", "recent_runs", "last_started", "claim"]

EXPORT_SUFFIX = "-export"
"""`kpibot import --from <crm>` runs as a sync of `<crm>-export`: an import, not a CRM of its own."""


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
            started_at=_aware(run.started_at),
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


def last_started(conn: Connection, crm: str) -> tuple[datetime, str] | None:
    """When `crm`'s newest run started, and its status (None when it never ran)."""
    row = conn.execute(
        select(SyncRun.started_at, SyncRun.status)
        .where(SyncRun.crm == crm)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return _aware(row[0]), str(row[1])


def claim(engine: Engine, crm: str, holder: str, now: datetime, until: datetime) -> bool:
    """Claim `crm`'s scheduled sync for `holder` until `until`: True for the one instance that gets it (no claim yet,
    or the last one lapsed at `now`), False for the others — decided by one conditional write, as the outbox leases
    its messages."""
    at, end = _naive(now), _naive(until)
    c = SyncClaim
    try:
        with engine.begin() as conn:
            taken = conn.execute(
                update(c).where(c.crm == crm, c.claimed_until <= at).values(holder=holder, claimed_until=end)
            )
            if taken.rowcount == 1:
                return True
            if conn.execute(select(c.crm).where(c.crm == crm)).first() is not None:
                return False  # someone holds it
            conn.execute(insert(c).values(crm=crm, holder=holder, claimed_until=end))
            return True
    except IntegrityError:  # another instance inserted the first claim in the same instant
        return False
