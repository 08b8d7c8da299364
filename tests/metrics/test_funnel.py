"""/funnel on the hand-made November of tests/fixtures/conversion.py (read its table first).

Stages: lead → mql → sal → sql → opportunity → won. Cohort = November's leads L1–L8 and L12, how far they got
by Dec 10; flow = stage entries during November, whoever's leads they were.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.config.settings import Settings
from storage.errors import PermissionDenied
from storage.schema import Lead, User
from tests.fixtures.conversion import (
    JOURNEY_STATES,
    NOW,
    SETTINGS,
    at,
    prepare_journeys,
    seed_conversion,
)
from tests.fixtures.metrics_org import seed_people

STAGES = ("lead", "mql", "sal", "sql", "opportunity", "won")


@pytest.fixture(params=JOURNEY_STATES)
def crm(engine, request):
    seed_conversion(engine)
    prepare_journeys(engine, request.param)
    return engine


def ask(engine, *, viewer="admin", period="2026-11", settings=SETTINGS, **kw):
    return query(
        engine, settings, MetricQuery(metric="funnel", viewer_id=viewer, now=NOW, period=period, **kw)
    )


def counts(result_or_row) -> list:
    return [result_or_row.measure(s).value for s in STAGES]


def test_admin_sees_novembers_cohort_and_how_far_it_got_by_now(crm):
    result = ask(crm)
    # lead: L1 L2 L3 L4 L5 L6 L7 L8 L12 = 9
    # mql:  all but L4 (L8's MQL on Dec 2 counts: it happened by now) = 8
    # sal:  L1, L2 (skipped it on the way to sql), L5 (won outright), L6, L7 = 5
    # sql:  L1, L2, L5, L7 = 4 (L3 was disqualified at mql and stays counted there)
    # opportunity: L1 (its deal D1), L5, L7 = 3 — L7 keeps it though D7 was lost
    # won:  L1 (D1 won), L5 (won event) = 2
    assert counts(result) == [9, 8, 5, 4, 3, 2]
    assert result.headline.key == "lead"
    assert result.measures[1].key == "lead_to_won"
    assert result.measure("lead_to_won").value == pytest.approx(2 / 9)
    assert result.measure("lead_to_won").detail == "2 / 9"
    assert result.measure("lead_to_mql").value == pytest.approx(8 / 9)
    assert result.measure("mql_to_sal").value == pytest.approx(5 / 8)
    assert result.measure("sal_to_sql").value == pytest.approx(4 / 5)
    assert result.measure("sql_to_opportunity").value == pytest.approx(3 / 4)
    assert result.measure("opportunity_to_won").value == pytest.approx(2 / 3)
    assert result.measure("mql_rate").value == pytest.approx(8 / 9)
    assert result.measure("acceptance_rate").value == pytest.approx(4 / 8)
    assert result.measure("proposal_rate").value == pytest.approx(3 / 4)
    assert result.mode == "cohort"
    assert result.series_by_key("stages").points == tuple(zip(STAGES, [9, 8, 5, 4, 3, 2], strict=True))


def test_flow_counts_novembers_stage_entries_and_differs_from_the_cohort(crm):
    result = ask(crm, mode="flow")
    # lead:  the 9 leads created in November
    # mql:   L1 3rd, L2 5th, L3 6th, L6 13th, L7 16th, L12 22nd, L5 25th (won, skipping mql) = 7; L8's is in Dec
    # sal:   L9 2nd, L1 4th, L10 5th (its deal D10 opened, skipping sal and sql), L2 8th (skipped, entering sql),
    #        L6 14th, L7 17th, L5 25th = 7
    # sql:   L9, L10, L1, L2, L7, L5 = 6
    # opportunity: L10 (D10 opened Nov 5), L1 (D1 opened Nov 10), L7 19th, L5 25th = 4
    # won:   L1 (D1 won Nov 20), L5 25th = 2; D10 was won on Dec 3, after November
    assert counts(result) == [9, 7, 7, 6, 4, 2]
    assert result.mode == "flow"
    assert result.measure("mql_to_sal").value == pytest.approx(7 / 7)
    assert result.measure("sal_to_sql").value == pytest.approx(6 / 7)
    assert result.measure("sql_to_opportunity").value == pytest.approx(4 / 6)
    assert result.measure("opportunity_to_won").value == pytest.approx(2 / 4)
    assert result.measure("lead_to_won").value == pytest.approx(2 / 9)


def test_manager_compares_the_cohort_with_octobers(crm):
    result = ask(crm, viewer="admin", compare="prev")
    # October's cohort: L9, L10, L11 — all reached mql, sal and sql (L10 by skipping to its deal D10);
    # opportunity: L10 (D10), L11 (D16); won: L10 (D10 won Dec 3, by now) → [3, 3, 3, 3, 2, 1]
    assert [result.measure(s).previous for s in STAGES] == [3, 3, 3, 3, 2, 1]
    won = result.measure("lead_to_won")
    assert won.previous == pytest.approx(1 / 3)
    assert won.direction == "down"  # 2/9 = 22.2 % against 33.3 %


def test_breakdown_by_rep_and_by_team(crm):
    by_rep = {row.key: row for row in ask(crm, by="rep").rows}
    # rep-1: L1 L2 L3 · rep-2: L4 L5 L6 L12 · rep-3: L7 L8
    assert counts(by_rep["rep-1"]) == [3, 3, 2, 2, 1, 1]
    assert counts(by_rep["rep-2"]) == [4, 3, 2, 1, 1, 1]
    assert counts(by_rep["rep-3"]) == [2, 2, 1, 1, 1, 0]
    assert by_rep["rep-1"].label == "Rita Rep"
    assert by_rep["rep-3"].measure("opportunity_to_won").value == 0.0

    by_team = {row.label: row for row in ask(crm, by="team").rows}
    assert counts(by_team["Alpha"]) == [7, 6, 4, 3, 2, 2]  # rep-1 + rep-2
    assert counts(by_team["Bravo"]) == [2, 2, 1, 1, 1, 0]


def test_breakdown_by_source_segment_and_campaign(crm):
    by_source = {row.key: row for row in ask(crm, by="source").rows}
    assert counts(by_source["paid_search"]) == [3, 3, 3, 2, 1, 1]  # L1 L2 L6
    assert counts(by_source["organic_search"]) == [3, 2, 0, 0, 0, 0]  # L3 L4 L12
    assert counts(by_source["referral"]) == [1, 1, 1, 1, 1, 1]  # L5
    assert counts(by_source["email"]) == [2, 2, 1, 1, 1, 0]  # L7 L8

    by_segment = {row.key: row for row in ask(crm, by="segment").rows}
    assert counts(by_segment["saas"]) == [5, 4, 2, 1, 1, 1]  # L1 L3 L4 L6 L8
    assert counts(by_segment["retail"]) == [4, 4, 3, 3, 2, 1]  # L2 L5 L7 L12

    by_campaign = {row.key: row for row in ask(crm, by="campaign").rows}
    assert by_campaign["c-spring"].label == "Spring Promo"
    assert counts(by_campaign["c-spring"]) == [2, 2, 2, 2, 1, 1]  # L1 L2
    assert counts(by_campaign[""]) == [5, 4, 2, 1, 1, 1]  # L3 L4 L5 L6 L12, without a campaign
    assert by_campaign[""].label == "(none)"


def test_filter_by_source_and_by_campaign_name(crm):
    paid = ask(crm, filters=(("source", "paid_search"),))
    assert counts(paid) == [3, 3, 3, 2, 1, 1]
    assert paid.measure("acceptance_rate").value == pytest.approx(2 / 3)
    spring = ask(crm, filters=(("campaign", "Spring Promo"),))
    assert counts(spring) == [2, 2, 2, 2, 1, 1]


def test_cohorts_by_month_and_flow_by_week(crm):
    rows = ask(crm, period="2026-10-01..2026-11-30", by="month").rows
    assert [row.key for row in rows] == ["2026-10", "2026-11"]
    assert counts(rows[0]) == [3, 3, 3, 3, 2, 1]
    assert counts(rows[1]) == [9, 8, 5, 4, 3, 2]

    weeks = {row.key: row for row in ask(crm, mode="flow", by="week").rows}
    # November 2026 starts on a Sunday: W44 is Nov 1 alone, W45 Nov 2–8, … W49 Nov 30 alone.
    assert list(weeks) == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]
    assert counts(weeks["2026-W44"]) == [0, 0, 0, 0, 0, 0]
    # lead: L1 L2 L3 L4 · mql: L1 L2 L3 · sal: L9 2nd, L1 4th, L10 5th, L2 8th · sql: L9 L10 L1 L2 · opp: L10
    assert counts(weeks["2026-W45"]) == [4, 3, 4, 4, 1, 0]
    # lead: L8 L12 · mql: L7 16th, L12 22nd · sal: L7 · sql: L7 · opp: L7 19th · won: L1 20th
    assert counts(weeks["2026-W47"]) == [2, 2, 1, 1, 1, 1]
    assert weeks["2026-W46"].measure("mql_to_sal").value == pytest.approx(1 / 1)  # L6 13th, L6 14th


def test_rep_sees_their_own_funnel_and_is_refused_a_colleagues(crm):
    mine = ask(crm, viewer="rep-1")
    assert mine.scope.kind == "rep"
    assert counts(mine) == [3, 3, 2, 2, 1, 1]
    with pytest.raises(PermissionDenied):
        ask(crm, viewer="rep-1", scope=Scope("rep", "rep-2"))


def test_an_empty_month_is_zero_leads_and_every_rate_na(crm):
    result = ask(crm, period="2026-08")
    assert counts(result) == [0, 0, 0, 0, 0, 0]
    assert result.measure("lead_to_won").value is None
    assert result.measure("mql_rate").value is None
    assert result.measure("acceptance_rate").value is None


def test_custom_stages_without_opportunity_still_count_deals_as_won(crm):
    short = Settings.model_validate({"funnel": {"stages": ["lead", "mql", "won"]}})
    result = ask(crm, settings=short)
    # lead 9, mql 8 as before; won L1 (D1) and L5
    assert [m.key for m in result.measures[:2]] == ["lead", "lead_to_won"]
    assert [result.measure(s).value for s in ("lead", "mql", "won")] == [9, 8, 2]
    assert result.measure("mql_to_won").value == pytest.approx(2 / 8)
    assert result.measure("mql_rate").value == pytest.approx(8 / 9)
    with pytest.raises(KeyError):
        result.measure("acceptance_rate")


# --- the asker's time zone decides the month ---------------------------------------------------------------------


@pytest.fixture
def month_end_leads(engine):
    """E1: 23:30 on Nov 30 in Moscow (20:30 UTC), Rita's. E2: 23:30 on Nov 30 in New York (04:30 UTC Dec 1), Rae's."""
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Lead),
            [
                dict(lead_id="E1", owner_id="rep-1", source="email", created_at=at(11, 30, 20, 30)),
                dict(lead_id="E2", owner_id="rep-3", source="email", created_at=at(12, 1, 4, 30)),
            ],
        )
    return engine


def _leads(engine, viewer, period, org_zone="UTC"):
    settings = Settings.model_validate({"org": {"timezone": org_zone}})
    return ask(engine, viewer=viewer, period=period, settings=settings).measure("lead").value


def test_a_late_evening_lead_counts_in_the_askers_local_month(month_end_leads):
    engine = month_end_leads
    # Rita (Moscow, UTC+3) asks about November: her 23:30 lead of Nov 30 is November's.
    assert _leads(engine, "rep-1", "2026-11", "Europe/Moscow") == 1
    # Rae (New York, UTC−5) too: 04:30 UTC on Dec 1 is still 23:30 on Nov 30 for her.
    assert _leads(engine, "rep-3", "2026-11", "America/New_York") == 1
    assert _leads(engine, "rep-3", "2026-12", "America/New_York") == 0


def test_the_same_instant_is_another_month_in_another_zone(month_end_leads):
    engine = month_end_leads
    # The admin asks in UTC: E1 (20:30 Nov 30) is November's, E2 (04:30 Dec 1) December's.
    assert _leads(engine, "admin", "2026-11") == 1
    assert _leads(engine, "admin", "2026-12") == 1
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "admin").values(timezone="America/New_York"))
    # In New York both fall on Nov 30.
    assert _leads(engine, "admin", "2026-11", "America/New_York") == 2
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "admin").values(timezone="Europe/Moscow"))
    # In Moscow E2 is 07:30 on Dec 1.
    assert _leads(engine, "admin", "2026-11", "Europe/Moscow") == 1
    assert _leads(engine, "admin", "2026-12", "Europe/Moscow") == 1


def test_now_is_tz_aware_and_the_cohort_counts_only_what_happened_by_then(crm):
    # Asked on Dec 1, L8's MQL (Dec 2) has not happened yet: mql 7 instead of 8.
    early = query(
        crm,
        SETTINGS,
        MetricQuery(
            metric="funnel", viewer_id="admin", now=datetime(2026, 12, 1, 12, tzinfo=UTC), period="2026-11"
        ),
    )
    assert early.measure("mql").value == 7
