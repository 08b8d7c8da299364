"""/cycle and /stages on the November of tests/fixtures/conversion.py, plus one quick deal and deal stages
(`seed_deal_stages` there).

Extra rows here:
D17    rep-3  no lead  P-PRO  opened Nov 1 10:00, won Nov 4 22:00 (3.5 days)

deal stage events (10:00 unless said)      days in each stage, exits in November marked *
D1:  Discovery Nov 10, Demo Nov 12, Proposal Nov 15 22:00, Negotiation Nov 18
                                           Discovery 2*, Demo 3.5*, Proposal 2.5*
D7:  Discovery Nov 19, Demo Nov 20, Proposal Nov 24       Discovery 1*, Demo 4*
D12: Discovery Sep 1, Demo Oct 20, Proposal Nov 3, Negotiation Nov 10
                                           Discovery 49 (exit in October), Demo 14*, Proposal 7*
D17: Discovery Nov 1, Proposal Nov 2 (skips Demo)          Discovery 1*
"""

from __future__ import annotations

import pytest

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.errors import PermissionDenied
from tests.fixtures.conversion import (
    JOURNEY_STATES,
    NOW,
    SETTINGS,
    prepare_journeys,
    seed_conversion,
    seed_deal_stages,
)


@pytest.fixture
def crm(engine):
    seed_conversion(engine)
    seed_deal_stages(engine)
    return engine


@pytest.fixture(params=JOURNEY_STATES)
def spans(crm, request):
    """The same store with its stage spans worked out live, kept, or kept with some leads and deals changed."""
    prepare_journeys(crm, request.param)
    return crm


def ask(engine, metric, *, viewer="admin", period="2026-11", **kw):
    return query(engine, SETTINGS, MetricQuery(metric=metric, viewer_id=viewer, now=NOW, period=period, **kw))


def values(result_or_row, *keys):
    return [result_or_row.measure(k).value for k in keys]


# --- /cycle ------------------------------------------------------------------------------------------------------


def test_admin_reads_novembers_sales_cycle(crm):
    result = ask(crm, "cycle")
    # Won in November: D17 3.5 days (no lead: from the deal's opening Nov 1 10:00 to Nov 4 22:00),
    # D1 18 days (from its lead L1's creation Nov 2 to Nov 20), D12 75 days (no lead: Sep 1 to Nov 15).
    assert result.headline.key == "median_days"
    assert result.measure("median_days").value == pytest.approx(18.0)
    assert result.measure("mean_days").value == pytest.approx((3.5 + 18 + 75) / 3)
    assert result.measure("deals").value == 3


def test_cycle_breakdowns_take_the_middle_of_an_even_count(crm):
    by_rep = {row.key: row for row in ask(crm, "cycle", by="rep").rows}
    assert values(by_rep["rep-1"], "median_days", "deals") == [pytest.approx(18.0), 1]
    assert values(by_rep["rep-2"], "median_days") == [pytest.approx(75.0)]
    assert values(by_rep["rep-3"], "median_days") == [pytest.approx(3.5)]

    by_product = {row.key: row for row in ask(crm, "cycle", by="product").rows}
    # P-PRO: D17 3.5 and D1 18 → median (3.5 + 18) / 2 = 10.75
    assert values(by_product["P-PRO"], "median_days", "mean_days") == [
        pytest.approx(10.75),
        pytest.approx(10.75),
    ]
    assert values(by_product["P-START"], "median_days") == [pytest.approx(75.0)]

    by_team = {row.label: row for row in ask(crm, "cycle", by="team").rows}
    assert values(by_team["Alpha"], "median_days", "deals") == [pytest.approx((18 + 75) / 2), 2]

    by_source = {row.key: row for row in ask(crm, "cycle", by="source").rows}
    assert values(by_source["paid_search"], "median_days") == [pytest.approx(18.0)]  # D1 via L1
    assert values(by_source[""], "median_days") == [pytest.approx((3.5 + 75) / 2)]  # no lead: D17, D12

    by_segment = {row.key: row for row in ask(crm, "cycle", by="segment").rows}
    assert values(by_segment["saas"], "median_days") == [pytest.approx(18.0)]


def test_cycle_by_month_and_its_chart_series(crm):
    result = ask(crm, "cycle", period="2026-10-01..2026-11-30", by="month")
    october, november = result.rows
    # Nothing was won in October: n/a, not zero.
    assert values(october, "median_days", "mean_days", "deals") == [None, None, 0]
    assert values(november, "median_days") == [pytest.approx(18.0)]
    assert result.series_by_key("cycle_by_month").points == (
        ("2026-10", None),
        ("2026-11", pytest.approx(18.0)),
    )


def test_cycle_filters_and_rep_view(crm):
    pro = ask(crm, "cycle", filters=(("product", "P-PRO"),))
    assert values(pro, "median_days", "deals") == [pytest.approx(10.75), 2]
    spring = ask(crm, "cycle", filters=(("campaign", "Spring Promo"),))
    assert values(spring, "median_days", "deals") == [
        pytest.approx(18.0),
        1,
    ]  # D1, whose lead L1 came from it
    mine = ask(crm, "cycle", viewer="rep-3")
    assert values(mine, "median_days", "deals") == [pytest.approx(3.5), 1]
    with pytest.raises(PermissionDenied):
        ask(crm, "cycle", viewer="rep-3", scope=Scope("rep", "rep-1"))


def test_cycle_vs_previous_month_with_nothing_won_before(crm):
    result = ask(crm, "cycle", compare="prev")
    assert result.measure("median_days").previous is None
    assert result.measure("deals").previous == 0


# --- /stages -----------------------------------------------------------------------------------------------------


def test_admin_sees_where_deals_wait(spans):
    result = ask(spans, "stages")
    # Exits in November — Discovery: D17 1, D7 1, D1 2 (D12's left in October) → median 1, mean 4/3
    assert values(result, "deal:Discovery:median_days", "deal:Discovery:exits") == [pytest.approx(1.0), 3]
    assert result.measure("deal:Discovery:mean_days").value == pytest.approx(4 / 3)
    # Demo: D1 3.5, D7 4, D12 14 (entered in October, left Nov 3) → median 4, mean 21.5 / 3
    assert result.measure("deal:Demo:median_days").value == pytest.approx(4.0)
    assert result.measure("deal:Demo:mean_days").value == pytest.approx(21.5 / 3)
    # Proposal: D1 2.5, D12 7 → median 4.75; Negotiation was never left, so it has no measures.
    assert result.measure("deal:Proposal:median_days").value == pytest.approx(4.75)
    with pytest.raises(KeyError):
        result.measure("deal:Negotiation:median_days")
    # The headline: the slowest deal stage by median, Proposal's 4.75 days against Demo's 4.
    assert result.headline.key == "slowest_deal_stage_days"
    assert result.headline.label == "Slowest deal stage: Proposal"
    assert result.headline.value == pytest.approx(4.75)
    assert result.headline.detail == "median of 2 exits"
    series = result.series_by_key("deal_stages")
    assert [stage for stage, _ in series.points] == ["Discovery", "Demo", "Proposal"]


def test_admin_sees_where_leads_wait(spans):
    result = ask(spans, "stages")
    # lead (creation → first next entry), exits in November:
    #   L1 1, L2 2, L3 1, L5 15 (straight to won), L6 1, L7 1, L12 1 → median 1, mean 22/7
    #   (L9 and L10 left 'lead' in October; L8's MQL is in December; L4 never moved)
    assert values(result, "lead:lead:median_days", "lead:lead:exits") == [pytest.approx(1.0), 7]
    assert result.measure("lead:lead:mean_days").value == pytest.approx(22 / 7)
    # mql: L1 1, L2 3 (to sql), L3 1 (disqualified ends it), L6 1, L7 1, L9 21 (Oct 12 → Nov 2),
    #   L10 15 (Oct 21 → its deal D10 opened Nov 5) → median 1, mean 43/7
    assert values(result, "lead:mql:median_days", "lead:mql:mean_days") == [
        pytest.approx(1.0),
        pytest.approx(43 / 7),
    ]
    # sal: L1 2, L7 1, L9 1 · sql: L1 4 (to D1), L2 4 (lost), L7 1 · opportunity: L1 10 (D1 won Nov 20)
    assert values(result, "lead:sal:median_days", "lead:sql:median_days", "lead:sql:mean_days") == [
        pytest.approx(1.0),
        pytest.approx(4.0),
        pytest.approx(3.0),
    ]
    assert result.measure("lead:opportunity:median_days").value == pytest.approx(10.0)
    points = result.series_by_key("lead_stages").points
    assert [stage for stage, _ in points] == ["lead", "mql", "sal", "sql", "opportunity"]


def test_stages_by_rep_and_team(spans):
    rows = {row.key: row for row in ask(spans, "stages", by="rep").rows}
    # Rita: D1 Demo 3.5; her leads' mql: L1 1, L2 3, L3 1, L9 21 → median (1 + 3) / 2 = 2, mean 26/4
    assert rows["rep-1"].measure("deal:Demo:median_days").value == pytest.approx(3.5)
    assert rows["rep-1"].measure("lead:mql:median_days").value == pytest.approx(2.0)
    assert rows["rep-1"].measure("lead:mql:mean_days").value == pytest.approx(6.5)
    teams = {row.label: row for row in ask(spans, "stages", by="team").rows}
    # Bravo: D7 and D17 — Discovery 1 and 1, Demo 4
    assert values(teams["Bravo"], "deal:Discovery:median_days", "deal:Demo:median_days") == [
        pytest.approx(1.0),
        pytest.approx(4.0),
    ]


def test_a_quiet_month_has_no_stage_exits(spans):
    result = ask(spans, "stages", period="2026-08")
    assert result.headline.value is None
    assert result.series_by_key("deal_stages").points == ()
    assert result.series_by_key("lead_stages").points == ()


def test_a_rep_sees_only_their_own_stages(spans):
    mine = ask(spans, "stages", viewer="rep-3")
    # Rae: D7 and D17 — Discovery 1, 1; Demo 4 (D7)
    assert mine.measure("deal:Discovery:exits").value == 2
    assert mine.measure("deal:Demo:median_days").value == pytest.approx(4.0)
    with pytest.raises(PermissionDenied):
        ask(spans, "stages", viewer="rep-3", scope=Scope("team", "Alpha"))
