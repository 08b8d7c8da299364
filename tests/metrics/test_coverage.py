"""What the numbers cover: partial periods, comparisons without data, periods not yet begun, a running month's LTV.

The conversation fixture org (tests/fixtures/bot_org.py) is asked on Friday 2026-11-20 12:00 UTC; its data starts in
September 2026. Working days are Monday–Friday (no holidays configured) and, as for plan pace, a day counts once it
is over, so Friday the 20th is not yet one:

  this week     Nov 16 – 20   Mon–Thu over                       4 of 5
  this month    Nov 1 – 20    Nov 2–6, 9–13, 16–19               14 of 21 (Nov: 2–6, 9–13, 16–20, 23–27, 30)
  this quarter  Oct 1 – Nov 20  October's 22 (1–2, 5–9 … 26–30) + 14   36 of 66 (+ December's 23)
  this year     Jan 1 – Nov 20  261 weekdays in 2026 (52 weeks + Thu Jan 1) − 30 left (Nov 20, 23–27, 30, Dec's 23)
                                                                  231 of 261
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from metrics.catalogue import MetricQuery, query
from metrics.charts.render import build_chart, render_charts
from metrics.periods import month_period, period_coverage, year_period
from metrics.result import Coverage
from storage.config.settings import Settings
from storage.errors import UserError
from storage.schema import Activity
from tests.fixtures.bot_org import NOW, seed_org
from tests.fixtures.customers import seed_customers

UTC_ZONE = ZoneInfo("UTC")
SETTINGS = Settings.model_validate({"org": {"timezone": "UTC"}})


@pytest.fixture
def org(engine):
    seed_org(engine)
    return engine


def ask(engine, metric, period, viewer="rep-2", now=NOW, settings=SETTINGS, **kw):
    return query(engine, settings, MetricQuery(metric, viewer, now, period=period, **kw))


@pytest.mark.parametrize(
    ("period", "start", "elapsed", "total"),
    [
        ("this week", date(2026, 11, 16), 4, 5),
        ("this month", date(2026, 11, 1), 14, 21),
        ("this quarter", date(2026, 10, 1), 36, 66),
        ("this year", date(2026, 1, 1), 231, 261),
    ],
)
def test_a_period_still_running_says_which_days_it_covers(org, period, start, elapsed, total):
    coverage = ask(org, "funnel", period).coverage
    assert coverage is not None
    assert (coverage.start, coverage.last_day) == (start, date(2026, 11, 20))
    assert (coverage.working_days_elapsed, coverage.working_days_total) == (elapsed, total)
    assert coverage.partial and not coverage.future and not coverage.complete


def test_a_closed_period_covers_all_of_itself(org):
    coverage = ask(org, "funnel", "last month").coverage
    # October: 22 working days, all over; the last day covered is Oct 31.
    assert coverage == Coverage(
        start=date(2026, 10, 1),
        end=date(2026, 11, 1),
        last_day=date(2026, 10, 31),
        working_days_elapsed=22,
        working_days_total=22,
        elapsed_share=1.0,
        partial=False,
    )
    assert coverage.complete and not coverage.early


def test_coverage_counts_working_days_as_plan_pace_does():
    # Wednesday Dec 2, 2026, 10:00 with Christmas a holiday: only Tuesday Dec 1 is over, of the 23 weekdays − 1.
    december = month_period(date(2026, 12, 2), UTC_ZONE)
    coverage = period_coverage(december, datetime(2026, 12, 2, 10, tzinfo=UTC), [date(2026, 12, 25)])
    assert (coverage.working_days_elapsed, coverage.working_days_total) == (1, 22)
    # Dec 1 00:00 to Dec 2 10:00 is 34 of the month's 744 hours.
    assert coverage.elapsed_share == pytest.approx(34 / 744)
    assert coverage.early  # 1 < max(3, 2.2)


@pytest.mark.parametrize(
    ("day", "early"),
    [
        # A month of 21 working days is early while fewer than max(3, 2.1) = 3 are over: Nov 2–4 over on the 5th.
        (date(2026, 11, 4), True),
        (date(2026, 11, 5), False),
    ],
)
def test_a_run_rate_is_early_over_a_month_s_first_three_working_days(day, early):
    november = month_period(day, UTC_ZONE)
    assert period_coverage(november, datetime.combine(day, datetime.min.time(), UTC)).early is early


def test_a_year_is_early_for_its_first_tenth():
    # 2026 has 261 working days: early while fewer than 26.1 are over — Jan 1–2, 5–9 … Feb 5 is the 26th.
    year = year_period(2026, UTC_ZONE)
    assert period_coverage(year, datetime(2026, 2, 6, tzinfo=UTC)).early  # 26 over
    assert not period_coverage(year, datetime(2026, 2, 9, tzinfo=UTC)).early  # 27 over (Fri Feb 6 too)


def test_a_period_not_yet_begun_is_refused_in_one_line(org):
    with pytest.raises(UserError) as refused:
        ask(org, "funnel", "2027-03")
    assert refused.value.key == "period.future"
    assert str(refused.value) == (
        "2027-03 has not started yet (it starts on 2027-03-01): there are no numbers for it."
    )


def test_a_plan_answers_a_future_period(org):
    # Rita's only plan row is October's: a future month has no plan, but the question is a fair one.
    result = ask(org, "plan", "2027-03", viewer="rep-1")
    assert result.coverage is not None and result.coverage.future
    assert [str(n) for n in result.notes] == ["No plan for Rita Rep in 2027-03."]
    # Her manager's team broken down by rep has no plan line to rank: no chart, and no failure drawing one.
    team = ask(org, "plan", "2027-03", viewer="mgr-a", by="rep")
    assert team.measures == () and render_charts(team) == ()


def test_a_comparison_period_without_data_is_flagged(org):
    # The fixture's data starts in September 2026: October 2025 holds no lead, deal or activity.
    result = ask(org, "funnel", "last month", compare="year")
    assert result.comparison_empty
    assert result.comparison_period is not None and result.comparison_period.key == "2025-10"
    # Rob's 7 October leads have no delta against nothing.
    assert result.headline.value == 7 and result.headline.delta is None


def test_a_comparison_period_with_data_is_not_flagged(org):
    # Rita had 8 leads in September: vs prev compares with them.
    result = ask(org, "funnel", "last month", viewer="rep-1", compare="prev")
    assert not result.comparison_empty
    assert result.headline.previous == 8


# --- /ltv in a running month (tests/fixtures/customers.py, revenue from orders) ------------------------------

ORDERS = Settings.model_validate({"org": {"timezone": "UTC"}, "revenue": {"source": "orders"}})


@pytest.fixture
def customers(engine):
    seed_customers(engine)
    return engine


def test_ltv_prorates_a_running_month_by_its_elapsed_days(customers):
    # October's orders: acc-1 150 + 250, acc-5 1,000, acc-6 200 = 1,600; S = E = 6 customers, 6 on average.
    # Asked on Nov 15 the month is whole: 1,600 / (31 / 30.4375 months) / 6 = 261.83 a month per account.
    whole = ask(
        customers, "ltv", "2026-10", viewer="admin", now=datetime(2026, 11, 15, tzinfo=UTC), settings=ORDERS
    )
    assert whole.measure("arpa").value == pytest.approx(1600 * 30.4375 / 31 / 6)
    assert round(whole.measure("arpa").value, 2) == 261.83
    # Asked on Oct 26 at midnight, after every October order, 25 of 31 days are over: the same 1,600 is
    # 1,600 / (25 / 30.4375 months) / 6 = 324.67 a month — not 261.83 as if the whole month had passed.
    running = ask(
        customers, "ltv", "2026-10", viewer="admin", now=datetime(2026, 10, 26, tzinfo=UTC), settings=ORDERS
    )
    assert round(running.measure("arpa").value, 2) == 324.67
    prorated = [n for n in running.notes if getattr(n, "key", "") == "ltv.prorated"]
    assert [str(n) for n in prorated] == [
        "The period is still running: monthly revenue per account is its revenue so far over the 25.0 days "
        "elapsed (of 31), scaled to a month of 30.44 days."
    ]
    assert not [n for n in whole.notes if getattr(n, "key", "") == "ltv.prorated"]


def test_ltv_of_a_month_one_or_two_working_days_old_is_flagged_early(customers):
    # October 2026 starts on Thursday. On Monday Oct 5 at noon Thu 1 and Fri 2 are over: 2 of October's 22 working
    # days, fewer than 3 (10 % of 22 is 2.2), so the month's revenue per account is an early run-rate, as /plan's
    # forecast would be. On Tuesday Oct 6 at midnight Mon 5 is over too: 3 of 22, no longer early.
    monday = ask(
        customers,
        "ltv",
        "2026-10",
        viewer="admin",
        now=datetime(2026, 10, 5, 12, tzinfo=UTC),
        settings=ORDERS,
    )
    assert monday.coverage is not None and monday.coverage.early
    early = [str(n) for n in monday.notes if getattr(n, "key", "") == "ltv.early"]
    assert early == [
        "Monthly revenue per account from 2 of 22 working days: early, a run-rate of so few days can move a lot."
    ]
    assert [
        n for n in monday.notes if getattr(n, "key", "") == "ltv.prorated"
    ]  # still says how it is prorated
    tuesday = ask(
        customers, "ltv", "2026-10", viewer="admin", now=datetime(2026, 10, 6, tzinfo=UTC), settings=ORDERS
    )
    assert not [n for n in tuesday.notes if getattr(n, "key", "") == "ltv.early"]
    assert [n for n in tuesday.notes if getattr(n, "key", "") == "ltv.prorated"]


def _chart_texts(kind, result):
    fig = build_chart(kind, result)
    assert fig is not None
    return [t.get_text() for t in fig.texts]


def test_a_chart_promises_no_comparison_it_cannot_draw(org):
    # Rob's October funnel against October 2025, which holds no data: no text of the chart names a comparison.
    empty = ask(org, "funnel", "last month", compare="year")
    texts = _chart_texts("funnel", empty)
    assert texts[:2] == ["Funnel", "Rob Rep · October 2026"]
    assert not [text for text in texts if "vs" in text or "2025" in text]
    # Against September (Rita's 8 leads) the funnel draws no comparison either, so its subtitle names none:
    # a comparison is named only by the charts that draw it, in their legends.
    compared = ask(org, "funnel", "last month", viewer="rep-1", compare="prev")
    assert _chart_texts("funnel", compared)[1] == "Rita Rep · October 2026"


def test_a_measure_that_ignores_the_period_does_not_count_as_data_to_compare(org):
    # Rob has one call due Nov 1 and not done: "overdue now" is 1 whatever the period, October 2025 included —
    # yet October 2025 holds no activity, so the comparison is still one without data.
    with org.begin() as conn:
        conn.execute(
            insert(Activity),
            [
                dict(
                    activity_id="a-late",
                    owner_id="rep-2",
                    type="call",
                    created_at=datetime(2026, 10, 30, 12),
                    due_at=datetime(2026, 11, 1, 12),
                    status="planned",
                )
            ],
        )
    result = ask(org, "activity", "last month", compare="year")
    assert result.measure("overdue").value == result.measure("overdue").previous == 1
    assert result.comparison_empty
