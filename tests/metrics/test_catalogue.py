"""The one door: comparisons of a period still in progress, and what the catalogue declares."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from metrics.catalogue import MetricQuery, catalogue, query
from storage.config.settings import Settings
from storage.errors import UserError
from storage.schema import Activity
from tests.fixtures.metrics_org import seed_people

SETTINGS = Settings()
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # Tuesday; November is 9.5 days old


def call(activity_id: str, day: datetime) -> dict:
    return dict(
        activity_id=activity_id,
        owner_id="rep-2",
        type="call",
        created_at=day,
        completed_at=day,
        status="done",
    )


@pytest.fixture
def db(engine):
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Activity),
            [
                call("a1", datetime(2026, 11, 3, 10)),
                call("a2", datetime(2026, 11, 9, 10)),
                call("a3", datetime(2026, 10, 3, 10)),  # within October's first 9.5 days
                call("a4", datetime(2026, 10, 10, 13)),  # just after the same point of October
                call("a5", datetime(2026, 10, 25, 10)),
            ],
        )
    return engine


def test_this_month_so_far_is_compared_with_the_same_days_of_last_month(db):
    result = query(db, SETTINGS, MetricQuery("activity", "rep-2", NOW, "this month", compare="prev"))
    calls = result.measure("calls")
    # November to the 10th 12:00: a1, a2 = 2; October to the 10th 12:00: a3 only (a4 is an hour later) = 1.
    assert (calls.value, calls.previous) == (2, 1)
    assert result.comparison_period is not None
    assert result.comparison_period.end == datetime(2026, 10, 10, 12, 0, tzinfo=UTC)


def test_a_finished_period_is_compared_with_the_whole_previous_one(db):
    result = query(db, SETTINGS, MetricQuery("activity", "rep-2", NOW, "last month", compare="prev"))
    # October: a3, a4, a5 = 3; September: none.
    assert (result.measure("calls").value, result.measure("calls").previous) == (3, 0)


def test_every_metric_is_declared_with_a_definition_and_unknown_ones_are_refused(db):
    names = {metric.name for metric in catalogue()}
    assert {"funnel", "activity", "plan", "retention", "cycle", "stages", "sql", "win_rate"} <= names
    assert {"revenue", "cac", "ltv", "roi", "email", "mrr", "cs"} <= names
    assert all(len(metric.description) > 40 for metric in catalogue())
    with pytest.raises(UserError, match="I don't know the metric 'blorp'"):
        query(db, SETTINGS, MetricQuery("blorp", "rep-2", NOW))


def test_weeks_are_compared_with_the_weeks_of_the_previous_period_in_order(db):
    result = query(
        db, SETTINGS, MetricQuery("activity", "rep-2", NOW, "last month", by="week", compare="prev")
    )
    first = result.rows[0]
    # October's first (partial) week, Oct 1-4, holds a3 (Oct 3); September's first week has nothing.
    assert first.key == "2026-W40"
    assert (first.measure("calls").value, first.measure("calls").previous) == (1, 0)
    assert all(row.measure("calls").previous is not None for row in result.rows)


def test_org_totals_open_to_reps_never_break_down_into_other_reps(db):
    from metrics.scope import Scope
    from storage.errors import PermissionDenied

    open_totals = Settings.model_validate({"org": {"reps_see_org_totals": True}})
    org = Scope("org")
    totals = query(db, open_totals, MetricQuery("activity", "rep-1", NOW, "last month", scope=org))
    assert totals.measure("calls").value == 3  # Rob's October calls are the whole org's
    for by in ("rep", "team"):
        with pytest.raises(PermissionDenied, match="by rep or team"):
            query(db, open_totals, MetricQuery("activity", "rep-1", NOW, "last month", scope=org, by=by))
    admin = query(db, SETTINGS, MetricQuery("activity", "admin", NOW, "last month", scope=org, by="rep"))
    assert {row.key for row in admin.rows} >= {"rep-2"}


def test_the_schedulers_identity_cannot_be_taken_by_a_crm_user_id(db):
    from metrics.scope import SYSTEM_VIEWER

    with pytest.raises(UserError, match="I don't know the user"):
        query(db, SETTINGS, MetricQuery("activity", SYSTEM_VIEWER.user_id, NOW, scope=None))
    whole = query(db, SETTINGS, MetricQuery("activity", "ignored", NOW, "last month"), viewer=SYSTEM_VIEWER)
    assert whole.scope.kind == "org"


# --- the work one question may ask for ---------------------------------------------------------------------------


def ask_activity(db, period: str, **fields):
    return query(db, SETTINGS, MetricQuery("activity", "rep-2", NOW, period, **fields))


def test_a_period_may_cover_ten_years_and_not_a_day_more(db):
    # 2016-12-01 up to and including 2026-11-30 is exactly ten calendar years: Rob's five calls, all of them.
    assert ask_activity(db, "2016-12-01..2026-11-30").measure("calls").value == 5
    assert ask_activity(db, "2016-12-01..2026-11-30", by="month", compare="prev").rows[-1].key == "2026-11"
    for period, extra in (("2016-11-30..2026-11-30", {}), ("1900-01-01..2100-12-31", {"by": "week"}),
                          ("2016-11-30..2026-11-30", {"compare": "year"})):  # fmt: skip
        with pytest.raises(UserError) as refused:
            ask_activity(db, period, **extra)
        assert refused.value.key == "period.too_long"
        assert str(refused.value) == "A period may cover at most 10 years; choose a shorter one."


def test_a_breakdown_has_at_most_200_weeks(db):
    # Monday 2023-01-02 plus 200 weeks (1,400 days) is Monday 2026-11-02: up to the Sunday before, 200 weeks.
    weekly = ask_activity(db, "2023-01-02..2026-11-01", by="week")
    assert (len(weekly.rows), weekly.rows[0].key, weekly.rows[-1].key) == (200, "2023-W01", "2026-W44")
    with pytest.raises(UserError) as refused:
        ask_activity(db, "2023-01-02..2026-11-02", by="week")
    assert refused.value.key == "breakdown.too_many_weeks"
    assert str(refused.value) == (
        "A breakdown may have at most 200 weeks; choose a shorter period or by month."
    )
    # The same days by month are 47 rows, January 2023 to November 2026.
    assert len(ask_activity(db, "2023-01-02..2026-11-02", by="month").rows) == 47
