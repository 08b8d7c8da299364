"""Upserting batches of checked rows: `INSERT … ON CONFLICT (primary key) DO UPDATE` on SQLite and PostgreSQL.

Only the columns a file names are updated on a conflict, so a file without `telegram_user_id` never wipes the chat
links the bot made. PostgreSQL loads each batch with COPY into a temporary table and merges it with one statement,
which is several times faster than parameterised inserts for a million rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy import Column, Connection, MetaData, Table, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["BatchWriter", "BackgroundWriter", "make_writer", "group_by_present", "SQLITE_CACHE_KIB"]

# A fixed page cache keeps an import's memory flat in the file's size: with 256 MB the cache filled with the
# table's pages as a file grew (peak 147 MB for 0.1 M leads, 517 MB for 1 M); with 16 MB the peaks were 127 and
# 129 MB, and 1 M leads in key order still loaded in 43 s. A file far from key order is slower with a small cache.
SQLITE_CACHE_KIB = 16 * 1024
SQLITE_DEFAULT_CACHE = -2000  # SQLite's own default, in KiB


class BatchWriter(Protocol):
    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        """Upsert `rows` (every column filled in); on a conflict update only the `present` columns."""

    def close(self) -> None:
        """Give back what the import borrowed from the connection."""


class _SqliteWriter:
    """Compiled once, then fed plain tuples: the statement is SQLAlchemy's, the per-row work is the driver's."""

    def __init__(self, conn: Connection, table: Table) -> None:
        # SQLite's default page cache (2 MB) turns every index insert of a big load into a disk read.
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        self._conn = conn
        self._table = table
        self._key = [c.name for c in table.primary_key.columns]
        dialect = conn.dialect
        # The type's own bind processors, so values are stored exactly as SQLAlchemy stores and compares them.
        self._processors = {
            c.name: c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns
        }
        self._statements: dict[tuple[str, ...], tuple[str, list[Any]]] = {}

    def _statement(self, present: tuple[str, ...]) -> tuple[str, list[Any]]:
        if present not in self._statements:
            stmt = sqlite_insert(self._table)
            updates = {name: stmt.excluded[name] for name in present if name not in self._key}
            upsert = (
                stmt.on_conflict_do_update(index_elements=self._key, set_=updates)
                if updates
                else stmt.on_conflict_do_nothing(index_elements=self._key)
            )
            names = [c.name for c in self._table.columns]
            compiled = upsert.compile(dialect=self._conn.dialect, column_keys=names)
            order = [(name, self._processors[name]) for name in compiled.positiontup or ()]
            self._statements[present] = (str(compiled), order)
        return self._statements[present]

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        sql, order = self._statement(present)
        self._conn.exec_driver_sql(sql, [_bound(row, order) for row in rows])

    def close(self) -> None:
        # The connection goes back to the pool; the bot's short queries need no big cache.
        self._conn.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_DEFAULT_CACHE}")


def _bound(row: dict[str, Any], order: list[Any]) -> tuple[Any, ...]:
    values = []
    for name, process in order:
        value = row[name]
        values.append(value if value is None or process is None else process(value))
    return tuple(values)


class _PostgresWriter:
    def __init__(self, conn: Connection, table: Table) -> None:
        self._conn = conn
        self._table = table
        self._columns = [c.name for c in table.columns]
        self._key = [c.name for c in table.primary_key.columns]
        # ON COMMIT DROP: the staging table disappears with the import's transaction, whatever its outcome.
        self._staging = Table(
            f"import_{table.name}",
            MetaData(),
            *(Column(c.name, c.type) for c in table.columns),
            prefixes=["TEMPORARY"],
            postgresql_on_commit="DROP",
        )
        self._staging.create(conn)
        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in self._columns)
        self._copy_sql = f"COPY {quote(self._staging.name)} ({names}) FROM STDIN"
        # TRUNCATE, not DELETE: dead rows would pile up in the staging table and slow every later batch.
        self._truncate = text(f"TRUNCATE {quote(self._staging.name)}")
        self._statements: dict[tuple[str, ...], Any] = {}

    def _merge(self, present: tuple[str, ...]) -> Any:
        if present not in self._statements:
            stmt = pg_insert(self._table).from_select(self._columns, select(self._staging))
            updates = {name: stmt.excluded[name] for name in present if name not in self._key}
            self._statements[present] = (
                stmt.on_conflict_do_update(index_elements=self._key, set_=updates)
                if updates
                else stmt.on_conflict_do_nothing(index_elements=self._key)
            )
        return self._statements[present]

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        columns = self._columns
        driver = self._conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[name] for name in columns])
        self._conn.execute(self._merge(present))
        self._conn.execute(self._truncate)

    def close(self) -> None:
        """Nothing to give back: the staging table goes with the transaction."""


class BackgroundWriter:
    """Writes one batch on a worker thread while the caller checks the next one.

    The database works on batch N (index updates, the merge) while Python reads and checks batch N+1, which on
    two cores nearly halves a large import. The connection is never used by both at once: anything else that
    touches it first calls `wait()`.
    """

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpibot-import")
        self._pending: Future[None] | None = None

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        self.wait()
        self._pending = self._pool.submit(self._writer.write, rows, present)

    def wait(self) -> None:
        """Until the batch in flight is written; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
            self._writer.close()
        finally:
            self._pool.shutdown()

    def abandon(self) -> None:
        """Stop after a failure elsewhere: let the batch in flight end, whatever its outcome, and give back what
        the import borrowed (the connection goes back to the pool either way)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.exception()
        self._pool.shutdown()
        # The failure being handled is what the caller reports; a connection too broken to take the setting back
        # is thrown away by the pool anyway.
        with suppress(Exception):
            self._writer.close()


def make_writer(conn: Connection, table: Table) -> BatchWriter:
    """The fastest upsert the connection's database offers."""
    if conn.dialect.name == "postgresql":
        return _PostgresWriter(conn, table)
    if conn.dialect.name == "sqlite":
        return _SqliteWriter(conn, table)
    raise NotImplementedError(f"import into {conn.dialect.name} is not supported")


def group_by_present(rows: Sequence[tuple[dict[str, Any], tuple[str, ...]]]) -> dict[tuple[str, ...], list]:
    """Rows that name the same columns, together (JSON objects may differ; CSV rows never do)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row, present in rows:
        groups.setdefault(present, []).append(row)
    return groups
