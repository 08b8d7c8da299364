"""Upserting batches of checked rows: `INSERT … ON CONFLICT (primary key) DO UPDATE` on SQLite and PostgreSQL.

Only the columns a file names are updated on a conflict, so a file without `telegram_user_id` never wipes the chat
links the bot made. PostgreSQL loads each batch with COPY into a temporary table and merges it with one statement,
which is several times faster than parameterised inserts for a million rows. SQLite stages every row of the file
in a private database and merges them all at the end, so the store's one write lock is held for the merge only.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from typing import Any, Protocol

from sqlalchemy import Column, Connection, MetaData, Table, Transaction, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.importing.seen import private_database

__all__ = ["BatchWriter", "BackgroundWriter", "make_writer", "group_by_present", "SQLITE_CACHE_KIB"]

# A fixed page cache keeps an import's memory flat in the file's size: with 256 MB the cache filled with the
# table's pages as a file grew (peak 147 MB for 0.1 M leads, 517 MB for 1 M); with 16 MB the peaks were 127 and
# 129 MB, and 1 M leads in key order still loaded in 43 s. A file far from key order is slower with a small cache.
SQLITE_CACHE_KIB = 16 * 1024
SQLITE_DEFAULT_CACHE = -2000  # SQLite's own default, in KiB
# The staged rows are written once in file order and read once by the merge: a small cache of their own does.
STAGING_CACHE_KIB = 4 * 1024
_STAGING = "kpibot_import"  # the name the staging database is attached by


class BatchWriter(Protocol):
    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        """Upsert `rows` (every column filled in); on a conflict update only the `present` columns."""

    def commit(self, transaction: Transaction) -> None:
        """Make every row written part of the store at once, and end `transaction` (the import's)."""

    def close(self) -> None:
        """Give back what the import borrowed from the connection (once the import's transaction has ended)."""


def _upsert(stmt: Any, key: list[str], present: tuple[str, ...]) -> Any:
    """`stmt` (an INSERT) with its conflict clause: only the `present` columns of a row already stored change."""
    updates = {name: stmt.excluded[name] for name in present if name not in key}
    if updates:
        return stmt.on_conflict_do_update(index_elements=key, set_=updates)
    return stmt.on_conflict_do_nothing(index_elements=key)


class _SqliteWriter:
    """Stages the rows in a private database attached to the import's connection; `commit` merges them at once.

    SQLite has one write lock per database file. Written straight into the table, a file's rows took it with the
    first batch and held it to the commit (46 s for a million leads), and whatever else wrote meanwhile (a chat's
    actions, the scheduler's outbox) gave up after its 30 s busy timeout. A database attached for the import is a
    file of its own, so staging takes no lock on the store; only the merge does, in a write transaction of its own
    (in WAL mode a read transaction cannot become a write once another connection has committed). Until the merge
    the store does not hold the file's rows: what the checker needs of them it keeps in `SeenRows`.

    Rows are staged with the number of their set of named columns; the merge is one INSERT … SELECT per set, in
    file order. Values go through the column types' own bind processors, so they are stored as SQLAlchemy stores
    and compares them.
    """

    def __init__(self, conn: Connection, table: Table) -> None:
        # SQLite's default page cache (2 MB) turns every index insert of a big load into a disk read.
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        self._conn = conn
        driver = conn.connection.dbapi_connection
        assert driver is not None
        self._driver = driver
        self._key = [c.name for c in table.primary_key.columns]
        names = [c.name for c in table.columns]
        dialect = conn.dialect
        self._processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns]
        name, self._folder = private_database("staged.db")
        # Outside any transaction (ATTACH cannot run in one): the import's first write starts it.
        conn.exec_driver_sql(f"ATTACH DATABASE ? AS {_STAGING}", (name,))
        for pragma in (
            f"cache_size = -{STAGING_CACHE_KIB}",
            "synchronous = OFF",  # nobody reads the file after the import, and a crash removes it
            "journal_mode = MEMORY",  # batches only append: each one's journal is the page or two it changed
        ):
            conn.exec_driver_sql(f"PRAGMA {_STAGING}.{pragma}")
        quote = dialect.identifier_preparer.quote
        # No column types: a value stays what the bind processor made it, and the table's own affinity applies
        # when it is merged, as it would have to the same value bound directly.
        conn.exec_driver_sql(
            f"CREATE TABLE {_STAGING}.rows (column_set INTEGER NOT NULL, {', '.join(quote(n) for n in names)})"
        )
        self._insert = f"INSERT INTO {_STAGING}.rows VALUES (?, {', '.join('?' * len(names))})"
        self._names = names
        self._staged = Table(
            "rows", MetaData(), Column("column_set"), *(Column(n) for n in names), schema=_STAGING
        )
        self._table = table
        self._sets: dict[tuple[str, ...], int] = {}

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        number = self._sets.setdefault(present, len(self._sets))
        names, processors = self._names, self._processors
        self._conn.exec_driver_sql(self._insert, [_staged(number, row, names, processors) for row in rows])
        # Committed at once, to the staging file only: so the import holds no read transaction on the store from
        # one batch to the next, and the checker's questions about the next batch see what the bot and the
        # scheduler wrote meanwhile, as they do on PostgreSQL (a Telegram id linked in a chat is then a rejected
        # row, not a failed merge), and the store's WAL can be checkpointed past them.
        self._driver.commit()

    def _merge(self, present: tuple[str, ...], number: int) -> str:
        staged = self._staged
        rows = (
            select(*(staged.c[n] for n in self._names))
            .where(staged.c.column_set == number)
            .order_by(literal_column("rowid"))
        )
        stmt = _upsert(sqlite_insert(self._table).from_select(self._names, rows), self._key, present)
        return str(stmt.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True}))

    def commit(self, transaction: Transaction) -> None:
        # Nothing of the store is written yet: the import's own transaction has nothing left to commit.
        transaction.commit()
        if not self._sets:
            return
        with self._conn.begin():
            # JSON objects that name different columns: an index, so each set's merge reads only its own rows.
            if len(self._sets) > 1:
                self._conn.exec_driver_sql(f"CREATE INDEX {_STAGING}.rows_by_set ON rows (column_set)")
            # The lock is taken here, and held only for the merge.
            self._conn.exec_driver_sql("BEGIN IMMEDIATE")
            for present, number in self._sets.items():
                self._conn.exec_driver_sql(self._merge(present, number))

    def close(self) -> None:
        try:
            self._conn.exec_driver_sql(f"DETACH DATABASE {_STAGING}")
        except BaseException:
            # Still attached, the staging file would meet the next import on this pooled connection.
            self._conn.invalidate()
            raise
        finally:
            if self._folder is not None:
                self._folder.cleanup()
        # The connection goes back to the pool; the bot's short queries need no big cache.
        self._conn.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_DEFAULT_CACHE}")


def _staged(number: int, row: dict[str, Any], names: list[str], processors: list[Any]) -> tuple[Any, ...]:
    values: list[Any] = [number]
    for name, process in zip(names, processors, strict=True):
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
            self._statements[present] = _upsert(stmt, self._key, present)
        return self._statements[present]

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        columns = self._columns
        driver = self._conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[name] for name in columns])
        self._conn.execute(self._merge(present))
        self._conn.execute(self._truncate)

    def commit(self, transaction: Transaction) -> None:
        # Each batch was merged as it came (MVCC: nobody waits for the import's writes), so this is the commit.
        transaction.commit()

    def close(self) -> None:
        """Nothing to give back: the staging table goes with the transaction."""


class BackgroundWriter:
    """Writes one batch on a worker thread while the caller checks the next one.

    The database works on batch N (index updates, the merge) while Python reads and checks batch N+1, which on
    two cores nearly halves a large import. The connection is never used by both at once: anything else that
    touches it first calls `wait()`. When the import's transaction has ended, whatever its outcome, `close()`.
    """

    def __init__(self, writer: BatchWriter) -> None:
        self._writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpibot-import")
        self._pending: Future[None] | None = None
        self._abandoned = False

    def write(self, rows: Sequence[dict[str, Any]], present: tuple[str, ...]) -> None:
        self.wait()
        self._pending = self._pool.submit(self._writer.write, rows, present)

    def wait(self) -> None:
        """Until the batch in flight is written; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def commit(self, transaction: Transaction) -> None:
        """Once the last batch is written: every row written into the store at once; `transaction` ends."""
        self.wait()
        self._writer.commit(transaction)

    def abandon(self) -> None:
        """Stop after a failure elsewhere: let the batch in flight end, whatever its outcome (then roll back)."""
        self._abandoned = True
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.exception()
        self._pool.shutdown()

    def close(self) -> None:
        """Give back what the import borrowed from the connection; after the transaction's commit or rollback."""
        self._pool.shutdown()
        if not self._abandoned:
            self._writer.close()
            return
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
