"""/winrate and /sql on the hand-made November of tests/fixtures/conversion.py (read its table first)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from metrics.catalogue import MetricQuery, query
from metrics.kpis.sql_report import SPEND_IS_ORG_WIDE
from metrics.scope import Scope
from storage.config.settings import Settings
from storage.errors import PermissionDenied
from tests.fixtures.conversion import JOURNEY_STATES, NOW, SETTINGS, prepare_journeys, seed_conversion


@pytest.fixture(params=JOURNEY_STATES)
def crm(engine, request):
    seed_conversion(engine)
    prepare_journeys(engine, request.param)
    return engine


def ask(engine, metric, *, viewer="admin", period="2026-11", settings=SETTINGS, **kw):
    return query(engine, settings, MetricQuery(metric=metric, viewer_id=viewer, now=NOW, period=period, **kw))


def values(result_or_row, *keys):
    return [result_or_row.measure(k).value for k in keys]


# --- /winrate ----------------------------------------------------------------------------------------------------


def test_admin_reads_novembers_win_rate_close_rate_and_leads_per_deal(crm):
    result = ask(crm, "win_rate")
    # Closed in November: D1 won, D12 won, D7 lost, D13 lost (D16 closed in October, D10 in December).
    assert result.headline.key == "win_rate"
    assert values(result, "win_rate", "won", "lost") == [pytest.approx(2 / 4), 2, 2]
    assert result.measure("win_rate").detail == "2 / (2 + 2)"
    # Pipeline in November: every lead created before Dec 1 except L11, lost on Oct 30 → L1–L10 and L12 = 11.
    # L2, L3, L5, L1 and L7 closed during November and still count; L10 closed (won) only on Dec 3.
    assert values(result, "pipeline_leads", "close_rate") == [11, pytest.approx(2 / 11)]
    # New leads: the 9 created in November; 9 / 2 won deals = 4.5 leads per won deal.
    assert values(result, "leads", "leads_per_deal") == [9, pytest.approx(4.5)]


def test_win_rate_by_rep_with_na_where_nothing_was_won(crm):
    rows = {row.key: row for row in ask(crm, "win_rate", by="rep").rows}
    # rep-1: D1 won, D13 lost; leads L1 L2 L3; pipeline L1 L2 L3 L9
    assert values(rows["rep-1"], "win_rate", "leads_per_deal", "close_rate") == [
        0.5,
        3.0,
        pytest.approx(1 / 4),
    ]
    # rep-2: D12 won; leads L4 L5 L6 L12; pipeline those and L10
    assert values(rows["rep-2"], "win_rate", "leads_per_deal", "close_rate") == [
        1.0,
        4.0,
        pytest.approx(1 / 5),
    ]
    # rep-3: D7 lost, nothing won: 0 % win rate, and leads per won deal is n/a (2 leads / 0 deals)
    assert values(rows["rep-3"], "win_rate", "leads_per_deal", "close_rate") == [0.0, None, 0.0]
    assert rows["rep-3"].measure("leads_per_deal").detail == "2 / 0"

    teams = {row.label: row for row in ask(crm, "win_rate", by="team").rows}
    assert values(teams["Alpha"], "won", "lost", "pipeline_leads") == [2, 1, 9]
    assert values(teams["Bravo"], "won", "lost", "pipeline_leads") == [0, 1, 2]


def test_win_rate_by_product_leaves_lead_numbers_na(crm):
    rows = {row.key: row for row in ask(crm, "win_rate", by="product").rows}
    assert rows["P-PRO"].label == "Professional plan"
    assert values(rows["P-PRO"], "won", "lost", "win_rate") == [1, 1, 0.5]  # D1 won, D7 lost
    assert values(rows["P-START"], "won", "lost", "win_rate") == [1, 1, 0.5]  # D12 won, D13 lost
    assert values(rows["P-PRO"], "close_rate", "leads_per_deal") == [None, None]
    assert rows["P-PRO"].measure("close_rate").detail == "leads have no product"

    pro = ask(crm, "win_rate", filters=(("product", "Professional plan"),))
    assert values(pro, "won", "lost", "close_rate") == [1, 1, None]


def test_win_rate_by_source_segment_and_month(crm):
    by_source = {row.key: row for row in ask(crm, "win_rate", by="source").rows}
    assert values(by_source["paid_search"], "won", "lost") == [1, 0]  # D1 via L1
    assert values(by_source["email"], "won", "lost") == [0, 1]  # D7 via L7
    assert values(by_source[""], "won", "lost") == [1, 1]  # D12, D13 have no lead
    by_segment = {row.key: row for row in ask(crm, "win_rate", by="segment").rows}
    assert values(by_segment["saas"], "won", "leads") == [1, 5]

    months = ask(crm, "win_rate", period="2026-10-01..2026-11-30", by="month")
    october, november = months.rows
    assert october.key == "2026-10"
    # October: D16 lost; leads L9 L10 L11 created; in the pipeline L9 L10 L11 (L11 closed on Oct 30, inside it)
    assert values(october, "won", "lost", "win_rate", "leads", "pipeline_leads") == [0, 1, 0.0, 3, 3]
    assert october.measure("leads_per_deal").value is None
    assert values(november, "won", "lost", "leads", "pipeline_leads") == [2, 2, 9, 11]
    # The two months together: 2 won of 5 closed; all 12 leads were in the pipeline at some point.
    assert values(months, "win_rate", "pipeline_leads", "leads_per_deal") == [pytest.approx(2 / 5), 12, 6.0]


def test_segment_filter_keeps_deals_of_that_segments_leads(crm):
    saas = ask(crm, "win_rate", filters=(("segment", "saas"),))
    # Only D1 (L1, saas) among November's closed deals has a saas lead; D12 and D13 have no lead at all.
    assert values(saas, "won", "lost", "win_rate") == [1, 0, 1.0]


def test_a_month_without_closed_deals_is_na_not_zero(crm):
    result = ask(crm, "win_rate", period="2026-09")
    assert values(result, "win_rate", "close_rate", "leads_per_deal") == [None, None, None]
    assert values(result, "won", "lost", "leads", "pipeline_leads") == [0, 0, 0, 0]


def test_win_rate_vs_previous_month(crm):
    result = ask(crm, "win_rate", compare="prev")
    assert result.measure("win_rate").previous == 0.0  # October: D16 lost, nothing won
    assert result.measure("win_rate").direction == "up"


# --- /sql --------------------------------------------------------------------------------------------------------


def test_admin_reads_the_november_sql_report(crm):
    result = ask(crm, "sql")
    # SQL entries in November: L9 3rd, L10 5th (skipped to its deal), L1 6th, L2 8th, L7 18th, L5 25th = 6.
    # MQL entries: L1 L2 L3 L6 L7 L12 L5 = 7; leads created: 9.
    assert result.headline.key == "sql"
    assert values(result, "sql", "mql", "leads") == [6, 7, 9]
    assert result.measure("acceptance_rate").value == pytest.approx(6 / 7)
    # Marketing spend Nov 1–30: 300 + 200 + 100 = 600 (the 999 of sales spend is not marketing).
    # Lagged by 30 days, Oct 2–31: 240 + 60 = 300 (Oct 1's 1000 is just outside).
    assert values(result, "spend", "spend_lagged") == [Decimal("600"), Decimal("300")]
    assert result.measure("cost_per_sql").value == pytest.approx(600 / 6)
    assert result.measure("cost_per_sql_lagged").value == pytest.approx(300 / 6)
    assert result.measure("cost_per_lead").value == pytest.approx(600 / 9)
    assert result.measure("cost_per_mql").value == pytest.approx(600 / 7)
    assert result.notes == ()


def test_sql_report_for_one_source_and_one_campaign(crm):
    paid = ask(crm, "sql", filters=(("source", "paid_search"),))
    # Paid leads L1 L2 L6 L9: SQL entries L9, L1, L2 = 3; MQL entries L1, L2, L6 = 3; paid spend 300 + 200.
    assert values(paid, "sql", "mql", "spend", "spend_lagged") == [3, 3, Decimal("500"), Decimal("60")]
    assert paid.measure("cost_per_sql").value == pytest.approx(500 / 3)
    assert paid.measure("cost_per_sql_lagged").value == pytest.approx(60 / 3)

    spring = ask(crm, "sql", filters=(("campaign", "c-spring"),))
    # L1, L2: 2 SQLs for the campaign's 300 in November (and 60 on Oct 31).
    assert values(spring, "sql", "cost_per_sql", "cost_per_sql_lagged", "cost_per_lead") == [
        2,
        150.0,
        30.0,
        150.0,
    ]


def test_sql_report_by_source_splits_spend_by_channel(crm):
    rows = {row.key: row for row in ask(crm, "sql", by="source").rows}
    assert values(rows["paid_search"], "sql", "spend", "cost_per_sql") == [
        3,
        Decimal("500"),
        pytest.approx(500 / 3),
    ]
    # organic: L10's SQL; no spend in November, 240 in the lagged window
    assert values(rows["organic_search"], "sql", "cost_per_sql", "cost_per_sql_lagged") == [1, 0.0, 240.0]
    assert values(rows["email"], "sql", "mql", "cost_per_sql") == [1, 1, 100.0]  # L7; L8's MQL is in December
    assert values(rows["referral"], "sql", "cost_per_sql") == [1, 0.0]  # L5, no spend


def test_sql_report_by_campaign(crm):
    rows = {row.key: row for row in ask(crm, "sql", by="campaign").rows}
    assert values(rows["c-spring"], "sql", "cost_per_sql") == [2, 150.0]
    assert values(rows["c-autumn"], "sql", "cost_per_sql") == [1, 100.0]  # L7
    # Leads and spend without a campaign: L3 L4 L5 L6 L9 L10 L12 and paid_search's 200.
    assert values(rows[""], "sql", "spend") == [3, Decimal("200")]


def test_a_rep_sees_their_sqls_but_no_costs(crm):
    mine = ask(crm, "sql", viewer="rep-1")
    # Rita: L1 L2 L9 entered SQL in November; L1 L2 L3 entered MQL.
    assert values(mine, "sql", "mql", "acceptance_rate") == [3, 3, 1.0]
    assert values(mine, "cost_per_sql", "cost_per_sql_lagged", "cost_per_lead", "spend") == [
        None,
        None,
        None,
        None,
    ]
    assert mine.measure("cost_per_sql").detail == "spend is organisation-wide"
    assert mine.notes == (SPEND_IS_ORG_WIDE,)
    with pytest.raises(PermissionDenied):
        ask(crm, "sql", viewer="rep-1", scope=Scope("rep", "rep-3"))


def test_sql_report_by_rep_and_team_leaves_costs_na(crm):
    rows = {row.key: row for row in ask(crm, "sql", by="rep").rows}
    assert values(rows["rep-2"], "sql", "cost_per_sql") == [2, None]  # L10, L5
    teams = {row.label: row for row in ask(crm, "sql", by="team").rows}
    assert values(teams["Alpha"], "sql", "cost_per_sql") == [5, None]
    # The organisation's own totals keep their costs.
    assert ask(crm, "sql", by="team").measure("cost_per_sql").value == pytest.approx(100.0)
    segments = {row.key: row for row in ask(crm, "sql", by="segment").rows}
    assert values(segments["saas"], "sql", "cost_per_sql") == [2, None]  # L1, L9


def test_no_sqls_means_cost_per_sql_na(crm):
    result = ask(crm, "sql", period="2026-09")
    assert values(result, "sql", "acceptance_rate", "cost_per_sql", "cost_per_lead") == [0, None, None, None]
    assert result.measure("spend").value == Decimal("0")


def test_the_lag_follows_the_marketing_setting(crm):
    no_lag = Settings.model_validate({"marketing": {"lag_days": 0}})
    result = ask(crm, "sql", settings=no_lag)
    assert result.measure("cost_per_sql_lagged").value == pytest.approx(600 / 6)
