"""/revenue, /cac, /ltv, /roi and /email for October 2026 (org time zone UTC), asked on 2026-11-15.

Deals won in October (Sep: d-5, 700 from acc-b, not new):
deal  owner  amount  product  lead (source, segment, campaign)      account  closed   new?
d-1   rep-1  1000    p-1      L1 (paid_search, smb, c-1 "Autumn")   acc-a    Oct 5    yes: acc-a's first sale
d-2   rep-1   500    p-2      L2 (organic, ent, -)                  acc-b    Oct 15   no: acc-b first ordered 2024
d-3   rep-3   300    p-1      L3 (paid_search, smb, c-2)            acc-c    Oct 28   yes: acc-c since Mar 2026
d-4   rep-2   200    p-2      -                                     -        Oct 20   no: no account to tell
Orders: acc-b 2024-01-10 100, Aug 15 100, Oct 3 250 (no owner: acc-b's rep-1); acc-c Mar 1 80, Oct 10 150;
acc-d (rep-2) Oct 22 600, Nov 5 400; acc-e (rep-3) Jul 20 100.
Spend in October: c-1 100, c-2 300, c-3 50 (marketing), 600 sales without campaign = 1,050 (Sep 30 / Nov 1 outside).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.config.settings import Settings, load_settings
from storage.errors import PermissionDenied, UserError
from storage.schema import Account, Campaign, Deal, EmailList, Lead, Order, Spend
from tests.fixtures.metrics_org import seed_people

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
SETTINGS = load_settings(env={})
FROM_ORDERS = Settings.model_validate({"revenue": {"source": "orders"}})


def d(month, day, year=2026):
    return datetime(year, month, day, 10)


@pytest.fixture
def db(engine):
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Campaign),
            [
                dict(campaign_id="c-1", name="Autumn"),
                dict(campaign_id="c-2", name="Webinar"),
                dict(campaign_id="c-3", name="Billboard"),
            ],
        )
        conn.execute(
            insert(Lead),
            [
                dict(lead_id="L1", created_at=d(9, 1), owner_id="rep-1", source="paid_search", segment="smb",
                     campaign_id="c-1"),
                dict(lead_id="L2", created_at=d(9, 1), owner_id="rep-1", source="organic", segment="ent",
                     campaign_id=None),
                dict(lead_id="L3", created_at=d(9, 1), owner_id="rep-3", source="paid_search", segment="smb",
                     campaign_id="c-2"),
            ],
        )  # fmt: skip
        conn.execute(
            insert(Account),
            [
                dict(account_id="acc-a", name="A", owner_id="rep-1"),
                dict(account_id="acc-b", name="B", owner_id="rep-1"),
                dict(account_id="acc-c", name="C", owner_id="rep-3"),
                dict(account_id="acc-d", name="D", owner_id="rep-2"),
                dict(account_id="acc-e", name="E", owner_id="rep-3"),
            ],
        )
        deal = dict(created_at=d(9, 1), status="won", product_id=None, lead_id=None, account_id=None)
        conn.execute(
            insert(Deal),
            [
                {**deal, "deal_id": "d-1", "owner_id": "rep-1", "amount": Decimal(1000), "product_id": "p-1",
                 "lead_id": "L1", "account_id": "acc-a", "closed_at": d(10, 5)},
                {**deal, "deal_id": "d-2", "owner_id": "rep-1", "amount": Decimal(500), "product_id": "p-2",
                 "lead_id": "L2", "account_id": "acc-b", "closed_at": d(10, 15)},
                {**deal, "deal_id": "d-3", "owner_id": "rep-3", "amount": Decimal(300), "product_id": "p-1",
                 "lead_id": "L3", "account_id": "acc-c", "closed_at": d(10, 28)},
                {**deal, "deal_id": "d-4", "owner_id": "rep-2", "amount": Decimal(200), "product_id": "p-2",
                 "closed_at": d(10, 20)},
                {**deal, "deal_id": "d-5", "owner_id": "rep-1", "amount": Decimal(700), "account_id": "acc-b",
                 "closed_at": d(9, 20)},
                {**deal, "deal_id": "d-6", "owner_id": "rep-1", "amount": Decimal(900), "status": "lost",
                 "closed_at": d(10, 9)},
                {**deal, "deal_id": "d-7", "owner_id": "rep-1", "amount": Decimal(900), "status": "open",
                 "closed_at": None},
            ],
        )  # fmt: skip
        orders = [
            ("acc-b", d(1, 10, 2024), 100, None),
            ("acc-b", d(8, 15), 100, None),
            ("acc-b", d(10, 3), 250, None),
            ("acc-c", d(3, 1), 80, "rep-3"),
            ("acc-c", d(10, 10), 150, "rep-3"),
            ("acc-d", d(10, 22), 600, "rep-2"),
            ("acc-d", d(11, 5), 400, "rep-2"),
            ("acc-e", d(7, 20), 100, "rep-3"),
        ]
        conn.execute(
            insert(Order),
            [
                dict(order_id=f"o-{i}", account_id=a, ordered_at=at, amount=Decimal(amount), owner_id=owner)
                for i, (a, at, amount, owner) in enumerate(orders)
            ],
        )
        conn.execute(
            insert(Spend),
            [
                dict(
                    date=date(2026, 9, 30),
                    kind="marketing",
                    campaign_id="c-1",
                    channel="",
                    amount=Decimal(999),
                ),
                dict(
                    date=date(2026, 10, 1),
                    kind="marketing",
                    campaign_id="c-1",
                    channel="",
                    amount=Decimal(100),
                ),
                dict(
                    date=date(2026, 10, 10),
                    kind="marketing",
                    campaign_id="c-2",
                    channel="",
                    amount=Decimal(300),
                ),
                dict(
                    date=date(2026, 10, 12),
                    kind="marketing",
                    campaign_id="c-3",
                    channel="",
                    amount=Decimal(50),
                ),
                dict(date=date(2026, 10, 31), kind="sales", campaign_id="", channel="", amount=Decimal(600)),
                dict(
                    date=date(2026, 11, 1), kind="marketing", campaign_id="", channel="", amount=Decimal(50)
                ),
            ],
        )
        email = [
            ("news", date(2026, 9, 30), 5, 1, 1000),
            ("news", date(2026, 10, 1), 30, 10, 1020),
            ("news", date(2026, 10, 31), 20, 0, 1040),
            ("news", date(2026, 11, 1), 100, 0, 1140),
            ("promo", date(2026, 9, 29), 0, 0, 200),
            ("promo", date(2026, 10, 15), 10, 30, 180),
            ("fresh", date(2026, 10, 5), 10, 0, 10),
        ]
        conn.execute(
            insert(EmailList),
            [dict(list_id=k, date=day, subscribed=s, unsubscribed=u, size=n) for k, day, s, u, n in email],
        )
    return engine


def ask(engine, metric, period="2026-10", viewer="admin", settings=SETTINGS, **kw):
    return query(engine, settings, MetricQuery(metric, viewer, NOW, period=period, **kw))


def money(result, key):
    return result.measure(key).value


# --- /revenue ----------------------------------------------------------------------------------------------------


def test_admin_sees_octobers_revenue(db):
    r = ask(db, "revenue")
    assert r.headline.key == "revenue"
    assert money(r, "revenue") == Decimal(
        "2000.00"
    )  # 1000 + 500 + 300 + 200; lost and open deals are not revenue
    assert money(r, "new_revenue") == Decimal("1300.00")  # d-1 (acc-a's first sale) + d-3 (acc-c since March)
    assert r.measure("deals_won").value == 4
    assert r.measure("avg_deal_size").value == pytest.approx(500.0)  # 2000 / 4


def test_new_revenue_follows_the_new_customer_window(db):
    short = Settings.model_validate({"revenue": {"new_customer_days": 200}})
    # acc-c was acquired on Mar 1, 241 days before d-3 on Oct 28: no longer new with a 200-day window.
    assert money(ask(db, "revenue", settings=short), "new_revenue") == Decimal("1000.00")


def test_a_rep_sees_their_own_revenue_and_not_another_reps(db):
    r = ask(db, "revenue", viewer="rep-1")
    assert money(r, "revenue") == Decimal("1500.00")  # d-1 + d-2
    assert r.measure("avg_deal_size").value == pytest.approx(750.0)
    with pytest.raises(PermissionDenied):
        ask(db, "revenue", viewer="rep-1", scope=Scope("rep", "rep-2"))


def test_revenue_by_rep_team_source_product(db):
    def by(what):
        return {row.key: money(row, "revenue") for row in ask(db, "revenue", by=what).rows}

    assert by("rep") == {"rep-1": Decimal("1500.00"), "rep-2": Decimal("200.00"), "rep-3": Decimal("300.00")}
    assert by("team") == {"t-a": Decimal("1700.00"), "t-b": Decimal("300.00")}
    assert by("source") == {
        "paid_search": Decimal("1300.00"),
        "organic": Decimal("500.00"),
        "": Decimal("200.00"),
    }
    assert by("segment") == {"smb": Decimal("1300.00"), "ent": Decimal("500.00"), "": Decimal("200.00")}
    assert by("product") == {"p-1": Decimal("1300.00"), "p-2": Decimal("700.00")}


def test_revenue_by_week_keeps_empty_weeks(db):
    rows = ask(db, "revenue", by="week").rows
    # Oct 1 2026 is a Thursday: W40 (clipped) has nothing; d-1 Mon Oct 5 W41, d-2 Oct 15 W42, d-4 Oct 20 W43,
    # d-3 Oct 28 W44.
    assert [(row.key, money(row, "revenue")) for row in rows] == [
        ("2026-W40", Decimal("0")),
        ("2026-W41", Decimal("1000.00")),
        ("2026-W42", Decimal("500.00")),
        ("2026-W43", Decimal("200.00")),
        ("2026-W44", Decimal("300.00")),
    ]


def test_revenue_filtered_by_source_and_by_campaign_name(db):
    assert money(ask(db, "revenue", filters=(("source", "paid_search"),)), "revenue") == Decimal("1300.00")
    assert money(ask(db, "revenue", filters=(("campaign", "Autumn"),)), "revenue") == Decimal("1000.00")


def test_revenue_vs_prev(db):
    r = ask(db, "revenue", compare="prev")
    assert r.measure("revenue").previous == Decimal("700.00")  # d-5 in September
    assert r.measure("new_revenue").previous == Decimal("0.00")  # acc-b has bought since 2024
    assert r.measure("revenue").direction == "up"


def test_revenue_from_orders(db):
    r = ask(db, "revenue", settings=FROM_ORDERS)
    # October orders: acc-b 250 + acc-c 150 + acc-d 600 = 1000; new: acc-c (since Mar) + acc-d (first) = 750.
    assert money(r, "revenue") == Decimal("1000.00")
    assert money(r, "new_revenue") == Decimal("750.00")
    assert r.measure("orders").value == 3
    assert r.measure("deals_won").value == 4  # still the won deals
    assert r.measure("avg_deal_size").value == pytest.approx(1000 / 3)  # the average check: per order
    # acc-b's order has no owner of its own: it is rep-1's, the account's owner.
    assert money(ask(db, "revenue", viewer="rep-1", settings=FROM_ORDERS), "revenue") == Decimal("250.00")


def test_revenue_in_summary_is_the_same_sums_without_new_revenue(db):
    # The leaderboard's ranking: revenue, deals won and the average, by rep, and nothing said about new revenue.
    summary = (("detail", "summary"),)
    r = ask(db, "revenue", by="rep", options=summary)
    assert [m.key for m in r.measures] == ["revenue", "deals_won", "avg_deal_size"]
    assert money(r, "revenue") == Decimal("2000.00")
    assert r.measure("deals_won").value == 4
    assert {row.key: money(row, "revenue") for row in r.rows} == {
        "rep-1": Decimal("1500.00"),
        "rep-2": Decimal("200.00"),
        "rep-3": Decimal("300.00"),
    }
    orders = ask(db, "revenue", settings=FROM_ORDERS, options=summary)
    assert [m.key for m in orders.measures] == ["revenue", "deals_won", "avg_deal_size", "orders"]
    assert money(orders, "revenue") == Decimal("1000.00")  # acc-b 250 + acc-c 150 + acc-d 600


def test_no_deals_means_average_deal_size_na(db):
    r = ask(db, "revenue", period="2025-05")
    assert money(r, "revenue") == Decimal("0")
    assert r.measure("avg_deal_size").value is None


# --- /cac and /ltv -----------------------------------------------------------------------------------------------


def test_cac_is_spend_per_customer_acquired(db):
    r = ask(db, "cac")
    # Spend 100 + 300 + 50 + 600 = 1050; acquired in October: acc-a (d-1) and acc-d (first order Oct 22).
    assert money(r, "spend") == Decimal("1050.00")
    assert r.measure("new_customers").value == 2
    assert r.measure("cac").value == pytest.approx(525.0)


def test_cac_is_refused_for_a_team(db):
    with pytest.raises(UserError, match="organisation-wide"):
        ask(db, "cac", scope=Scope("team", "t-a"))


def test_cac_without_new_customers_is_na(db):
    r = ask(db, "cac", period="2026-09")
    assert money(r, "spend") == Decimal("999.00")
    assert r.measure("cac").value is None


def test_ltv_of_octobers_customers(db):
    margin = Settings.model_validate({"org": {"gross_margin": 0.5}})
    r = ask(db, "ltv", settings=margin)
    # Cohort acc-a, acc-d; to date (deals): acc-a 1000, acc-d 0 -> 1000 / 2.
    assert r.measure("cltv_historical").value == pytest.approx(500.0)
    # Active Oct 1 (orders in [Jul 3, Oct 1)): acc-b, acc-e; Nov 1 ([Aug 3, Nov 1)): acc-b, acc-c, acc-d.
    # CRR 1 / 2; October is 31 / 30.4375 months long.
    months = 31 / (365.25 / 12)
    churn = 1 - 0.5 ** (1 / months)
    arpa = 1800 / months / 2.5  # deals with an account: 1000 + 500 + 300; average of 2 and 3 active accounts
    assert r.measure("monthly_churn").value == pytest.approx(churn)
    assert r.measure("arpa").value == pytest.approx(arpa)
    assert r.measure("cltv_predictive").value == pytest.approx(arpa * 0.5 / churn)
    assert r.measure("ltv_cac").value == pytest.approx(arpa * 0.5 / churn / 525)
    assert not math.isnan(r.measure("ltv_cac").value)


def test_ltv_from_orders_counts_orders_after_the_period(db):
    r = ask(db, "ltv", settings=FROM_ORDERS)
    # acc-a has no orders; acc-d 600 (Oct 22) + 400 (Nov 5, before now): 1000 / 2.
    assert r.measure("cltv_historical").value == pytest.approx(500.0)


def test_ltv_is_na_without_churn_and_for_a_team_has_no_cac(db):
    r = ask(db, "ltv", viewer="mgr-b")  # Bravo: acc-c, acc-e; Oct 1 active: acc-e; Nov 1: acc-c -> CRR 0
    assert r.measure("monthly_churn").value == pytest.approx(1.0)
    assert r.measure("cac").value is None and r.measure("ltv_cac").value is None
    assert r.notes
    nobody_churned = ask(db, "ltv", viewer="rep-2")  # acc-d only; nobody active on Oct 1 -> CRR n/a
    assert nobody_churned.measure("cltv_predictive").value is None


# --- /roi --------------------------------------------------------------------------------------------------------


def test_roi_of_900_percent_for_1000_revenue_on_100_spend(db):
    r = ask(db, "roi", filters=(("campaign", "Autumn"),))
    assert money(r, "revenue") == Decimal("1000.00")
    assert money(r, "spend") == Decimal("100.00")
    assert r.measure("roi").value == pytest.approx(9.0)  # 900 %


def test_roi_by_campaign_and_total(db):
    r = ask(db, "roi", by="campaign")
    # Campaign revenue 1000 + 300, spend 100 + 300 + 50: (1300 − 450) / 450.
    assert r.measure("roi").value == pytest.approx(850 / 450)
    rows = {row.label: row.measure("roi").value for row in r.rows}
    assert rows == {
        "Autumn": pytest.approx(9.0),
        "Billboard": pytest.approx(-1.0),
        "Webinar": pytest.approx(0.0),
    }


def test_roi_without_spend_is_na(db):
    assert ask(db, "roi", period="2025-05").measure("roi").value is None


# --- /email ------------------------------------------------------------------------------------------------------


def test_email_list_growth(db):
    r = ask(db, "email")
    # news +50 −10 from 1000, promo +10 −30 from 200 (its Sep 29 size), fresh +10 from nothing: 30 / 1200.
    assert r.measure("growth_rate").value == pytest.approx(30 / 1200)
    assert tuple(r.measure(k).value for k in ("subscribed", "unsubscribed", "size_start", "size_end")) == (
        70,
        40,
        1200,
        1230,
    )
    rows = {row.key: row.measure("growth_rate").value for row in ask(db, "email", by="list").rows}
    assert rows == {"news": pytest.approx(0.04), "promo": pytest.approx(-0.1), "fresh": None}


def test_email_growth_is_refused_to_a_rep(db):
    with pytest.raises(UserError):
        ask(db, "email", viewer="rep-1")


def test_revenue_and_cac_by_month_over_the_quarter(db):
    revenue = ask(db, "revenue", period="2026-Q4", by="month").rows
    assert [(row.key, money(row, "revenue")) for row in revenue] == [
        ("2026-10", Decimal("2000.00")),
        ("2026-11", Decimal("0")),
        ("2026-12", Decimal("0")),
    ]
    cac = {row.key: row for row in ask(db, "cac", period="2026-Q4", by="month").rows}
    assert cac["2026-10"].measure("cac").value == pytest.approx(525.0)
    # November: 50 spent on Nov 1, nobody acquired -> n/a.
    assert money(cac["2026-11"], "spend") == Decimal("50.00")
    assert cac["2026-11"].measure("cac").value is None


def test_ltv_today_vs_prev_compares_with_an_elapsed_part_of_a_day_as_na(db):
    # Asked at noon: today is compared with yesterday until noon, half a day — too short to make a monthly
    # revenue or churn rate of, so those are n/a rather than a division by a zero-day length.
    for compare in ("prev", "year"):
        r = ask(db, "ltv", period="today", compare=compare)
        assert r.comparison_period is not None and r.comparison_period.days == 0
        assert r.measure("arpa").previous is None
        assert r.measure("monthly_churn").previous is None
        assert r.measure("cltv_predictive").previous is None


def test_ltv_this_month_vs_prev_in_the_months_first_hour(db):
    # December 1 at 00:30: the comparison is November 1 00:00–00:30, no whole day; the month itself is answered.
    first_hour = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    for compare in ("prev", "year"):
        r = query(db, SETTINGS, MetricQuery("ltv", "admin", first_hour, period="this month", compare=compare))
        assert r.period.days == 31
        assert r.measure("arpa").previous is None and r.measure("cltv_predictive").previous is None
