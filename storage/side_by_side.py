"""One question's independent parts read at once, each on a connection of its own, so that an answer over the
whole organisation uses both cores of a small server rather than one.

PostgreSQL serves each connection from its own process, and SQLite (Python's driver lets go of the interpreter
while a statement runs) reads a WAL file from several connections at once, so two halves of a grouped statement
take about half the time of the whole. The connections come from a small pool of their own, beside the
application's: a part never waits for a connection the asking request's own pool holds, so a busy chat cannot
deadlock on it.

Each part reads the committed data as of its own first statement, as every statement outside a transaction
does (PostgreSQL's READ COMMITTED, SQLite's autocommit reads). A database only one connection can see (SQLite in
memory) has its parts read one after another on the caller's connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from storage.db import make_engine
from storage.schema import Account

__all__ = ["SPLIT_ACCOUNTS_FROM", "Part", "side_by_side", "account_parts"]

SPLIT_ACCOUNTS_FROM = 50_000
"""From this many accounts, an organisation-wide customer question is read in two halves side by side; below it
one statement answers in a few ten milliseconds and a second connection would cost more than it saves."""

P = TypeVar("P")
R = TypeVar("R")

_WORKERS = 2
_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_executor: ThreadPoolExecutor | None = None


@dataclass(frozen=True)
class Part:
    """A half-open range of account ids, [low, high); None leaves that side open."""

    low: str | None = None
    high: str | None = None

    def holds(self, column: Any) -> list[ColumnElement[bool]]:
        """The conditions that `column` (an account id) lies in the range (none for every account)."""
        conditions: list[ColumnElement[bool]] = []
        if self.low is not None:
            conditions.append(column >= self.low)
        if self.high is not None:
            conditions.append(column < self.high)
        return conditions


def shared(conn: Connection) -> bool:
    """Whether other connections see what `conn` sees (a server, or a SQLite file, not SQLite in memory)."""
    url = conn.engine.url
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database or ""
    return database not in ("", ":memory:") and "mode=memory" not in str(url)


def account_parts(conn: Connection, parts: int = _WORKERS) -> list[Part]:
    """The accounts in `parts` ranges of about equal size, or one range of all of them when they are fewer than
    `SPLIT_ACCOUNTS_FROM` or the database is not shared."""
    if parts < 2 or not shared(conn):
        return [Part()]
    count = conn.execute(select(func.count()).select_from(Account)).scalar_one()
    if count < SPLIT_ACCOUNTS_FROM:
        return [Part()]
    bounds: list[str | None] = [None]
    for i in range(1, parts):
        bound = conn.execute(
            select(Account.account_id).order_by(Account.account_id).offset(count * i // parts).limit(1)
        ).scalar_one()
        bounds.append(bound)
    bounds.append(None)
    return [Part(low, high) for low, high in zip(bounds, bounds[1:], strict=False)]


def _side_engine(engine: Engine) -> Engine:
    key = engine.url.render_as_string(hide_password=False)
    with _lock:
        side = _engines.get(key)
        if side is None:
            side = _engines[key] = make_engine(key, pool_size=_WORKERS, max_overflow=0)
        return side


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kpibot-part")
        return _executor


def side_by_side(conn: Connection, work: Callable[[Connection, P], R], parts: Sequence[P]) -> list[R]:
    """`work(connection, part)` for every part, in order: the first on `conn` in this thread, the others at the same
    time on connections of their own (one after another on `conn` where the database is not shared)."""
    if len(parts) < 2 or not shared(conn):
        return [work(conn, part) for part in parts]
    side = _side_engine(conn.engine)

    def on_own_connection(part: P) -> R:
        with side.connect() as own:
            return work(own, part)

    futures: list[Future[R]] = [_pool().submit(on_own_connection, part) for part in parts[1:]]
    first = work(conn, parts[0])
    return [first, *(future.result() for future in futures)]
