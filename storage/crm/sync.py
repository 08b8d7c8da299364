"""`sync(engine, settings, connector)`: read a CRM incrementally into the canonical tables, losing nothing.

For each object of the connector's mapping, in order (users first, history after the records it is about):
- the records changed after the object's watermark (all of them with `full`) are read, mapped and written through
  `kpibot import`'s own checks and upserts (storage/importing/) — a record that fails is rejected with its id,
  field, value and reason, and the rest lands;
- records deleted in the CRM are deleted here (with the stage events of a deleted lead or deal): a connector either
  marks them among the records it reads (`IsDeleted`), or has a deletion feed of its own (`DeletionFeed`: the ids
  deleted since an opaque cursor it handed out, such as a delta link), whose cursor is kept beside the watermark;
- the watermark (the newest stamp read) is stored only after that object's rows are committed, so a sync killed
  mid-object reads the object again from the old watermark: upserts make the second read change nothing twice.
Every run leaves a `sync_runs` row (per object: read, written, rejected, deleted; duration; error), and its
rejected records in `sync_rejects`. A run that fails keeps what earlier objects committed and says why.
Users and teams come from the CRM's users: a manager's direct reports form a team named after the manager; a
user with reports is a manager, one named in `crm.admins` (by email) an admin; kpibot users the CRM does not
have are left alone.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage.config.settings import Settings
from storage.crm.mapping import CrmMapping, CrmRecord, MapContext, ObjectMap, Skip, parse_moment
from storage.crm.source import RowsSource
from storage.importing.importer import ImportReport, RowError, load_source
from storage.schema import (
    CRM_TABLES,
    Activity,
    Deal,
    DealStageEvent,
    Lead,
    LeadStageEvent,
    SyncRejected,
    SyncRun,
    SyncWatermark,
)
from storage.times import naive_utc

__all__ = [
    "Connector",
    "CrmError",
    "DeletionFeed",
    "Deletions",
    "ObjectResult",
    "StoreBound",
    "reconciled",
    "reconciliation_due",
    "SyncResult",
    "sync",
    "MAX_REJECTS_KEPT",
]

log = logging.getLogger(__name__)

MAX_REJECTS_KEPT = 1000  # per object and run; the counts are always whole


class CrmError(Exception):
    """The CRM could not be read; the message is one line for the operator, without secrets. `status`: the HTTP
    status of the CRM's answer, when it gave one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Connector(Protocol):
    """A CRM as the sync sees it (storage/crm/salesforce.py, dynamics.py and sugarcrm.py are three)."""

    crm: str
    mapping: CrmMapping

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[CrmRecord]: ...

    def stamp(self, record: CrmRecord, mapped: ObjectMap) -> datetime | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Deletions:
    """The ids a CRM deleted since a cursor, and the cursor to ask from next time (None: the CRM keeps none)."""

    ids: tuple[str, ...]
    cursor: str | None


@runtime_checkable
class DeletionFeed(Protocol):
    """A connector whose CRM reports deletions apart from the records (storage/crm/dynamics.py is one): asked once
    per object that `deletes`, after its records, with the cursor it handed out last time (None the first time)."""

    def deleted(self, mapped: ObjectMap, cursor: str | None) -> Deletions: ...


def reconciled(engine: Engine, mapped: ObjectMap, listed: set[str], now: datetime) -> Deletions:
    """Deletions found by id reconciliation, for a CRM that keeps no deletion feed: the ids of `mapped.table`
    stored here that the CRM no longer lists (`listed`: every id it lists now), with `now` as the cursor (when the
    last reconciliation ran). The table mirrors the CRM: a row written by hand with an id the CRM lacks goes too."""
    model = CRM_TABLES[mapped.table]
    key = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stored = {str(value) for value in conn.execute(select(key)).scalars()}
    return Deletions(tuple(sorted(stored - listed)), now.isoformat())


def reconciliation_due(cursor: str | None, every: timedelta, now: datetime) -> bool:
    """Whether ids are to be reconciled again: never yet (no cursor), or the last time `every` ago or more."""
    last = parse_moment(cursor) if cursor else None
    return last is None or now - last >= every


@runtime_checkable
class StoreBound(Protocol):
    """A connector that reads the store too — the ids it holds, to reconcile deletions (storage/crm/bitrix24.py), or
    state of its own such as a rotating OAuth refresh token: handed the engine before the first object is read."""

    def bind(self, engine: Engine) -> None: ...


@dataclass
class ObjectResult:
    object: str
    table: str
    read: int = 0
    written: int = 0
    rejected: int = 0
    deleted: int = 0
    seconds: float = 0.0
    error: str | None = None
    watermark: str | None = None


@dataclass
class SyncResult:
    crm: str
    run_id: int | None
    full: bool
    dry_run: bool
    objects: list[ObjectResult] = field(default_factory=list)
    rejects: list[RowError] = field(default_factory=list)
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        read = sum(o.read for o in self.objects)
        written = sum(o.written for o in self.objects)
        rejected = sum(o.rejected for o in self.objects)
        deleted = sum(o.deleted for o in self.objects)
        head = f"{self.crm}: read {read}, written {written}, rejected {rejected}, deleted {deleted}"
        return head + (" (dry run: nothing written)" if self.dry_run else "")


_DELETE_CASCADE = {
    "leads": ((LeadStageEvent, LeadStageEvent.lead_id), (Lead, Lead.lead_id)),
    "deals": ((DealStageEvent, DealStageEvent.deal_id), (Deal, Deal.deal_id)),
}
_UNLINK = {
    "leads": ((Deal, Deal.lead_id), (Activity, Activity.lead_id)),
    "deals": ((Activity, Activity.deal_id),),
}


def sync(
    engine: Engine,
    settings: Settings,
    connector: Connector,
    *,
    full: bool = False,
    dry_run: bool = False,
    progress: bool = False,
    now: datetime | None = None,
    skip_invalid: bool = True,
    watermarks: bool = True,
) -> SyncResult:
    """One sync run of `connector` (see the module docstring); never raises for the CRM's or the data's faults.

    `skip_invalid=False` writes nothing of an object that has a bad record (an export's all-or-nothing import);
    `watermarks=False` reads everything and moves no watermark (export files)."""
    now = now or datetime.now(UTC)
    result = SyncResult(connector.crm, None, full, dry_run)
    options = _Options(full or not watermarks, dry_run, progress, skip_invalid, watermarks)
    if not dry_run:
        result.run_id = _start_run(engine, connector.crm, options.full, now)
    ctx = MapContext(
        connector.mapping.crm, connector.mapping.lead_stage_field, connector.mapping.lead_stages, now
    )
    if isinstance(connector, StoreBound):
        connector.bind(engine)
    try:
        for mapped in connector.mapping.objects:
            outcome = ObjectResult(mapped.object, mapped.table)
            result.objects.append(outcome)
            started = time.monotonic()
            try:
                _sync_object(engine, settings, connector, mapped, ctx, outcome, result, options)
            finally:
                outcome.seconds = round(time.monotonic() - started, 3)
    except Exception as exc:  # the CRM or the store failed: what committed stays, the run says why
        log.debug("sync of %s failed", connector.crm, exc_info=True)
        result.error = " ".join(str(exc).split())[:500] or type(exc).__name__
        if result.objects:
            result.objects[-1].error = result.error
    finally:
        connector.close()
        if result.run_id is not None:
            _finish_run(engine, result, datetime.now(UTC))
    return result


@dataclass(frozen=True)
class _Options:
    full: bool
    dry_run: bool
    progress: bool
    skip_invalid: bool
    watermarks: bool


def _sync_object(
    engine: Engine,
    settings: Settings,
    connector: Connector,
    mapped: ObjectMap,
    ctx: MapContext,
    outcome: ObjectResult,
    result: SyncResult,
    options: _Options,
) -> None:
    since = None if options.full or mapped.always_full else _watermark(engine, connector.crm, mapped.key)
    deleted: list[str] = []
    newest: list[datetime] = []
    mapping_errors: list[RowError] = []
    label = getattr(connector, "labels", {}).get(mapped.object) or f"{connector.crm}:{mapped.object}"

    def rows() -> Iterator[dict[str, Any]]:
        for record in connector.read(mapped, since):
            outcome.read += 1
            stamp = connector.stamp(record, mapped)
            if stamp is not None and (not newest or stamp > newest[0]):
                newest[:] = [stamp]
            record_id = str(record.get(mapped.id_field) or "")
            line = int(
                record.get("_line") or outcome.read
            )  # an export row's line in its file, else its place
            problem = record.get("_problem")  # a field the connector could not read
            if problem:
                mapping_errors.append(RowError(label, line, "", record_id, str(problem), key=record_id))
                continue
            if record.get(mapped.deleted_field):
                if mapped.deletes:
                    deleted.append(record_id)
                continue
            try:
                row = mapped.row(record, ctx)
            except Skip:
                continue
            except (ValueError, TypeError) as exc:
                mapping_errors.append(RowError(label, line, "", record_id, str(exc), key=record_id))
                continue
            if "_line" in record:
                row["_line"] = record["_line"]
            yield row

    write = not options.dry_run
    if mapped.table == "users":
        report = _load_users(
            engine,
            settings,
            list(rows()),
            label,
            settings.crm.admins,
            write=write,
            skip_invalid=options.skip_invalid,
        )
    else:
        source_rows: Iterator[dict[str, Any]] = rows()
        if mapped.first_entry_only or mapped.collapse_repeats:
            source_rows = _only_new_stages(engine, mapped, source_rows)
        report = load_source(
            engine, settings, mapped.table, RowsSource(label, source_rows), label,
            skip_invalid=options.skip_invalid, rejects_file=False, progress=options.progress,
            commit=lambda: write and (options.skip_invalid or not mapping_errors),
        )  # fmt: skip
    if mapping_errors and not options.skip_invalid:
        report = ImportReport(report.table, report.read, 0, report.rejected, report.errors, refused=True)
    outcome.written = report.written
    outcome.rejected = report.rejected + len(mapping_errors)
    rejects = [*mapping_errors, *report.errors]
    locate = getattr(connector, "locate", None)  # an export object's rows spread over several files
    if locate is not None:
        rejects = [locate(mapped.object, error) for error in rejects]
    result.rejects.extend(rejects)
    if report.refused and report.written == 0 and report.errors and not outcome.rejected:
        raise RuntimeError(f"{mapped.object}: {report.errors[0].reason}")
    if report.refused:
        outcome.error = f"nothing of {mapped.object} written: {outcome.rejected} bad record(s)"
    feed: Deletions | None = None
    if mapped.deletes and options.watermarks and isinstance(connector, DeletionFeed):
        feed = connector.deleted(mapped, _cursor(engine, connector.crm, _feed_key(mapped)))
        deleted.extend(feed.ids)
    if not write or report.refused:
        outcome.deleted = len(deleted) if not write else 0
        return
    with engine.begin() as conn:
        outcome.deleted = _delete(conn, mapped.table, deleted)
        if feed is not None and feed.cursor is not None:
            _store_cursor(conn, connector.crm, _feed_key(mapped), feed.cursor, ctx.now)
        if newest and options.watermarks:
            _store_watermark(conn, connector.crm, mapped.key, newest[0])
            outcome.watermark = newest[0].isoformat()
        if result.run_id is not None and rejects:
            _keep_rejects(conn, result.run_id, mapped.object, rejects[:MAX_REJECTS_KEPT])


def _only_new_stages(
    engine: Engine, mapped: ObjectMap, rows: Iterator[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Stage events worth keeping: with `first_entry_only`, a (lead, stage) none is stored for yet; with
    `collapse_repeats`, a stage that is not the deal's previous one (a history row of an amount change)."""
    model = CRM_TABLES[mapped.table]
    owner = model.lead_id if mapped.table == "lead_stage_events" else model.deal_id  # type: ignore[attr-defined]
    previous: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for batch in _chunks(rows, 1000):
        ids = list({str(row.get(owner.key)) for row in batch})
        with engine.connect() as conn:
            if mapped.first_entry_only:
                stored = conn.execute(select(owner, model.stage).where(owner.in_(ids))).all()  # type: ignore[attr-defined]
                seen.update((str(a), str(b)) for a, b in stored)
            if mapped.collapse_repeats:
                missing = [i for i in ids if i not in previous]
                latest = (
                    select(owner, model.stage, model.entered_at)  # type: ignore[attr-defined]
                    .where(owner.in_(missing))
                    .order_by(owner, model.entered_at)  # type: ignore[attr-defined]
                )
                for key, stage, _at in conn.execute(latest):
                    previous[str(key)] = str(stage)
        for row in batch:
            key, stage = str(row.get(owner.key)), str(row.get("stage"))
            if mapped.first_entry_only:
                if (key, stage) in seen:
                    continue
                seen.add((key, stage))
            if mapped.collapse_repeats:
                if previous.get(key) == stage:
                    continue
                previous[key] = stage
            yield row


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _load_users(
    engine: Engine,
    settings: Settings,
    rows: list[dict[str, Any]],
    label: str,
    admins: tuple[str, ...],
    *,
    write: bool,
    skip_invalid: bool,
) -> ImportReport:
    """Teams from the managers, then the users with their roles and teams (see the module docstring)."""
    by_id = {str(row["user_id"]): row for row in rows}
    managers = {str(row["manager_id"]) for row in rows if row.get("manager_id")}
    teams = [
        {"team_id": f"team-{manager}", "name": by_id[manager].get("name") or manager, "manager_id": manager}
        for manager in sorted(managers)
        if manager in by_id
    ]
    # A CRM without managers may name each user's team itself (`team_id` and `team_name` on the row).
    named = {str(row["team_id"]): row.pop("team_name", None) for row in rows if row.get("team_id")}
    teams += [
        {"team_id": team, "name": name or team, "manager_id": None} for team, name in sorted(named.items())
    ]
    for row in rows:
        user_id = str(row["user_id"])
        email = str(row.get("email") or "").lower()
        row["role"] = "admin" if email and email in admins else "manager" if user_id in managers else "rep"
        manager = str(row.get("manager_id") or "")
        row["team_id"] = (
            f"team-{manager}"
            if manager in managers and manager in by_id
            else (f"team-{user_id}" if user_id in managers else row.get("team_id"))
        )
        if row.get("manager_id") and str(row["manager_id"]) not in by_id:
            row["manager_id"] = None  # a manager the CRM did not return (inactive, another org)
        row["locale"] = _locale(row.get("locale"))
        row["active"] = bool(row.get("active", True))
    load_source(
        engine, settings, "teams", RowsSource(f"{label}:teams", iter(teams)), f"{label}:teams",
        skip_invalid=skip_invalid, rejects_file=False, commit=write,
    )  # fmt: skip
    return load_source(
        engine, settings, "users", RowsSource(label, iter(rows)), label,
        skip_invalid=skip_invalid, rejects_file=False, commit=write,
    )  # fmt: skip


def _locale(value: Any) -> str | None:
    """`en_US` → en, `ru` / `ru_RU` → ru; other languages → the organisation's (None)."""
    code = str(value or "").lower().replace("-", "_").split("_", 1)[0]
    return code if code in ("en", "ru") else None


def _delete(conn: Connection, table: str, ids: list[str]) -> int:
    """Delete the records the CRM deleted (and what hangs on them); the number of records deleted."""
    if not ids:
        return 0
    model = CRM_TABLES[table]
    key = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
    count = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for linked, column in _UNLINK.get(table, ()):
            conn.execute(update(linked).where(column.in_(chunk)).values({column.key: None}))
        for dependent, column in _DELETE_CASCADE.get(table, ())[:-1]:
            conn.execute(delete(dependent).where(column.in_(chunk)))
        count += conn.execute(delete(model).where(key.in_(chunk))).rowcount or 0
    return count


def _watermark(engine: Engine, crm: str, key: str) -> datetime | None:
    with engine.connect() as conn:
        stored = conn.execute(
            select(SyncWatermark.watermark).where(SyncWatermark.crm == crm, SyncWatermark.object == key)
        ).scalar()
    return stored.replace(tzinfo=UTC) if stored else None


def _feed_key(mapped: ObjectMap) -> str:
    """Where a deletion feed's cursor is kept: `leads>leads#deleted`, beside the object's watermark."""
    return f"{mapped.key}#deleted"


def _cursor(engine: Engine, crm: str, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(SyncWatermark.cursor).where(SyncWatermark.crm == crm, SyncWatermark.object == key)
        ).scalar()


def _store_cursor(conn: Connection, crm: str, key: str, cursor: str, moment: datetime) -> None:
    w = SyncWatermark
    at = naive_utc(moment)
    done = conn.execute(update(w).where(w.crm == crm, w.object == key).values(watermark=at, cursor=cursor))
    if not done.rowcount:
        conn.execute(insert(w).values(crm=crm, object=key, watermark=at, cursor=cursor))


def _store_watermark(conn: Connection, crm: str, key: str, moment: datetime) -> None:
    w = SyncWatermark
    at = naive_utc(moment)
    done = conn.execute(update(w).where(w.crm == crm, w.object == key).values(watermark=at))
    if not done.rowcount:
        conn.execute(insert(w).values(crm=crm, object=key, watermark=at))


def _start_run(engine: Engine, crm: str, full: bool, now: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(SyncRun)
            .values(crm=crm, started_at=naive_utc(now), status="running", full=full)
            .returning(SyncRun.id)
        ).scalar_one()


def _finish_run(engine: Engine, result: SyncResult, now: datetime) -> None:
    objects = json.dumps([asdict(o) for o in result.objects])
    try:
        with engine.begin() as conn:
            conn.execute(
                update(SyncRun)
                .where(SyncRun.id == result.run_id)
                .values(
                    finished_at=naive_utc(now),
                    status="ok" if result.completed else "failed",
                    objects=objects,
                    error=result.error,
                    read=sum(o.read for o in result.objects),
                    written=sum(o.written for o in result.objects),
                    rejected=sum(o.rejected for o in result.objects),
                    deleted=sum(o.deleted for o in result.objects),
                )
            )
    except SQLAlchemyError:  # the run log must not hide the sync's own outcome
        log.exception("could not record the end of sync run %s", result.run_id)


def _keep_rejects(conn: Connection, run_id: int, object_name: str, rejects: list[RowError]) -> None:
    conn.execute(
        insert(SyncRejected),
        [
            {
                "run_id": run_id,
                "object": object_name,
                "record_id": r.key[:64],
                "field": r.column[:64],
                "value": r.value[:200],
                "reason": r.reason[:500],
            }
            for r in rejects
        ],
    )
