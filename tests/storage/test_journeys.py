"""`lead_journeys`: the kept journeys equal the ones worked out live, whoever changes the CRM tables and however.

The leads are the hand-made November of tests/fixtures/conversion.py (read its table first).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import OperationalError

from metrics.catalogue import MetricQuery, query
from run_bot import main
from storage.config.settings import load_settings
from storage.journeys import journeys_current, live_journey, refresh_store
from storage.schema import Deal, Lead, LeadStageEvent, lead_journey_dirty, lead_journeys
from tests.fixtures.conversion import NOW, SETTINGS, at, seed_conversion

STAGES = len(SETTINGS.funnel.stages)


@pytest.fixture
def crm(engine):
    seed_conversion(engine)
    return engine


def kept(engine) -> dict[str, tuple]:
    """Every kept row: lead id -> (owner, created, source, campaign, segment, reached_0 … reached_5, closed)."""
    reached = [*(lead_journeys.c[f"reached_{i}"] for i in range(STAGES)), lead_journeys.c.closed_at]
    columns = [lead_journeys.c[n] for n in ("owner_id", "created_at", "source", "campaign_id", "segment")]
    with engine.connect() as conn:
        rows = conn.execute(select(lead_journeys.c.lead_id, *columns, *reached)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def live(engine) -> dict[str, tuple]:
    """The same rows worked out from the CRM tables as they are now."""
    path = live_journey(SETTINGS, select(Lead.lead_id))
    reached = [*(path.c[f"reached_{i}"] for i in range(STAGES)), path.c.closed_at]
    lead = [Lead.owner_id, Lead.created_at, Lead.source, Lead.campaign_id, Lead.segment]
    with engine.connect() as conn:
        rows = conn.execute(
            select(Lead.lead_id, *lead, *reached).join(path, path.c.lead_id == Lead.lead_id)
        ).all()
    return {row[0]: (row[1] or "", *row[2:]) for row in rows}


def waiting(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(lead_journey_dirty.c.lead_id)).scalars())


def won_leads(engine) -> int:
    result = query(
        engine, SETTINGS, MetricQuery(metric="funnel", viewer_id="admin", now=NOW, period="2026-11")
    )
    return int(result.measure("won").value)


def test_a_refresh_keeps_every_leads_journey_as_it_is_worked_out_live(crm):
    assert waiting(crm) == {f"L{i}" for i in range(1, 13)}  # written straight into the tables: all marked
    assert refresh_store(crm, SETTINGS) == 12
    assert waiting(crm) == set()
    rows = kept(crm)
    assert rows == live(crm)
    # L2 skipped sal on its way to sql (Nov 8): sal counts as entered then; it never got further.
    assert rows["L2"][5:] == (
        at(11, 3),
        at(11, 5),
        at(11, 8),
        at(11, 8),
        None,
        None,
        at(11, 12),
    )  # lost Nov 12
    # L10: mql Oct 21, then its deal D10 (opened Nov 5, won Dec 3) fills sal, sql and opportunity in.
    assert rows["L10"][5:] == (at(10, 20), at(10, 21), at(11, 5), at(11, 5), at(11, 5), at(12, 3), at(12, 3))
    assert rows["L3"][-1] == at(11, 7)  # disqualified
    assert rows["L6"][-1] is None  # still open
    with crm.connect() as conn:
        assert journeys_current(conn, SETTINGS) == (True, False)
    assert refresh_store(crm, SETTINGS) == 0  # nothing changed, nothing to do
    with crm.begin() as conn:
        conn.execute(insert(LeadStageEvent).values(lead_id="L4", stage="mql", entered_at=at(11, 5)))
    assert refresh_store(crm, SETTINGS) == 1  # one lead of twelve: only its row is worked out again
    assert kept(crm)["L4"][5:7] == (at(11, 4), at(11, 5))
    assert kept(crm) == live(crm)


def test_the_funnel_reads_the_kept_journeys(crm):
    refresh_store(crm, SETTINGS)
    assert won_leads(crm) == 2  # L1 (D1 won) and L5 (won event)
    with crm.begin() as conn:  # no trigger watches lead_journeys itself: only a reader of it sees this
        conn.execute(update(lead_journeys).where(lead_journeys.c.lead_id == "L1").values(reached_5=None))
    assert won_leads(crm) == 1


def test_every_kind_of_change_marks_its_leads_and_is_read_live_until_the_refresh(crm):
    refresh_store(crm, SETTINGS)
    with crm.begin() as conn:
        conn.execute(insert(LeadStageEvent).values(lead_id="L4", stage="won", entered_at=at(11, 26)))
        conn.execute(update(Deal).where(Deal.deal_id == "D1").values(lead_id="L6"))  # D1 moves from L1 to L6
        conn.execute(delete(Lead).where(Lead.lead_id == "L12"))
        conn.execute(update(Lead).where(Lead.lead_id == "L3").values(owner_id="rep-2"))
        conn.execute(
            update(Deal).where(Deal.deal_id == "D15").values(status="lost")
        )  # no lead: marks nothing
    assert waiting(crm) == {"L4", "L1", "L6", "L12", "L3"}
    # Read before the refresh: L4 won (new event), L6 won (D1 now), L1 no longer won, L5 still.
    assert won_leads(crm) == 3
    # Five of the twelve leads changed, past a fifth: the table is rebuilt from the eleven left (L12 is gone).
    assert refresh_store(crm, SETTINGS) == 11
    assert waiting(crm) == set()
    assert kept(crm) == live(crm)
    assert "L12" not in kept(crm)
    assert kept(crm)["L3"][0] == "rep-2"
    assert won_leads(crm) == 3


def test_other_funnel_stages_are_worked_out_live_until_a_refresh_rebuilds_the_table(crm):
    refresh_store(crm, SETTINGS)
    shorter = load_settings(config_path=None, env={}, funnel={"stages": ["lead", "mql", "sql", "won"]})
    with crm.connect() as conn:
        assert journeys_current(conn, shorter) == (False, False)
    asked = MetricQuery(metric="funnel", viewer_id="admin", now=NOW, period="2026-11")
    before = [m.value for m in query(crm, shorter, asked).measures]
    assert refresh_store(crm, shorter) == 12
    with crm.connect() as conn:
        assert journeys_current(conn, shorter) == (True, False)
        assert journeys_current(conn, SETTINGS) == (False, False)
    assert [m.value for m in query(crm, shorter, asked).measures] == before
    assert query(crm, shorter, asked).measure("sql").value == 4  # L1, L2, L5, L7


def test_kpibot_import_leaves_the_journeys_it_changed_worked_out(crm, db_url, tmp_path, capsys):
    refresh_store(crm, SETTINGS)
    events = tmp_path / "events.csv"
    events.write_text("lead_id,stage,entered_at\nL4,mql,2026-11-06T10:00:00Z\nL6,sql,2026-11-15T10:00:00Z\n")
    assert main(["--db", db_url, "import", "lead_stage_events", str(events)]) == 0
    assert "lead journeys brought up to date: 2 leads" in capsys.readouterr().out
    assert waiting(crm) == set()
    rows = kept(crm)
    assert rows == live(crm)
    assert rows["L4"][5:7] == (at(11, 4), at(11, 6))
    assert rows["L6"][5:9] == (at(11, 12), at(11, 13), at(11, 14), at(11, 15))


def test_a_lead_without_an_owner_is_kept_with_an_empty_owner(crm):
    with crm.begin() as conn:
        conn.execute(
            insert(Lead).values(
                lead_id="L99", created_at=datetime(2026, 11, 9, 10), owner_id=None, source="event"
            )
        )
    refresh_store(crm, SETTINGS)
    assert kept(crm)["L99"][:3] == ("", datetime(2026, 11, 9, 10), "event")
    assert kept(crm) == live(crm)


def test_the_bots_minute_pass_does_not_wait_for_an_import_still_writing(crm):
    if crm.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: its busy timeout is the wait")
    refresh_store(crm, SETTINGS)
    with crm.begin() as conn:  # a change already committed: there is work for the pass
        conn.execute(insert(LeadStageEvent).values(lead_id="L6", stage="sql", entered_at=at(11, 15)))
    with crm.connect() as importing:
        importing.execute(insert(LeadStageEvent).values(lead_id="L4", stage="mql", entered_at=at(11, 5)))
        with pytest.raises(OperationalError):
            refresh_store(crm, SETTINGS, wait=False)
        importing.commit()
    assert refresh_store(crm, SETTINGS, wait=False) == 2
    assert kept(crm) == live(crm)


def test_on_sqlite_many_waiting_leads_are_worked_out_a_slice_at_a_time(crm, monkeypatch):
    # SQLite has one writer: a refresh of a million waiting leads in one transaction held the bot and the scheduler
    # off for as long as it ran. Past SQLITE_SLICE waiting leads each slice is a transaction of its own.
    if crm.dialect.name != "sqlite":
        pytest.skip(
            "PostgreSQL's writers do not wait for a refresh; it works every lead out in one transaction"
        )
    import storage.journeys as journeys
    from tests.fixtures.kept import kept_and_live_spans

    refresh_store(crm, SETTINGS)
    with crm.begin() as conn:
        conn.execute(insert(LeadStageEvent).values(lead_id="L4", stage="won", entered_at=at(11, 26)))
        conn.execute(update(Deal).where(Deal.deal_id == "D1").values(lead_id="L6"))
        conn.execute(delete(Lead).where(Lead.lead_id == "L12"))
        conn.execute(update(Lead).where(Lead.lead_id == "L3").values(owner_id="rep-2"))
    assert waiting(crm) == {"L4", "L1", "L6", "L12", "L3"}
    monkeypatch.setattr(journeys, "SQLITE_SLICE", 2)
    passes: list[tuple[int | None, set[str]]] = []
    refresh = journeys.refresh_journeys

    def watched(conn, settings, **options):
        done = refresh(conn, settings, **options)
        passes.append(
            (options.get("at_most"), {r[0] for r in conn.execute(select(lead_journey_dirty.c.lead_id))})
        )
        return done

    monkeypatch.setattr(journeys, "refresh_journeys", watched)
    assert refresh_store(crm, SETTINGS) == 4  # L12 is gone: its kept rows go, it is not worked out
    # Three slices of the lowest ids (L1 L12, L3 L4, L6), each committed with the others' marks kept, then the
    # usual pass finds nothing left.
    assert passes == [(2, {"L3", "L4", "L6"}), (2, {"L6"}), (2, set()), (None, set())]
    assert waiting(crm) == set() and kept(crm) == live(crm) and "L12" not in kept(crm)
    spans_kept, spans_live = kept_and_live_spans(crm, SETTINGS)
    assert spans_kept == spans_live
