"""The `import_runs` log: one row per `kpibot import TABLE FILE`, which says how fresh imported data is
(storage/freshness.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, insert

from storage.importing.importer import ImportReport
from storage.schema import ImportRun
from storage.times import naive_utc

__all__ = ["record_import"]


def record_import(
    engine: Engine, report: ImportReport, path: Path, started: datetime, finished: datetime
) -> None:
    """Log one import of the file at `path`: written (`ok`) or refused, with its rows."""
    with engine.begin() as conn:
        conn.execute(
            insert(ImportRun).values(
                table_name=report.table,
                source=str(path),
                started_at=naive_utc(started),
                finished_at=naive_utc(finished),
                status="refused" if report.refused else "ok",
                read=report.read,
                written=report.written,
                rejected=report.rejected,
            )
        )
