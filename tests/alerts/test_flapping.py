"""No flapping: `for` (evaluations in a row before a rule fires) and `clear_threshold` (a second line it must get
past to resolve), with plain values and then through hourly alert passes on SQLite and PostgreSQL.

The store story is Bravo's calls yesterday (tests/fixtures/alerts_org.py: Rae, rep-3, made 1 call on Monday
2026-11-16), watched on Tuesday from 08:00 to 20:00 every hour while Rae's late entries move the number:

    08  09  10  11  12  13  14  15  16  17  18  19  20
     3   5   3   5   3   3   5   3   5   3   5   3   7      (below 4 fires; `clears above 6`)

Without `for` and `clear_threshold` every dip below 4 fires and every step back to 5 resolves: fired at 08, 10, 12,
15, 17 and 19 (13 is still firing), resolved at 09, 11, 14, 16, 18 and 20 — 6 firings, 6 resolutions, 12
messages to Bravo's manager. With `for: 2` and `clear_threshold: 6` the single dips (08, 10, 12) stay pending, the
second dip in a row (13) fires, 5 is not past 6 so it keeps firing, and only 7 at 20:00 resolves: 2 messages.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, insert, select

from alerts.rules.evaluate import AlertStatus, Notice, Observation, evaluate
from alerts.rules.notices import notice_reply
from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.formatting import Formatter
from bot.reply.messages import Request
from metrics.periods import parse_period
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import Settings, load_settings
from storage.schema import Activity, AlertRun, AlertState, ImportRun
from tests.fixtures.alerts_org import seed_november

NINE = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
MQL = dict(id="mql-rate", metric="funnel", measure="mql_rate", condition="below", threshold=20, every="1h")


def mql_rule(**changes) -> AlertRule:
    return AlertRule.model_validate(MQL | changes)


def seen(rate: float, previous: float | None = None) -> Observation:
    return Observation("team:t-a", "Alpha", rate, previous=previous, unit="percent")


def walk(rule: AlertRule, rates: list[float], status: AlertStatus | None = None) -> list[str]:
    """The outcomes of evaluating `rates` one hour apart from 09:00."""
    status = status or AlertStatus()
    outcomes = []
    for hour, rate in enumerate(rates):
        evaluation = evaluate(rule, seen(rate), status, NINE + timedelta(hours=hour))
        assert (evaluation.notice is None) == (evaluation.outcome not in ("fired", "repeated", "resolved"))
        outcomes.append(evaluation.outcome)
        status = evaluation.status
    return outcomes


def test_for_2_fires_on_the_second_breach_in_a_row_and_a_single_dip_sends_nothing():
    rule = mql_rule(**{"for": 2})
    # 18 % is one dip (pending, then back to 21 %: quiet); 17 % and 16 % are two in a row: fired on the second.
    assert walk(rule, [0.18, 0.21, 0.17, 0.16, 0.15]) == ["pending", "quiet", "pending", "fired", "firing"]


def test_a_breach_count_survives_between_evaluations_only_through_the_state():
    rule = mql_rule(**{"for": 3})
    first = evaluate(rule, seen(0.18), AlertStatus(), NINE)
    assert (first.outcome, first.status.breaches, first.status.state) == ("pending", 1, "ok")
    # n/a decides nothing: the count stays at 1 …
    unknown = evaluate(rule, Observation("team:t-a", "Alpha", None), first.status, NINE + timedelta(hours=1))
    assert (unknown.outcome, unknown.status.breaches) == ("skipped", 1)
    # … so two more breaches make three in a row.
    second = evaluate(rule, seen(0.18), unknown.status, NINE + timedelta(hours=2))
    third = evaluate(rule, seen(0.18), second.status, NINE + timedelta(hours=3))
    assert (second.outcome, third.outcome, third.status.breaches) == ("pending", "fired", 3)


def test_clear_threshold_keeps_it_firing_between_the_lines_and_it_repeats_there_as_anywhere_while_firing():
    rule = mql_rule(clear_threshold=23, repeat_every="2h")
    # 09:00 19 % fires; 10:00 21 % is not above 23 %: firing, an hour since the message; 11:00 23 % (on the line,
    # not past it) is still firing and two hours have passed: repeated; 12:00 19 % an hour later: firing;
    # 13:00 23.5 % resolves.
    assert walk(rule, [0.19, 0.21, 0.23, 0.19, 0.235]) == [
        "fired",
        "firing",
        "repeated",
        "firing",
        "resolved",
    ]


def test_between_the_lines_an_acknowledged_or_snoozed_firing_stays_quiet():
    rule = mql_rule(clear_threshold=23, repeat_every="1h")
    firing = AlertStatus(state="firing", since=NINE, last_notified_at=NINE, breaches=1)
    later = NINE + timedelta(hours=2)
    acked = evaluate(rule, seen(0.21), replace(firing, acknowledged_by="mgr-a"), later)
    snoozed = evaluate(rule, seen(0.21), replace(firing, snoozed_until=later + timedelta(hours=1)), later)
    assert (acked.outcome, acked.notice, acked.status.state) == ("acknowledged", None, "firing")
    assert (snoozed.outcome, snoozed.notice, snoozed.status.breaches) == ("snoozed", None, 0)


def test_an_oscillating_rate_fires_once_with_for_and_clear_threshold_and_every_time_without():
    # 19/21 % around the 20 % line, hourly: without, 4 firings and 4 resolutions; with `for: 2` and
    # `clear_threshold: 23` the first two single dips stay pending, 19-19 fires, and nothing until 24 %.
    rates = [0.19, 0.21, 0.19, 0.21, 0.19, 0.19, 0.21, 0.19, 0.24]
    plain = walk(mql_rule(repeat_every="1d"), rates)
    assert plain.count("fired") == 4 and plain.count("resolved") == 4
    steady = walk(mql_rule(repeat_every="1d", clear_threshold=23, **{"for": 2}), rates)
    assert steady == [
        "pending",
        "quiet",
        "pending",
        "quiet",
        "pending",
        "fired",
        "firing",
        "firing",
        "resolved",
    ]


def test_a_pending_breach_under_a_snooze_fires_once_the_snooze_is_over():
    rule = mql_rule(**{"for": 2})
    snoozed = AlertStatus(snoozed_until=NINE + timedelta(hours=2))
    # 09:00 pending (one breach), 10:00 the second breach while snoozed: firing silently; 11:00 snooze over: fired.
    assert walk(rule, [0.18, 0.18, 0.18], snoozed) == ["pending", "snoozed", "fired"]
    assert walk(rule, [0.18, 0.18, 0.18], AlertStatus(muted=True)) == ["pending", "muted", "muted"]


def test_drops_by_and_above_and_pace_below_draw_their_clearing_line_on_their_own_side():
    drop = AlertRule(id="d", metric="activity", condition="drops_by", threshold=30, clear_threshold=10)
    # From 100: 60 is a 40 % drop (fires), 80 a 20 % drop (not under 10 %: firing), 95 a 5 % drop (resolved).
    status = AlertStatus()
    outcomes = []
    for value in (60.0, 80.0, 95.0):
        result = evaluate(drop, Observation("org", "Org", value, previous=100.0), status, NINE)
        outcomes.append(result.outcome)
        status = result.status
    assert outcomes == ["fired", "firing", "resolved"]
    above = AlertRule(id="a", metric="activity", condition="above", threshold=10, clear_threshold=8)
    counts = [Observation("org", "Org", v) for v in (11.0, 9.0, 7.0)]
    status, outcomes = AlertStatus(), []
    for observation in counts:
        result = evaluate(above, observation, status, NINE)
        outcomes.append(result.outcome)
        status = result.status
    assert outcomes == ["fired", "firing", "resolved"]
    pace = AlertRule(id="p", metric="plan", condition="pace_below", threshold=80, clear_threshold=90)
    assert walk(pace, [0.79, 0.85, 0.91]) == ["fired", "firing", "resolved"]


def test_clear_threshold_on_a_percent_above_rule_is_drawn_in_percent():
    # "Discount share above 50 %, clears below 40 %": the lines are 0.50 and 0.40 against fractions.
    rule = mql_rule(condition="above", threshold=50, clear_threshold=40, repeat_every="1d")
    # 55 % fires; 45 % and 40 % (on the clearing line, not past it) stay firing; 39 % resolves; 45 % is quiet
    # (not above 50 %); 51 % fires again.
    assert walk(rule, [0.55, 0.45, 0.40, 0.39, 0.45, 0.51]) == [
        "fired",
        "firing",
        "firing",
        "resolved",
        "quiet",
        "fired",
    ]
    reply = notice_reply(
        rule,
        Notice("fired", seen(0.55)),
        Formatter("en", "USD"),
        period=parse_period("this month", now=NINE, tz=ZoneInfo("UTC")),
    )
    assert "".join(span.text for span in reply.lines[1]) == "Clears below 40.0%"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"for": 0}, "alert mql-rate: `for` counts evaluations in a row, 1 or more, not 0"),
        ({"clear_threshold": 18}, "alert mql-rate: clear_threshold of a `below` rule must be above the "
                                  "threshold 20, not 18"),
        ({"condition": "above", "clear_threshold": 25}, "alert mql-rate: clear_threshold of an `above` rule must "
                                                        "be below the threshold 20, not 25"),
        ({"condition": "drops_by", "clear_threshold": 30}, "alert mql-rate: clear_threshold of a drops_by rule is "
                                                           "a smaller drop, from 0 to under the threshold 20, not 30"),
        # On the threshold itself it is no second line, and a value exactly on it would never resolve.
        ({"clear_threshold": 20}, "alert mql-rate: clear_threshold of a `below` rule must be above the "
                                  "threshold 20, not 20"),
        ({"condition": "pace_below", "clear_threshold": 20}, "clear_threshold of a `pace_below` rule must be "
                                                             "above the threshold 20, not 20"),
        ({"condition": "above", "clear_threshold": 20}, "alert mql-rate: clear_threshold of an `above` rule must "
                                                        "be below the threshold 20, not 20"),
        ({"condition": "drops_by", "clear_threshold": 20}, "from 0 to under the threshold 20, not 20"),
    ],
)  # fmt: skip
def test_a_bad_for_or_clear_threshold_is_one_line_naming_the_rule(change, message):
    with pytest.raises(ValidationError) as refused:
        mql_rule(**change)
    assert message in str(refused.value)


def test_kpibot_yaml_takes_for_and_clear_threshold(tmp_path):
    config = tmp_path / "kpibot.yaml"
    config.write_text(
        "alerts:\n  - {id: mql-rate, metric: funnel, measure: mql_rate, condition: below, threshold: 20,\n"
        "     clear_threshold: 23, for: 2, every: 1h}\n",
        encoding="utf-8",
    )
    [rule] = load_settings(config, env={}).alerts
    assert (rule.for_runs, rule.clear_threshold) == (2, 23)
    assert mql_rule(for_runs=3).for_runs == 3  # by its Python name too


# --- through the store ----------------------------------------------------------------------------------------

CALLS = dict(id="bravo-calls", name="Calls yesterday", metric="activity", measure="calls", condition="below",
             threshold=4, scope="team", teams=["t-b"], period="yesterday", every="1h", repeat_every="1d")  # fmt: skip
EIGHT = datetime(2026, 11, 17, 8, 0, tzinfo=UTC)
BRAVO_CALLS = [3, 5, 3, 5, 3, 3, 5, 3, 5, 3, 5, 3, 7]  # 08:00 … 20:00, see the module docstring


def set_bravo_calls(engine, calls: int) -> None:
    """Rae's call count on Monday (1 in the fixture) brought to `calls` by late entries."""
    at = datetime(2026, 11, 16, 15)
    with engine.begin() as conn:
        conn.execute(delete(Activity).where(Activity.activity_id.like("late-%")))
        if calls > 1:
            conn.execute(
                insert(Activity),
                [
                    dict(activity_id=f"late-{i}", owner_id="rep-3", type="call", created_at=at, due_at=at,
                         completed_at=at, status="done")
                    for i in range(calls - 1)
                ],
            )  # fmt: skip


def imported_at(engine, finished: datetime) -> None:
    """An import of activities that wrote rows, finished at `finished` (what says how fresh the data is)."""
    with engine.begin() as conn:
        conn.execute(
            insert(ImportRun).values(table_name="activities", source="activities.csv", started_at=finished,
                                     finished_at=finished, status="ok", read=1, written=1, rejected=0)
        )  # fmt: skip


def hourly(engine, rule: AlertRule) -> tuple[list[str], list[str]]:
    """Each hour's outcome for Bravo, and every notice queued."""
    settings = Settings(alerts=[rule])
    outcomes, queued = [], []
    for hour, calls in enumerate(BRAVO_CALLS):
        set_bravo_calls(engine, calls)
        result = run_alerts(engine, settings, EIGHT + timedelta(hours=hour), platforms=("console",))
        [(_, scope, outcome)] = result.evaluations
        assert scope == "team:t-b"
        outcomes.append(outcome)
        queued += result.queued
    return outcomes, queued


def test_without_for_and_clear_threshold_an_oscillating_count_fires_six_times(engine):
    seed_november(engine)
    outcomes, queued = hourly(engine, AlertRule.model_validate(CALLS))
    assert outcomes.count("fired") == 6 and outcomes.count("resolved") == 6
    assert outcomes[4:6] == ["fired", "firing"]  # 12:00 and 13:00, both 3
    assert len(queued) == 12 and all(key.endswith(":mgr-b") for key in queued)


def test_with_for_2_and_clear_threshold_6_it_fires_once_and_resolves_once(engine):
    seed_november(engine)
    rule = AlertRule.model_validate(CALLS | {"for": 2, "clear_threshold": 6})
    outcomes, queued = hourly(engine, rule)
    assert outcomes == ["pending", "quiet", "pending", "quiet", "pending", "fired"] + ["firing"] * 6 + [
        "resolved"
    ]
    assert queued == [
        "alert:bravo-calls:team:t-b:fired:2026-11-17T13:00:00:mgr-b",
        "alert:bravo-calls:team:t-b:resolved:2026-11-17T20:00:00:mgr-b",
    ]
    with engine.connect() as conn:
        logged = conn.execute(select(AlertRun.outcome).order_by(AlertRun.evaluated_at)).scalars().all()
        breaches = conn.execute(select(AlertState.breaches)).scalar_one()
    assert logged == outcomes  # every evaluation is logged, pending ones too
    assert breaches == 0  # 7 at 20:00 did not breach


def test_the_breach_count_is_kept_in_the_store_between_passes(engine):
    seed_november(engine)
    rule = AlertRule.model_validate(CALLS | {"for": 2})
    settings = Settings(alerts=[rule])
    set_bravo_calls(engine, 3)
    first = run_alerts(engine, settings, EIGHT, platforms=("console",))
    with engine.connect() as conn:
        assert conn.execute(select(AlertState.state, AlertState.breaches)).one() == ("ok", 1)
    assert first.queued == []
    # The next pass (another process, after a restart: all it knows is in the store) sees the second breach.
    second = run_alerts(engine, settings, EIGHT + timedelta(hours=1), platforms=("console",))
    assert second.evaluations == [("bravo-calls", "team:t-b", "fired")] and len(second.queued) == 1


def test_alerts_lists_for_and_the_clearing_line_in_both_languages(engine):
    seed_november(engine)
    rules = [
        mql_rule(name="MQL rate", clear_threshold=23, **{"for": 2}),
        AlertRule(id="calls-up", name="Calls", metric="activity", condition="above", threshold=50,
                  clear_threshold=40),
        AlertRule(id="calls-drop", name="Calls drop", metric="activity", condition="drops_by", threshold=40,
                  clear_threshold=10, **{"for": 3}),
        AlertRule(id="plain", name="Plain", metric="activity", condition="below", threshold=4),
    ]  # fmt: skip
    conversation = Conversation(engine, Settings(alerts=rules), build_registry())
    now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)

    def listing(locale: str) -> list[str]:
        reply = conversation.handle(Request("console", "/alerts", now, "mgr-a", locale=locale))
        return ["".join(span.text for span in line) for line in reply.lines]

    english = listing("en")
    assert english[:4] == [
        "mql-rate — MQL rate: below 20 · for 2 runs · clears above 23 · ok",
        "calls-up — Calls: above 50 · clears below 40 · ok",
        "calls-drop — Calls drop: drops by 40 · for 3 runs · clears when the drop is under 10 · ok",
        "plain — Plain: below 4 · ok",
    ]
    russian = listing("ru")
    assert russian[0] == (
        "mql-rate — Доля MQL: ниже 20 · проверок подряд: 2 · снимается при значении выше 23 · в норме"
    )
    assert russian[1] == "calls-up — Calls: выше 50 · снимается при значении ниже 40 · в норме"
    assert russian[2].endswith("· проверок подряд: 3 · снимается, когда падение меньше 10 · в норме")


def test_alerts_shows_breaches_short_of_for_as_pending_in_both_languages(engine):
    seed_november(engine)
    rules = [mql_rule(name="MQL rate", **{"for": 2}), AlertRule.model_validate(CALLS | {"for": 3})]
    with engine.begin() as conn:
        conn.execute(insert(AlertState), [
            # One breach of two for Alpha; Bravo's calls two of three; an ok state with no breach says nothing.
            dict(rule_id="mql-rate", scope_key="team:t-a", state="ok", breaches=1, muted=False),
            dict(rule_id="bravo-calls", scope_key="team:t-b", state="ok", breaches=2, muted=False),
            dict(rule_id="bravo-calls", scope_key="team:t-a", state="ok", breaches=0, muted=False),
        ])  # fmt: skip
    conversation = Conversation(engine, Settings(alerts=rules), build_registry())

    def listing(user: str, locale: str) -> list[str]:
        reply = conversation.handle(Request("console", "/alerts", EIGHT, user, locale=locale))
        return ["".join(span.text for span in line) for line in reply.lines][:2]

    assert listing("admin", "en") == [
        "mql-rate — MQL rate: below 20 · for 2 runs · pending 1 of 2: team:t-a",
        "bravo-calls — Calls yesterday: below 4 · for 3 runs · pending 2 of 3: team:t-b",
    ]
    assert listing("admin", "ru")[0] == (
        "mql-rate — Доля MQL: ниже 20 · проверок подряд: 2 · нарушений подряд 1 из 2: team:t-a"
    )
    # Alpha's manager does not see Bravo's count: for them Bravo's rule is ok.
    assert listing("mgr-a", "en")[1] == "bravo-calls — Calls yesterday: below 4 · for 3 runs · ok"


def test_the_fired_notice_says_how_many_runs_in_a_row_and_where_it_clears_in_both_languages():
    rule = mql_rule(name="MQL rate", clear_threshold=23, **{"for": 2})
    notice = Notice("fired", seen(0.18))

    def text(kind: str, locale: str, shown: AlertRule = rule) -> list[str]:
        reply = notice_reply(
            shown,
            replace(notice, kind=kind),
            Formatter(locale, "USD"),
            period=parse_period("this month", now=NINE, tz=ZoneInfo("UTC")),
        )
        return ["".join(span.text for span in line) for line in reply.lines]

    # The line under the value: `for: 2` and the clearing line, in the threshold's unit (percent here).
    assert text("fired", "en")[1] == "Condition held for 2 runs in a row · clears above 23.0%"
    assert (
        text("fired", "ru")[1] == "Условие держится 2 проверки подряд · снимается при значении выше 23,0\xa0%"
    )
    assert "Condition held" not in "".join(text("repeated", "en") + text("resolved", "en"))
    plain = mql_rule(name="MQL rate")
    assert not any("held" in line or "clears" in line for line in text("fired", "en", plain))
    five = mql_rule(name="MQL rate", **{"for": 5})
    assert text("fired", "ru", five)[1] == "Условие держится 5 проверок подряд"


def test_a_stale_pass_neither_counts_a_breach_nor_resets_the_count(engine):
    seed_november(engine)
    settings = Settings(alerts=[AlertRule.model_validate(CALLS | {"for": 2})])
    set_bravo_calls(engine, 3)  # below 4 at every pass
    assert run_alerts(engine, settings, EIGHT, platforms=("console",)).evaluations == [
        ("bravo-calls", "team:t-b", "pending")
    ]
    # The only import on record finished on Saturday, so the 09:00 pass finds the data stale.
    imported_at(engine, datetime(2026, 11, 14, 14, 0))
    nine = run_alerts(engine, settings, EIGHT + timedelta(hours=1), platforms=("console",))
    assert nine.evaluations == [("bravo-calls", "*", "stale")]
    with engine.connect() as conn:
        assert conn.execute(select(AlertState.state, AlertState.breaches)).one() == ("ok", 1)
    # 09:50 a fresh import: at 10:00 the breach is the second in a row (the stale 09:00 did not count), so it fires.
    imported_at(engine, datetime(2026, 11, 17, 9, 50))
    ten = run_alerts(engine, settings, EIGHT + timedelta(hours=2), platforms=("console",))
    assert ten.evaluations == [("bravo-calls", "team:t-b", "fired")]
    with engine.connect() as conn:
        assert conn.execute(select(AlertState.state, AlertState.breaches)).one() == ("firing", 2)
