"""Digests: due at 09:00 in each recipient's own zone (including the days Berlin changes its clocks), never on a
holiday, caught up after downtime, and made of a few grouped queries sliced to what each recipient may see."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event, insert

from alerts.audience import Person, load_people
from alerts.delivery.console import ConsoleSender
from alerts.delivery.outbox import drain_outbox
from alerts.digests.run import Choice, due_digests, run_digests
from storage.config.alerts import DigestConfig, DigestsSettings
from storage.config.settings import DeliverySettings, OrgSettings, Settings
from storage.schema import User
from tests.fixtures.alerts_org import seed_november

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def rep(user_id: str, zone: str) -> Person:
    return Person(user_id, user_id, "rep", "t-a", zone, "en", None, None)


PEOPLE = {
    p.user_id: p
    for p in (rep("berlin", "Europe/Berlin"), rep("ny", "America/New_York"), rep("tokyo", "Asia/Tokyo"))
}


def first_due(settings: Settings, start: datetime, hours: int, choices=None) -> dict[str, datetime]:
    """Run the schedule every 15 minutes from `start`; when did each (digest, person, day) first come due?"""
    seen: dict[str, datetime] = {}
    now = start
    while now < start + timedelta(hours=hours):
        for item in due_digests(settings, PEOPLE, choices or {}, now, only=("rep_daily",)):
            seen.setdefault(item.key, now)
        now += timedelta(minutes=15)
    return seen


def every_day() -> Settings:
    return Settings(digests=DigestsSettings(rep_daily=DigestConfig(weekdays=EVERY_DAY)))


def test_nine_local_in_three_zones_on_the_spring_dst_day():
    # Sunday 2026-03-29 Berlin moves from CET (UTC+1) to CEST (UTC+2); New York is already on EDT (UTC−4);
    # Tokyo has no DST (UTC+9). 09:00 local is 08:00 UTC in Berlin on Saturday and 07:00 UTC on Sunday.
    seen = first_due(every_day(), datetime(2026, 3, 27, 12, tzinfo=UTC), 61)
    assert seen["digest:rep_daily:berlin:2026-03-28"] == datetime(2026, 3, 28, 8, tzinfo=UTC)
    assert seen["digest:rep_daily:berlin:2026-03-29"] == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert seen["digest:rep_daily:ny:2026-03-28"] == datetime(2026, 3, 28, 13, tzinfo=UTC)
    assert seen["digest:rep_daily:ny:2026-03-29"] == datetime(2026, 3, 29, 13, tzinfo=UTC)
    assert seen["digest:rep_daily:tokyo:2026-03-29"] == datetime(2026, 3, 29, 0, tzinfo=UTC)
    assert seen["digest:rep_daily:tokyo:2026-03-30"] == datetime(2026, 3, 30, 0, tzinfo=UTC)


def test_nine_local_in_three_zones_on_the_autumn_dst_day():
    # Sunday 2026-10-25 Berlin goes back from CEST to CET: 07:00 UTC on Saturday, 08:00 UTC on Sunday.
    seen = first_due(every_day(), datetime(2026, 10, 23, 12, tzinfo=UTC), 60)
    assert seen["digest:rep_daily:berlin:2026-10-24"] == datetime(2026, 10, 24, 7, tzinfo=UTC)
    assert seen["digest:rep_daily:berlin:2026-10-25"] == datetime(2026, 10, 25, 8, tzinfo=UTC)
    assert seen["digest:rep_daily:ny:2026-10-25"] == datetime(2026, 10, 25, 13, tzinfo=UTC)  # EDT until Nov 1
    assert seen["digest:rep_daily:tokyo:2026-10-25"] == datetime(2026, 10, 25, 0, tzinfo=UTC)


def test_working_days_only_and_nothing_on_holidays():
    # Default weekdays Monday–Friday; Monday 2026-11-16 is a company holiday.
    settings = Settings(org=OrgSettings(holidays=(date(2026, 11, 16),)))
    seen = first_due(settings, datetime(2026, 11, 13, 0, tzinfo=UTC), 5 * 24)
    berlin_days = sorted(key.rsplit(":", 1)[1] for key in seen if ":berlin:" in key)
    assert berlin_days == ["2026-11-13", "2026-11-17"]  # Friday, then Tuesday: no weekend, no holiday


def test_a_users_own_time_and_unsubscribe():
    choices = {("berlin", "rep_daily"): Choice(True, "07:30"), ("ny", "rep_daily"): Choice(False, None)}
    seen = first_due(Settings(), datetime(2026, 11, 17, 0, tzinfo=UTC), 24, choices)
    assert seen == {
        "digest:rep_daily:berlin:2026-11-17": datetime(2026, 11, 17, 6, 30, tzinfo=UTC),  # 07:30 CET
        "digest:rep_daily:tokyo:2026-11-17": datetime(2026, 11, 17, 0, 0, tzinfo=UTC),  # 09:00 JST
    }


def test_a_missed_slot_is_caught_up_within_the_window_only():
    settings = Settings(delivery=DeliverySettings(catch_up_hours=6))
    # Down from 07:00 to 12:30 UTC: Berlin's 08:00 UTC slot is 4.5 hours old: still sent.
    late = due_digests(settings, PEOPLE, {}, datetime(2026, 11, 17, 12, 30, tzinfo=UTC), only=("rep_daily",))
    assert "digest:rep_daily:berlin:2026-11-17" in {d.key for d in late}
    # Back only at 14:30: 6.5 hours late, that morning's digest is no longer news.
    later = due_digests(settings, PEOPLE, {}, datetime(2026, 11, 17, 14, 30, tzinfo=UTC), only=("rep_daily",))
    assert "digest:rep_daily:berlin:2026-11-17" not in {d.key for d in later}


def _send_all(engine, now, tmp_path) -> dict[str, dict]:
    out = tmp_path / "out.jsonl"
    asyncio.run(drain_outbox(engine, {"console": ConsoleSender(out)}, now))
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return {f"{m['chat_id']}|{m['title'].split(' ·')[0]}": m for m in lines}


def test_tuesday_morning_digests_with_grouped_queries(engine, tmp_path):
    seed_november(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    # 09:00 UTC Tuesday: due for the UTC people (Rob, Mia, Max) and Rita in Moscow (06:00 UTC); Rae in New York
    # gets hers at 14:00 UTC.
    now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    result = run_digests(engine, Settings(), now, platforms=("console",))
    assert sorted(result.queued) == [
        "digest:rep_daily:rep-1:2026-11-17",
        "digest:rep_daily:rep-2:2026-11-17",
        "digest:team_digest:mgr-a:2026-11-17",
        "digest:team_digest:mgr-b:2026-11-17",
    ]
    sent = _send_all(engine, now, tmp_path)

    rob = sent["rep-2|Your day"]["text"]
    assert "Yesterday: 3 activities done (3 calls, 0 meetings)" in rob
    assert "Revenue: 10.0% of plan, pace 19.1%" in rob
    assert "Rita" not in rob

    mia = sent["mgr-a|Team digest"]
    assert "Yesterday: 6 activities done by 2 reps" in mia["text"]
    assert mia["table"][1:] == [["Rita Rep", "3", "2", "1"], ["Rob Rep", "3", "3", "0"]]
    assert "Leads 4 (▲ 100.0%" in mia["text"]
    assert "25.0% of plan, pace 47.7%" in mia["text"]
    assert "Behind pace: Rob Rep (19.1%), Rita Rep (76.4%)" in mia["text"]
    assert "Rae" not in mia["text"]  # another team

    max_ = sent["mgr-b|Team digest"]
    assert max_["table"][1:] == [["Rae Rep", "1", "1", "0"]]

    # A second pass (another instance, a restart) queues nothing new.
    again = run_digests(engine, Settings(), now + timedelta(minutes=1), platforms=("console",))
    assert again.queued == [] and len(again.already) == 4
    # New York's 09:00 is 14:00 UTC.
    ny = run_digests(engine, Settings(), datetime(2026, 11, 17, 14, 0, tzinfo=UTC), platforms=("console",))
    assert ny.queued == ["digest:rep_daily:rep-3:2026-11-17"]


def test_more_recipients_do_not_mean_more_queries(engine):
    seed_november(engine)
    now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)

    def statements_of_a_pass() -> tuple[int, int]:
        seen: list[str] = []

        def record(*args):
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        result = run_digests(engine, Settings(), now, platforms=("console",), dry_run=True)
        event.remove(engine, "before_cursor_execute", record)
        return len(result.replies), len(seen)

    digests_before, queries_before = statements_of_a_pass()
    # Five more reps join Alpha, in UTC like Rob: five more digests, and Mia's grows by five rows.
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                dict(user_id=f"rep-x{i}", name=f"Rep X{i}", role="rep", team_id="t-a", timezone="UTC")
                for i in range(5)
            ],
        )
    digests_after, queries_after = statements_of_a_pass()
    assert (digests_before, digests_after) == (4, 9)
    assert queries_after == queries_before


def test_people_are_loaded_with_their_rights(engine):
    seed_november(engine)
    with engine.connect() as conn:
        people = load_people(conn)
    assert people["mgr-a"].report_ids == {"rep-1", "rep-2"}
    assert people["rep-1"].may_see("rep-1") and not people["rep-1"].may_see("rep-2")
    assert people["admin"].may_see("rep-3")


def test_after_a_holiday_the_morning_digest_reports_the_last_working_day(engine, tmp_path):
    seed_november(engine)
    # Tuesday the 17th is a holiday: on Wednesday morning Rob reads about Monday, not about the empty holiday.
    settings = Settings.model_validate({"org": {"holidays": ["2026-11-17"]}})
    now = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    run_digests(engine, settings, now, platforms=("console",))
    rob = _send_all(engine, now, tmp_path)["rep-2|Your day"]["text"]
    assert "On Nov 16, 2026: 3 activities done (3 calls, 0 meetings)" in rob
