"""The digest and alert configuration: the shipped example loads, and mistakes are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.reply.formatting import Formatter
from storage.config.alerts import AlertRule, parse_duration
from storage.config.milestones import MilestoneRule
from storage.config.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_configuration_loads():
    settings = load_settings(ROOT / "kpibot.example.yaml", env={})
    assert [rule.id for rule in settings.alerts] == [
        "plan-pace",
        "mql-rate",
        "calls-drop",
        "win-rate-org",
        "my-calls",
    ]
    nudge = settings.alerts[-1]
    assert (nudge.scope, nudge.target, nudge.also) == ("each rep", "each rep", "managers")
    assert settings.alerts[1].quiet_hours is True and settings.alerts[0].quiet_hours is False
    hours = settings.delivery.working_hours
    assert (hours.start, hours.end, hours.enabled) == ("08:00", "20:00", True)
    assert settings.digests.team_digest.time == "08:30"
    assert settings.digests.weekly_plan.weekday_numbers == {0}
    mql = settings.alerts[1]
    assert (mql.for_runs, mql.clear_threshold) == (2, 23)
    assert settings.stale_after.total_seconds() == 2 * 3600
    weekly = settings.digests.weekly_changes
    assert (weekly.min_change_pct, weekly.min_change_pts, weekly.min_sample, weekly.min_row_sample) == (
        20,
        5,
        10,
        5,
    )
    assert [(m.id, m.levels, m.target) for m in settings.milestones] == [
        ("revenue-milestones", (50.0, 90.0, 100.0), "telegram:-1001234567890")
    ]


def test_weekly_changes_and_milestones_by_default():
    settings = Settings()
    weekly = settings.digests.weekly_changes
    assert (weekly.enabled, weekly.weekday_numbers, weekly.audience) == (True, {0}, "managers")
    assert settings.milestones == []
    with pytest.raises(ValidationError):
        MilestoneRule(id="m", levels=(0, 50))
    with pytest.raises(ValidationError):
        MilestoneRule(id="m", target="nowhere")
    assert MilestoneRule(id="m", levels=(100, 50, 90)).levels == (50.0, 90.0, 100.0)


def test_the_example_copied_onto_the_demo_keeps_its_dollars_dollars():
    # The demo's amounts are US dollars (the default currency); kpibot only formats money, it never converts, so an
    # example in euros would show $1,000 of demo revenue as €1,000.
    example = load_settings(ROOT / "kpibot.example.yaml", env={})
    assert example.org.currency == Settings().org.currency == "USD"
    assert Formatter("en", example.org.currency).money(1000) == "$1,000"


def test_defaults_work_without_a_file():
    settings = Settings()
    assert settings.digests.rep_daily.time == "09:00" and settings.digests.rep_daily.audience == "reps"
    assert {rule.id for rule in settings.alerts} == {"plan-pace", "mql-rate"}


@pytest.mark.parametrize(
    "change",
    [{"every": "soon"}, {"cron": "not a cron"}, {"target": "nowhere"}, {"id": "Has Spaces"}, {"every": None}],
)
def test_a_bad_rule_is_refused(change):
    rule = dict(id="r", metric="funnel", condition="below", threshold=1, every="15m") | change
    with pytest.raises(ValidationError):
        AlertRule(**rule)


@pytest.mark.parametrize(
    "change",
    [
        {"target": "each rep"},  # a rep's own alert needs a rule about each rep
        {"scope": "each rep", "also": "managers"},  # the managers' list goes with target: each rep
        {"scope": "each rep", "target": "each rep", "also": "admins"},
    ],
)
def test_a_nudge_rule_needs_its_scope_and_target(change):
    rule = dict(id="r", metric="activity", condition="below", threshold=1, every="15m") | change
    with pytest.raises(ValidationError):
        AlertRule(**rule)


@pytest.mark.parametrize("hours", [{"start": "8am"}, {"end": "25:00"}, {"start": "20:00", "end": "08:00"}])
def test_working_hours_must_be_a_window_of_the_day(hours):
    with pytest.raises(ValidationError):
        Settings(delivery={"working_hours": hours})


def test_durations():
    assert parse_duration("90m").total_seconds() == 5400 and parse_duration("1d").days == 1


def test_an_environment_variable_named_like_a_section_is_not_read_as_one(monkeypatch):
    # `DATA=/srv/data` is common on servers; the `data:` section comes from kpibot.yaml only.
    monkeypatch.setenv("DATA", "/srv/data")
    monkeypatch.setenv("CRM", "salesforce")
    assert Settings().data.stale_after is None and Settings().crm.stale_after.total_seconds() == 7200
    assert load_settings(env={"DATA": "/srv/data"}).stale_after.total_seconds() == 7200
