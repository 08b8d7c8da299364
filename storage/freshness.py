"""How fresh the store's data is: the newest of the last successful CRM sync (`sync_runs`) and the last successful
import (`import_runs` for `kpibot import TABLE FILE`, and the `sync_runs` of `kpibot import --from <crm>`, logged
as `<crm>-export`).

With several CRMs the one synced least recently decides the sync side: every CRM's data is only as fresh as its
last completed run. No run of either kind means the age is unknown (data loaded before runs were logged, or the
demo organisation, which is generated rather than brought in): None, which is never stale.

Moments come back tz-aware in UTC; the store keeps them naive UTC (storage/times.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, func, select

from storage.crm.runs import EXPORT_SUFFIX
from storage.schema import ImportRun, SyncRun

__all__ = ["Freshness", "data_freshness"]


@dataclass(frozen=True)
class Freshness:
    """`as_of`: when the data was last brought up to date, by a CRM sync or an import (`source`); None when CRM
    syncs ran but none has completed and nothing was imported."""

    as_of: datetime | None
    source: Literal["sync", "import"] = "sync"

    def stale(self, now: datetime, stale_after: timedelta) -> bool:
        return self.as_of is None or now - self.as_of > stale_after


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _last_import(conn: Connection) -> datetime | None:
    files = conn.execute(select(func.max(ImportRun.finished_at)).where(ImportRun.status == "ok")).scalar()
    exports = conn.execute(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.status == "ok", SyncRun.crm.endswith(EXPORT_SUFFIX)
        )
    ).scalar()
    found = [moment for moment in (files, exports) if moment is not None]
    return _aware(max(found)) if found else None


def _last_sync(conn: Connection) -> tuple[bool, datetime | None]:
    """(whether any CRM was ever synced, the finish of the least recently synced CRM's last good run or None)."""
    crms = (
        conn.execute(select(SyncRun.crm).distinct().where(~SyncRun.crm.endswith(EXPORT_SUFFIX)))
        .scalars()
        .all()
    )
    if not crms:
        return False, None
    finished: dict[str, datetime] = {
        crm: moment
        for crm, moment in conn.execute(
            select(SyncRun.crm, func.max(SyncRun.finished_at))
            .where(SyncRun.status == "ok", SyncRun.finished_at.is_not(None), SyncRun.crm.in_(crms))
            .group_by(SyncRun.crm)
        )
    }
    if any(crm not in finished for crm in crms):
        return True, None
    return True, _aware(min(finished.values()))


def data_freshness(conn: Connection) -> Freshness | None:
    """How fresh the store's data is (see the module docstring); None when that is unknown."""
    synced, sync_as_of = _last_sync(conn)
    imported = _last_import(conn)
    if imported is not None and (sync_as_of is None or imported > sync_as_of):
        return Freshness(imported, "import")
    if synced:
        return Freshness(sync_as_of, "sync")
    return None
