"""Stale data is never reported as news: an alert rule on data older than `data.stale_after` is not evaluated (one
`stale` row in `alert_runs`, the state kept, nothing sent) and a digest opens with "data as of …".

The clock is Tuesday 2026-11-17 10:00 UTC (alert passes) or 09:00 UTC (digests); the org is the November fixture
(tests/fixtures/alerts_org.py), in which Bravo made 1 call yesterday, so "calls yesterday below 4" fires for Bravo
whenever it is evaluated. The data's age comes from hand-made `import_runs` and `sync_runs` rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update

from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.crm import CrmSettings
from storage.config.data import DataSettings
from storage.config.settings import Settings, load_settings
from storage.freshness import Freshness, data_freshness
from storage.schema import AlertRun, AlertState, ImportRun, OutboxMessage, SyncRun
from tests.alerts.test_freshness import ROB_LINES, _digests, lines
from tests.fixtures.alerts_org import seed_november

TEN = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
CALLS = AlertRule(id="calls-yesterday", name="Calls yesterday", metric="activity", measure="calls",
                  condition="below", threshold=4, scope="team", teams=("t-b",), period="yesterday", every="15m")  # fmt: skip


def imported(
    engine, finished: datetime, status: str = "ok", table: str = "activities", written: int = 7
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(ImportRun).values(table_name=table, source=f"{table}.csv", started_at=finished,
                                     finished_at=finished, status=status, read=7, written=written, rejected=0)
        )  # fmt: skip


def synced(engine, crm: str, finished: datetime, status: str = "ok", written: int = 1) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(crm=crm, started_at=finished, finished_at=finished, status=status, full=False,
                                   read=1, written=written, rejected=0, deleted=0, objects="[]")
        )  # fmt: skip


def rob(digests: dict[str, Reply]) -> list[str]:
    return lines(digests["rep-2"])


def test_an_import_three_days_old_skips_the_rule_keeps_its_state_and_sends_nothing(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 14, 14, 0))  # Saturday 14:00, 2 d 20 h before the pass
    with engine.begin() as conn:  # Bravo's alert was firing already
        conn.execute(insert(AlertState).values(rule_id=CALLS.id, scope_key="team:t-b", state="firing",
                                               since=datetime(2026, 11, 14, 10), breaches=4, last_value=1.0))  # fmt: skip
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "*", "stale")] and result.queued == []
    with engine.connect() as conn:
        run = conn.execute(select(AlertRun)).one()
        state = conn.execute(select(AlertState)).one()
        assert conn.execute(select(OutboxMessage)).first() is None
    assert (run.scope_key, run.outcome, run.state, run.value) == ("*", "stale", "stale", None)
    assert run.error == "data as of 2026-11-14 14:00 UTC (last import), older than data.stale_after 2:00:00"
    assert (state.state, state.breaches, state.last_value) == ("firing", 4, 1.0)
    # The slot counts as evaluated: the same pass again does nothing more.
    assert run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",)).evaluations == []


def test_a_dry_run_on_stale_data_says_stale_and_writes_nothing(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 14, 14, 0))
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",), dry_run=True)
    assert result.evaluations == [("calls-yesterday", "*", "stale")]
    with engine.connect() as conn:
        assert conn.execute(select(AlertRun)).first() is None


def test_an_import_an_hour_old_is_fresh_the_rule_fires(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 17, 9, 0))
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "team:t-b", "fired")]


def test_the_stale_digest_opens_with_data_as_of_the_last_import_in_each_readers_zone_and_language(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 14, 14, 0))
    digests = _digests(engine)
    assert rob(digests) == [
        "⚠ Data as of Nov 14, 2026 14:00 (last import): nothing newer has come in.",
        *ROB_LINES,
    ]
    # Rita reads Russian in Moscow: 17:00 there. Babel writes "г." after a narrow no-break space.
    assert lines(digests["rep-1"])[0] == (
        "⚠ Данные на 14 нояб. 2026\u202fг. 17:00 (последний импорт): ничего новее не загружалось."
    )


def test_a_fresh_import_ends_the_digest_with_data_as_of(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 17, 8, 0))
    digests = _digests(engine)
    assert rob(digests) == [*ROB_LINES, "Data as of 08:00 (last import)"]
    assert lines(digests["rep-1"])[-1] == "Данные на 11:00 (последний импорт)"


def test_with_a_crm_synced_the_last_sync_decides_and_an_import_newer_than_it_does_not_count(engine):
    seed_november(engine)
    synced(engine, "salesforce", datetime(2026, 11, 16, 18, 5))  # stale by itself …
    imported(engine, datetime(2026, 11, 17, 8, 30))  # … and a file since does not refresh the CRM's deals
    digest = rob(_digests(engine))
    assert digest[0] == "⚠ The data is stale: not updated from the CRM since Nov 16, 2026 18:05."
    assert digest[-1] == "Data as of Nov 16, 2026 18:05"
    synced(engine, "salesforce", datetime(2026, 11, 17, 8, 45))  # the sync is fresh again
    assert rob(_digests(engine)) == [*ROB_LINES, "Data as of 08:45"]


def test_a_plans_import_today_does_not_make_a_crm_three_days_behind_fresh(engine):
    # The last good Salesforce sync is Saturday's; Monday's failed; today a plans.csv of 0 rows came in.
    seed_november(engine)
    synced(engine, "salesforce", datetime(2026, 11, 14, 14, 0))
    synced(engine, "salesforce", datetime(2026, 11, 16, 14, 0), status="failed", written=0)
    imported(engine, datetime(2026, 11, 17, 9, 30), table="plans", written=0)
    with engine.connect() as conn:
        assert data_freshness(conn) == Freshness(datetime(2026, 11, 14, 14, 0, tzinfo=UTC), "sync")
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "*", "stale")] and result.queued == []


def test_a_users_import_does_not_hide_that_no_crm_sync_has_completed(engine):
    seed_november(engine)
    synced(engine, "salesforce", datetime(2026, 11, 17, 8, 0), status="failed", written=0)
    imported(engine, datetime(2026, 11, 17, 8, 30), table="users", written=12)
    imported(
        engine, datetime(2026, 11, 17, 8, 40), table="deals", written=30
    )  # a CRM is synced: imports wait
    with engine.connect() as conn:
        assert data_freshness(conn) == Freshness(None, "sync")
    assert rob(_digests(engine))[0] == "⚠ No CRM sync has completed yet: the data may be incomplete."
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "*", "stale")]


def test_without_a_crm_only_imports_that_wrote_fact_rows_count(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 14, 14, 0))  # 7 activities on Saturday: the last that counts
    imported(engine, datetime(2026, 11, 17, 8, 10), table="plans", written=40)  # not a fact table
    imported(engine, datetime(2026, 11, 17, 8, 20), table="users", written=3)  # nor this
    imported(
        engine, datetime(2026, 11, 17, 8, 30), table="deals", written=0
    )  # a fact table, but nothing written
    imported(engine, datetime(2026, 11, 17, 8, 40), status="refused", written=0)  # refused: nothing written
    synced(engine, "hubspot-export", datetime(2026, 11, 17, 8, 50), written=0)  # an export import of nothing
    with engine.connect() as conn:
        assert data_freshness(conn) == Freshness(datetime(2026, 11, 14, 14, 0, tzinfo=UTC), "import")
    assert (
        rob(_digests(engine))[0]
        == "⚠ Data as of Nov 14, 2026 14:00 (last import): nothing newer has come in."
    )
    imported(engine, datetime(2026, 11, 17, 8, 55), table="orders", written=2)
    assert rob(_digests(engine)) == [*ROB_LINES, "Data as of 08:55 (last import)"]


def test_only_dimension_imports_on_record_leave_the_age_unknown(engine):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 10, 8, 0), table="users", written=12)
    with engine.connect() as conn:
        assert data_freshness(conn) is None


def test_an_old_export_import_does_not_hold_a_live_synced_store_stale(engine):
    # `kpibot import --from salesforce` logs its run as `salesforce-export`: an import, not a second CRM whose
    # last run (a week ago) would be the least recent sync and make the data stale forever.
    seed_november(engine)
    synced(engine, "salesforce-export", datetime(2026, 11, 10, 9, 0))
    synced(engine, "salesforce", datetime(2026, 11, 17, 8, 32))
    with engine.connect() as conn:
        assert data_freshness(conn) == Freshness(datetime(2026, 11, 17, 8, 32, tzinfo=UTC), "sync")
    assert rob(_digests(engine)) == [*ROB_LINES, "Data as of 08:32"]


def test_an_export_import_alone_counts_as_the_last_import(engine):
    seed_november(engine)
    synced(engine, "sugarcrm-export", datetime(2026, 11, 17, 7, 15))
    assert rob(_digests(engine)) == [*ROB_LINES, "Data as of 07:15 (last import)"]


def test_no_sync_and_no_import_on_record_is_unknown_not_stale(engine):
    # The demo organisation (generated, not imported) and stores filled before imports were logged.
    seed_november(engine)
    with engine.connect() as conn:
        assert data_freshness(conn) is None
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "team:t-b", "fired")]


def test_data_stale_after_wins_over_the_deprecated_crm_stale_after(engine, tmp_path):
    seed_november(engine)
    imported(engine, datetime(2026, 11, 14, 14, 0))  # 2 d 19 h before the digests at 09:00
    assert Settings().stale_after == CrmSettings().stale_after  # 2 h, the default
    fallback = Settings(crm=CrmSettings(stale_after="3d"))  # the old key still serves …
    assert rob(_digests(engine, fallback)) == [*ROB_LINES, "Data as of Nov 14, 2026 14:00 (last import)"]
    config = tmp_path / "kpibot.yaml"
    config.write_text("crm: {stale_after: 3d}\ndata: {stale_after: 1d}\n", encoding="utf-8")
    both = load_settings(config, env={})  # … unless data.stale_after is set
    assert both.stale_after.days == 1 and both.data == DataSettings(stale_after="1d")
    assert rob(_digests(engine, both))[0].startswith("⚠ Data as of Nov 14, 2026 14:00 (last import)")


def test_syncs_that_never_completed_are_no_ground_for_an_alert_either(engine):
    seed_november(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(crm="salesforce", started_at=datetime(2026, 11, 17, 9, 0), status="running",
                                   full=True, read=0, written=0, rejected=0, deleted=0)
        )  # fmt: skip
    result = run_alerts(engine, Settings(alerts=[CALLS]), TEN, platforms=("console",))
    assert result.evaluations == [("calls-yesterday", "*", "stale")]
    with engine.connect() as conn:
        reason = conn.execute(select(AlertRun.error)).scalar_one()
    assert reason == "no CRM sync has completed yet"


def test_alerts_says_while_the_data_is_stale_that_no_rule_is_evaluated_in_both_languages(engine):
    seed_november(engine)
    later = AlertRule(
        id="later", name="Later", metric="activity", condition="below", threshold=4, every="15m"
    )
    settings = Settings(alerts=[CALLS, later])
    conversation = Conversation(engine, settings, build_registry())

    def listing(locale: str = "en") -> list[str]:
        reply = conversation.handle(Request("console", "/alerts", TEN, "admin", locale=locale))
        return lines(reply)[:2]

    imported(engine, datetime(2026, 11, 17, 9, 30))  # fresh: Bravo's calls are evaluated and fire
    first = Settings(alerts=[CALLS])  # `later` is added after this pass
    assert run_alerts(engine, first, datetime(2026, 11, 17, 9, 45, tzinfo=UTC), platforms=("console",)).queued
    assert listing()[0] == "calls-yesterday — Calls yesterday: below 4 · firing: team:t-b"
    with (
        engine.begin() as conn
    ):  # as if nothing had come in since Saturday: the 10:00 pass finds the data stale
        conn.execute(update(ImportRun).values(finished_at=datetime(2026, 11, 14, 14, 0)))
    assert run_alerts(engine, settings, TEN, platforms=("console",)).evaluations == [
        ("calls-yesterday", "*", "stale"),
        ("later", "*", "stale"),
    ]
    # The last evaluation on fresh data was the 09:45 slot; `later` never had one. Firing stays as it was.
    assert listing() == [
        "calls-yesterday — Calls yesterday: below 4 · firing: team:t-b · not evaluated since 2026-11-17 09:45 UTC "
        "(data as of 2026-11-14 14:00 UTC)",
        "later — Later: below 4 · not evaluated yet (data as of 2026-11-14 14:00 UTC)",
    ]
    assert listing("ru")[1] == "later — Later: ниже 4 · ещё не проверялось (данные на 2026-11-14 14:00 UTC)"
    assert listing("ru")[0].endswith(
        "· не проверяется с 2026-11-17 09:45 UTC (данные на 2026-11-14 14:00 UTC)"
    )


def test_alerts_says_no_crm_sync_has_completed_when_none_has(engine):
    seed_november(engine)
    synced(engine, "salesforce", datetime(2026, 11, 17, 9, 0), status="failed", written=0)
    conversation = Conversation(engine, Settings(alerts=[CALLS]), build_registry())
    reply = conversation.handle(Request("console", "/alerts", TEN, "admin"))
    assert lines(reply)[0] == (
        "calls-yesterday — Calls yesterday: below 4 · not evaluated yet (no CRM sync has completed yet)"
    )
