"""`kpibot import <table> FILE [--skip-invalid]`: load a file of kpibot's columns into the store;
`kpibot import --from <crm> PATH`: a CRM's own export files (storage/crm/exports.py)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from storage.db import upgrade
from storage.errors import UserError
from storage.importing.importer import ImportReport, import_file
from storage.importing.runs import record_import
from storage.importing.sources import FORMATS
from storage.journeys import KEPT_SOURCES, refresh_store
from storage.schema import CRM_TABLES

__all__ = ["register", "render_report", "SHOWN_ERRORS"]

SHOWN_ERRORS = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot import`."""
    parser = subparsers.add_parser(
        "import",
        help="import a CRM file (CSV, JSON, XLSX) into one table",
        description=(
            "Import one file into one CRM table in one transaction. Every bad row is listed; unless "
            "--skip-invalid is given, nothing is written when any row is bad. Re-importing a file updates rows "
            f"by id instead of duplicating them. Formats: {', '.join(FORMATS)}."
        ),
    )
    parser.add_argument("table", nargs="?", metavar="TABLE", help=", ".join(CRM_TABLES))
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE")
    parser.add_argument(
        "--from",
        dest="from_crm",
        metavar="CRM",
        help="a CRM's own export files with their native columns: kpibot import --from salesforce|dynamics|sugarcrm|bitrix24|hubspot|pipedrive|amocrm (kommo) EXPORT_DIR|FILE",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="write the good rows and put the bad ones, with their reasons, in FILE.rejects.csv",
    )
    parser.set_defaults(handler=_import)


def render_report(report: ImportReport, limit: int = SHOWN_ERRORS) -> tuple[list[str], list[str]]:
    """What to print after an import: the first `limit` problems, and the outcome (summary first)."""
    problems = [str(error) for error in report.errors[:limit]]
    hidden = len(report.errors) - limit
    if hidden > 0:
        where = f" (all of them are in {report.rejects_path})" if report.rejects_path else ""
        problems.append(f"… and {hidden} more{where}")
    outcome = [report.summary()]
    if report.refused:
        outcome.append(
            "nothing was written: fix the problems above, or use --skip-invalid to write the good rows"
        )
    elif report.rejects_path:
        outcome.append(f"rejected rows and their reasons: {report.rejects_path}")
    return problems, outcome


def _import(ctx, args: argparse.Namespace) -> int:
    if args.from_crm:
        from storage.crm.cli import import_export

        if args.file is not None:
            print(
                "kpibot import --from CRM takes one PATH (a folder of export files, or one file)",
                file=sys.stderr,
            )
            return 2
        if args.table is None:
            print("kpibot import --from CRM PATH: which folder or file?", file=sys.stderr)
            return 2
        return import_export(ctx, args.from_crm, Path(args.table), skip_invalid=args.skip_invalid)
    if args.table not in CRM_TABLES or args.file is None:
        what = f"unknown table {args.table!r}; " if args.table and args.table not in CRM_TABLES else ""
        print(
            f"kpibot import: {what}usage: kpibot import TABLE FILE (TABLE: {', '.join(CRM_TABLES)})",
            file=sys.stderr,
        )
        return 2
    upgrade(ctx.engine)  # the import is logged in `import_runs` (0009)
    began = datetime.now(UTC)
    try:
        report = import_file(
            ctx.engine,
            ctx.settings,
            args.table,
            args.file,
            skip_invalid=args.skip_invalid,
            progress=sys.stderr.isatty(),
        )
    except UserError as exc:
        print(f"kpibot import: {exc}", file=sys.stderr)
        return 2
    record_import(ctx.engine, report, args.file, began, datetime.now(UTC))
    problems, outcome = render_report(report)
    for line in problems:
        print(line, file=sys.stderr)
    for line in outcome:
        print(line)
    if report.written and args.table in KEPT_SOURCES:
        # After the import's own transaction: the rows are in whatever happens here, and answers are right
        # meanwhile (a changed lead or deal is worked out live until its journey and stage spans are kept again).
        started = time.monotonic()
        leads = refresh_store(ctx.engine, ctx.settings)
        if leads:
            noun = "lead" if leads == 1 else "leads"
            print(f"lead journeys brought up to date: {leads:,} {noun} in {time.monotonic() - started:.1f} s")
    return 1 if report.refused else 0
