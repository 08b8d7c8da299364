"""/cs for October 2026 on the customer base of tests/fixtures/customers.py, plus onboarding, referrals and
support tickets (org time zone UTC, asked on 2026-11-15).

account  owner  created  referred by  onboarded        tickets
acc-5    rep-3  Oct 2    acc-1        Oct 12, 12:00    -              10.5 days, a referral
acc-7    rep-1  Sep 20   -            Oct 4            -              14 days
acc-10   rep-3  Oct 20   acc-3        Oct 27           -              7 days, a referral (no orders, no MRR)
acc-1                                                  Oct 3, Oct 30
acc-3                                                  Oct 15
acc-2 / acc-4                                          Sep 20 / Nov 2 (outside October)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.config.settings import load_settings
from storage.errors import PermissionDenied
from storage.schema import Account, Ticket
from tests.fixtures.customers import seed_customers

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
SETTINGS = load_settings(env={})


@pytest.fixture
def db(engine):
    seed_customers(engine)
    with engine.begin() as conn:
        for account, changes in {
            "acc-5": dict(
                created_at=datetime(2026, 10, 2), referred_by="acc-1", onboarded_at=datetime(2026, 10, 12, 12)
            ),
            "acc-7": dict(created_at=datetime(2026, 9, 20), onboarded_at=datetime(2026, 10, 4)),
        }.items():
            conn.execute(update(Account).where(Account.account_id == account).values(**changes))
        conn.execute(
            insert(Account),
            [
                dict(account_id="acc-10", name="ACC-10", owner_id="rep-3", segment="smb",
                     created_at=datetime(2026, 10, 20), referred_by="acc-3", onboarded_at=datetime(2026, 10, 27)),
            ],
        )  # fmt: skip
        tickets = [
            ("acc-1", datetime(2026, 10, 3)),
            ("acc-1", datetime(2026, 10, 30)),
            ("acc-3", datetime(2026, 10, 15)),
            ("acc-2", datetime(2026, 9, 20)),
            ("acc-4", datetime(2026, 11, 2)),
        ]
        conn.execute(
            insert(Ticket),
            [dict(ticket_id=f"t-{i}", account_id=a, opened_at=at) for i, (a, at) in enumerate(tickets)],
        )
    return engine


def ask(engine, period="2026-10", viewer="admin", **kw):
    return query(engine, SETTINGS, MetricQuery("cs", viewer, NOW, period=period, **kw))


def test_admin_sees_the_octobers_customer_success_numbers(db):
    r = ask(db)
    assert r.headline.key == "portfolio_growth"
    # Active on Oct 1: {1,2,3,4,8,9} = 6; on Nov 1: {1,3,5,6,7,8} = 6 -> (6 − 6) / 6.
    assert r.measure("portfolio_growth").value == pytest.approx(0.0)
    # September MRR on acc-3, acc-4, acc-8; still paying in October: acc-3, acc-8 -> 2 / 3.
    assert r.measure("account_retention").value == pytest.approx(2 / 3)
    assert r.measure("nrr").value == pytest.approx(680 / 900)
    assert r.measure("referrals").value == 2  # acc-5, acc-10
    assert r.measure("tickets").value == 3
    assert r.measure("tickets_per_active_account").value == pytest.approx(0.5)  # 3 / 6
    assert r.measure("onboardings").value == 3  # acc-5, acc-7, acc-10
    assert r.measure("median_onboarding_days").value == pytest.approx(10.5)  # of 7, 10.5, 14


def test_a_manager_sees_their_team_by_rep_and_the_other_team_by_team(db):
    rows = {row.key: row for row in ask(db, viewer="admin", by="team").rows}
    alpha, bravo = rows["t-a"], rows["t-b"]
    # Alpha: active {1,2,3,4,9} -> {1,3,7}: (3 − 5) / 5; tickets 3 / 3; MRR base acc-3, acc-4, kept acc-3.
    assert alpha.measure("portfolio_growth").value == pytest.approx(-0.4)
    assert alpha.measure("tickets_per_active_account").value == pytest.approx(1.0)
    assert alpha.measure("account_retention").value == pytest.approx(0.5)
    assert alpha.measure("median_onboarding_days").value == pytest.approx(14.0)
    # Bravo: {8} -> {5,6,8}: (3 − 1) / 1; both referrals; onboardings 10.5 and 7 days.
    assert bravo.measure("portfolio_growth").value == pytest.approx(2.0)
    assert bravo.measure("referrals").value == 2
    assert bravo.measure("median_onboarding_days").value == pytest.approx(8.75)
    assert bravo.measure("tickets_per_active_account").value == pytest.approx(0.0)

    by_rep = {row.key: row for row in ask(db, viewer="mgr-a", by="rep").rows}
    assert set(by_rep) == {"rep-1", "rep-2"}  # Mia sees only Alpha's reps
    assert by_rep["rep-1"].measure("tickets").value == 2


def test_segment_breakdown_and_filter(db):
    rows = {row.key: row for row in ask(db, by="segment").rows}
    # ent (3,4,5,9): active {3,4,9} -> {3,5}: (2 − 3) / 3.
    assert rows["ent"].measure("portfolio_growth").value == pytest.approx(-1 / 3)
    only_ent = ask(db, filters=(("segment", "ent"),))
    assert only_ent.measure("portfolio_growth").value == pytest.approx(-1 / 3)
    assert only_ent.measure("referrals").value == 1  # acc-5


def test_an_empty_month_is_na_not_zero(db):
    r = ask(db, period="2025-01")
    for key in (
        "portfolio_growth",
        "account_retention",
        "nrr",
        "tickets_per_active_account",
        "median_onboarding_days",
    ):
        assert r.measure(key).value is None, key
    assert r.measure("onboardings").value == 0


def test_vs_prev(db):
    r = ask(db, compare="prev")
    # September: active {1,2,9} on Sep 1 -> 6 on Oct 1: (6 − 3) / 3.
    assert r.measure("portfolio_growth").previous == pytest.approx(1.0)
    assert r.measure("onboardings").previous == 0


def test_a_rep_cannot_look_at_the_other_team(db):
    with pytest.raises(PermissionDenied):
        ask(db, viewer="rep-3", scope=Scope("team", "Alpha"))
