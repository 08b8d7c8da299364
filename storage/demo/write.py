"""Bulk writing for the demo: numpy columns become SQL text once, then go in with executemany or COPY.

SQLite gets `executemany` through the Core connection in big batches; PostgreSQL gets `COPY … FROM STDIN` through
psycopg's `cursor.copy()`. Both skip the ORM and per-value type processing, which is what makes millions of rows
take minutes rather than hours. Timestamps are written in the exact text form SQLAlchemy uses for naive UTC on
SQLite, so comparisons with bound parameters stay correct.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy import Connection, Engine, text

from storage.schema import Base

__all__ = ["Rows", "sql_times", "sql_dates", "ids", "write_rows", "bulk_load", "BULK_TABLES"]

BULK_TABLES = (
    "leads",
    "lead_stage_events",
    "deals",
    "deal_stage_events",
    "activities",
    "accounts",
    "orders",
    "mrr",
    "tickets",
)
"""Tables whose secondary indexes are dropped during a load and built once at the end."""

_BATCH_ROWS = 20_000


@dataclass(frozen=True)
class Rows:
    """Rows of one table as columns: numpy arrays or lists of str / int / float / None, all the same length."""

    table: str
    columns: tuple[str, ...]
    data: tuple[Sequence | np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0


def sql_times(start: date, days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Days since `start` as naive-UTC timestamp text (bytes, to stay small), rounded to the second.

    Where `missing` is set the value is empty, which is written as NULL.
    """
    origin = np.datetime64(start.isoformat(), "us")
    micros = (np.round(np.asarray(days, dtype=np.float64) * 86_400.0) * 1_000_000).astype(np.int64)
    stamps = np.datetime_as_string(origin + micros.astype("timedelta64[us]"), unit="us").astype("S26")
    stamps.view(np.uint8).reshape(-1, 26)[:, 10] = ord(" ")  # ISO's "T" becomes the space SQLAlchemy writes
    if missing is not None:
        stamps[missing] = b""
    return stamps


def sql_dates(start: date, days: np.ndarray) -> np.ndarray:
    """Day indexes since `start` as ISO dates."""
    origin = np.datetime64(start.isoformat(), "D")
    return np.datetime_as_string(origin + np.asarray(days, dtype=np.int64), unit="D")


def ids(prefix: str, first: int, count: int, width: int) -> np.ndarray:
    """`count` ids numbered from `first`: ids("L-", 1, 2, 7) -> ["L-0000001", "L-0000002"]."""
    return np.char.mod(f"{prefix}%0{width}d", np.arange(first, first + count))


def _as_list(column: Sequence | np.ndarray) -> list:
    if not isinstance(column, np.ndarray):
        return list(column)
    if column.dtype.kind == "S":
        return [value or None for value in column.astype(str).tolist()]
    return column.tolist()


def write_rows(conn: Connection, rows: Rows) -> None:
    """Append rows to their table inside the connection's transaction."""
    if not len(rows):
        return
    names = ", ".join(f'"{c}"' for c in rows.columns)
    # Python rows are built a batch at a time: a whole chunk of them would cost far more memory than its arrays.
    for first in range(0, len(rows), _BATCH_ROWS):
        batch = [_as_list(c[first : first + _BATCH_ROWS]) for c in rows.data]
        records = list(zip(*batch, strict=True))
        if conn.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor, cursor.copy(f'COPY "{rows.table}" ({names}) FROM STDIN') as copy:
                for record in records:
                    copy.write_row(record)
        else:
            marks = ", ".join("?" for _ in rows.columns)
            conn.exec_driver_sql(f'INSERT INTO "{rows.table}" ({names}) VALUES ({marks})', records)


@contextmanager
def bulk_load(engine: Engine) -> Iterator[Connection]:
    """A connection tuned for loading: secondary indexes of the big tables are dropped and rebuilt at the end.

    Building an index once over sorted data is far cheaper than updating it row by row; the indexes come back
    even when the load fails, so the schema never stays altered.
    """
    indexes = [idx for name in BULK_TABLES for idx in Base.metadata.tables[name].indexes]
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # A crash during the load loses only demo data, so the load need not wait for the disk.
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        for idx in indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{idx.name}"'))
        conn.commit()
        try:
            yield conn
        finally:
            conn.rollback()
            for idx in indexes:
                idx.create(conn)
            # Fresh statistics, so the first queries on the demo already get good plans.
            for name in BULK_TABLES:
                conn.exec_driver_sql(f'ANALYZE "{name}"')
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.commit()
