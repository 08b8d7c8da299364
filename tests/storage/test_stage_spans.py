"""`lead_stage_spans` and `deal_stage_spans`: the kept spans equal the ones worked out live, whoever changes the
CRM tables and however, and /stages answers the same from either.

The leads, deals and deal stage events are the hand-made November of tests/fixtures/conversion.py (read its
tables, and the deal stage table in tests/metrics/test_pipeline.py, first).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete, insert, select, update

from metrics.catalogue import MetricQuery, query
from run_bot import main
from storage.config.settings import load_settings
from storage.deal_spans import SPAN_COLUMNS, live_deal_spans, refresh_deal_spans
from storage.journeys import LEAD_SPAN_COLUMNS, live_lead_spans, refresh_store
from storage.schema import (
    Deal,
    DealStageEvent,
    Lead,
    LeadStageEvent,
    deal_span_dirty,
    deal_stage_spans,
    lead_stage_spans,
)
from tests.fixtures.conversion import NOW, SETTINGS, at, seed_conversion, seed_deal_stages


@pytest.fixture
def crm(engine):
    seed_conversion(engine)
    seed_deal_stages(engine)
    return engine


def kept_deals(engine) -> set[tuple]:
    with engine.connect() as conn:
        return set(conn.execute(select(*(deal_stage_spans.c[n] for n in SPAN_COLUMNS))).tuples())


def live_deals(engine) -> set[tuple]:
    with engine.connect() as conn:
        return set(conn.execute(live_deal_spans(None)).tuples())


def kept_leads(engine) -> set[tuple]:
    with engine.connect() as conn:
        return set(conn.execute(select(*(lead_stage_spans.c[n] for n in LEAD_SPAN_COLUMNS))).tuples())


def live_leads(engine, settings=SETTINGS) -> set[tuple]:
    with engine.connect() as conn:
        return set(conn.execute(live_lead_spans(settings, None)).tuples())


def deal_span(engine, deal_id: str, stage: str) -> tuple:
    """(entered, left, days) of a kept deal span."""
    return next((r[5], r[1], r[6]) for r in kept_deals(engine) if r[2] == deal_id and r[4] == stage)


def marked_deals(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(deal_span_dirty.c.deal_id)).scalars())


def stages(engine, settings=SETTINGS, **kw):
    asked = MetricQuery(metric="stages", viewer_id="admin", now=NOW, period="2026-11", **kw)
    return query(engine, settings, asked)


def numbers(result, *keys):
    return [pytest.approx(result.measure(k).value) for k in keys]


def test_a_refresh_keeps_every_stage_span_as_it_is_worked_out_live(crm):
    assert marked_deals(crm) == {
        "D1",
        "D7",
        "D10",
        "D12",
        "D13",
        "D15",
        "D16",
        "D17",
    }  # all written straight in
    refresh_store(crm, SETTINGS)
    assert marked_deals(crm) == set()
    assert kept_deals(crm) == live_deals(crm)
    assert kept_leads(crm) == live_leads(crm)
    # D1: Discovery Nov 10 → Demo Nov 12 → Proposal Nov 15 22:00 → Negotiation Nov 18, which it is still in.
    assert sorted((r[3], r[4], r[6]) for r in kept_deals(crm) if r[2] == "D1") == [
        (1, "Discovery", 2.0),
        (2, "Demo", 3.5),
        (3, "Proposal", 2.5),
    ]
    # L2: created Nov 3, mql Nov 5, sql Nov 8 (skips sal), lost Nov 12 — lost ends sql and is no stage itself.
    assert sorted((r[4], r[3], r[1], r[5], r[6]) for r in kept_leads(crm) if r[2] == "L2") == [
        (at(11, 3), "lead", at(11, 5), 2.0, True),
        (at(11, 5), "mql", at(11, 8), 3.0, True),
        (at(11, 8), "sql", at(11, 12), 4.0, True),
    ]
    # L4 never moved, D15 has no stage events: no spans.
    assert not [r for r in kept_leads(crm) if r[2] == "L4"]
    assert not [r for r in kept_deals(crm) if r[2] == "D15"]
    with crm.begin() as conn:
        assert refresh_deal_spans(conn) == 0  # nothing changed, nothing to do
        conn.execute(insert(DealStageEvent).values(deal_id="D7", stage="Negotiation", entered_at=at(11, 26)))
    with crm.begin() as conn:
        assert refresh_deal_spans(conn) == 1  # one deal of eight: only its spans are worked out again
    assert deal_span(crm, "D7", "Proposal") == (at(11, 24), at(11, 26), 2.0)
    assert kept_deals(crm) == live_deals(crm)


def test_stages_reads_the_kept_spans(crm):
    refresh_store(crm, SETTINGS)
    assert numbers(stages(crm), "deal:Discovery:mean_days", "lead:opportunity:median_days") == [4 / 3, 10.0]
    with crm.begin() as conn:  # no trigger watches the spans themselves: only a reader of them sees this
        conn.execute(
            update(deal_stage_spans)
            .where(deal_stage_spans.c.deal_id == "D1", deal_stage_spans.c.stage == "Discovery")
            .values(days=100.0)
        )
        conn.execute(
            update(lead_stage_spans)
            .where(lead_stage_spans.c.lead_id == "L1", lead_stage_spans.c.stage == "opportunity")
            .values(days=3.0)
        )
    # Discovery: D17 1, D7 1, D1 now 100 → mean 34; opportunity: L1 alone, now 3.
    assert numbers(stages(crm), "deal:Discovery:mean_days", "lead:opportunity:median_days") == [34.0, 3.0]


def test_every_kind_of_deal_change_marks_its_deal_and_is_read_live_until_the_refresh(crm):
    refresh_store(crm, SETTINGS)
    with crm.begin() as conn:
        conn.execute(insert(DealStageEvent).values(deal_id="D7", stage="Negotiation", entered_at=at(11, 26)))
        conn.execute(  # D12 reached Proposal a day later: Demo 15 days, Proposal 6
            update(DealStageEvent)
            .where(DealStageEvent.deal_id == "D12", DealStageEvent.stage == "Proposal")
            .values(entered_at=at(11, 4))
        )
        conn.execute(delete(Deal).where(Deal.deal_id == "D17"))  # its events stay, but a deal no one has
        conn.execute(update(Deal).where(Deal.deal_id == "D1").values(owner_id="rep-2"))
    assert {"D7", "D12", "D17", "D1"} <= marked_deals(crm)

    def november_deal_stages() -> None:
        result = stages(crm)
        # Discovery: D7 1, D1 2 · Demo: D1 3.5, D7 4, D12 15 · Proposal: D7 2, D1 2.5, D12 6
        assert result.measure("deal:Discovery:exits").value == 2
        assert numbers(result, "deal:Discovery:median_days", "deal:Demo:median_days") == [1.5, 4.0]
        assert numbers(result, "deal:Demo:mean_days", "deal:Proposal:median_days") == [7.5, 2.5]
        assert result.measure("deal:Proposal:exits").value == 3
        assert result.headline.label == "Slowest deal stage: Demo"
        rows = {row.key: row for row in stages(crm, by="rep").rows}
        # Rob (rep-2) now owns D1: Demo D1 3.5 and D12 15.
        assert numbers(rows["rep-2"], "deal:Demo:median_days") == [9.25]

    november_deal_stages()  # read before the refresh: the marked deals worked out live
    with crm.begin() as conn:
        assert refresh_deal_spans(conn) == 7  # three of the seven deals left changed, past a fifth: all again
    assert marked_deals(crm) == set()
    assert kept_deals(crm) == live_deals(crm)
    assert not [r for r in kept_deals(crm) if r[2] == "D17"]
    november_deal_stages()


def test_every_kind_of_lead_change_is_read_live_until_the_refresh(crm):
    refresh_store(crm, SETTINGS)
    with crm.begin() as conn:
        conn.execute(insert(LeadStageEvent).values(lead_id="L4", stage="mql", entered_at=at(11, 6)))
        conn.execute(update(Lead).where(Lead.lead_id == "L3").values(owner_id="rep-2"))
        conn.execute(delete(Lead).where(Lead.lead_id == "L12"))
        conn.execute(update(Deal).where(Deal.deal_id == "D1").values(closed_at=at(11, 22)))

    def november_lead_stages() -> None:
        result = stages(crm)
        # lead: L1 1, L2 2, L3 1, L4 2 (new), L5 15, L6 1, L7 1 (L12 is gone) → median 1, mean 23/7
        assert result.measure("lead:lead:exits").value == 7
        assert numbers(result, "lead:lead:median_days", "lead:lead:mean_days") == [1.0, 23 / 7]
        # opportunity: L1 from D1 opened Nov 10 to its win, now Nov 22
        assert numbers(result, "lead:opportunity:median_days") == [12.0]
        rows = {row.key: row for row in stages(crm, by="rep").rows}
        # Rob (rep-2) now has L3's mql (1 day) beside L6's (1) and L10's (15)
        assert rows["rep-2"].measure("lead:mql:exits").value == 3

    november_lead_stages()
    refresh_store(crm, SETTINGS)
    assert kept_leads(crm) == live_leads(crm)
    november_lead_stages()


def test_an_exit_by_the_leads_creation_counts_only_in_a_period_that_touched_the_lead(crm):
    # L20: the CRM dated its mql (Oct 28) before the lead was created (Nov 20): creation ends the mql, but a
    # creation is not a touch, and nothing else happened to L20 in November.
    with crm.begin() as conn:
        conn.execute(
            insert(Lead).values(lead_id="L20", owner_id="rep-1", created_at=at(11, 20), source="event")
        )
        conn.execute(insert(LeadStageEvent).values(lead_id="L20", stage="mql", entered_at=at(10, 28)))
    mql = ("lead:mql:exits", "lead:mql:median_days", "lead:mql:mean_days")
    assert numbers(stages(crm), *mql) == [7, 1.0, 43 / 7]  # as without L20, worked out live
    refresh_store(crm, SETTINGS)
    assert (at(10, 28), "mql", at(11, 20), False) in {(r[4], r[3], r[1], r[6]) for r in kept_leads(crm)}
    assert numbers(stages(crm), *mql) == [7, 1.0, 43 / 7]  # kept
    with crm.begin() as conn:  # lost on Nov 25: November touched L20, its mql (23 days) and lead (5) count
        conn.execute(insert(LeadStageEvent).values(lead_id="L20", stage="lost", entered_at=at(11, 25)))
    touched = [8, 2.0, 66 / 8]  # 1, 1, 1, 1, 3, 15, 21, 23
    assert numbers(stages(crm), *mql) == touched  # L20 marked: worked out live
    refresh_store(crm, SETTINGS)
    assert numbers(stages(crm), *mql) == touched
    assert numbers(stages(crm), "lead:lead:exits", "lead:lead:median_days") == [8, 1.0]
    assert kept_leads(crm) == live_leads(crm)


def test_a_lead_without_an_owner_has_its_spans_kept_with_an_empty_owner(crm):
    with crm.begin() as conn:
        conn.execute(insert(Lead).values(lead_id="L99", created_at=datetime(2026, 11, 9, 10), owner_id=None))
        conn.execute(insert(LeadStageEvent).values(lead_id="L99", stage="mql", entered_at=at(11, 10)))
    before = stages(crm).measure("lead:lead:exits").value
    refresh_store(crm, SETTINGS)
    assert ("", "L99", "lead", 1.0) in {(r[0], r[2], r[3], r[5]) for r in kept_leads(crm)}
    assert stages(crm).measure("lead:lead:exits").value == before == 8
    assert kept_leads(crm) == live_leads(crm)


def test_other_funnel_stages_are_worked_out_live_until_a_refresh_rebuilds_the_spans(crm):
    refresh_store(crm, SETTINGS)
    shorter = load_settings(config_path=None, env={}, funnel={"stages": ["lead", "mql", "sql", "won"]})
    before = [(m.key, m.value) for m in stages(crm, shorter).measures]
    assert "lead:sal:exits" not in dict(before)  # sal is no stage of this funnel (its events still end mql)
    refresh_store(crm, shorter)
    assert kept_leads(crm) == live_leads(crm, shorter)
    assert [(m.key, m.value) for m in stages(crm, shorter).measures] == before


def test_kpibot_import_leaves_the_stage_spans_it_changed_worked_out(crm, db_url, tmp_path):
    refresh_store(crm, SETTINGS)
    events = tmp_path / "deal_events.csv"
    events.write_text("deal_id,stage,entered_at\nD7,Negotiation,2026-11-26T10:00:00Z\n")
    for _ in range(2):  # a first import, then the same file again
        assert main(["--db", db_url, "import", "deal_stage_events", str(events)]) == 0
        assert marked_deals(crm) == set()
        assert kept_deals(crm) == live_deals(crm)
        assert deal_span(crm, "D7", "Proposal") == (at(11, 24), at(11, 26), 2.0)
    leads = tmp_path / "events.csv"
    leads.write_text("lead_id,stage,entered_at\nL4,mql,2026-11-06T10:00:00Z\n")
    for _ in range(2):
        assert main(["--db", db_url, "import", "lead_stage_events", str(leads)]) == 0
        assert kept_leads(crm) == live_leads(crm)
        assert ("L4", "lead", 2.0) in {(r[2], r[3], r[5]) for r in kept_leads(crm)}
