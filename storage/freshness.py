"""How fresh the store's data is.

When a CRM is synced (any `sync_runs` row of a CRM of its own, whatever its status — the scheduler starts a
configured CRM's first sync at once, so a configured CRM is a recorded one), the CRM side alone decides: the data
is as fresh as the CRM synced least recently, by the finish of its last successful run. A CRM with no successful
run yet makes the age unknown-but-bad (`as_of` None, "no CRM sync has completed yet"), whatever was imported
meanwhile: a `plans.csv` or `users.csv` import says nothing about whether the deals are current.

Only without any CRM sync on record do imports serve: the newest successful `kpibot import TABLE FILE`
(`import_runs`) of a fact table (`FACT_TABLES`) that wrote rows, or `kpibot import --from <crm>` (logged in
`sync_runs` as `<crm>-export`) that wrote rows. No run of either kind means the age is unknown (data loaded before
runs were logged, or the demo organisation, which is generated rather than brought in): None, which is never stale.

Moments come back tz-aware in UTC; the store keeps them naive UTC (storage/times.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, func, select

from storage.crm.runs import EXPORT_SUFFIX
from storage.schema import ImportRun, SyncRun
from storage.times import aware_utc

__all__ = ["FACT_TABLES", "Freshness", "data_freshness"]

FACT_TABLES = frozenset(
    {
        "leads",
        "lead_stage_events",
        "deals",
        "deal_stage_events",
        "activities",
        "orders",
        "mrr",
        "spend",
        "tickets",
    }
)
"""The `kpibot import` tables that record what happened (storage/schema.py `CRM_TABLES`): an import of one of
them brings the numbers up to date; one of teams, users, plans, products … does not."""


@dataclass(frozen=True)
class Freshness:
    """`as_of`: when the data was last brought up to date, by a CRM sync or an import (`source`); None when CRM
    syncs ran but not every CRM has completed one."""

    as_of: datetime | None
    source: Literal["sync", "import"] = "sync"

    def stale(self, now: datetime, stale_after: timedelta) -> bool:
        return self.as_of is None or now - self.as_of > stale_after


def _last_import(conn: Connection) -> datetime | None:
    """The finish of the newest import that wrote fact rows: a file of a fact table, or a CRM's export."""
    files = conn.execute(
        select(func.max(ImportRun.finished_at)).where(
            ImportRun.status == "ok", ImportRun.written > 0, ImportRun.table_name.in_(sorted(FACT_TABLES))
        )
    ).scalar()
    exports = conn.execute(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.status == "ok", SyncRun.written > 0, SyncRun.crm.endswith(EXPORT_SUFFIX)
        )
    ).scalar()
    found = [moment for moment in (files, exports) if moment is not None]
    return aware_utc(max(found)) if found else None


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
    return True, aware_utc(min(finished.values()))


def data_freshness(conn: Connection) -> Freshness | None:
    """How fresh the store's data is (see the module docstring); None when that is unknown."""
    synced, sync_as_of = _last_sync(conn)
    if synced:
        return Freshness(sync_as_of, "sync")
    imported = _last_import(conn)
    return Freshness(imported, "import") if imported is not None else None
