"""The demo's business adds up: referrals, expansion on older customers, spend that pays back, leads that close.

Each test builds the tiny demo as of Monday 23 November 2026 and asks what an admin would ask. The bounds are
generous (the tiny organisation is small and random), but each one fails for the unrealistic data it guards
against: no referrals, all revenue new, ROI in the thousands of per cent, a pipeline that only grows.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from metrics.catalogue import MetricQuery, query
from storage.config.settings import Settings
from storage.demo.generate import generate_demo
from storage.schema import Account, Deal, Lead, LeadStageEvent, Mrr, Spend, User

MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23)
HISTORY_START = datetime(2025, 11, 1)


def _demo(engine):
    return generate_demo(engine, scale="tiny", today=MONDAY)


def _ask(engine, metric: str, period: str, **kw):
    return query(
        engine, Settings(), MetricQuery(metric, "admin", NOW.replace(tzinfo=UTC), period=period, **kw)
    )


def _value(result, key: str) -> float:
    value = result.measure(key).value
    assert value is not None, key
    return float(value)


def test_about_one_new_customer_in_ten_was_referred_by_an_older_customer(engine):
    _demo(engine)
    with engine.connect() as conn:
        accounts = {
            account_id: (created, referred_by)
            for account_id, created, referred_by in conn.execute(
                select(Account.account_id, Account.created_at, Account.referred_by)
            )
        }
    new = {a: v for a, v in accounts.items() if v[0] >= HISTORY_START}
    referred = {a: v for a, v in new.items() if v[1]}

    assert 0.03 < len(referred) / len(new) < 0.25
    for account_id, (created, referrer) in referred.items():
        assert referrer != account_id and accounts[referrer][0] < created
    # /cs for a whole quarter shows them.
    assert _value(_ask(engine, "cs", "2026-Q3"), "referrals") > 0


def test_some_won_deals_expand_older_customers_so_new_revenue_is_below_revenue(engine):
    _demo(engine)
    with engine.connect() as conn:
        won = conn.execute(
            select(Deal.lead_id, Deal.closed_at, Account.created_at.label("customer_since"))
            .join(Account, Account.account_id == Deal.account_id)
            .where(Deal.status == "won")
        ).all()
        base = conn.execute(select(func.count()).where(Account.created_at < HISTORY_START)).scalar_one()
    expansions = [deal for deal in won if deal.lead_id is None]

    # Every won deal has its account; a fifth or so sell more to a customer the organisation already had.
    assert 0.12 < len(expansions) / len(won) < 0.35
    assert all(deal.customer_since < deal.closed_at for deal in expansions)
    # Customers from before the year of history exist, so part of the revenue is not new.
    assert base > 0
    for period in ("last month", "2026-Q3"):
        revenue = _ask(engine, "revenue", period)
        assert 0.5 * _value(revenue, "revenue") < _value(revenue, "new_revenue") < _value(revenue, "revenue")


def test_a_won_expansion_raises_the_customers_mrr_and_net_retention_beats_100_percent_somewhere(engine):
    _demo(engine)
    with engine.connect() as conn:
        mrr = {(a, m): float(v) for a, m, v in conn.execute(select(Mrr.account_id, Mrr.month, Mrr.mrr))}
        team_of = select(Account.account_id, User.team_id).join(User, User.user_id == Account.owner_id)
        owners = dict(conn.execute(team_of).all())
        expansions = conn.execute(
            select(Deal.account_id, Deal.closed_at, Deal.amount).where(
                Deal.status == "won", Deal.lead_id.is_(None), Deal.closed_at < datetime(2026, 10, 1)
            )
        ).all()

    def month(day: datetime, later: int = 0) -> str:
        index = day.year * 12 + day.month - 1 + later
        return f"{index // 12}-{index % 12 + 1:02d}"

    # The month after the close, the customer (if still a customer) pays about a twelfth of the deal more.
    grew = [
        mrr[(a, month(closed, 1))] - mrr[(a, month(closed))]
        for a, closed, amount in expansions
        if (a, month(closed)) in mrr and (a, month(closed, 1)) in mrr
    ]
    assert len(grew) > 10
    assert sum(1 for g in grew if g > 0) > 0.7 * len(grew)

    # Net revenue retention per team and month, as /mrr computes it: some team in some month grew its book.
    months = sorted({m for _, m in mrr})
    nrr = {}
    for before, after in zip(months, months[1:], strict=False):
        start, end = defaultdict(float), defaultdict(float)
        for (a, m), value in mrr.items():
            if m == before and value > 0:
                start[owners[a]] += value
                end[owners[a]] += mrr.get((a, after), 0.0)
        nrr.update({(team, after): end[team] / start[team] for team in start})
    assert max(nrr.values()) > 1.0
    assert min(nrr.values()) > 0.85


def test_spend_is_a_fifth_or_less_of_new_customer_revenue_and_campaigns_pay_back_plausibly(engine):
    _demo(engine)
    with engine.connect() as conn:
        spend = defaultdict(float)
        for day, kind, amount in conn.execute(select(Spend.date, Spend.kind, Spend.amount)):
            spend[(f"{day:%Y-%m}", kind)] += float(amount)
        first_sales = defaultdict(float)
        for closed, amount in conn.execute(
            select(Deal.closed_at, Deal.amount).where(Deal.status == "won", Deal.lead_id.is_not(None))
        ):
            first_sales[f"{closed:%Y-%m}"] += float(amount)

    months = sorted({m for m, _ in spend})
    assert months[0] == "2025-11" and months[-1] == "2026-11"
    for m in months:
        assert spend[(m, "marketing")] > 0 and spend[(m, "sales")] > 0, m
    total = {m: spend[(m, "marketing")] + spend[(m, "sales")] for m in months}
    # The current month so far (22 of 30 days) costs less than the whole month before it, and than the average one.
    assert total["2026-11"] < total["2026-10"]
    assert total["2026-11"] < sum(total[m] for m in months[:-1]) / len(months[:-1])
    # Over the last complete quarter, spend is some 10-20 % of what first sales brought in.
    quarter = ("2026-07", "2026-08", "2026-09")
    share = sum(total[m] for m in quarter) / sum(first_sales[m] for m in quarter)
    assert 0.08 < share < 0.3

    roi = _value(_ask(engine, "roi", "2026-Q3"), "roi")
    assert -0.5 < roi < 5.0
    cac = _value(_ask(engine, "cac", "2026-Q3"), "cac")
    first_year = _value(_ask(engine, "revenue", "2026-Q3"), "avg_deal_size")
    assert 0.05 * first_year < cac < first_year
    # Predictive CLTV is a monthly revenue per account over a low monthly churn, so with spend at a fifth of
    # first sales LTV:CAC stays well above the textbook 3-6; it must no longer be in the hundreds.
    ltv_cac = _value(_ask(engine, "ltv", "2026-Q3"), "ltv_cac")
    assert 2 < ltv_cac < 100


def test_leads_that_stall_before_sql_are_closed_out_weeks_later_so_the_pipeline_stays_bounded(engine):
    _demo(engine)
    with engine.connect() as conn:
        events = conn.execute(
            select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at)
            .join(Lead, Lead.lead_id == LeadStageEvent.lead_id)
            # Leads old enough to have stalled and been given up on.
            .where(Lead.created_at < NOW - timedelta(days=120))
        ).all()
    journeys = defaultdict(dict)
    for lead_id, stage, entered_at in events:
        journeys[lead_id][stage] = entered_at
    stalled = {
        lead: stages for lead, stages in journeys.items() if not {"sql", "opportunity", "won"} & set(stages)
    }
    closed = {lead: s for lead, s in stalled.items() if {"disqualified", "lost"} & set(s)}

    assert len(closed) > 0.85 * len(stalled)
    for stages in closed.values():
        end = stages.get("disqualified") or stages["lost"]
        last_stage = max(at for stage, at in stages.items() if stage not in ("disqualified", "lost"))
        assert end - last_stage > timedelta(days=6)
    disqualified = sum(1 for s in closed.values() if "disqualified" in s)
    assert disqualified > 0.7 * len(closed)

    # Close rate: deals won over the leads in the pipeline, a few per cent a month.
    for period in ("last month", "2026-09"):
        close_rate = _value(_ask(engine, "win_rate", period), "close_rate")
        assert 0.02 < close_rate < 0.2, period
