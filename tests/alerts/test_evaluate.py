"""The alert state machine, with plain values: a team's MQL rate alert (below 20 %, at least 20 leads, repeat
every 4 hours) watched through one Monday."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.rules.evaluate import AlertStatus, Contributor, Notice, Observation, condition_holds, evaluate
from alerts.rules.notices import notice_reply, top_contributors
from bot.reply.formatting import Formatter
from metrics.periods import parse_period
from storage.config.alerts import AlertRule

RULE = AlertRule(
    id="mql-rate",
    name="MQL rate",
    metric="funnel",
    measure="mql_rate",
    condition="below",
    threshold=20,
    min_sample=20,
    sample_measure="lead",
    repeat_every="4h",
)
NINE = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def seen(rate: float | None, leads: int = 40) -> Observation:
    return Observation("team:t-a", "Alpha", rate, sample=leads, unit="percent")


def test_fires_once_repeats_after_repeat_every_then_resolves():
    # 09:00: 6 of 40 leads became MQL (15.0 %) — below 20 %: the alert fires.
    first = evaluate(RULE, seen(0.15), AlertStatus(), NINE)
    assert first.outcome == "fired" and first.status.state == "firing"
    assert first.notice is not None and first.notice.kind == "fired"
    # 10:00 and 12:59: still below, inside the 4 hours: nothing is sent again.
    later = evaluate(RULE, seen(0.14), first.status, NINE + timedelta(hours=1))
    assert (later.outcome, later.notice) == ("firing", None)
    almost = evaluate(RULE, seen(0.14), later.status, NINE + timedelta(hours=3, minutes=59))
    assert almost.notice is None
    # 13:00: four hours after the first message: it repeats once.
    repeat = evaluate(RULE, seen(0.14), almost.status, NINE + timedelta(hours=4))
    assert repeat.outcome == "repeated" and repeat.notice is not None
    # 14:00: 9 of 40 (22.5 %): resolved, and the state is ok again.
    resolved = evaluate(RULE, seen(0.225), repeat.status, NINE + timedelta(hours=5))
    assert resolved.outcome == "resolved" and resolved.notice is not None
    assert resolved.notice.kind == "resolved" and resolved.status.state == "ok"
    # 15:00: still fine: quiet.
    assert evaluate(RULE, seen(0.25), resolved.status, NINE + timedelta(hours=6)).outcome == "quiet"


def test_below_the_minimum_sample_it_never_fires():
    # 1 MQL out of 10 leads is 10 %, but 10 leads are not enough to judge a conversion rate.
    result = evaluate(RULE, seen(0.10, leads=10), AlertStatus(), NINE)
    assert (result.outcome, result.notice, result.status.state) == ("skipped", None, "ok")


def test_snoozed_it_stays_quiet_and_speaks_again_after_the_snooze():
    snoozed = AlertStatus(snoozed_until=NINE + timedelta(hours=4))
    during = evaluate(RULE, seen(0.10), snoozed, NINE)
    assert (during.outcome, during.notice) == ("snoozed", None)
    assert during.status.state == "firing"  # the state machine keeps turning, silently
    after = evaluate(RULE, seen(0.10), during.status, NINE + timedelta(hours=4))
    assert after.outcome == "fired" and after.notice is not None
    assert after.status.snoozed_until is None


def test_acknowledged_it_does_not_repeat_until_it_resolves():
    fired = evaluate(RULE, seen(0.1), AlertStatus(), NINE).status
    acknowledged = AlertStatus(**{**fired.__dict__, "acknowledged_by": "mgr-a"})
    next_day = evaluate(RULE, seen(0.1), acknowledged, NINE + timedelta(days=1))
    assert (next_day.outcome, next_day.notice) == ("acknowledged", None)
    cleared = evaluate(RULE, seen(0.3), next_day.status, NINE + timedelta(days=1, hours=1))
    assert cleared.outcome == "resolved" and cleared.status.acknowledged_by is None


def test_muted_it_never_speaks():
    result = evaluate(RULE, seen(0.1), AlertStatus(muted=True), NINE)
    assert (result.outcome, result.notice) == ("muted", None)


def test_n_a_decides_nothing():
    firing = AlertStatus(state="firing", since=NINE, last_notified_at=NINE)
    result = evaluate(RULE, seen(None), firing, NINE + timedelta(hours=1))
    assert result.outcome == "skipped" and result.status.state == "firing"


def test_drops_by_compares_with_the_previous_value():
    rule = AlertRule(id="calls", metric="activity", measure="calls", condition="drops_by", threshold=30)
    # 100 calls last week, 69 now: a 31 % drop (≥ 30 %) fires; 71 (a 29 % drop) does not.
    assert condition_holds(rule, Observation("org", "Org", 69, previous=100)) is True
    assert condition_holds(rule, Observation("org", "Org", 71, previous=100)) is False
    assert condition_holds(rule, Observation("org", "Org", 71, previous=0)) is None


def test_the_message_says_value_threshold_and_who_moved_it():
    obs = Observation(
        "team:t-a",
        "Alpha",
        0.15,
        sample=40,
        unit="percent",
        contributors=(
            Contributor("rep-1", "Rita Rep", 0.10, 0.30),  # −20 pp
            Contributor("rep-2", "Rob Rep", 0.20, 0.25),  # −5 pp
            Contributor("rep-4", "Ray Rep", 0.30, 0.20),  # +10 pp: did not pull it down
        ),
    )
    movers, moved = top_contributors(RULE, obs.contributors)
    assert moved and [c.key for c in movers] == ["rep-1", "rep-2"]
    notice = evaluate(RULE, obs, AlertStatus(), NINE).notice
    assert notice is not None
    reply = notice_reply(
        RULE, notice, Formatter("en", "USD"), period=parse_period("this month", now=NINE, tz=ZoneInfo("UTC"))
    )
    text = reply.plain_text
    assert "MQL rate: 15.0%" in text and "20.0%" in text
    assert "Rita Rep (▼ 20.0 pp), Rob Rep (▼ 5.0 pp)" in text
    assert [a.command for a in reply.actions] == [
        "/alerts snooze mql-rate team:t-a 4h",
        "/alerts ack mql-rate team:t-a",
    ]  # the buttons are what the alert's readers (its team's manager) may do; muting is an admin's command


def test_the_footer_names_the_period_in_the_readers_words_with_its_dates():
    # It was the period's English label ("this month") for every reader, with no dates.
    notice = Notice("fired", Observation("team:t-a", "Alpha", 0.15, sample=40, unit="percent"))
    month = parse_period("this month", now=NINE, tz=ZoneInfo("UTC"))
    english = notice_reply(RULE, notice, Formatter("en", "USD"), period=month)
    russian = notice_reply(RULE, notice, Formatter("ru", "USD"), period=month)
    assert english.footer == "this month (Nov 1\u2009–\u200930, 2026)"
    assert russian.footer == "в этом месяце (1—30 нояб. 2026\u202fг.)"
    week = parse_period("last 7 days", now=NINE, tz=ZoneInfo("UTC"))  # no words of its own: the dates alone
    assert (
        notice_reply(RULE, notice, Formatter("en", "USD"), period=week).footer
        == "Nov 10\u2009–\u200916, 2026"
    )
