"""/activity on a hand-made November 2026: Rob (rep-2) works his leads and deals, Rita (rep-1) and Rae (rep-3) a
little; it is Wednesday 18 November 2026, noon UTC.

Rob's activities (all times UTC, 10:00 unless said):

| id  | type     | created | due    | status    | completed     | linked |
|-----|----------|---------|--------|-----------|---------------|--------|
| A1  | call     | Nov 1   | Nov 2  | done      | Nov 2         | lead L1 |
| A2  | call     | Nov 1   | Nov 3  | done      | Nov 3         | lead L2 |
| A3  | call     | Nov 2   | –      | done      | Nov 4         | lead L3 |
| A4  | meeting  | Nov 3   | Nov 5  | done      | Nov 5         | deal D1 |
| A5  | email    | Nov 6   | –      | done      | Nov 6         | deal D1 |
| A6  | task     | Nov 9   | Nov 10 | planned   | –             |        |
| A7  | task     | Nov 10  | Nov 20 | planned   | –             |        |
| A8  | demo     | Nov 11  | Nov 12 | cancelled | –             |        |
| A9  | proposal | Nov 12  | Nov 13 | done      | Nov 16 (late) |        |
| A10 | call     | Oct 28  | Oct 30 | planned   | –             |        |
| A11 | call     | Oct 14  | –      | done      | Oct 16        | deal D2 |
| A12 | other    | Nov 17  | –      | done      | Nov 17        |        |
| A13 | call     | Nov 17  | –      | done      | Nov 18 09:00  | lead L4 |

Rita: B1 call done Nov 10 on lead L5, B2 meeting done Nov 11 on deal D3, B3 call done Nov 13 on Rob's deal D1.
Rae: C1 call done Nov 9.

Funnel moves after the calls: L1 mql Oct 28, sql Nov 5 (3 days after A1: qualifying); L2 mql Nov 12 (9 days
after A2: too late); L3 sql Oct 31, then mql Nov 5 (not beyond sql: not qualifying); L4 mql Nov 18 11:00 (2 hours
after A13: qualifying); L5 gets deal D4 on Nov 12 = opportunity (2 days after B1: qualifying).

Deals: D1 Rob won Nov 14, D5 Rob won Nov 15, D2 Rob won Oct 15, D3 Rita won Nov 12, D4 Rita open.
Plan: Rob calls 10 for 2026-11.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from metrics.catalogue import MetricQuery, query
from metrics.scope import Scope
from storage.config.settings import Settings
from storage.errors import PermissionDenied
from storage.schema import Activity, Deal, Lead, LeadStageEvent, Plan
from tests.fixtures.conversion import JOURNEY_STATES, prepare_journeys
from tests.fixtures.metrics_org import seed_people

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
SETTINGS = Settings.model_validate({"org": {"timezone": "UTC"}})


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour)


def activity(aid, owner, kind, created, *, due=None, done=None, status=None, lead=None, deal=None):
    return dict(
        activity_id=aid,
        owner_id=owner,
        type=kind,
        created_at=created,
        due_at=due,
        completed_at=done,
        status=status or ("done" if done else "planned"),
        lead_id=lead,
        deal_id=deal,
        account_id=None,
    )


ACTIVITIES = [
    activity("A1", "rep-2", "call", at(11, 1), due=at(11, 2), done=at(11, 2), lead="L1"),
    activity("A2", "rep-2", "call", at(11, 1), due=at(11, 3), done=at(11, 3), lead="L2"),
    activity("A3", "rep-2", "call", at(11, 2), done=at(11, 4), lead="L3"),
    activity("A4", "rep-2", "meeting", at(11, 3), due=at(11, 5), done=at(11, 5), deal="D1"),
    activity("A5", "rep-2", "email", at(11, 6), done=at(11, 6), deal="D1"),
    activity("A6", "rep-2", "task", at(11, 9), due=at(11, 10)),
    activity("A7", "rep-2", "task", at(11, 10), due=at(11, 20)),
    activity("A8", "rep-2", "demo", at(11, 11), due=at(11, 12), status="cancelled"),
    activity("A9", "rep-2", "proposal", at(11, 12), due=at(11, 13), done=at(11, 16)),
    activity("A10", "rep-2", "call", at(10, 28), due=at(10, 30)),
    activity("A11", "rep-2", "call", at(10, 14), done=at(10, 16), deal="D2"),
    activity("A12", "rep-2", "other", at(11, 17), done=at(11, 17)),
    activity("A13", "rep-2", "call", at(11, 17), done=at(11, 18, 9), lead="L4"),
    activity("B1", "rep-1", "call", at(11, 9), done=at(11, 10), lead="L5"),
    activity("B2", "rep-1", "meeting", at(11, 9), done=at(11, 11), deal="D3"),
    activity("B3", "rep-1", "call", at(11, 12), done=at(11, 13), deal="D1"),
    activity("C1", "rep-3", "call", at(11, 8), done=at(11, 9)),
]


def deal(did, owner, created, status="open", closed=None, lead=None):
    return dict(
        deal_id=did,
        owner_id=owner,
        created_at=created,
        status=status,
        closed_at=closed,
        amount=1000,
        product_id=None,
        quantity=None,
        lead_id=lead,
        account_id=None,
        lost_reason=None,
    )


def seed_activity(engine) -> None:
    seed_people(engine)
    leads = [("L1", "rep-2"), ("L2", "rep-2"), ("L3", "rep-2"), ("L5", "rep-1")]
    events = [
        ("L1", "mql", at(10, 28)),
        ("L1", "sql", at(11, 5)),
        ("L2", "mql", at(11, 12)),
        ("L3", "sql", at(10, 31)),
        ("L3", "mql", at(11, 5)),
        ("L4", "mql", at(11, 18, 11)),
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(Lead),
            [dict(lead_id=lid, owner_id=owner, created_at=at(10, 25)) for lid, owner in leads]
            + [dict(lead_id="L4", owner_id="rep-2", created_at=at(11, 16))],
        )
        conn.execute(
            insert(LeadStageEvent),
            [dict(lead_id=lid, stage=stage, entered_at=when, owner_id=None) for lid, stage, when in events],
        )
        conn.execute(
            insert(Deal),
            [
                deal("D1", "rep-2", at(10, 20), "won", at(11, 14)),
                deal("D5", "rep-2", at(10, 20), "won", at(11, 15)),
                deal("D2", "rep-2", at(10, 1), "won", at(10, 15)),
                deal("D3", "rep-1", at(10, 20), "won", at(11, 12)),
                deal("D4", "rep-1", at(11, 12), lead="L5"),
            ],
        )
        conn.execute(insert(Activity), ACTIVITIES)
        conn.execute(
            insert(Plan),
            [
                dict(
                    period="2026-11", scope="user", scope_id="rep-2", metric="calls", product_id="", target=10
                )
            ],
        )


@pytest.fixture(params=JOURNEY_STATES)
def db(engine, request):
    seed_activity(engine)
    prepare_journeys(engine, request.param)  # the qualifying calls read the leads' journeys
    return engine


def ask(engine, viewer="rep-2", period="this month", **kw):
    return query(engine, SETTINGS, MetricQuery("activity", viewer, NOW, period=period, **kw))


def values(result_or_row, *keys):
    return tuple(result_or_row.measure(k).value for k in keys)


def test_rob_sees_his_november_activity(db):
    r = ask(db)
    assert r.headline.key == "activities"
    # Done in November: A1 A2 A3 A4 A5 A9 A12 A13 = 8 (A11 was October; A6 A7 are open; A8 cancelled).
    assert r.measure("activities").value == 8
    assert values(r, "calls", "meetings", "emails", "tasks", "demos", "proposals", "other") == (
        4,
        1,
        1,
        0,
        0,
        1,
        1,
    )
    # Created in November: everything but A10 and A11 = 11.
    assert r.measure("assigned").value == 11
    # Due in November and not cancelled: A1 A2 A4 A6 A7 A9 = 6, of which done A1 A2 A4 A9 (late, still done) = 4.
    assert r.measure("completion_rate").value == pytest.approx(4 / 6)
    assert r.measure("completion_rate").detail == "4 / 6"
    # Open and due before now: A6 (Nov 10) and A10 (Oct 30, before the period but still late); A7 is due Nov 20.
    assert r.measure("overdue").value == 2


def test_qualifying_calls_are_the_calls_that_moved_a_lead_within_a_week(db):
    # A1 (L1 mql -> sql 3 days later) and A13 (L4 lead -> mql 2 hours later) qualify; A2's move came after 9 days,
    # A3's lead was already at sql when it re-entered mql.
    assert ask(db).measure("qualifying_calls").value == 2
    # Rita's B1: its lead got deal D4 two days later, which is the opportunity stage.
    assert ask(db, viewer="rep-1").measure("qualifying_calls").value == 1
    # With a one-day window only A13 is still quick enough for Rob.
    narrow = Settings.model_validate({"org": {"timezone": "UTC"}, "activity": {"qualify_window_days": 1}})
    r = query(db, narrow, MetricQuery("activity", "rep-2", NOW))
    assert r.measure("qualifying_calls").value == 1


def test_activities_per_won_deal_counts_everyone_s_work_on_the_deals_won(db):
    # Rob won D1 and D5 in November; done activities on them: A4, A5 (Rob) and B3 (Rita on D1) = 3 -> 3 / 2.
    r = ask(db)
    assert r.measure("activities_per_won_deal").value == pytest.approx(1.5)
    assert r.measure("activities_per_won_deal").detail == "3 / 2"


def test_calls_against_plan(db):
    # Plan 10 calls; 4 done -> 40 %. Working days of November 2026: 21; on Wednesday the 18th, 12 are over
    # (2–6, 9–13, 16–17), so pace = 4 / (10 × 12/21) = 0.7.
    r = ask(db)
    assert r.measure("calls_attainment").value == pytest.approx(0.4)
    assert r.measure("calls_pace").value == pytest.approx(0.7)
    # No meeting plan, so no meeting attainment.
    with pytest.raises(KeyError):
        r.measure("meetings_attainment")


def test_nothing_due_and_nothing_won_is_na_not_zero(db):
    r = ask(db, viewer="rep-3")
    assert r.measure("activities").value == 1
    assert r.measure("completion_rate").value is None
    assert r.measure("activities_per_won_deal").value is None


def test_series_by_type_and_by_day(db):
    r = ask(db)
    by_type = dict(r.series_by_key("by_type").points)
    assert by_type == {"call": 4, "meeting": 1, "email": 1, "task": 0, "demo": 0, "proposal": 1, "other": 1}
    by_day = dict(r.series_by_key("by_day").points)
    assert len(by_day) == 30
    assert by_day["2026-11-01"] == 0
    assert by_day["2026-11-02"] == 1
    assert by_day["2026-11-18"] == 1
    assert sum(by_day.values()) == 8


def test_compared_with_october(db):
    r = ask(db, compare="prev")
    # Month to date against the same stretch of October (to Oct 18 noon): A11 done (a call), D2 won with A11 on
    # it -> 1 / 1.
    assert r.measure("activities").previous == 1
    assert r.measure("calls").previous == 1
    assert r.measure("activities_per_won_deal").previous == pytest.approx(1.0)
    assert r.measure("activities").direction == "up"


def test_manager_breaks_the_team_down_by_rep(db):
    r = ask(db, viewer="mgr-a", by="rep")
    rows = {row.key: row for row in r.rows}
    assert set(rows) == {"rep-1", "rep-2"}  # the manager leads the team; only its reps are listed
    assert rows["rep-2"].label == "Rob Rep"
    assert rows["rep-2"].measure("activities").value == 8
    # Rita: B1 B2 B3 done; B1 qualifies; D3 won with B2 on it -> 1 / 1.
    assert values(rows["rep-1"], "activities", "calls", "qualifying_calls") == (3, 2, 1)
    assert rows["rep-1"].measure("activities_per_won_deal").value == pytest.approx(1.0)
    # The team's own total is the sum: 8 + 3.
    assert r.measure("activities").value == 11


def test_admin_breaks_the_org_down_by_team(db):
    rows = {row.label: row for row in ask(db, viewer="admin", by="team").rows}
    assert rows["Alpha"].measure("activities").value == 11
    assert rows["Bravo"].measure("activities").value == 1
    # Alpha's overdue are Rob's two.
    assert rows["Alpha"].measure("overdue").value == 2


def test_rob_week_by_week(db):
    rows = {row.key: row for row in ask(db, by="week").rows}
    assert list(rows) == ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]
    # Done: W45 (Nov 2–8) A1–A5 = 5; W47 (Nov 16–22) A9 A12 A13 = 3.
    assert [rows[k].measure("activities").value for k in rows] == [0, 5, 0, 3, 0, 0]
    # Completion by due date: W45 A1 A2 A4 all done = 3/3; W46 A6 open, A9 done = 1/2; W47 A7 open = 0/1;
    # W44 nothing due = n/a.
    assert rows["2026-W45"].measure("completion_rate").value == pytest.approx(1.0)
    assert rows["2026-W46"].measure("completion_rate").value == pytest.approx(0.5)
    assert rows["2026-W47"].measure("completion_rate").value == 0
    assert rows["2026-W44"].measure("completion_rate").value is None
    # D1 and D5 were won in W46 with 3 activities on them.
    assert rows["2026-W46"].measure("activities_per_won_deal").value == pytest.approx(1.5)
    # "Overdue" is as of now, not a property of a week.
    with pytest.raises(KeyError):
        rows["2026-W46"].measure("overdue")


def test_by_month_over_a_quarter(db):
    rows = {row.key: row for row in ask(db, period="2026-Q4", by="month").rows}
    assert list(rows) == ["2026-10", "2026-11", "2026-12"]
    assert [rows[k].measure("activities").value for k in rows] == [1, 8, 0]


def test_a_rep_cannot_see_another_rep_s_activity(db):
    with pytest.raises(PermissionDenied):
        ask(db, viewer="rep-2", scope=Scope("rep", "rep-1"))
