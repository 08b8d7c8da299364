"""`kpibot sync <crm> [--full] [--dry-run]` and `kpibot syncs`: read a CRM now, and what the syncs did."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from storage.cli import CliContext
from storage.config.settings import Settings
from storage.crm.amocrm import AmocrmConnector, amocrm_export_files, amocrm_export_reader, amocrm_mapping
from storage.crm.bitrix24 import (
    Bitrix24Connector,
    Bitrix24ExportConnector,
    bitrix24_dialect,
    bitrix24_export_files,
    bitrix24_export_mapping,
)
from storage.crm.dynamics import DynamicsConnector, dynamics_mapping
from storage.crm.dynamics_export import LOGICAL_NAMES, DynamicsRows, synapse_link_files
from storage.crm.exports import DIALECTS, ExportConnector, ExportDialect, Partitions, RowReader, export_files
from storage.crm.hubspot import HubspotConnector, HubspotExport, hubspot_mapping
from storage.crm.mapping import CrmMapping, apply_overrides
from storage.crm.pipedrive import PipedriveConnector, PipedriveRows, pipedrive_mapping
from storage.crm.runs import EXPORT_SUFFIX
from storage.crm.salesforce import SalesforceConnector, salesforce_mapping
from storage.crm.sugarcrm import SugarcrmConnector, sugarcrm_mapping
from storage.crm.sync import Connector, CrmError, SyncResult, sync
from storage.schema import SyncRejected, SyncRun

__all__ = ["CONNECTORS", "EXPORTS", "ExportFormat", "import_export", "register"]

# Each CRM kpibot reads, by the name `kpibot sync` takes.
CONNECTORS: dict[str, Callable[[Settings], Connector]] = {
    "salesforce": SalesforceConnector.from_settings,
    "dynamics": DynamicsConnector.from_settings,
    "sugarcrm": SugarcrmConnector.from_settings,
    "bitrix24": Bitrix24Connector.from_settings,
    "hubspot": HubspotConnector.from_settings,
    "pipedrive": PipedriveConnector.from_settings,
    "amocrm": AmocrmConnector.from_settings,
}
# Another name of a CRM kpibot reads (Kommo is amoCRM's international edition, the same API).
ALIASES = {"kommo": "amocrm"}


@dataclass(frozen=True)
class ExportFormat:
    """How `kpibot import --from <crm>` finds and reads a CRM's export files. The defaults are Salesforce's way: a
    file per object named after it (or one of `aliases`), its rows read by the CRM's dialect (exports.py)."""

    mapping: Callable[[Settings], CrmMapping]  # the CRM's mapping with the team's overrides (no credentials)
    aliases: dict[str, str] | None = None  # other names of an object's file (Dataverse's logical names)
    # Where the files are found another way (a Synapse Link folder's model.json, every CSV of a folder): each
    # object's file (or folder) and its data files in order; None: not that way.
    files: Callable[[CrmMapping, Path], tuple[dict[str, Path], Partitions] | None] | None = None
    rows: Callable[[Path], RowReader] | None = (
        None  # how a file row becomes the API's record, if not Salesforce's
    )
    dialect: ExportDialect | None = (
        None  # dates, numbers, booleans as the export writes them, if not in DIALECTS
    )
    # (name, mapping, files, settings, partitions) for a reader of its own
    reader: Callable[[str, CrmMapping, dict[str, Path], Settings, Partitions], Connector] | None = None

    def open(self, crm: str, settings: Settings, path: Path) -> Connector:
        """The connector reading the export at `path` (a folder or one file); UserError, ValueError, OSError when
        it is not one."""
        mapping = self.mapping(settings)
        found = self.files(mapping, path) if self.files else None
        files, partitions = found or (export_files(mapping, path, self.aliases), {})
        name = f"{crm}{EXPORT_SUFFIX}"
        if self.reader is not None:
            return self.reader(name, mapping, files, settings, partitions)
        dialect = self.dialect or DIALECTS.get(crm)
        rows = self.rows(path if path.is_dir() else path.parent) if self.rows else None
        return ExportConnector(
            name, mapping, files, dialect.for_settings(settings) if dialect else None, rows, partitions
        )


def _bitrix24_reader(
    name: str,
    mapping: CrmMapping,
    files: dict[str, Path],
    settings: Settings,
    partitions: Partitions,
) -> Connector:
    return Bitrix24ExportConnector(
        name, mapping, files, bitrix24_dialect().for_settings(settings), partitions=partitions
    )


# Each CRM whose export files kpibot reads, by the name `kpibot import --from` takes.
EXPORTS: dict[str, ExportFormat] = {
    "salesforce": ExportFormat(
        lambda settings: apply_overrides(salesforce_mapping(), settings.crm.salesforce, settings)
    ),
    "sugarcrm": ExportFormat(
        lambda settings: apply_overrides(sugarcrm_mapping(), settings.crm.sugarcrm, settings)
    ),
    "dynamics": ExportFormat(
        lambda settings: apply_overrides(dynamics_mapping(), settings.crm.dynamics, settings),
        aliases=LOGICAL_NAMES,
        files=synapse_link_files,
        rows=DynamicsRows.from_folder,
    ),
    "bitrix24": ExportFormat(
        lambda settings: apply_overrides(bitrix24_export_mapping(), settings.crm.bitrix24, settings),
        files=bitrix24_export_files,
        reader=_bitrix24_reader,
    ),
    "hubspot": ExportFormat(
        lambda settings: apply_overrides(hubspot_mapping(), settings.crm.hubspot, settings),
        reader=HubspotExport,
    ),
    "pipedrive": ExportFormat(
        lambda settings: apply_overrides(pipedrive_mapping(), settings.crm.pipedrive, settings),
        rows=PipedriveRows.from_folder,
    ),
    "amocrm": ExportFormat(
        lambda settings: apply_overrides(amocrm_mapping(), settings.crm.amocrm, settings),
        files=amocrm_export_files,
        reader=amocrm_export_reader,
    ),
}
SHOWN = 50  # rejected records listed on the terminal; `kpibot syncs --rejects` has the rest of a sync's


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot sync` and `kpibot syncs`."""
    run = subparsers.add_parser(
        "sync",
        help="read a CRM into kpibot now (what changed since the last sync)",
        description="Reads the CRM's records changed since the last sync (all with --full) through the same checks "
        "as `kpibot import`; a record that fails is listed with its reason and the rest lands. Exit 0 when the "
        "sync completed (even with rejected records), 1 when it could not.",
    )
    run.add_argument("crm", choices=sorted([*CONNECTORS, *ALIASES]))
    run.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    run.add_argument("--full", action="store_true", help="read every record again, not only what changed")
    run.add_argument(
        "--dry-run", action="store_true", help="read and check against what is stored; write nothing"
    )
    run.set_defaults(handler=_sync)
    runs = subparsers.add_parser("syncs", help="the last CRM syncs: when, what they read and wrote, errors")
    runs.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    runs.add_argument("--limit", type=int, default=10, help="how many runs (default 10)")
    runs.add_argument("--rejects", action="store_true", help="also list each run's rejected records")
    runs.set_defaults(handler=_syncs)


def _sync(ctx: CliContext, args: argparse.Namespace) -> int:
    from storage.db import upgrade

    try:
        connector = CONNECTORS[ALIASES.get(args.crm, args.crm)](ctx.settings)
    except (CrmError, ValueError) as exc:
        print(f"kpibot: {args.crm}: {ctx.redact(str(exc))}", file=sys.stderr)
        return 2
    upgrade(ctx.engine)
    result = sync(
        ctx.engine,
        ctx.settings,
        connector,
        full=args.full,
        dry_run=args.dry_run,
        progress=sys.stderr.isatty(),
    )
    return _report(ctx, result, f"{args.crm} sync")


def import_export(ctx: CliContext, crm: str, path: Path, *, skip_invalid: bool = False) -> int:
    """`kpibot import --from <crm> PATH`: each export file in one transaction, its bad rows listed (all or nothing
    per file unless --skip-invalid)."""
    from storage.db import upgrade
    from storage.errors import UserError

    crm = ALIASES.get(crm, crm)
    if crm not in EXPORTS:
        print(
            f"kpibot import: --from takes one of {', '.join(sorted(EXPORTS))}, not {crm!r}", file=sys.stderr
        )
        return 2
    try:
        connector = EXPORTS[crm].open(crm, ctx.settings, path)
    except (UserError, ValueError, OSError, UnicodeDecodeError) as exc:
        print(f"kpibot import: {exc}", file=sys.stderr)
        return 2
    upgrade(ctx.engine)
    result = sync(
        ctx.engine,
        ctx.settings,
        connector,
        skip_invalid=skip_invalid,
        watermarks=False,
        progress=sys.stderr.isatty(),
    )
    return _report(ctx, result, f"import --from {crm}", skip_invalid=skip_invalid)


def _report(ctx: CliContext, result: SyncResult, what: str, *, skip_invalid: bool = True) -> int:
    from storage.journeys import refresh_store

    for item in result.objects:
        line = (
            f"{item.object:<20} → {item.table:<18} read {item.read:>8}  written {item.written:>8}  "
            f"rejected {item.rejected:>6}  deleted {item.deleted:>6}  {item.seconds:.1f} s"
        )
        print(line + (f"  ({item.error})" if item.error and not result.error else ""))
    for reject in result.rejects[:SHOWN]:
        where = (
            f"{reject.file}:{reject.line}"
            if reject.file.endswith((".csv", ".json", ".jsonl", ".xlsx"))
            else reject.file
        )
        print(
            f"  {where} {reject.key}: {reject.column or '-'}={reject.value!r}: {reject.reason}",
            file=sys.stderr,
        )
    if len(result.rejects) > SHOWN:
        print(f"  … and {len(result.rejects) - SHOWN} more (kpibot syncs --rejects)", file=sys.stderr)
    print(result.summary())
    if any(o.written for o in result.objects) and not result.dry_run:
        refresh_store(
            ctx.engine, ctx.settings
        )  # the journeys of the leads just written, as `kpibot import` does
    if result.error:
        print(f"kpibot: {what} failed: {ctx.redact(result.error)}", file=sys.stderr)
        return 1
    if not skip_invalid and result.rejects:
        print(
            "files with bad rows were not written: fix the rows above, or use --skip-invalid", file=sys.stderr
        )
        return 1
    return 0


def _syncs(ctx: CliContext, args: argparse.Namespace) -> int:
    with ctx.engine.connect() as conn:
        runs = conn.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(max(1, args.limit))).all()
        if not runs:
            print(f"no syncs yet: run `kpibot sync {'|'.join(sorted(CONNECTORS))}`")
            return 0
        for run in runs:
            took = (
                f"{(run.finished_at - run.started_at).total_seconds():.0f} s"
                if run.finished_at
                else "running"
            )
            print(
                f"#{run.id} {run.crm} {run.started_at:%Y-%m-%d %H:%M} UTC {run.status:<7} {took:>7}  "
                f"read {run.read} written {run.written} rejected {run.rejected} deleted {run.deleted}"
                + (" (full)" if run.full else "")
            )
            for item in json.loads(run.objects or "[]"):
                if item["read"] or item["deleted"] or item.get("error"):
                    print(
                        f"    {item['object']:<20} → {item['table']:<18} read {item['read']} written "
                        f"{item['written']} rejected {item['rejected']} deleted {item['deleted']}"
                        + (f"  error: {item['error']}" if item.get("error") else "")
                    )
            if run.error:
                print(f"    error: {ctx.redact(run.error)}")
            if args.rejects:
                rejected = conn.execute(
                    select(SyncRejected).where(SyncRejected.run_id == run.id).order_by(SyncRejected.id)
                ).all()
                for r in rejected:
                    print(f"    rejected {r.object} {r.record_id}: {r.field or '-'}={r.value!r}: {r.reason}")
    return 0
