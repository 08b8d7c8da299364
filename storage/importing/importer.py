"""`import_file`: load one CRM file into its table — streamed, checked row by row, idempotent, all or nothing.

One file is one transaction. Every bad row is reported (file, line, column, value, reason); by default a single
bad row means nothing of the file is written. With `skip_invalid` the good rows are written and the bad ones go,
with their line and reason, to `<file>.rejects.csv` beside the input — nothing is ever silently dropped.
Rows are upserted by primary key, so importing the same file again changes nothing and a corrected file updates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from defusedcsv import csv
from sqlalchemy import Engine, Table
from tqdm import tqdm

from storage.config.settings import Settings
from storage.errors import UserError
from storage.importing.check import Checked, RowChecker
from storage.importing.lookup import StoreLookup
from storage.importing.rules import TableRules, rules_for
from storage.importing.sources import Record, Source, SourceError, open_source
from storage.importing.write import BackgroundWriter, group_by_present, make_writer
from storage.schema import CRM_TABLES

__all__ = ["RowError", "ImportReport", "import_file", "load_source", "rejects_path_for", "BATCH_SIZE"]

BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class RowError:
    """One thing wrong with one row (or with the header, on its line)."""

    file: str
    line: int
    column: str
    value: str
    reason: str
    key: str = ""  # the row's id (its primary key), where it has one: how a CRM sync names the record

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        if not self.column:
            return _printable(f"{where}: {self.reason}")
        return _printable(f"{where}: {self.column}={self.value!r}: {self.reason}")


def _printable(text: str) -> str:
    """`text` with any surrogate (bytes that were not UTF-8, a JSON escape such as \\ud800 in a key) spelled as an
    escape: a terminal's UTF-8 cannot print one, and the report must never fail where the import did not."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class ImportReport:
    """What one import did; `refused` means nothing of the file was written."""

    table: str
    read: int
    written: int
    rejected: int
    errors: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None
    refused: bool = False

    def summary(self) -> str:
        """The one-line account: `leads: 1000000 read, 999997 written, 3 rejected`."""
        return f"{self.table}: {self.read} read, {self.written} written, {self.rejected} rejected"


def rejects_path_for(path: Path) -> Path:
    """Where the rejected rows of `path` go: `deals.csv` -> `deals.csv.rejects.csv`."""
    return path.with_name(path.name + ".rejects.csv")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _writable(value: str) -> str:
    """`value` as the rejects file can hold it: bytes that were not UTF-8 go back out as they came (surrogate
    escapes), and a lone surrogate from a JSON escape is written as that escape, `\\ud800`."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return "".join(
            c.encode("unicode_escape").decode()
            if "\ud800" <= c <= "\udfff" and not "\udc80" <= c <= "\udcff"
            else c
            for c in value
        )
    return value


def _as_text_in_a_spreadsheet(value: str) -> str:
    """A tab or a carriage return first gets the `'` too (OWASP's list): defusedcsv's own list stops at
    `= + - @ | %`, which it prefixes with `'` (a plain number such as -500 excepted)."""
    return "'" + value if value[:1] in ("\t", "\r") else value


class _RejectsFile:
    """The rejected rows with their line and reason, written as they come and put in place at the end.

    Admins open it in a spreadsheet, so no cell may run as a formula (OWASP, CSV injection): defusedcsv writes
    a cell that starts with `=`, `+`, `-`, `@`, `|` or `%` with a leading `'`, unless it is a plain number.
    """

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = rejects_path_for(path)
        self._part = self.path.with_name(self.path.name + ".part")
        self._columns = columns
        self._handle = open(self._part, "w", encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115 - see finish()
        self._writer = csv.writer(self._handle)
        self._writer.writerow(("line", "reason", *columns))
        self.count = 0

    def write(self, checked: Checked) -> None:
        reason = "; ".join(f"{column}: {why}" if column else why for column, _, why in checked.problems)
        values = checked.record.values
        cells = (_as_text_in_a_spreadsheet(_writable(_cell(values.get(c)))) for c in self._columns)
        self._writer.writerow((checked.record.line, _as_text_in_a_spreadsheet(_writable(reason)), *cells))
        self.count += 1

    def finish(self) -> Path | None:
        self._handle.close()
        if self.count:
            self._part.replace(self.path)
            return self.path
        self._part.unlink()
        self.path.unlink(missing_ok=True)  # a stale file from an earlier run would describe rows now fixed
        return None

    def discard(self) -> None:
        self._handle.close()
        self._part.unlink(missing_ok=True)


def _header_errors(source: Source, rules: TableRules, file: str) -> list[RowError]:
    if source.header is None:
        return []
    line, named = source.header_line, [name for name in source.header if name]
    if not named:
        return [RowError(file, line, "", "", "no header row: the first row must name the columns")]
    allowed = ", ".join(rules.allowed)
    errors = [
        RowError(file, line, name, name, f"unknown column; {rules.table} has {allowed}")
        for name in dict.fromkeys(named)
        if name not in rules.allowed
    ]
    errors += [
        RowError(file, line, name, name, "column named twice")
        for name in dict.fromkeys(named)
        if named.count(name) > 1
    ]
    errors += [
        RowError(file, line, c.name, "", "required column is missing")
        for c in rules.columns
        if c.required and c.name not in named
    ]
    return errors


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


class _Refused(Exception):
    """The file cannot be imported at all: a JSON object names a column the table does not have."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors[0].reason)
        self.errors = errors


def import_file(
    engine: Engine,
    settings: Settings,
    table: str,
    path: Path,
    *,
    skip_invalid: bool = False,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import the CSV, JSON or XLSX file at `path` into the CRM table `table` (see the module docstring)."""
    if table not in CRM_TABLES:
        tables = ", ".join(CRM_TABLES)
        raise UserError(
            "import.table", "unknown table {table}; choose one of {tables}", table=table, tables=tables
        )
    rules = rules_for(table, settings)
    file = str(path)
    try:
        source = open_source(path, table)
    except SourceError as exc:
        return ImportReport(table, 0, 0, 0, [RowError(file, exc.line, "", "", exc.reason)], refused=True)
    try:
        errors = _header_errors(source, rules, file)
        if errors:
            return ImportReport(table, 0, 0, 0, errors, refused=True)
        return _load(engine, settings, rules, source, file, skip_invalid, progress, batch_size)
    finally:
        source.close()


def load_source(
    engine: Engine,
    settings: Settings,
    table: str,
    source: Source,
    label: str,
    *,
    skip_invalid: bool = False,
    rejects_file: bool = True,
    progress: bool = False,
    commit: bool | Callable[[], bool] = True,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import the records of an already open `source` (a CRM's mapped records, say) into `table`, named `label` in
    errors; `rejects_file=False` keeps skipped rows in the report only, `commit=False` writes nothing (a dry run), a callable decides when
    every record has been read."""
    rules = rules_for(table, settings)
    return _load(
        engine, settings, rules, source, label, skip_invalid, progress, batch_size, rejects_file, commit
    )


def _load(
    engine: Engine,
    settings: Settings,
    rules: TableRules,
    source: Source,
    file: str,
    skip_invalid: bool,
    progress: bool,
    batch_size: int,
    rejects_file: bool = True,
    commit: bool | Callable[[], bool] = True,
) -> ImportReport:
    errors: list[RowError] = []
    read = written = rejected = 0
    allowed = set(rules.allowed)
    columns = tuple(n for n in source.header if n) if source.header is not None else rules.allowed
    model = CRM_TABLES[rules.table].__table__
    assert isinstance(model, Table)
    bar = tqdm(
        total=source.size,
        unit=source.unit,
        unit_scale=True,
        desc=rules.table,
        leave=False,
        disable=not progress,
        file=sys.stderr,
    )
    with engine.connect() as conn:
        transaction = conn.begin()
        rejects = _RejectsFile(source.path, columns) if skip_invalid and rejects_file else None
        writer: BackgroundWriter | None = None
        checker: RowChecker | None = None
        try:
            writer = BackgroundWriter(make_writer(conn, model))
            checker = RowChecker(rules, settings.org.currency, StoreLookup(conn, before_query=writer.wait))
            for records in _batches(source.records(), batch_size):
                if source.header is None:
                    _refuse_unknown_keys(records, allowed, rules, file)
                batch = [checker.parse(record) for record in records]
                checker.resolve(batch)
                good = []
                for checked in batch:
                    if not checked.problems:
                        good.append((checked.row, checked.present))
                        continue
                    rejected += 1
                    key = "/".join(_cell(checked.record.values.get(name)) for name in rules.key)
                    errors.extend(
                        RowError(file, checked.record.line, column, _cell(value), reason, key)
                        for column, value, reason in checked.problems
                    )
                    if rejects:
                        rejects.write(checked)
                read += len(batch)
                if good and (skip_invalid or not errors):
                    for present, rows in group_by_present(good).items():
                        writer.write(rows, present)
                    written += len(good)
                bar.update(source.position() - bar.n)
            writer.wait()
            if errors and not skip_invalid:
                transaction.rollback()
                return ImportReport(rules.table, read, 0, rejected, errors, refused=True)
            if commit() if callable(commit) else commit:  # a callable decides once every record was read
                writer.commit(transaction)
            else:
                transaction.rollback()
        except (SourceError, _Refused) as exc:
            if writer:
                writer.abandon()
            transaction.rollback()
            if rejects:
                rejects.discard()
            fatal = (
                exc.errors if isinstance(exc, _Refused) else [RowError(file, exc.line, "", "", exc.reason)]
            )
            return ImportReport(rules.table, read, 0, rejected, [*errors, *fatal], refused=True)
        except BaseException:
            if writer:
                writer.abandon()
            # SQLite's merge ends the import's transaction first, and rolls back its own.
            if transaction.is_active:
                transaction.rollback()
            if rejects:
                rejects.discard()
            raise
        finally:
            bar.close()
            if checker:
                checker.close()
            if writer:
                writer.close()
    rejects_path = rejects.finish() if rejects else None
    return ImportReport(rules.table, read, written, rejected, errors, rejects_path)


def _refuse_unknown_keys(records: list[Record], allowed: set[str], rules: TableRules, file: str) -> None:
    for record in records:
        unknown = record.values.keys() - allowed
        if unknown:
            known = ", ".join(rules.allowed)
            raise _Refused(
                [
                    RowError(file, record.line, name, name, f"unknown column; {rules.table} has {known}")
                    for name in sorted(unknown)
                ]
            )
