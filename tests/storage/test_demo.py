"""The demo organisation: someone runs `kpibot demo` on an empty database and gets a believable sales year."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from run_bot import main
from storage.config.settings import load_settings
from storage.db import make_engine
from storage.demo.generate import SCALES, generate_demo, has_crm_data
from storage.errors import UserError
from storage.schema import Activity, Deal, Lead, LeadStageEvent, Plan, User
from tests.fixtures.kept import kept_and_live_spans, waiting_marks

MONDAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23)
FUNNEL = ("lead", "mql", "sal", "sql", "opportunity", "won")


def _demo(engine, **kwargs):
    return generate_demo(engine, scale="tiny", today=kwargs.pop("today", MONDAY), **kwargs)


def test_tiny_demo_fills_every_crm_table_with_a_plausible_year(engine):
    summary = _demo(engine)

    tiny = SCALES["tiny"]
    counts = summary.counts
    # 1 admin + 2 managers + 8 reps; 6 products; exactly the leads asked for.
    assert (counts["users"], counts["teams"], counts["products"]) == (1 + tiny.teams + tiny.reps, 2, 6)
    assert counts["leads"] == tiny.leads == 2_500
    # Roughly a fifth of the leads become deals, about 40 % of closed deals are won, each win a customer.
    assert 0.12 * tiny.leads < counts["deals"] < 0.35 * tiny.leads
    assert 0.2 * counts["deals"] < counts["accounts"] < 0.6 * counts["deals"]
    assert counts["activities"] > 4 * tiny.leads
    assert counts["lead_stage_events"] > 2 * tiny.leads
    assert counts["deal_stage_events"] > 2 * counts["deals"]
    assert counts["orders"] > counts["accounts"]
    for table in ("mrr", "spend", "campaigns", "email_list", "plans", "tickets"):
        assert counts[table] > 0, table
    assert summary.admin_id == "admin" and summary.default_user_id == "mgr-1"
    assert summary.manager_ids == ("mgr-1", "mgr-2") and summary.team_ids == ("team-1", "team-2")
    assert summary.rep_ids == tuple(f"rep-{i:03d}" for i in range(1, 9))
    assert "weak MQL->SQL acceptance" in summary.describe()
    with engine.connect() as conn:
        users = conn.execute(select(User.user_id, User.email, User.timezone, User.locale)).all()
    assert {u.timezone for u in users} >= {"Europe/Berlin", "Europe/Moscow", "America/New_York"}
    assert {u.locale for u in users} == {"en", "ru"}
    assert all(u.email.endswith("@demo.example") and "." in u.email.split("@")[0] for u in users)


def test_the_same_seed_and_day_give_the_same_data(engine):
    first = _demo(engine, seed=7)
    with engine.connect() as conn:
        sample = conn.execute(select(Deal).order_by(Deal.deal_id).limit(25)).all()
        names = conn.execute(select(User.user_id, User.name).order_by(User.user_id)).all()

    again = _demo(engine, seed=7, replace=True)

    with engine.connect() as conn:
        assert conn.execute(select(Deal).order_by(Deal.deal_id).limit(25)).all() == sample
        assert conn.execute(select(User.user_id, User.name).order_by(User.user_id)).all() == names
    assert again.counts == first.counts
    other = _demo(engine, seed=8, replace=True)
    assert other.counts != first.counts


def _done_by_owner(conn, day: datetime) -> dict[str, int]:
    return dict(
        conn.execute(
            select(Activity.owner_id, func.count())
            .where(Activity.completed_at >= day, Activity.completed_at < day + timedelta(days=1))
            .group_by(Activity.owner_id)
        ).all()
    )


def test_on_a_monday_every_rep_has_work_on_friday_and_the_weekend_is_light_but_not_empty(engine):
    summary = _demo(engine)
    friday, saturday, sunday = datetime(2026, 11, 20), datetime(2026, 11, 21), datetime(2026, 11, 22)

    with engine.connect() as conn:
        on_friday = _done_by_owner(conn, friday)
        weekend = {day: _done_by_owner(conn, day) for day in (saturday, sunday)}
        teams = dict(conn.execute(select(User.user_id, User.team_id)).all())
        weekend_types = dict(
            conn.execute(
                select(Activity.type, func.count())
                .where(Activity.completed_at >= saturday, Activity.completed_at < NOW)
                .group_by(Activity.type)
            ).all()
        )

    assert set(on_friday) == set(summary.rep_ids)
    for day, done in weekend.items():
        # Someone in every team answers on a Saturday and a Sunday, but not every rep works...
        assert {teams[rep] for rep in done} == set(summary.team_ids), day
        assert 0 < len(done) < len(summary.rep_ids), day
        # ... and a weekend day carries a small fraction of a weekday's work.
        assert 0.02 * sum(on_friday.values()) <= sum(done.values()) <= 0.25 * sum(on_friday.values()), day
    # Weekend work is mostly e-mails and tasks.
    assert weekend_types.get("email", 0) + weekend_types.get("task", 0) > sum(weekend_types.values()) / 2


def test_over_the_year_weekend_days_carry_five_to_ten_percent_of_a_weekdays_work(engine):
    _demo(engine)
    with engine.connect() as conn:
        done = [
            completed
            for (completed,) in conn.execute(select(Activity.completed_at).where(Activity.status == "done"))
        ]
    per_day = defaultdict(int)
    for completed in done:
        per_day[completed.date()] += 1
    weekdays = [n for day, n in per_day.items() if day.weekday() < 5]
    weekend = [n for day, n in per_day.items() if day.weekday() >= 5]
    ratio = (sum(weekend) / len(weekend)) / (sum(weekdays) / len(weekdays))
    assert 0.03 < ratio < 0.15


def test_on_a_wednesday_calendar_yesterday_has_activities(engine):
    tuesday = datetime(2026, 11, 17)
    _demo(engine, today=date(2026, 11, 18))
    with engine.connect() as conn:
        owners = conn.execute(
            select(func.count(func.distinct(Activity.owner_id))).where(
                Activity.completed_at >= tuesday, Activity.completed_at < tuesday + timedelta(days=1)
            )
        ).scalar_one()
    assert owners == SCALES["tiny"].reps


def test_the_current_month_has_plans_for_every_rep_and_team_and_the_quarter_for_the_org(engine):
    summary = _demo(engine)
    with engine.connect() as conn:
        plans = conn.execute(
            select(Plan.scope, Plan.scope_id, Plan.metric, Plan.target).where(Plan.period == "2026-11")
        ).all()
        quarter = conn.execute(
            select(Plan.target).where(Plan.period == "2026-Q4", Plan.scope == "org")
        ).scalar_one()
    metrics = {"revenue", "deals_won", "new_leads", "calls", "meetings"}
    by_scope = defaultdict(set)
    for scope, scope_id, metric, target in plans:
        assert target > 0
        by_scope[(scope, scope_id)].add(metric)
    assert {key[1] for key in by_scope if key[0] == "user"} == set(summary.rep_ids)
    assert {key[1] for key in by_scope if key[0] == "team"} == set(summary.team_ids)
    assert all(found == metrics for found in by_scope.values())
    # The team's target is the sum of its reps' targets.
    team_1 = {m: t for s, i, m, t in plans if (s, i) == ("team", "team-1")}
    reps_1 = sum(
        t
        for s, i, m, t in plans
        if s == "user" and m == "revenue" and i in {"rep-001", "rep-002", "rep-003", "rep-004"}
    )
    assert team_1["revenue"] == reps_1
    assert quarter > 0


def test_this_months_pace_tells_each_reps_story(engine):
    """Monday 23 November: 15 of November's 21 working days are behind us (Nov 1 is a Sunday)."""
    _demo(engine)
    elapsed = 15 / 21
    with engine.connect() as conn:
        calls = dict(
            conn.execute(
                select(Activity.owner_id, func.count())
                .where(
                    Activity.type == "call",
                    Activity.status == "done",
                    Activity.completed_at >= datetime(2026, 11, 1),
                )
                .group_by(Activity.owner_id)
            ).all()
        )
        targets = dict(
            conn.execute(
                select(Plan.scope_id, Plan.target).where(
                    Plan.period == "2026-11", Plan.scope == "user", Plan.metric == "calls"
                )
            ).all()
        )
    pace = {rep: calls[rep] / (float(targets[rep]) * elapsed) for rep in targets}
    assert pace["rep-002"] > 1.15  # the star is ahead
    assert pace["rep-003"] < 0.8  # the rep behind plan is behind
    assert 0.85 < pace["rep-001"] < 1.15  # the steady rep is on plan


def test_every_lead_walks_the_funnel_in_order_and_nothing_happens_after_now(engine):
    _demo(engine)
    with engine.connect() as conn:
        events = conn.execute(
            select(LeadStageEvent.lead_id, LeadStageEvent.stage, LeadStageEvent.entered_at)
        ).all()
        created = dict(conn.execute(select(Lead.lead_id, Lead.created_at)).all())
    journeys = defaultdict(list)
    for lead_id, stage, entered_at in events:
        assert entered_at < NOW
        journeys[lead_id].append((entered_at, stage))
    assert set(journeys) == set(created)
    for lead_id, journey in journeys.items():
        stages = [stage for _, stage in sorted(journey)]
        assert stages[0] == "lead" and sorted(journey)[0][0] == created[lead_id]
        if stages[-1] in ("lost", "disqualified"):
            stages = stages[:-1]
        assert stages == list(FUNNEL[: len(stages)]), (lead_id, stages)


def test_won_deals_close_after_they_open_and_bring_money(engine):
    _demo(engine)
    with engine.connect() as conn:
        won = conn.execute(
            select(Deal.created_at, Deal.closed_at, Deal.amount).where(Deal.status == "won")
        ).all()
        open_closed = conn.execute(
            select(func.count()).where(Deal.status == "open", Deal.closed_at.is_not(None))
        ).scalar_one()
    assert len(won) > 50
    assert all(created <= closed < NOW and amount > 0 for created, closed, amount in won)
    assert open_closed == 0


def test_the_demo_refuses_a_database_with_crm_data_unless_asked_to_replace_it(engine):
    _demo(engine)
    with pytest.raises(UserError, match="--replace"):
        _demo(engine)
    assert has_crm_data(engine)


def test_kpibot_demo_on_the_command_line(db_url, capsys):
    args = ["--db", db_url, "demo", "--scale", "tiny", "--seed", "3", "--today", "2026-11-23"]
    assert main(args) == 0
    assert "leads" in capsys.readouterr().out
    engine = make_engine(db_url)
    kept, live = kept_and_live_spans(engine, load_settings(env={}))  # the demo leaves its spans kept
    assert waiting_marks(engine) == 0 and kept == live and kept
    engine.dispose()

    assert main(args) == 1
    assert "--replace" in capsys.readouterr().err

    assert main([*args, "--replace"]) == 0
    assert "rep-008" in capsys.readouterr().out
