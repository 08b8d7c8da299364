"""What one import remembers about the rows it has read, kept in a private temporary SQLite file, not in Python.

The checker has to know, for every row, whether its key came earlier in the file (and on which line), whether a
row it references further up was accepted (a manager listed above a rep), and who was given a unique value
(a Telegram id) earlier in the file. Held in Python dicts and sets this cost about 120 bytes per row: 120 MB for a
million leads, 1.2 GB for ten million, and it was most of what grew with the file.

Why a temporary SQLite database, and not the alternatives:

- *A temporary table in the import's own database* would put each batch's lookups on the connection the
  background writer is using, so the checker would wait for every batch to be written and lose the overlap that
  makes large imports fast; and it would work differently on SQLite and PostgreSQL.
- *A fixed-size filter (Bloom) with an exact confirmation step* still has to keep every key somewhere for the
  confirmation and for the line of the first row, which is this table anyway; the filter would only save a look-up
  that the `INSERT OR IGNORE` below already avoids.
- *This*: SQLite opens a database named "" as a private file in the temporary directory, removed when the
  connection closes (and by the operating system, should the process die), with a page cache of its own capped at
  `CACHE_KIB`. One `INSERT OR IGNORE` per batch records the keys; only when it ignored some (a key came earlier in
  the file, which a clean export never has) does a second statement ask on which lines. The file is written
  without a journal or syncs: nobody reads it after the import, and the database it serves has its own.
  A million leads cost about 1–2 s of the import's time; memory stays at the cache's few megabytes whatever the
  size of the file.

Keys are stored as text: a one-column key as it is, a composite key as a JSON list of its parts, datetimes and
days as ISO text. The parsers give every moment as naive UTC, so two spellings of one instant are one key here as
they are one primary key in the store.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Collection, Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["SeenRows", "key_text", "private_database", "CACHE_KIB"]

# The file's page cache; beyond it, pages come back from the operating system's file cache.
CACHE_KIB = 4 * 1024
_CHUNK = 500  # values per IN (...): far below SQLite's limit of bound parameters


def _part(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def key_text(key: Any) -> str:
    """The text a row's key is remembered by: a one-column id as it is, a composite key as a JSON list."""
    if isinstance(key, str):
        return key
    if isinstance(key, tuple):
        return json.dumps([_part(part) for part in key], default=str)
    return json.dumps(_part(key), default=str)


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class SeenRows:
    """The rows of one file read so far: each key's first line, which rows were accepted, who holds which unique
    value. Open for one import; `close()` removes the file."""

    def __init__(self, cache_kib: int = CACHE_KIB) -> None:
        name, self._folder = private_database("seen.db")
        # isolation_level=None: the transaction below is ours, Python's sqlite3 must not commit it in between.
        self._db = sqlite3.connect(name, isolation_level=None, check_same_thread=False)
        for pragma in (
            f"cache_size = -{cache_kib}",
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL, accepted INTEGER NOT NULL DEFAULT 0)"
            " WITHOUT ROWID"
        )
        # No column types: a Telegram id stays an integer and a Slack id text, as the checker compares them.
        self._db.execute(
            "CREATE TABLE given (name TEXT, value, owner TEXT NOT NULL, line INTEGER NOT NULL,"
            " PRIMARY KEY (name, value)) WITHOUT ROWID"
        )
        # One transaction for the whole import: pages are written out only when the cache is full.
        self._db.execute("BEGIN")

    def first_lines(self, firsts: Mapping[str, int]) -> dict[str, int]:
        """Remember each key's line (its first in the batch); for keys already seen before the batch, their line.

        `firsts` maps each key of a batch to the line of its first row in that batch. Lines only grow through a
        file, so a key remembered with another line was seen in an earlier batch.
        """
        before = self._db.total_changes
        self._db.executemany("INSERT OR IGNORE INTO seen (key, line) VALUES (?, ?)", firsts.items())
        if self._db.total_changes - before == len(firsts):
            return {}
        earlier: dict[str, int] = {}
        for chunk in _chunks(list(firsts)):
            sql = f"SELECT key, line FROM seen WHERE key IN ({_marks(len(chunk))})"
            for key, line in self._db.execute(sql, chunk):
                if line != firsts[key]:
                    earlier[key] = line
        return earlier

    def accept(self, keys: Collection[str]) -> None:
        """Mark these keys' rows as accepted: rows further down may refer to them."""
        self._db.executemany("UPDATE seen SET accepted = 1 WHERE key = ?", ((key,) for key in keys))

    def accepted(self, keys: Collection[str]) -> set[str]:
        """Those of `keys` whose row was accepted earlier in the file."""
        found: set[str] = set()
        for chunk in _chunks(list(keys)):
            sql = f"SELECT key FROM seen WHERE accepted = 1 AND key IN ({_marks(len(chunk))})"
            found.update(key for (key,) in self._db.execute(sql, chunk))
        return found

    def given(self, name: str, values: Collection[Any]) -> dict[Any, tuple[str, int]]:
        """For unique column `name`: who was given each of `values` earlier in the file, and on which line."""
        found: dict[Any, tuple[str, int]] = {}
        for chunk in _chunks(list(values)):
            sql = f"SELECT value, owner, line FROM given WHERE name = ? AND value IN ({_marks(len(chunk))})"
            for value, owner, line in self._db.execute(sql, [name, *chunk]):
                found[value] = (owner, line)
        return found

    def give(self, name: str, holders: Mapping[Any, tuple[str, int]]) -> None:
        """Remember who was given which value of unique column `name` (owner and line)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO given (name, value, owner, line) VALUES (?, ?, ?, ?)",
            ((name, value, owner, line) for value, (owner, line) in holders.items()),
        )

    def close(self) -> None:
        """Forget everything: SQLite removes the file with the connection."""
        self._db.close()
        if self._folder is not None:
            self._folder.cleanup()


def private_database(filename: str) -> tuple[str, tempfile.TemporaryDirectory[str] | None]:
    """What to open as a private on-disk SQLite database: "" (a file SQLite removes with the connection), or, where
    this SQLite keeps such databases in memory, `filename` in a temporary folder of our own, to clean up after."""
    if not _temporary_databases_in_memory():
        return "", None
    folder = tempfile.TemporaryDirectory(prefix="kpibot-import-")
    return str(Path(folder.name) / filename), folder


def _temporary_databases_in_memory() -> bool:
    """True when this SQLite was built to keep "" databases in memory (SQLITE_TEMP_STORE 2 or 3, rare): then a
    named file in a temporary folder of our own does the same job."""
    probe = sqlite3.connect(":memory:")
    try:
        options = {row[0] for row in probe.execute("PRAGMA compile_options")}
    finally:
        probe.close()
    return bool(options & {"TEMP_STORE=2", "TEMP_STORE=3"})
