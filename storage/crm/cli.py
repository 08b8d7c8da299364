"""`kpibot sync <crm> [--full] [--dry-run]` and `kpibot syncs`: read a CRM now, and what the syncs did."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from sqlalchemy import select

from storage.cli import CliContext
from storage.config.settings import Settings
from storage.crm.salesforce import SalesforceConnector
from storage.crm.sugarcrm import SugarcrmConnector
from storage.crm.sync import Connector, CrmError, sync
from storage.schema import SyncRejected, SyncRun

__all__ = ["CONNECTORS", "register"]

# Each CRM kpibot reads, by the name `kpibot sync` takes.
CONNECTORS: dict[str, Callable[[Settings], Connector]] = {
    "salesforce": SalesforceConnector.from_settings,
    "sugarcrm": SugarcrmConnector.from_settings,
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot sync` and `kpibot syncs`."""
    run = subparsers.add_parser(
        "sync",
        help="read a CRM into kpibot now (what changed since the last sync)",
        description="Reads the CRM's records changed since the last sync (all with --full) through the same checks "
        "as `kpibot import`; a record that fails is listed with its reason and the rest lands. Exit 0 when the "
        "sync completed (even with rejected records), 1 when it could not.",
    )
    run.add_argument("crm", choices=sorted(CONNECTORS))
    run.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    run.add_argument("--full", action="store_true", help="read every record again, not only what changed")
    run.add_argument("--dry-run", action="store_true", help="read and check, write nothing")
    run.set_defaults(handler=_sync)
    runs = subparsers.add_parser("syncs", help="the last CRM syncs: when, what they read and wrote, errors")
    runs.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    runs.add_argument("--limit", type=int, default=10, help="how many runs (default 10)")
    runs.add_argument("--rejects", action="store_true", help="also list each run's rejected records")
    runs.set_defaults(handler=_syncs)


def _sync(ctx: CliContext, args: argparse.Namespace) -> int:
    from storage.db import upgrade

    try:
        connector = CONNECTORS[args.crm](ctx.settings)
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
    for item in result.objects:
        line = (
            f"{item.object:<20} → {item.table:<18} read {item.read:>8}  written {item.written:>8}  "
            f"rejected {item.rejected:>6}  deleted {item.deleted:>6}  {item.seconds:.1f} s"
        )
        print(line)
    for reject in result.rejects[:20]:
        print(
            f"  rejected {reject.file} {reject.key}: {reject.column or '-'}={reject.value!r}: {reject.reason}"
        )
    if len(result.rejects) > 20:
        print(f"  … and {len(result.rejects) - 20} more (kpibot syncs --rejects)")
    print(result.summary())
    if result.error:
        print(f"kpibot: {args.crm} sync failed: {ctx.redact(result.error)}", file=sys.stderr)
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
