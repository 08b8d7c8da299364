"""A big file is checked in batches, and what the import remembers from earlier batches lives outside Python.

Ids already seen, the ids of accepted rows (a manager listed further up) and unique values already given are
kept in a temporary SQLite file for the length of one import, so a file of millions of rows costs no more memory
than a small one. These tests cut files into batches of two rows (`batch_size=2`) so that every remembered fact
has to come back from an earlier batch, and check the SQLite page cache the import borrows is given back.
How much memory a million rows take is measured by the benchmark (`python -m bench --parts import`), not here.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from storage.config.settings import Settings
from storage.db import make_engine, upgrade
from storage.importing.importer import import_file
from storage.importing.write import SQLITE_DEFAULT_CACHE
from storage.schema import Lead, LeadStageEvent

SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_lead_listed_again_batches_later_names_the_line_of_its_first_row(engine, tmp_path):
    # Batches of two: lines 2-3, 4-5, 6-7, 8-9.
    path = write(
        tmp_path / "leads.csv",
        "lead_id,created_at,company\n"
        "l-1,2026-03-01T09:00:00,Northwind\n"  # line 2
        "l-2,2026-03-01T10:00:00,Contoso\n"  # line 3
        "l-3,2026-03-01T11:00:00,Fabrikam\n"  # line 4
        "l-1,2026-03-01T12:00:00,Northwind again\n"  # line 5: l-1 of line 2, one batch back
        "l-4,2026-03-01T13:00:00,Tailspin\n"  # line 6
        "l-4,2026-03-01T14:00:00,Tailspin again\n"  # line 7: l-4 of line 6, same batch
        "l-1,2026-03-01T15:00:00,Northwind thrice\n"  # line 8: still line 2's, three batches back
        "l-3,2026-03-01T16:00:00,Fabrikam again\n",  # line 9: line 4's
    )

    report = import_file(engine, SETTINGS, "leads", path, skip_invalid=True, batch_size=2)

    assert [(e.line, e.column, e.value, e.reason) for e in report.errors] == [
        (5, "lead_id", "l-1", "duplicate of the row on line 2"),
        (7, "lead_id", "l-4", "duplicate of the row on line 6"),
        (8, "lead_id", "l-1", "duplicate of the row on line 2"),
        (9, "lead_id", "l-3", "duplicate of the row on line 4"),
    ]
    assert (report.read, report.written, report.rejected) == (8, 4, 4)
    with engine.connect() as conn:
        stored = conn.execute(select(Lead.lead_id, Lead.company).order_by(Lead.lead_id)).all()
    # The first row of each lead stands; the later ones went to the rejects file.
    assert [tuple(r) for r in stored] == [
        ("l-1", "Northwind"),
        ("l-2", "Contoso"),
        ("l-3", "Fabrikam"),
        ("l-4", "Tailspin"),
    ]


def test_the_same_stage_entered_at_the_same_instant_in_another_offset_is_a_duplicate_batches_later(
    engine, tmp_path
):
    with engine.begin() as conn:
        conn.execute(Lead.__table__.insert(), [{"lead_id": "l-1", "created_at": _at("2026-03-01T09:00:00")}])
    path = write(
        tmp_path / "lead_stage_events.csv",
        "lead_id,stage,entered_at\n"
        "l-1,mql,2026-03-02T10:00:00Z\n"  # line 2
        "l-1,sal,2026-03-03T10:00:00Z\n"  # line 3
        "l-1,sql,2026-03-04T10:00:00Z\n"  # line 4
        "l-1,mql,2026-03-02T13:00:00+03:00\n"  # line 5: 10:00 UTC, line 2's key
        "l-1,mql,2026-03-02T11:00:00+03:00\n",  # line 6: 08:00 UTC, another event
    )

    report = import_file(engine, SETTINGS, "lead_stage_events", path, skip_invalid=True, batch_size=2)

    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (5, "", "duplicate of the row on line 2")
    ]
    assert report.errors[0].value == "lead_id=l-1, stage=mql, entered_at=2026-03-02 10:00:00"
    with engine.connect() as conn:
        assert conn.execute(select(LeadStageEvent.lead_id)).scalars().all() == ["l-1"] * 4


def test_a_manager_accepted_batches_earlier_counts_even_when_a_bad_row_holds_the_file_back(engine, tmp_path):
    # One bad row (line 2) means nothing is written, so the store cannot tell that u-boss (line 3) is a user:
    # the import has to remember which rows it accepted.
    path = write(
        tmp_path / "users.csv",
        "user_id,name,role,manager_id\n"
        "u-odd,Olga,chief,\n"  # line 2: not a role
        "u-boss,Maria,manager,\n"  # line 3
        "u-mid,Ivan,rep,\n"  # line 4
        "u-rep,Daniel,rep,u-boss\n"  # line 5: Maria, two batches up
        "u-new,Eve,rep,u-odd\n"  # line 6: Olga's row was refused, so she is nobody's manager
        "u-two,Lena,rep,u-late\n"  # line 7: u-late comes a line too late
        "u-late,Petr,manager,\n",  # line 8
    )

    report = import_file(engine, SETTINGS, "users", path, batch_size=2)

    assert report.refused
    assert [(e.line, e.column, e.value) for e in report.errors] == [
        (2, "role", "chief"),
        (6, "manager_id", "u-odd"),
        (7, "manager_id", "u-late"),
    ]


def test_a_telegram_id_given_batches_earlier_in_the_file_cannot_be_given_again(engine, tmp_path):
    # A bad row first, so nothing is written and only the import's own memory knows who took which id.
    path = write(
        tmp_path / "users.csv",
        "user_id,name,telegram_user_id,slack_user_id\n"
        "u-odd,Olga,-3,\n"  # line 2: not a Telegram id
        "u-carl,Carl,777,UCARL\n"  # line 3
        "u-anna,Anna,555,\n"  # line 4
        "u-dina,Dina,777,\n"  # line 5: Carl's telegram id, from a batch up
        "u-carl,Carl,777,UCARL\n"  # line 6: Carl again: a duplicate row, not a stolen id
        "u-igor,Igor,,\n"  # line 7
        "u-egor,Egor,,UCARL\n",  # line 8: Carl's Slack id, two batches up
    )

    report = import_file(engine, SETTINGS, "users", path, batch_size=2)

    assert report.refused
    assert [(e.line, e.column) for e in report.errors][0] == (2, "telegram_user_id")
    assert [(e.line, e.column, e.reason) for e in report.errors][1:] == [
        (5, "telegram_user_id", "already given to u-carl on line 3"),
        (6, "user_id", "duplicate of the row on line 3"),
        (8, "slack_user_id", "already given to u-carl on line 3"),
    ]


def test_with_skip_invalid_a_telegram_id_taken_batches_later_names_the_line_it_was_given_on(engine, tmp_path):
    # The good rows are written, and the store's own answer (PostgreSQL writes each batch as it comes; SQLite
    # merges them all at the end) must not change which line the reason names.
    path = write(
        tmp_path / "users.csv",
        "user_id,name,telegram_user_id\n"
        "u-carl,Carl,777\n"  # line 2
        "u-anna,Anna,555\n"  # line 3
        "u-dina,Dina,777\n"  # line 4: Carl's, from a batch up
        "u-egor,Egor,555\n",  # line 5: Anna's
    )

    report = import_file(engine, SETTINGS, "users", path, skip_invalid=True, batch_size=2)

    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (4, "telegram_user_id", "already given to u-carl on line 2"),
        (5, "telegram_user_id", "already given to u-anna on line 3"),
    ]
    assert (report.read, report.written, report.rejected) == (4, 2, 2)


def _at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def _sqlite(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kpibot.db'}")
    upgrade(engine)
    return engine


def _cache_size(engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("PRAGMA cache_size").scalar_one()


def test_the_sqlite_page_cache_is_given_back_after_an_import(tmp_path):
    engine = _sqlite(tmp_path)
    path = write(
        tmp_path / "leads.csv",
        "lead_id,created_at\n" + "".join(f"l-{i},2026-03-01T09:00:00\n" for i in range(1, 8)),
    )

    report = import_file(engine, SETTINGS, "leads", path, batch_size=2)

    assert report.written == 7
    # The import's connection went back to the pool: the bot's next short query gets SQLite's own cache.
    assert engine.pool.checkedin() == 1
    assert _cache_size(engine) == SQLITE_DEFAULT_CACHE
    engine.dispose()


def test_the_sqlite_page_cache_is_given_back_when_an_import_stops_half_way(tmp_path):
    engine = _sqlite(tmp_path)
    rows = [{"lead_id": f"l-{i}", "created_at": "2026-03-01T09:00:00"} for i in range(1, 6)]
    rows.append(
        {"lead_id": "l-6", "created_at": "2026-03-01T09:00:00", "colour": "red"}
    )  # line 6: no such column
    path = write(tmp_path / "leads.jsonl", "".join(json.dumps(row) + "\n" for row in rows))

    report = import_file(engine, SETTINGS, "leads", path, batch_size=2)

    # Two batches were written before the third named an unknown column; all of it was rolled back.
    assert report.refused and report.written == 0
    assert [(e.line, e.column) for e in report.errors] == [(6, "colour")]
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id)).all() == []
    assert engine.pool.checkedin() == 1
    assert _cache_size(engine) == SQLITE_DEFAULT_CACHE
    engine.dispose()
