"""storage.side_by_side: the accounts in ranges that cover each once, and parts read on connections of their own."""

from __future__ import annotations

import threading

from sqlalchemy import func, insert, select

from storage.db import make_engine, upgrade
from storage.schema import Account
from storage.side_by_side import Part, account_parts, shared, side_by_side


def _accounts(engine, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Account), [{"account_id": f"acc-{i:03d}", "name": f"A{i}"} for i in range(n)])


def test_the_halves_cover_every_account_once(engine, monkeypatch):
    _accounts(engine, 7)
    monkeypatch.setattr("storage.side_by_side.SPLIT_ACCOUNTS_FROM", 5)
    with engine.connect() as conn:
        parts = account_parts(conn)
        # 7 accounts: the second half starts at the fourth id in order (offset 7 // 2 = 3).
        assert parts == [Part(None, "acc-003"), Part("acc-003", None)]
        counts = [
            conn.execute(select(func.count()).where(*part.holds(Account.account_id))).scalar_one()
            for part in parts
        ]
    assert counts == [3, 4]


def test_fewer_accounts_than_the_threshold_are_one_part(engine):
    _accounts(engine, 7)
    with engine.connect() as conn:
        assert account_parts(conn) == [Part()]


def test_parts_run_at_once_on_their_own_connections(engine):
    _accounts(engine, 4)
    seen: list[tuple[str, int]] = []

    def count(conn, part: Part) -> int:
        seen.append((threading.current_thread().name, id(conn.connection.dbapi_connection)))
        return conn.execute(select(func.count()).where(*part.holds(Account.account_id))).scalar_one()

    with engine.connect() as conn:
        assert side_by_side(conn, count, [Part(None, "acc-002"), Part("acc-002", None)]) == [2, 2]
        assert seen[0] == (threading.current_thread().name, id(conn.connection.dbapi_connection))
    assert seen[1][0].startswith("kpibot-part") and seen[1][1] != seen[0][1]


def test_sqlite_in_memory_reads_its_parts_in_turn_on_the_one_connection():
    engine = make_engine("sqlite://")
    upgrade(engine)
    with engine.connect() as conn:
        assert not shared(conn)
        assert account_parts(conn) == [Part()]
        ids = side_by_side(conn, lambda c, _part: id(c), [Part(), Part()])
        assert ids == [id(conn), id(conn)]
