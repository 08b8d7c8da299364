"""Plan milestones beyond the plain month: quarter and year rules, levels edited in the middle of a period, a level
reached in a period's last hours, a pass without rules or on stale data, and what a rule may say.

Enterprise's won deals before December (tests/fixtures/weekly_org.py): Oct 28 5 × 1,000, Nov 18 12 × 1,000, Nov 25
3 × 1,000 + 4 × 2,000: 28,000 in 2026 and in its Q4. The plans of the quarter and the year are added here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import event, insert

from alerts.rules.milestones import run_milestones
from storage.config.milestones import MilestoneRule
from storage.config.settings import Settings
from storage.schema import ImportRun, Plan
from tests.fixtures.weekly_org import seed_weekly_org, won_deal

CHAT = "telegram:-100500"


def at(month: int, day: int, hour: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def _plans(engine, *rows: tuple[str, int]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Plan), [dict(period=period, scope="team", scope_id="t-ent", metric="revenue",
                                          target=Decimal(target)) for period, target in rows])  # fmt: skip


def test_quarter_and_year_rules(engine):
    seed_weekly_org(engine)
    _plans(engine, ("2026-Q4", 40000), ("2026", 100000))
    quarter = MilestoneRule(id="q", teams=("t-ent",), period="quarter", target=CHAT)
    year = MilestoneRule(id="y", teams=("t-ent",), period="year", target=CHAT)
    settings = Settings(milestones=[quarter, year])
    # Dec 2: Q4 28,000 / 40,000 = 70 %, past 50 %; the year 28,000 / 100,000 = 28 %, nothing. The year rule used to
    # fail on every pass (a date given where the year was expected).
    first = run_milestones(engine, settings, at(12, 2))
    assert first.errors == {}
    assert first.queued == [f"milestone:q:t-ent:2026-Q4:50:{CHAT}"]
    # Dec 4: 25,000 more: Q4 53,000 = 132.5 % (100 %), the year 53 % (50 %).
    won_deal(engine, "dec-big", "rep-liam", at(12, 4, 10), 25000)
    assert run_milestones(engine, settings, at(12, 4)).queued == [
        f"milestone:q:t-ent:2026-Q4:100:{CHAT}",
        f"milestone:y:t-ent:2026:50:{CHAT}",
    ]


def test_levels_edited_mid_month_do_not_announce_again(engine):
    seed_weekly_org(engine)
    # Dec 4: 19,000 of 20,000 = 95 %: 90 % is told.
    won_deal(engine, "dec-1", "rep-liam", at(12, 4, 10), 19000)
    rule = MilestoneRule(id="revenue", teams=("t-ent",), target=CHAT)
    assert run_milestones(engine, Settings(milestones=[rule]), at(12, 4)).queued == [
        f"milestone:revenue:t-ent:2026-12:90:{CHAT}"
    ]
    # The admin edits the levels to 50, 85, 100: 95 % passes 85 %, but 90 % was told already this month.
    edited = rule.model_copy(update={"levels": (50.0, 85.0, 100.0)})
    again = run_milestones(engine, Settings(milestones=[edited]), at(12, 5))
    assert again.queued == [] and again.already == [f"milestone:revenue:t-ent:2026-12:85:{CHAT}"]


def test_a_level_reached_late_in_the_month_is_told_after_it(engine):
    seed_weekly_org(engine)
    rule = MilestoneRule(id="revenue", teams=("t-ent",), target=CHAT)
    settings = Settings(milestones=[rule])  # delivery.catch_up_hours 6
    # Dec 31 at 22:00 Liam wins 11,000: 55 % of December's 20,000. No pass runs before midnight; at 02:00 on
    # Jan 1 (2 hours after December ended) December's 50 % is still told.
    won_deal(engine, "dec-late", "rep-liam", at(12, 31, 22), 11000)
    assert settings.delivery.catch_up_hours == 6
    late = run_milestones(engine, settings, at(1, 1, 2, year=2027))
    assert late.queued == [f"milestone:revenue:t-ent:2026-12:50:{CHAT}"]


def test_too_late_to_catch_up(engine):
    seed_weekly_org(engine)
    settings = Settings(milestones=[MilestoneRule(id="revenue", teams=("t-ent",), target=CHAT)])
    won_deal(engine, "dec-late", "rep-liam", at(12, 31, 22), 11000)
    # Jan 1 at 07:00 is 7 hours after December ended, past the 6 of catch_up_hours: December is not looked at.
    assert run_milestones(engine, settings, at(1, 1, 7, year=2027)).queued == []


def test_no_rules_no_questions(engine):
    seed_weekly_org(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    result = run_milestones(engine, Settings(), at(12, 4))
    assert result.queued == [] and result.errors == {}
    assert statements == []  # not even the people


def test_stale_data_announces_nothing(engine):
    seed_weekly_org(engine)
    settings = Settings(milestones=[MilestoneRule(id="revenue", teams=("t-ent",), target=CHAT)])
    won_deal(engine, "dec-1", "rep-liam", at(12, 4, 10), 11000)  # 55 %
    # The last import finished an hour more than data.stale_after before the pass.
    finished = (at(12, 4) - settings.stale_after - timedelta(hours=1)).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(insert(ImportRun), [dict(table_name="deals", source="deals.csv", started_at=finished,
                                              finished_at=finished, status="ok", written=1)])  # fmt: skip
    result = run_milestones(engine, settings, at(12, 4))
    assert result.stale and result.queued == [] and result.due == []


def test_an_unknown_team_is_a_warning(engine):
    seed_weekly_org(engine)
    rule = MilestoneRule(id="revenue", teams=("t-ent", "t-enterprise"), target=CHAT)
    result = run_milestones(engine, Settings(milestones=[rule]), at(12, 4))
    assert result.warnings == ["milestone revenue: no team t-enterprise"]


@pytest.mark.parametrize(
    "options",
    [
        dict(locale="de"),
        dict(target="telegram:"),
        dict(target="slack: "),
        dict(target="dm:"),
        dict(target="fax:1"),
    ],
)
def test_what_a_rule_may_not_say(options):
    with pytest.raises(ValidationError):
        MilestoneRule(id="m", **options)


def test_what_a_rule_may_say():
    assert MilestoneRule(id="m", target="slack:C0123", locale="ru").locale == "ru"
    assert MilestoneRule(id="m", target="dm:mgr-e").target == "dm:mgr-e"
