"""Digests say how fresh the CRM data is: "data as of HH:MM" in the recipient's zone, and a warning when the last
successful sync finished longer ago than `data.stale_after` (or the deprecated `crm.stale_after`, 2 h by default)
— from hand-made `sync_runs` rows.

The digests are those of Tuesday 2026-11-17 09:00 UTC (tests/fixtures/alerts_org.py): Rob (rep-2) reads English in
UTC, Rita (rep-1) Russian in Moscow (UTC+3), Mia (mgr-a) English in UTC. Rob's digest without any sync:
"Yesterday: 3 activities done (3 calls, 0 meetings)" and "Revenue: 10.0% of plan, pace 19.1%".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from alerts.audience import load_people
from alerts.digests import banner, content, numbers, sections
from alerts.digests.content import DigestNumbers, FiringAlert, _formatter, _with_freshness, build_digest
from alerts.digests.run import run_digests
from bot.reply.messages import Reply
from storage.config.alerts import DIGEST_NAMES
from storage.config.crm import CrmSettings
from storage.config.settings import Settings
from storage.freshness import data_freshness
from storage.schema import SyncRun
from tests.fixtures.alerts_org import seed_november

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
ROB_LINES = ["Yesterday: 3 activities done (3 calls, 0 meetings)", "Revenue: 10.0% of plan, pace 19.1%"]


def _run(engine, status: str, started: datetime, finished: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(
                crm="salesforce",
                started_at=started,
                finished_at=finished,
                status=status,
                full=False,
                read=10,
                written=10,
                rejected=0,
                deleted=0,
                objects="[]",
                error="Lead: 503 Service Unavailable" if status == "failed" else None,
            )  # fmt: skip
        )


def _digests(engine, settings: Settings | None = None) -> dict[str, Reply]:
    result = run_digests(engine, settings or Settings(), NOW, platforms=("console",), dry_run=True)
    return {key.split(":")[2]: reply for key, reply in result.replies.items() if ":rep_daily:" in key}


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


def test_fresh_data_says_as_of_when_in_each_recipients_zone_and_language(engine):
    seed_november(engine)
    _run(engine, "ok", datetime(2026, 11, 17, 8, 30), datetime(2026, 11, 17, 8, 32))
    digests = _digests(engine)
    assert lines(digests["rep-2"]) == [*ROB_LINES, "Data as of 08:32"]
    assert lines(digests["rep-1"])[-1] == "Данные на 11:32"  # Moscow, UTC+3
    assert not any("⚠" in line for reply in digests.values() for line in lines(reply))


def test_exactly_stale_after_is_not_yet_stale(engine):
    seed_november(engine)
    _run(engine, "ok", datetime(2026, 11, 17, 6, 58), datetime(2026, 11, 17, 7, 0))  # 2 h before 09:00
    assert lines(_digests(engine)["rep-2"]) == [*ROB_LINES, "Data as of 07:00"]


def test_stale_data_opens_with_a_warning_since_when(engine):
    seed_november(engine)
    # Finished Monday 18:05 UTC, 14 h 55 min before the digests: older than 2 h. A run started after it is still
    # running: it does not make the data any fresher.
    _run(engine, "ok", datetime(2026, 11, 16, 18, 0), datetime(2026, 11, 16, 18, 5))
    _run(engine, "running", datetime(2026, 11, 17, 8, 55), None)
    digests = _digests(engine)
    assert lines(digests["rep-2"]) == [
        "⚠ The data is stale: not updated from the CRM since Nov 16, 2026 18:05.",
        *ROB_LINES,
        "Data as of Nov 16, 2026 18:05",
    ]
    rita = lines(digests["rep-1"])
    # 21:05 in Moscow, still Monday there; Babel writes "г." after a narrow no-break space.
    assert rita[0] == "⚠ Данные устарели: из CRM не обновлялись с 16 нояб. 2026\u202fг. 21:05."
    assert rita[-1] == "Данные на 16 нояб. 2026\u202fг. 21:05"


def test_a_failed_last_sync_leaves_the_data_as_of_the_older_good_one(engine):
    seed_november(engine)
    _run(engine, "ok", datetime(2026, 11, 17, 6, 30), datetime(2026, 11, 17, 6, 40))
    _run(engine, "failed", datetime(2026, 11, 17, 8, 45), datetime(2026, 11, 17, 8, 46))
    # 06:40 is 2 h 20 min before 09:00: stale by the default 2 h …
    assert lines(_digests(engine)["rep-2"]) == [
        "⚠ The data is stale: not updated from the CRM since 06:40.",
        *ROB_LINES,
        "Data as of 06:40",
    ]
    # … and not by 3 h; either way as of the good run's finish, not the failed one's.
    fresh = _digests(engine, Settings(crm=CrmSettings(stale_after="3h")))
    assert lines(fresh["rep-2"]) == [*ROB_LINES, "Data as of 06:40"]
    assert lines(fresh["rep-1"])[-1] == "Данные на 09:40"


def test_syncs_that_never_completed_warn_that_the_data_may_be_incomplete(engine):
    seed_november(engine)
    _run(engine, "failed", datetime(2026, 11, 17, 8, 45), datetime(2026, 11, 17, 8, 46))
    digests = _digests(engine)
    assert lines(digests["rep-2"]) == [
        "⚠ No CRM sync has completed yet: the data may be incomplete.",
        *ROB_LINES,
    ]
    assert lines(digests["rep-1"])[0] == (
        "⚠ Ни одна синхронизация с CRM ещё не завершилась: данные могут быть неполными."
    )


def test_data_imported_from_files_leaves_the_digests_as_they_were(engine):
    seed_november(engine)
    digests = _digests(engine)
    assert lines(digests["rep-2"]) == ROB_LINES
    assert not any("Данные" in line or "⚠" in line for line in lines(digests["rep-1"]))


def test_every_digest_carries_it(engine):
    seed_november(engine)
    _run(engine, "ok", datetime(2026, 11, 16, 18, 0), datetime(2026, 11, 16, 18, 5))
    settings = Settings()
    with engine.connect() as conn:
        people = load_people(conn)
        numbers = DigestNumbers(
            conn, settings, ZoneInfo("UTC"), date(2026, 11, 17), data_freshness(conn), NOW
        )
        assert "weekly_changes" in DIGEST_NAMES  # every digest there is, the weekly changes too
        for name in DIGEST_NAMES:
            text = lines(build_digest(name, people["mgr-a"], numbers, settings, people))
            assert text[0] == "⚠ The data is stale: not updated from the CRM since Nov 16, 2026 18:05.", name
            assert text[-1] == "Data as of Nov 16, 2026 18:05", name


def test_the_digest_helpers_keep_their_former_names_in_content():
    assert (DigestNumbers, FiringAlert) == (numbers.DigestNumbers, numbers.FiringAlert)
    assert (_with_freshness, _formatter) == (banner.with_freshness, sections.formatter)
    assert build_digest is content.build_digest and content._visible_reps is sections.visible_reps
