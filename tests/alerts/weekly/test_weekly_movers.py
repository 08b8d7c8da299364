"""The weekly changes digest at its edges: a rep who went silent, a rep new this week, an event late on a Sunday in
the manager's zone, flow rates that are not shares, the row without a source, a holiday Monday, and a week sent
on two weekdays. Fixture and working: tests/fixtures/weekly_org.py.

Midmarket, for its manager Mia Hart in New York (New York weeks, W = Nov 23–29, P = Nov 16–22):
- deals won: P Ivy 8 + Kai 4 = 12; W Kai 2 + Jo 2 (closed Sunday 23:30 New York) = 4: −66.7 %, A 0. By rep Ivy
  8 → 0 (−8, silent this week), Kai 4 → 2 (−2), Jo 0 → 2 (rose, not a mover of a fall). Every deal is without a
  lead: its only source and segment row is the empty one, never named.
- revenue: the same at 1,000 a deal: $12,000 → $4,000, Ivy −$8,000.
- win rate: P 12 / 18 = 66.7 %, W 4 / 10 = 40.0 % (−26.7 points on 10 and 18). By rep Ivy has no rate in W and Jo
  none in P; Kai 4/8 = 50.0 % → 2/6 = 33.3 %, −16.7 points on 6 deals. No deal in A: no "4 weeks ago".
Before the weeks were matched by key, the team's P total added up only the reps with a W row (Kai 4, Jo 0): 4 → 4,
nothing moved.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from alerts.digests.run import run_digests
from alerts.digests.weekly_changes import WeeklyNumbers
from alerts.digests.weekly_metrics import KEY_METRICS, is_movement, sample_keys
from metrics.catalogue import MetricQuery, query
from metrics.periods import local_midnight
from metrics.scope import SYSTEM_VIEWER, Scope
from storage.config.alerts import DigestsSettings, WeeklyChangesConfig
from storage.config.settings import OrgSettings, RevenueSettings, Settings
from storage.schema import Lead, LeadStageEvent
from tests.alerts.weekly.test_weekly_changes import MONDAY_9, sentences, weekly
from tests.fixtures.weekly_org import seed_weekly_org

NEW_YORK = ZoneInfo("America/New_York")


def test_a_rep_silent_this_week_still_counts_last_week(engine):
    seed_weekly_org(engine)
    reply = weekly(engine, "mgr-m")  # Monday Nov 30, 04:00 in New York
    assert sentences(reply) == [
        "Revenue fell from $12,000 to $4,000 (4 weeks ago $0): Ivy Stone −$8,000.",
        "Deals won fell from 12 to 4 (4 weeks ago 0): Ivy Stone −8.",
        "Win rate fell from 66.7% to 40.0%: Kai Ito −16.7 pts on 6 deals.",
    ]
    # Revenue and deals won open the same /revenue: one button, the next slot goes to the win rate.
    assert [(a.label, a.command) for a in reply.actions] == [
        ("Revenue by rep", "/revenue 2026-11-23..2026-11-29 vs prev team Midmarket by rep"),
        ("Win rate by rep", "/winrate 2026-11-23..2026-11-29 vs prev team Midmarket by rep"),
    ]


def test_a_teams_totals_are_the_team_querys_own_numbers(engine):
    seed_weekly_org(engine)
    day = date(2026, 11, 30)
    with engine.connect() as conn:
        numbers = WeeklyNumbers(conn, Settings(), NEW_YORK, day)
        found = {m.metric.key: m for m in numbers.changes(Scope("team", "t-mid")).movements}
        team = query(
            conn,
            Settings(),
            MetricQuery(metric="revenue", viewer_id=SYSTEM_VIEWER.user_id, now=local_midnight(day, NEW_YORK),
                        period=numbers.week, scope=Scope("team", "t-mid"), compare="prev"),
            viewer=SYSTEM_VIEWER,
        )  # fmt: skip
    deals = team.measure("deals_won")
    assert (found["deals_won"].value, found["deals_won"].previous) == (
        float(deals.value),
        float(deals.previous),
    )
    assert (found["deals_won"].value, found["deals_won"].previous) == (4.0, 12.0)
    revenue = team.measure("revenue")
    assert (found["revenue"].value, found["revenue"].previous) == (
        float(revenue.value),
        float(revenue.previous),
    )


def _sql_from_old_mqls(engine, count: int) -> None:
    """`count` more of Nora's leads that entered mql on Nov 10 (before P) and sql on Nov 24 (in W)."""
    old = datetime(2026, 11, 9, 12)
    leads = [dict(lead_id=f"late-{i}", owner_id="rep-nora", created_at=old, source="email", segment="retail")
             for i in range(count)]  # fmt: skip
    events = [
        event
        for i in range(count)
        for event in (
            dict(lead_id=f"late-{i}", stage="mql", entered_at=old + timedelta(days=1)),
            dict(lead_id=f"late-{i}", stage="sql", entered_at=datetime(2026, 11, 24, 12)),
        )
    ]
    with engine.begin() as conn:
        conn.execute(insert(Lead), leads)
        conn.execute(insert(LeadStageEvent), events)


def test_more_sql_entries_than_mql_entries_is_not_a_share(engine):
    seed_weekly_org(engine)
    # 9 more SQL entries in W from leads that became MQL before P: W's flow acceptance would be (3 + 9) / 10 = 120 %
    # "rose from 60.0% to 120.0%" with Nora "+60.0 pts". Not a share: no sentence about it, and no point change
    # above 100 anywhere.
    _sql_from_old_mqls(engine, 9)
    found = sentences(weekly(engine, "mgr-e"))
    assert not [s for s in found if s.startswith("MQL → SQL acceptance")]
    assert not [s for s in found if "120.0%" in s]
    assert [s.split(" from")[0] for s in found] == [
        "Deals won fell",
        "Win rate fell",
        "Activities done rose",
        "New opportunities rose",
    ]


def test_an_unchanged_rate_is_never_a_movement():
    config = WeeklyChangesConfig(min_change_pts=0, min_change_pct=0)
    # 50.0 % → 50.0 % at a threshold of 0 points did "fall" before: |0| ≥ 0.
    assert not is_movement("percent", 0.5, 0.5, (10, 10), config)
    assert not is_movement("count", 10, 10, (10, 10), config)
    assert is_movement("percent", 0.51, 0.5, (10, 10), config)


def test_revenue_from_orders_is_a_sample_of_orders():
    revenue = next(spec for spec in KEY_METRICS if spec.key == "revenue")
    assert sample_keys(revenue, Settings()) == ("deals_won",)
    assert sample_keys(revenue, Settings(revenue=RevenueSettings(source="orders"))) == ("orders",)


def _due(engine, settings: Settings, now: datetime) -> list[str]:
    """The keys of Erin Boss's weekly changes due at `now` (a dry run: nothing is queued)."""
    due = run_digests(engine, settings, now, platforms=("console",), dry_run=True).due
    return [item.key for item in due if item.key.startswith("digest:weekly_changes:mgr-e")]


def test_a_holiday_monday_sends_the_week_on_tuesday_and_two_weekdays_send_it_once(engine):
    seed_weekly_org(engine)
    holiday = Settings(org=OrgSettings(holidays=(date(2026, 11, 30),)))
    # Monday Nov 30 is a holiday: nothing at 09:00; Tuesday Dec 1 at 09:00 the week goes out, keyed on week 49.
    assert _due(engine, holiday, MONDAY_9) == []
    assert _due(engine, holiday, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == [
        "digest:weekly_changes:mgr-e:2026-W49"
    ]
    # Not again on Wednesday: Tuesday was the next working day.
    assert _due(engine, holiday, datetime(2026, 12, 2, 9, 0, tzinfo=UTC)) == []
    # weekdays [mon, thu]: Thursday's slot is due but its key is Monday's, so the outbox holds the week once.
    twice = Settings(digests=DigestsSettings(weekly_changes=WeeklyChangesConfig(weekdays=["mon", "thu"])))
    monday = run_digests(engine, twice, datetime(2026, 12, 7, 9, 0, tzinfo=UTC), platforms=("console",))
    assert "digest:weekly_changes:mgr-e:2026-W50" in monday.queued
    thursday = run_digests(engine, twice, datetime(2026, 12, 10, 9, 0, tzinfo=UTC), platforms=("console",))
    assert "digest:weekly_changes:mgr-e:2026-W50" in thursday.already
    assert not [k for k in thursday.queued if k.startswith("digest:weekly_changes:")]
