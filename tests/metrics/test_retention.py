"""/retention and /mrr on the hand-made customer base of tests/fixtures/customers.py (October 2026)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.config.settings import load_settings
from storage.errors import PermissionDenied
from storage.side_by_side import account_parts
from tests.fixtures.customers import ACCOUNT_MONTH_STATES, prepare_account_months, seed_customers

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
SETTINGS = load_settings(env={})


@pytest.fixture(params=ACCOUNT_MONTH_STATES)
def db(engine, request):
    seed_customers(engine)
    prepare_account_months(engine, request.param)
    return engine


def ask(engine, metric, period="2026-10", viewer="admin", **kw):
    return query(engine, SETTINGS, MetricQuery(metric, viewer, NOW, period=period, **kw))


def values(result, *keys):
    return tuple(result.measure(k).value for k in keys)


def test_admin_sees_october_retention_of_the_whole_base(db):
    r = ask(db, "retention", scope=Scope("org"))
    # S = {1,2,3,4,8,9}, E = {1,3,5,6,7,8}, kept = {1,3,8}: CRR 3 / 6; acc-3 and acc-8 are kept by MRR alone.
    assert r.headline.key == "crr"
    assert r.measure("crr").value == pytest.approx(0.5)
    assert r.measure("crr").detail == "3 / 6"
    assert r.measure("churn_rate").value == pytest.approx(0.5)
    assert values(r, "start_customers", "end_customers", "retained_customers", "new_customers") == (
        6,
        6,
        3,
        1,
    )
    # Ordered in October: acc-1 twice, acc-5 and acc-6 once -> 1 / 3.
    assert r.measure("repeat_purchase_rate").value == pytest.approx(1 / 3)


def test_a_customer_known_only_from_mrr_is_active(db):
    # acc-7 has no orders, only October MRR: it is active on Nov 1 and is counted in E — but it is not a "new
    # customer", which needs a first order. Rob's (rep-2) acc-3 is retained on MRR alone, acc-4 churned to 0.
    r = ask(db, "retention", viewer="rep-2")
    # rep-2 owns acc-3, acc-4, acc-9: S = {3,4,9}, E = {3}, kept {3} -> 1 / 3.
    assert values(r, "start_customers", "end_customers", "retained_customers") == (3, 1, 1)
    assert r.measure("crr").value == pytest.approx(1 / 3)
    assert r.measure("repeat_purchase_rate").value is None  # no October orders: 0 / 0 is n/a


def test_no_customers_at_the_start_means_crr_is_na_not_zero(db):
    r = ask(db, "retention", period="2025-01")
    assert r.measure("start_customers").value == 0
    assert r.measure("crr").value is None
    assert r.measure("churn_rate").value is None


def test_retention_by_team_and_by_segment(db):
    by_team = {row.label: row for row in ask(db, "retention", by="team").rows}
    # Alpha (rep-1, rep-2): S = {1,2,3,4,9} = 5, E = {1,3,7} = 3, kept {1,3} -> 2 / 5; repeat: acc-1 -> 1 / 1.
    alpha = by_team["Alpha"]
    assert alpha.key == "t-a"
    assert alpha.measure("crr").value == pytest.approx(0.4)
    assert alpha.measure("repeat_purchase_rate").value == pytest.approx(1.0)
    # Bravo (rep-3): S = {8}, E = {5,6,8}, kept {8} -> 1 / 1; N = {5}; repeat: acc-5, acc-6 once each -> 0 / 2.
    bravo = by_team["Bravo"]
    assert bravo.measure("crr").value == pytest.approx(1.0)
    assert bravo.measure("new_customers").value == 1
    assert bravo.measure("repeat_purchase_rate").value == 0

    by_segment = {row.key: row for row in ask(db, "retention", by="segment").rows}
    # smb 1,2,6,7,8: S {1,2,8}, E {1,6,7,8}, kept {1,8} -> 2 / 3; ent 3,4,5,9: S {3,4,9}, kept {3} -> 1 / 3.
    assert by_segment["smb"].measure("crr").value == pytest.approx(2 / 3)
    assert by_segment["ent"].measure("crr").value == pytest.approx(1 / 3)


def test_segment_filter(db):
    r = ask(db, "retention", filters=(("segment", "ent"),))
    assert values(r, "start_customers", "end_customers", "retained_customers", "new_customers") == (
        3,
        2,
        1,
        1,
    )


def test_retention_by_month_over_a_quarter(db):
    rows = {row.key: row for row in ask(db, "retention", period="2026-Q3", by="month").rows}
    assert list(rows) == ["2026-07", "2026-08", "2026-09"]
    # September: S at Sep 1 = orders in [Jun 3, Sep 1) = {1,2,9} (acc-6's Jun 1 is too old, no MRR before Sep);
    # E at Oct 1 = {1,2,3,4,8,9}; all three kept -> 100 %.
    assert rows["2026-09"].measure("crr").value == pytest.approx(1.0)
    assert rows["2026-09"].measure("end_customers").value == 6


def test_vs_prev_compares_with_september(db):
    r = ask(db, "retention", compare="prev")
    assert r.measure("crr").value == pytest.approx(0.5)
    assert r.measure("crr").previous == pytest.approx(1.0)  # September: {1,2,9} all kept
    assert r.measure("crr").direction == "down"


def test_cohort_table_by_hand(db):
    table = ask(db, "retention").table("cohorts")
    assert table.columns[:4] == ("cohort", "customers", "m0", "m1")
    assert len(table.columns) == 2 + 12
    rows = {row[0]: row for row in table.rows}
    assert list(rows)[0] == "2025-11" and list(rows)[-1] == "2026-10"
    # June: acc-6 (Jun, then Oct = month 4).
    assert rows["2026-06"][1:7] == (1, 1.0, 0.0, 0.0, 0.0, 1.0)
    # July: acc-2 (Jul only) and acc-9 (Jul, Aug): m1 = 1 / 2, then nobody; months after October are unknown.
    assert rows["2026-07"][1:6] == (2, 1.0, 0.5, 0.0, 0.0)
    assert rows["2026-07"][6] is None
    # August: acc-1 (Aug, Oct).
    assert rows["2026-08"][1:5] == (1, 1.0, 0.0, 1.0)
    # October: acc-5; k = 0 is always 100 %.
    assert rows["2026-10"][1:4] == (1, 1.0, None)
    # An empty cohort has only n/a cells.
    assert rows["2026-01"][1] == 0 and set(rows["2026-01"][2:]) == {None}


def test_a_rep_is_refused_another_reps_retention(db):
    with pytest.raises(PermissionDenied):
        ask(db, "retention", viewer="rep-1", scope=Scope("rep", "rep-3"))


# --- /mrr --------------------------------------------------------------------------------------------------------


def test_mrr_bridge_with_expansion_contraction_churn_and_new(db):
    r = ask(db, "mrr")
    # September base: acc-3 500, acc-4 300, acc-8 100 = 900. October: acc-3 600 (+100), acc-4 0 (churned 300),
    # acc-8 80 (-20), and acc-7 200 new.
    assert r.headline.key == "nrr"
    assert r.measure("nrr").value == pytest.approx(680 / 900)  # (600 + 0 + 80) / 900
    assert r.measure("grr").value == pytest.approx(580 / 900)  # (500 + 0 + 80) / 900
    assert values(
        r, "mrr_start", "mrr_end", "new_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr"
    ) == (
        Decimal("900.00"),
        Decimal("880.00"),  # 900 + 200 + 100 - 20 - 300
        Decimal("200.00"),
        Decimal("100.00"),
        Decimal("20.00"),
        Decimal("300.00"),
    )


def test_mrr_by_team(db):
    rows = {row.label: row for row in ask(db, "mrr", by="team").rows}
    # Alpha: acc-3 500 -> 600, acc-4 300 -> 0, acc-7 new 200: NRR 600 / 800, GRR 500 / 800.
    assert rows["Alpha"].measure("nrr").value == pytest.approx(0.75)
    assert rows["Alpha"].measure("grr").value == pytest.approx(0.625)
    assert rows["Alpha"].measure("new_mrr").value == Decimal("200.00")
    # Bravo: acc-8 100 -> 80.
    assert rows["Bravo"].measure("nrr").value == pytest.approx(0.8)
    assert rows["Bravo"].measure("contraction_mrr").value == Decimal("20.00")


def test_mrr_without_a_starting_base_is_na(db):
    r = ask(db, "mrr", period="2026-09", compare="prev")
    # Nothing in August: NRR n/a, while September's 900 all counts as new.
    assert r.measure("nrr").value is None
    assert r.measure("mrr_end").value == Decimal("900.00")
    assert r.measure("new_mrr").value == Decimal("900.00")


def test_mrr_of_a_quarter_in_progress_uses_the_latest_loaded_month(db):
    r = ask(db, "mrr", period="2026-Q4")
    assert r.measure("nrr").value == pytest.approx(680 / 900)  # September -> October, December not there yet
    assert any("2026-10" in str(note) for note in r.notes)
    this_month = ask(db, "mrr", period="2026-11")
    assert this_month.measure("nrr").value is None
    assert this_month.measure("mrr_start").value == Decimal("880.00")  # October's MRR


def test_retention_and_mrr_by_rep_and_mrr_by_segment(db):
    retention = {row.key: row.measure("crr").value for row in ask(db, "retention", by="rep").rows}
    # Rita (acc-1, acc-2, acc-7): S {1,2}, E {1,7}, kept {1} -> 1 / 2.
    assert retention["rep-1"] == pytest.approx(0.5)
    by_rep = {row.key: row for row in ask(db, "mrr", by="rep").rows}
    assert by_rep["rep-2"].measure("nrr").value == pytest.approx(0.75)  # acc-3 500 -> 600, acc-4 300 -> 0
    assert by_rep["rep-1"].measure("nrr").value is None  # acc-7 only started paying in October
    assert by_rep["rep-1"].measure("new_mrr").value == Decimal("200.00")
    by_segment = {row.key: row.measure("nrr").value for row in ask(db, "mrr", by="segment").rows}
    assert by_segment == {"ent": pytest.approx(0.75), "smb": pytest.approx(0.8)}  # smb: acc-8 100 -> 80


def test_the_organisation_read_in_halves_side_by_side_gives_the_same_numbers(db, monkeypatch):
    whole = ask(db, "retention", scope=Scope("org"), by="team")
    monkeypatch.setattr("storage.side_by_side.SPLIT_ACCOUNTS_FROM", 1)
    with db.connect() as conn:
        halves = account_parts(conn)
        assert len(halves) == 2 and halves[0].high == halves[1].low is not None
    split = ask(db, "retention", scope=Scope("org"), by="team")
    # The October numbers worked out above, now summed from two halves of the accounts read at once.
    assert values(split, "start_customers", "end_customers", "retained_customers", "new_customers") == (
        6,
        6,
        3,
        1,
    )
    assert split.measure("repeat_purchase_rate").value == pytest.approx(1 / 3)
    assert [(row.key, row.measures) for row in split.rows] == [(row.key, row.measures) for row in whole.rows]
    assert split.tables == whole.tables
