"""/plan on a hand-made autumn 2026. It is Wednesday 18 November 2026, noon UTC; Thursday 26 November is a holiday.

November 2026 has 21 weekdays, 20 working days with the holiday. By the 18th, 12 of them are over (2–6, 9–13,
16–17): the elapsed share is 12/20 = 0.6, and 8 working days are left counting today (18–20, 23–25, 27, 30).

Plans (2026-11 unless said): Rita (rep-1) revenue 10,000, deals won 4, calls 40; Rob (rep-2) revenue 5,000,
deals won 0; Rae (rep-3) revenue 8,000, units of P-PRO 5; team Bravo revenue 9,000 (its own row); team Alpha has
no November row but a 2026-Q4 row of 60,000; Rita also had 10,000 for 2026-09 and 2026-10, Rae 8,000 for 2026-10
and 2026-12. No org row.

Won deals: Rita D8 4,000 (Sep 10), D7 6,000 (Oct 15), D1 3,000 (Nov 5, from lead L1), D2 2,000 (Nov 12), and D3 was
lost; Rob D5 1,500 (Nov 3); Rae D6 4,000 (Nov 16, 2 × P-PRO). Rita's open D9 comes from lead L2.
Rita's calls: 12 in October (1st–12th), 8 in November (2–6, 9–11); meetings Oct 5–7 and Nov 3–5.
Rita's leads L1–L10 were created Sep 1–10: six reached mql, five sal, four sql, two an opportunity (L1, L2 by their
deals), one won (L1). L0, from before the 90-day window, and Rob's L11 must not count for her.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from metrics.catalogue import MetricQuery, query
from metrics.plan.actuals import plan_actual, plan_totals
from metrics.plan.metric import dynamics_trend
from metrics.plan.reverse import Trailing, what_it_takes
from metrics.scope import Scope
from storage.config.settings import Settings
from storage.errors import PermissionDenied, UserError
from storage.schema import Activity, Deal, Lead, LeadStageEvent, Order, Plan
from tests.fixtures.metrics_org import seed_people

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
HOLIDAY = date(2026, 11, 26)
SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "holidays": [HOLIDAY]}})


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 10)


def deal(did, owner, created, status, closed, amount, lead=None, product=None, quantity=None):
    return dict(
        deal_id=did,
        owner_id=owner,
        created_at=created,
        status=status,
        closed_at=closed,
        amount=amount,
        product_id=product,
        quantity=quantity,
        lead_id=lead,
        account_id=None,
        lost_reason=None,
    )


def plan(period, scope, scope_id, metric, target, product=""):
    return dict(
        period=period, scope=scope, scope_id=scope_id, metric=metric, product_id=product, target=target
    )


def seed_plan(engine) -> None:
    seed_people(engine)
    leads = [dict(lead_id=f"L{i}", owner_id="rep-1", created_at=at(9, i)) for i in range(1, 11)]
    leads += [
        dict(lead_id="L0", owner_id="rep-1", created_at=at(8, 1)),
        dict(lead_id="L11", owner_id="rep-2", created_at=at(9, 1)),
    ]
    reached = {"L1": 3, "L2": 3, "L3": 3, "L4": 3, "L5": 2, "L6": 1, "L0": 3}  # how far along mql, sal, sql
    events = [
        dict(lead_id=lead, stage=stage, entered_at=at(9, 20 + i), owner_id="rep-1")
        for lead, n in reached.items()
        for i, stage in enumerate(("mql", "sal", "sql")[:n])
    ]
    deals = [
        deal("D8", "rep-1", at(8, 25), "won", at(9, 10), 4000),
        deal("D7", "rep-1", at(9, 20), "won", at(10, 15), 6000),
        deal("D1", "rep-1", at(10, 20), "won", at(11, 5), 3000, lead="L1"),
        deal("D2", "rep-1", at(10, 25), "won", at(11, 12), 2000),
        deal("D3", "rep-1", at(10, 1), "lost", at(11, 10), 9999),
        deal("D9", "rep-1", at(11, 1), "open", None, 5000, lead="L2"),
        deal("D5", "rep-2", at(10, 1), "won", at(11, 3), 1500),
        deal("D6", "rep-3", at(10, 1), "won", at(11, 16), 4000, product="P-PRO", quantity=2),
    ]
    calls = [at(10, d) for d in range(1, 13)] + [at(11, d) for d in (2, 3, 4, 5, 6, 9, 10, 11)]
    meetings = [at(10, 5), at(10, 6), at(10, 7), at(11, 3), at(11, 4), at(11, 5)]
    activities = [
        dict(
            activity_id=f"{kind}-{i}",
            owner_id="rep-1",
            type=kind,
            created_at=when - timedelta(days=1),
            completed_at=when,
            status="done",
        )
        for kind, whens in (("call", calls), ("meeting", meetings))
        for i, when in enumerate(whens)
    ]
    plans = [
        plan("2026-11", "user", "rep-1", "revenue", 10000),
        plan("2026-11", "user", "rep-1", "deals_won", 4),
        plan("2026-11", "user", "rep-1", "calls", 40),
        plan("2026-11", "user", "rep-2", "revenue", 5000),
        plan("2026-11", "user", "rep-2", "deals_won", 0),
        plan("2026-11", "user", "rep-3", "revenue", 8000),
        plan("2026-11", "user", "rep-3", "product_units", 5, product="P-PRO"),
        plan("2026-11", "team", "t-b", "revenue", 9000),
        plan("2026-Q4", "team", "t-a", "revenue", 60000),
        plan("2026-10", "user", "rep-1", "revenue", 10000),
        plan("2026-09", "user", "rep-1", "revenue", 10000),
        plan("2026-10", "user", "rep-3", "revenue", 8000),
        plan("2026-12", "user", "rep-3", "revenue", 8000),
    ]
    with engine.begin() as conn:
        conn.execute(insert(Lead), leads)
        conn.execute(insert(LeadStageEvent), events)
        conn.execute(insert(Deal), deals)
        conn.execute(insert(Activity), activities)
        conn.execute(insert(Plan), plans)
        conn.execute(
            insert(Order),
            [dict(order_id="O1", account_id="acc-1", ordered_at=at(11, 10), amount=700, owner_id="rep-2")],
        )


@pytest.fixture
def db(engine):
    seed_plan(engine)
    return engine


def ask(engine, viewer="rep-1", period="this month", settings=SETTINGS, now=NOW, **kw):
    return query(engine, settings, MetricQuery("plan", viewer, now, period=period, **kw))


def values(result_or_row, *keys):
    return tuple(result_or_row.measure(k).value for k in keys)


def test_rita_sees_her_november_plan(db):
    r = ask(db)
    assert r.headline.key == "revenue.attainment"
    # Revenue: D1 3,000 + D2 2,000 = 5,000 of 10,000 (the lost D3 does not count).
    assert r.measure("revenue.actual").value == 5000
    assert r.measure("revenue.target").value == 10000
    assert r.measure("revenue.attainment").value == pytest.approx(0.5)
    # Pace: 5,000 / (10,000 × 0.6) = 0.8333; forecast: 5,000 / 0.6 = 8,333.33; need: 5,000 / 8 days = 625.
    assert r.measure("revenue.pace").value == pytest.approx(5000 / 6000)
    assert r.measure("revenue.forecast").value == pytest.approx(5000 / 0.6)
    assert r.measure("revenue.needed_per_day").value == pytest.approx(625)
    # Deals won: 2 of 4 -> 50 %, pace 2 / 2.4, need (4 − 2) / 8 = 0.25 a day.
    assert values(r, "deals_won.actual", "deals_won.target") == (2, 4)
    assert r.measure("deals_won.pace").value == pytest.approx(2 / 2.4)
    assert r.measure("deals_won.needed_per_day").value == pytest.approx(0.25)
    # Calls: 8 of 40 -> 20 %, pace 8 / 24, forecast 8 / 0.6, need 32 / 8 = 4 a day.
    assert r.measure("calls.attainment").value == pytest.approx(0.2)
    assert r.measure("calls.pace").value == pytest.approx(8 / 24)
    assert r.measure("calls.forecast").value == pytest.approx(8 / 0.6)
    assert r.measure("calls.needed_per_day").value == pytest.approx(4.0)


def test_without_the_holiday_pace_and_need_change(db):
    plain = Settings.model_validate({"org": {"timezone": "UTC"}})
    r = ask(db, settings=plain)
    # 21 working days, 12 over: pace 5,000 / (10,000 × 12/21) = 0.875; 9 days left: 5,000 / 9 a day.
    assert r.measure("revenue.pace").value == pytest.approx(0.875)
    assert r.measure("revenue.needed_per_day").value == pytest.approx(5000 / 9)


def test_a_team_without_its_own_row_rolls_up_its_members(db):
    r = ask(db, viewer="mgr-a")
    # Alpha has no November row (its Q4 row is coarser): Rita 10,000 + Rob 5,000 = 15,000; actual 5,000 + 1,500.
    assert r.measure("revenue.target").value == 15000
    assert r.measure("revenue.attainment").value == pytest.approx(6500 / 15000)
    # Deals won: 4 + 0 targets, 2 + 1 won.
    assert r.measure("deals_won.attainment").value == pytest.approx(3 / 4)


def test_a_team_row_wins_over_its_members_and_the_org_sums_its_teams(db):
    bravo = ask(db, viewer="mgr-b")
    # Bravo's own row (9,000) wins over Rae's 8,000; D6 brought 4,000 and 2 of the 5 P-PRO units.
    assert bravo.measure("revenue.target").value == 9000
    assert bravo.measure("revenue.attainment").value == pytest.approx(4000 / 9000)
    assert bravo.measure("product_units.P-PRO.attainment").value == pytest.approx(2 / 5)
    org = ask(db, viewer="admin")
    # No org row: Alpha 15,000 + Bravo 9,000; revenue 5,000 + 1,500 + 4,000.
    assert org.measure("revenue.target").value == 24000
    assert org.measure("revenue.attainment").value == pytest.approx(10500 / 24000)


def test_a_zero_target_is_na_not_infinite(db):
    r = ask(db, viewer="rep-2")
    # Rob's deals-won target is 0 and he won D5: attainment and pace have no meaning, nothing more is needed.
    assert r.measure("deals_won.attainment").value is None
    assert r.measure("deals_won.pace").value is None
    assert r.measure("deals_won.needed_per_day").value == 0


def test_a_month_without_any_plan_says_so(db):
    r = ask(db, viewer="rep-2", period="2026-12")
    assert r.measures == ()
    assert any("No plan" in str(note) for note in r.notes)


def test_december_prorates_the_quarter_plan_by_working_days(db):
    r = ask(db, viewer="mgr-a", period="2026-12")
    # Q4 working days: October 22 + November 20 + December 23 = 65; December's share of 60,000 is 23/65.
    assert float(r.measure("revenue.target").value) == pytest.approx(60000 * 23 / 65)
    assert r.measure("revenue.target").detail == "2026-Q4 × 23/65 working days"


def test_a_week_gets_its_share_of_the_month_plan(db):
    r = ask(db, period="this week")
    # Nov 16–22 holds 5 of November's 20 working days: 10,000 × 5/20 = 2,500; D2 closed the week before.
    assert r.measure("revenue.target").value == 2500
    assert r.measure("revenue.target").detail == "2026-11 × 5/20 working days"
    assert r.measure("revenue.actual").value == 0


def test_a_quarter_without_its_own_row_adds_up_its_months(db):
    r = ask(db, viewer="mgr-b", period="2026-Q4")
    # Bravo: October and December only Rae's rows (8,000 each), November Bravo's own 9,000.
    assert r.measure("revenue.target").value == 25000
    assert r.measure("revenue.target").detail == "2026-10 + 2026-11 + 2026-12"


def test_compared_with_the_whole_of_october(db):
    r = ask(db, compare="prev")
    # October's plan was 10,000 and D7 brought 6,000: 60 %, over a finished month so pace = attainment.
    assert r.measure("revenue.attainment").previous == pytest.approx(0.6)
    assert r.measure("revenue.pace").previous == pytest.approx(0.6)
    assert r.measure("revenue.attainment").direction == "down"
    assert r.measure("deals_won.attainment").previous is None  # no deals plan in October


def test_dynamics_over_six_months(db):
    r = ask(db)
    points = dict(r.series_by_key("dynamics").points)
    assert list(points) == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert points["2026-06"] is None  # no plan then
    assert points["2026-09"] == pytest.approx(0.4)
    assert points["2026-10"] == pytest.approx(0.6)
    assert points["2026-11"] == pytest.approx(0.5)
    # Over the completed months (September 40 %, October 60 %) attainment is rising.
    assert r.measure("dynamics_trend").value == 1


def test_trend_is_the_sign_of_the_slope():
    assert dynamics_trend([0.9, 0.7, 0.5]) == -1
    assert dynamics_trend([0.5, 0.505, 0.5]) == 0
    assert dynamics_trend([0.5]) is None


def test_cumulative_actual_against_the_plan_line(db):
    r = ask(db)
    actual = dict(r.series_by_key("cumulative_actual").points)
    assert list(actual)[-1] == "2026-11-18"  # nothing after today
    assert (actual["2026-11-04"], actual["2026-11-05"], actual["2026-11-12"]) == (0, 3000, 5000)
    line = dict(r.series_by_key("cumulative_target").points)
    # 12 of 20 working days by the 17th; 18 by the 25th; the holiday adds nothing; the 27th makes 19.
    assert line["2026-11-17"] == pytest.approx(6000)
    assert line["2026-11-25"] == line["2026-11-26"] == pytest.approx(9000)
    assert line["2026-11-27"] == pytest.approx(9500)
    assert line["2026-11-30"] == pytest.approx(10000)


def test_what_it_takes_runs_rita_s_funnel_backwards(db):
    r = ask(db)
    table = r.table("what_it_takes")
    assert table.columns == ("step", "needed", "per_day")
    rows = {step: (needed, per_day) for step, needed, per_day in table.rows}
    # Last 90 days: D8, D7, D1, D2 = 15,000 over 4 deals, 3,750 each; 5,000 missing -> 1.33 deals -> 2.
    # Funnel of L1–L10: 10 leads, 6 mql, 5 sal, 4 sql, 2 opportunities, 1 won.
    # opportunity 1.33 / (1/2) = 2.67 -> 3; sql 2.67 / (2/4) = 5.33 -> 6; sal 5.33 / (4/5) = 6.67 -> 7;
    # mql 6.67 / (5/6) = 8 -> 8; lead 8 / (6/10) = 13.3 -> 14.
    # Meetings: 6 in the window / 4 deals × 1.33 = 2; calls: 20 / 4 × 1.33 = 6.67 -> 7.
    assert {step: needed for step, (needed, _) in rows.items()} == {
        "won": 2,
        "opportunity": 3,
        "sql": 6,
        "sal": 7,
        "mql": 8,
        "lead": 14,
        "meetings": 2,
        "calls": 7,
    }
    # Over the 8 working days left.
    assert rows["lead"][1] == pytest.approx(14 / 8)
    assert rows["won"][1] == pytest.approx(0.25)


def test_what_it_takes_is_na_where_a_rate_is_unknown(db):
    table = ask(db, viewer="rep-2").table("what_it_takes")
    rows = {step: needed for step, needed, _ in table.rows}
    # Rob: D5 1,500 is his average deal; 3,500 missing -> 2.33 -> 3 deals. His only lead (L11) never moved, so
    # every rate before "won" is 0 / 0, and he logged no meetings or calls: n/a, never a division by zero.
    assert rows["won"] == 3
    assert rows["opportunity"] is None
    assert rows["lead"] is None
    assert rows["meetings"] is None


def test_one_plan_metric_on_request(db):
    r = ask(db, options=(("plan_metric", "calls"),))
    assert r.headline.key == "calls.attainment"
    assert {m.key.split(".")[0] for m in r.measures} == {"calls", "dynamics_trend"}
    assert dict(r.series_by_key("cumulative_actual").points)["2026-11-11"] == 8
    # What it takes still runs from Rita's revenue plan, which exists though the reply shows only calls.
    assert r.table("what_it_takes") == ask(db).table("what_it_takes")
    assert "What it takes needs a revenue plan." not in [str(n) for n in r.notes]


def test_revenue_from_orders(db):
    orders = Settings.model_validate(
        {"org": {"timezone": "UTC", "holidays": [HOLIDAY]}, "revenue": {"source": "orders"}}
    )
    r = ask(db, viewer="rep-2", settings=orders)
    assert r.measure("revenue.actual").value == 700
    assert r.measure("revenue.attainment").value == pytest.approx(700 / 5000)


def test_manager_breaks_the_plan_down_by_rep(db):
    rows = {row.key: row for row in ask(db, viewer="mgr-a", by="rep").rows}
    assert rows["rep-1"].measure("revenue.attainment").value == pytest.approx(0.5)
    assert rows["rep-2"].measure("revenue.attainment").value == pytest.approx(1500 / 5000)
    assert rows["rep-2"].measure("deals_won.attainment").value is None
    assert set(rows) == {"rep-1", "rep-2"}  # the manager leads the team; only its reps are listed


def test_admin_breaks_the_plan_down_by_team(db):
    rows = {row.label: row for row in ask(db, viewer="admin", by="team").rows}
    assert rows["Alpha"].measure("revenue.attainment").value == pytest.approx(6500 / 15000)
    assert rows["Bravo"].measure("revenue.attainment").value == pytest.approx(4000 / 9000)


def test_a_rep_cannot_see_another_rep_s_plan(db):
    with pytest.raises(PermissionDenied):
        ask(db, scope=Scope("rep", "rep-3"))


def test_a_summary_plan_has_the_lines_without_dynamics_or_what_it_takes(db):
    full = ask(db, viewer="rep-1")
    summary = ask(db, viewer="rep-1", options=(("detail", "summary"),))
    lines = [m for m in full.measures if m.key != "dynamics_trend"]
    assert [(m.key, m.value) for m in summary.measures] == [(m.key, m.value) for m in lines]
    assert summary.series == () and summary.tables == ()
    with pytest.raises(UserError, match="detail is full or summary"):
        ask(db, viewer="rep-1", options=(("detail", "everything"),))


# --- what the forecast rests on; a closed period's need; what it takes from other lines ------------------------


def test_the_forecast_says_how_many_working_days_it_rests_on(db):
    # On the 18th, 12 of November's 20 working days are over (module docstring): past the early days.
    assert "Forecast from 12 of 20 working days." in [str(n) for n in ask(db).notes]


def test_a_forecast_from_one_working_day_is_flagged_early(db):
    # Tuesday Nov 3 at noon: only Monday Nov 2 is over, 1 of 20 (early while fewer than max(3, 2.0) are over).
    notes = [str(n) for n in ask(db, now=datetime(2026, 11, 3, 12, tzinfo=UTC)).notes]
    assert "Forecast from 1 of 20 working days: early, a run-rate of so few days can move a lot." in notes
    # Monday Nov 2 at noon nothing is over: no forecast at all (it is n/a).
    first_day = ask(db, now=datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert "No forecast yet: none of the 20 working days is over." in [str(n) for n in first_day.notes]
    assert first_day.measure("revenue.forecast").value is None


def test_a_closed_period_needs_nothing_per_working_day_made_or_not(db):
    # Asked on Dec 2 about November, Rob made his deals-won plan (D5 against 0) and missed his revenue (D5's
    # 1,500 of 5,000):
    # both needs are n/a — no working day is left — where the made one used to be 0 and the missed one n/a.
    r = ask(db, viewer="rep-2", period="2026-11", now=datetime(2026, 12, 2, 10, tzinfo=UTC))
    assert r.measure("revenue.needed_per_day").value is None
    assert r.measure("deals_won.needed_per_day").value is None
    assert "Forecast from" not in " ".join(str(n) for n in r.notes)


def test_what_it_takes_from_a_deals_won_plan_and_from_a_calls_plan():
    # Trailing: 2 deals won (revenue 10,000), 6 meetings and 10 calls; funnel 10 → 6 → 5 → 4 → 2 → 1.
    t = Trailing(datetime(2026, 8, 1), datetime(2026, 11, 1), 10000.0, 2, 6, 10,
                 {"lead": 10, "mql": 6, "sal": 5, "sql": 4, "opportunity": 2, "won": 1})  # fmt: skip
    stages = ("lead", "mql", "sal", "sql", "opportunity", "won")
    # 3 deals still missing over 4 working days: opportunities 3 / (1/2) = 6, SQL 6 / (2/4) = 12, SAL 12 / (4/5)
    # = 15, MQL 15 / (5/6) = 18, leads 18 / (6/10) = 30; meetings 3 × 6/2 = 9, calls 3 × 10/2 = 15.
    table = what_it_takes(3, t, stages, 4, start="deals_won")
    assert [(step, needed) for step, needed, _ in table.rows] == [
        ("won", 3), ("opportunity", 6), ("sql", 12), ("sal", 15), ("mql", 18), ("lead", 30),
        ("meetings", 9), ("calls", 15),
    ]  # fmt: skip
    assert table.rows[0][2] == 0.75
    # A calls plan 19.5 short needs 20 calls, 5.0 a day over 4 days: the line's own need.
    assert what_it_takes(19.5, t, stages, 4, start="calls").rows == (("calls", 20, 5.0),)


def test_trailing_totals_read_each_table_once_for_its_lines(db):
    # Rita's 90 days before now, as in what it takes above: 15,000 over 4 won deals, 6 meetings, 20 calls.
    end = NOW.replace(tzinfo=None)
    start = end - timedelta(days=90)
    lines = ("revenue", "deals_won", "meetings", "calls")
    with db.connect() as conn:
        totals = plan_totals(conn, SETTINGS, lines, start, end, ["rep-1"])
        apart = {
            line: float(plan_actual(conn, SETTINGS, line, "", start, end, ["rep-1"]).value() or 0)
            for line in lines
        }
        with pytest.raises(ValueError, match="average"):
            plan_totals(conn, SETTINGS, ("avg_deal_size",), start, end, None)
    assert totals == {"revenue": 15000, "deals_won": 4, "meetings": 6, "calls": 20}
    assert totals == apart
