"""RevOps imports a corrected export a second time: the rows update in place, on SQLite as on PostgreSQL.

Every write to `leads` and `deals` marks its leads for the journey refresh (storage/journeys.py). SQLite runs the
statements of a trigger under the conflict policy of the statement that fired it, so a mark that conflicted with
itself (an update marks the lead before and after, the same id twice) made the second import of a file fail.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from run_bot import main
from storage.config.settings import load_settings
from storage.db import make_engine, upgrade
from storage.importing.importer import import_file
from storage.journeys import refresh_store
from storage.schema import Deal, Lead, lead_journey_dirty

DATA = Path(__file__).parent / "data"
SETTINGS = load_settings(env={})  # what `kpibot import` runs with when there is no kpibot.yaml


def waiting(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(lead_journey_dirty.c.lead_id)).scalars())


@pytest.fixture
def org(engine, db_url, capsys):
    """The example files' teams, users, campaigns and leads, imported once and their journeys kept."""
    for table in ("teams", "users", "campaigns", "leads"):
        assert main(["--db", db_url, "import", table, str(DATA / f"{table}.csv")]) == 0
    capsys.readouterr()
    return engine


def test_importing_the_same_leads_file_again_changes_nothing_and_keeps_journeys(org, db_url, capsys):
    with org.connect() as conn:
        before = conn.execute(select(Lead.__table__).order_by(Lead.lead_id)).all()

    code = main(["--db", db_url, "import", "leads", str(DATA / "leads.csv")])

    out = capsys.readouterr()
    assert (code, out.err) == (0, "")
    assert "leads: 1 read, 1 written, 0 rejected" in out.out  # the one lead of the file, Northwind's
    assert "lead journeys brought up to date: 1 lead" in out.out
    with org.connect() as conn:
        assert conn.execute(select(Lead.__table__).order_by(Lead.lead_id)).all() == before
    assert waiting(org) == set()


def test_a_second_import_before_any_refresh_marks_each_lead_once(org, tmp_path):
    first = tmp_path / "leads.csv"
    first.write_text(
        "lead_id,created_at,owner_id,source\n"
        "l-77,2026-03-09T09:00:00Z,u-1043,email\n"
        "l-78,2026-03-09T10:00:00Z,u-1043,email\n"
    )
    assert import_file(org, SETTINGS, "leads", first).written == 2
    assert waiting(org) == {"l-77", "l-78"}  # inserted, not refreshed yet
    again = import_file(org, SETTINGS, "leads", first)  # the update marks a lead that is already marked
    assert (again.written, again.errors) == (2, [])
    assert waiting(org) == {"l-77", "l-78"}


def test_re_importing_deals_that_carry_a_lead_updates_them(org, db_url, tmp_path, capsys):
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "deal_id,owner_id,created_at,status,closed_at,amount,lead_id\n"
        "d-1,u-1043,2026-03-12T15:00:00Z,open,,4800.00,l-90001\n"
    )
    assert main(["--db", db_url, "import", "deals", str(deals)]) == 0
    # The deal is won a week later; the corrected export moves it to the lead's won stage.
    deals.write_text(
        "deal_id,owner_id,created_at,status,closed_at,amount,lead_id\n"
        "d-1,u-1043,2026-03-12T15:00:00Z,won,2026-03-19T12:00:00Z,5100.00,l-90001\n"
    )

    assert main(["--db", db_url, "import", "deals", str(deals)]) == 0

    assert "lead journeys brought up to date: 1 lead" in capsys.readouterr().out
    with org.connect() as conn:
        assert conn.execute(select(Deal.status, Deal.amount)).one() == ("won", 5100)


@pytest.mark.parametrize("marked_first", [False, True])
def test_an_upsert_written_by_hand_marks_the_lead_once(org, marked_first):
    """A CRM sync or a hand-made fix writes `INSERT … ON CONFLICT DO UPDATE` straight into the tables."""
    refresh_store(org, SETTINGS)
    if marked_first:
        with org.begin() as conn:
            conn.execute(insert(lead_journey_dirty).values(lead_id="l-90001"))
    upsert = text(
        "INSERT INTO leads (lead_id, created_at, owner_id, source) VALUES (:id, :at, 'u-1043', 'event') "
        "ON CONFLICT (lead_id) DO UPDATE SET source = excluded.source, owner_id = excluded.owner_id"
    )
    deal = text(
        "INSERT INTO deals (deal_id, owner_id, created_at, status, amount, lead_id) "
        "VALUES ('d-9', 'u-1043', :at, 'open', 10, :id) "
        "ON CONFLICT (deal_id) DO UPDATE SET lead_id = excluded.lead_id, created_at = excluded.created_at"
    )
    at = datetime(2026, 3, 6, 9)
    with org.begin() as conn:
        conn.execute(upsert, {"id": "l-90001", "at": at})  # an update of an existing lead
        conn.execute(upsert, {"id": "l-90001", "at": at})  # … and again, already marked
        conn.execute(deal, {"id": "l-90001", "at": at})  # a new deal
        conn.execute(deal, {"id": "l-90001", "at": at})  # the same deal, updated
    assert waiting(org) == {"l-90001"}
    with org.connect() as conn:
        assert conn.execute(select(Lead.source).where(Lead.lead_id == "l-90001")).scalar_one() == "event"
    assert refresh_store(org, SETTINGS) == 1


def test_a_store_migrated_before_the_fix_gets_triggers_that_never_conflict(tmp_path):
    """A SQLite store from before revision 0004 still has the triggers that inserted `OR IGNORE`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0003")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER leads_journey_update")
        conn.exec_driver_sql(
            "CREATE TRIGGER leads_journey_update AFTER UPDATE OF lead_id, created_at, owner_id, source, "
            "campaign_id, segment ON leads BEGIN "
            "INSERT OR IGNORE INTO lead_journey_dirty (lead_id) SELECT OLD.lead_id WHERE OLD.lead_id IS NOT NULL; "
            "INSERT OR IGNORE INTO lead_journey_dirty (lead_id) SELECT NEW.lead_id WHERE NEW.lead_id IS NOT NULL; "
            "END"
        )
        conn.execute(insert(Lead).values(lead_id="l-1", created_at=datetime(2026, 3, 1), source="email"))
    upsert = text(
        "INSERT INTO leads (lead_id, created_at, source) VALUES ('l-1', '2026-03-01 00:00:00.000000', 'event') "
        "ON CONFLICT (lead_id) DO UPDATE SET source = excluded.source"
    )
    with engine.begin() as conn, pytest.raises(IntegrityError):  # what a re-import met
        conn.execute(upsert)

    upgrade(engine)

    with engine.begin() as conn:
        conn.execute(upsert)
    assert waiting(engine) == {"l-1"}
    engine.dispose()
