"""Every KPI the core computes in SQL equals what the pandas reference computes from SPEC's formulas.

The tiny demo organisation (seed 7) is asked, on Wednesday 2026-11-18 at 10:00 UTC, by the admin (the whole
organisation, Berlin time), by the Mid-Market manager mgr-2 (their four reps, New York time) and by rep-004
(themselves, Moscow time), about last month and this month. A few hand-made rows of rep-004 (edge_rows.py) add the
corners the generator never makes: skipped stages, a lead back after "lost", boundaries of the retention and
new-customer windows, a referral, a team plan made of its members' rows. The reference reads the same tables with
pandas and works each number out the plain way; they must agree to 1e-9, counts exactly, and "n/a" where the other says n/a.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from metrics.catalogue import MetricQuery, query
from metrics.result import MetricResult
from storage.config.settings import Settings, load_settings
from storage.db import make_engine, upgrade
from storage.demo.generate import generate_demo
from storage.schema import Lead, LeadStageEvent, User
from tests.conftest import BACKENDS, POSTGRES_URL
from tests.crosscheck import reference as ref
from tests.crosscheck import reference_customers as customers
from tests.crosscheck import reference_sales as sales
from tests.crosscheck.edge_rows import add_edge_rows

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
VIEWERS = ("admin", "mgr-2", "rep-004")
PERIODS = {"last month": 1, "this month": 0}
CASES = [(viewer, period) for viewer in VIEWERS for period in PERIODS]
CASE_IDS = [f"{viewer}-{period.replace(' ', '_')}" for viewer, period in CASES]


@dataclass(frozen=True)
class Demo:
    """The demo organisation in one store, and the reference's copy of its tables."""

    engine: Engine
    settings: Settings
    frames: ref.Frames


@dataclass(frozen=True)
class Question:
    """Who asks about which period, as the reference sees it: their window, scope kind, owners and team ids."""

    viewer: str
    period: str
    window: ref.Window
    kind: str  # org / team / rep
    owners: tuple[str, ...] | None
    ids: tuple[str, ...]  # the rep, or the teams they lead


def _private_postgres() -> Iterator[str]:
    """A PostgreSQL database of this module's own, so the demo is built once and no other test empties it."""
    assert POSTGRES_URL
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kpibot_crosscheck_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory) -> Iterator[Demo]:
    """The tiny demo org with the corner cases of edge_rows on top, built once per backend for the whole module."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path_factory.mktemp('crosscheck') / 'demo.db'}"])
    else:
        urls = _private_postgres()
    url = next(urls)
    engine = make_engine(url)
    try:
        upgrade(engine)
        generate_demo(engine, scale="tiny", seed=7, today=date(2026, 11, 18))
        add_edge_rows(engine)
        yield Demo(engine, load_settings(config_path=None, env={}), ref.load_frames(engine))
    finally:
        engine.dispose()
        next(urls, None)  # a PostgreSQL database is dropped here


def _question(demo: Demo, viewer: str, period: str) -> Question:
    window = ref.month_window(NOW, ref.viewer_zone(demo.frames, demo.settings, viewer), PERIODS[period])
    owners = ref.owners_in_scope(demo.frames, viewer)
    if owners is None:
        return Question(viewer, period, window, "org", None, ())
    if owners == (viewer,):
        return Question(viewer, period, window, "rep", owners, owners)
    teams = demo.frames.teams
    led = tuple(teams.loc[teams["manager_id"] == viewer, "team_id"])
    return Question(viewer, period, window, "team", owners, led)


def _ask(demo: Demo, q: Question, metric: str, mode: str | None = None) -> MetricResult:
    result = query(demo.engine, demo.settings, MetricQuery(metric, q.viewer, NOW, q.period, mode=mode))  # type: ignore[arg-type]
    assert (result.period.start, result.period.end) == (q.window.start_local, q.window.end_local)
    assert result.scope.owner_ids == q.owners
    return result


def assert_same_numbers(result: MetricResult, expected: dict) -> None:
    """The core's measures equal the reference's: counts exactly, n/a where n/a, the rest to 1e-9."""
    got = {}
    for key in expected:
        value = result.measure(key).value
        got[key] = float(value) if isinstance(value, Decimal) else value
    assert {k for k, v in got.items() if v is None} == {k for k, v in expected.items() if v is None}
    counts = {k for k in expected if result.measure(k).unit == "count" and expected[k] is not None}
    assert {k: got[k] for k in counts} == {k: expected[k] for k in counts}
    numbers = {k: v for k, v in expected.items() if v is not None}
    assert {k: got[k] for k in numbers} == pytest.approx(numbers, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_funnel_cohort_counts_each_stage_and_step_rate_like_spec(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = ref.funnel_cohort(demo.frames, demo.settings, q.window, q.owners)
    assert expected["lead"] > 0
    assert_same_numbers(_ask(demo, q, "funnel", "cohort"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_funnel_flow_counts_stage_entries_in_the_period(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = ref.funnel_flow(demo.frames, demo.settings, q.window, q.owners)
    assert_same_numbers(_ask(demo, q, "funnel", "flow"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_sql_report_counts_sqls_and_costs_them_simple_and_lagged(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = ref.sql_report(demo.frames, demo.settings, q.window, q.owners)
    if q.kind == "org":
        assert expected["spend"] > 0 and expected["spend_lagged"] > 0
    assert_same_numbers(_ask(demo, q, "sql"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_win_rate_close_rate_and_leads_per_deal(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = ref.win_rates(demo.frames, q.window, q.owners)
    assert_same_numbers(_ask(demo, q, "win_rate"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_activity_counts_completion_overdue_and_qualifying_calls(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = sales.activity(demo.frames, demo.settings, q.window, q.owners)
    assert expected["activities"] > 0 and expected["overdue"] > 0
    assert_same_numbers(_ask(demo, q, "activity"), expected)


def _plan_lines(demo, q, metrics) -> dict[str, dict | None]:
    """The reference's plan line of each metric for the question's month, None where nothing is planned."""
    month = q.window.first_day.strftime("%Y-%m")
    lines: dict[str, dict | None] = {}
    for metric in metrics:
        target = sales.plan_target(demo.frames, q.kind, q.ids, month, metric)
        lines[metric] = (
            None
            if target is None
            else sales.plan_line(demo.frames, demo.settings, q.window, q.owners, target, metric)
        )
    return lines


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_plan_actual_target_attainment_and_pace_over_working_days(demo, viewer, period):
    q = _question(demo, viewer, period)
    result = _ask(demo, q, "plan")
    expected: dict = {}
    for metric, line in _plan_lines(demo, q, sales.PLAN_METRICS).items():
        if line is None:  # no plan line at all (activities are planned for October only)
            assert not [m for m in result.measures if m.key.startswith(f"{metric}.")]
            continue
        expected |= line
    assert_same_numbers(result, expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_activity_vs_plan_matches_the_plan_lines(demo, viewer, period):
    q = _question(demo, viewer, period)
    result = _ask(demo, q, "activity")
    expected = {}
    for metric, line in _plan_lines(demo, q, ("calls", "meetings", "activities")).items():
        if line is None:
            assert f"{metric}_attainment" not in {m.key for m in result.measures}
            continue
        expected[f"{metric}_attainment"] = line[f"{metric}.attainment"]
        expected[f"{metric}_pace"] = line[f"{metric}.pace"]
    assert_same_numbers(result, expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_customer_retention_rate_with_start_end_new_and_repeat_purchases(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = customers.retention(demo.frames, demo.settings, q.window, q.owners)
    assert expected["start_customers"] > 0
    assert_same_numbers(_ask(demo, q, "retention"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_net_and_gross_mrr_retention(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = customers.mrr_retention(demo.frames, q.window, q.owners)
    assert expected["mrr_start"] > 0
    assert_same_numbers(_ask(demo, q, "mrr"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_sales_cycle_median_and_mean_days(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = sales.sales_cycle(demo.frames, q.window, q.owners)
    assert_same_numbers(_ask(demo, q, "cycle"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_revenue_and_new_revenue(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = customers.revenue(demo.frames, demo.settings, q.window, q.owners)
    assert_same_numbers(_ask(demo, q, "revenue"), expected)


@pytest.mark.parametrize(("viewer", "period"), CASES, ids=CASE_IDS)
def test_customer_success_referrals_tickets_and_onboardings(demo, viewer, period):
    q = _question(demo, viewer, period)
    expected = customers.customer_success(demo.frames, demo.settings, q.window, q.owners)
    assert_same_numbers(_ask(demo, q, "cs"), expected)


@pytest.mark.parametrize("period", PERIODS)
def test_cac_roi_and_email_growth_for_the_organisation(demo, period):
    q = _question(demo, "admin", period)
    assert_same_numbers(_ask(demo, q, "cac"), customers.cac(demo.frames, q.window))
    roi = customers.campaign_roi(demo.frames, q.window)
    assert roi["spend"] > 0
    assert_same_numbers(_ask(demo, q, "roi"), roi)
    assert_same_numbers(_ask(demo, q, "email"), customers.email_growth(demo.frames, q.window))


def test_flow_counts_a_lead_in_the_month_it_was_created_even_if_the_crm_dated_its_mql_earlier(engine):
    """A marketing tool scored L1 as an MQL on 28 September; sales created the lead on 5 October (the importer
    accepts both rows). SPEC 1: "a lead's lead stage is entered at created_at", so October's flow has 1 lead entry
    and no MQL entry, and September's has the MQL but no lead — as /winrate's "new leads" (created in the period)
    already says. The core answers October: 0 leads, September: 1 lead, 1 MQL."""
    with engine.begin() as conn:
        conn.execute(insert(User).values(user_id="boss", name="Boss", role="admin", timezone="UTC"))
        conn.execute(
            insert(Lead).values(lead_id="L1", created_at=datetime(2026, 10, 5, 10, 0), owner_id="boss")
        )
        conn.execute(
            insert(LeadStageEvent).values(lead_id="L1", stage="mql", entered_at=datetime(2026, 9, 28, 10, 0))
        )
    settings = load_settings(config_path=None, env={})
    frames = ref.load_frames(engine)

    def flow(period: str) -> tuple[dict, dict]:
        window = ref.month_window(NOW, ZoneInfo("UTC"), 1 if period == "2026-10" else 2)
        expected = ref.funnel_flow(frames, settings, window, None)
        got = query(engine, settings, MetricQuery("funnel", "boss", NOW, period, mode="flow"))
        return {k: got.measure(k).value for k in ("lead", "mql")}, {k: expected[k] for k in ("lead", "mql")}

    assert flow("2026-10")[1] == {"lead": 1, "mql": 0}
    assert flow("2026-09")[1] == {"lead": 0, "mql": 1}
    assert flow("2026-10")[0] == flow("2026-10")[1]
    assert flow("2026-09")[0] == flow("2026-09")[1]
    winrate = query(engine, settings, MetricQuery("win_rate", "boss", NOW, "2026-10"))
    sql = query(engine, settings, MetricQuery("sql", "boss", NOW, "2026-10"))
    assert sql.measure("leads").value == winrate.measure("leads").value == 1
