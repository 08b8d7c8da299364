"""The team digest compares like with like, names teams by name, and speaks its reader's language — also when
previewed with /digest in a language other than the stored one."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import insert, update

from alerts.digests.run import run_digests
from alerts.rules.run import run_alerts
from bot.conversation import Conversation
from bot.reply.formatting import Formatter
from bot.reply.messages import Request
from metrics.periods import range_period
from run_bot import build_registry
from storage.config.alerts import AlertRule
from storage.config.settings import Settings
from storage.schema import Lead, User
from tests.fixtures.alerts_org import seed_november
from tests.fixtures.metrics_org import seed_people

# Wednesday 2026-12-02, 09:00 UTC: Mia (UTC) gets her team digest; the month so far is Tuesday Dec 1, one working day.
WEDNESDAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
# Alpha's leads (Rita rep-1, Rob rep-2), all at noon UTC:
#   Tue Dec 1: 3 (Rita 2, Rob 1)
#   Sun Nov 1: 1, Mon Nov 2: 1 — November up to its first working day (Nov 2) holds 2 leads
#   Tue Nov 3: 4 — after that day, so not compared
# Leads 3 vs 2: ▲ 50.0 %. Compared with Sunday Nov 1 alone (the same calendar days) it would read ▲ 200.0 %,
# with the whole of November (6 leads) ▼ 50.0 %.
LEADS = [
    ("d1-a", "rep-1", datetime(2026, 12, 1, 12)),
    ("d1-b", "rep-1", datetime(2026, 12, 1, 12)),
    ("d1-c", "rep-2", datetime(2026, 12, 1, 12)),
    ("n1", "rep-1", datetime(2026, 11, 1, 12)),
    ("n2", "rep-2", datetime(2026, 11, 2, 12)),
    *((f"n3-{i}", "rep-1", datetime(2026, 11, 3, 12)) for i in range(4)),
]


def _seed_december(engine) -> None:
    seed_people(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Lead), [dict(lead_id=i, owner_id=o, created_at=at, source="email") for i, o, at in LEADS]
        )


def _team_digest(engine, settings: Settings, now: datetime, manager: str = "mgr-a") -> str:
    result = run_digests(engine, settings, now, platforms=("console",), dry_run=True)
    [reply] = [r for key, r in result.replies.items() if key.startswith(f"digest:team_digest:{manager}:")]
    return reply.plain_text


def test_the_month_so_far_is_compared_with_as_many_working_days_of_the_month_before(engine):
    _seed_december(engine)
    text = _team_digest(engine, Settings(), WEDNESDAY)
    fmt = Formatter("en", "USD")
    nov_1_2 = fmt.dates(range_period(date(2026, 11, 1), date(2026, 11, 3), UTC))
    assert "Funnel, Dec 1, 2026 (month to date): Leads 3 (▲ 50.0%)" in text
    assert f"vs {nov_1_2}, as many working days (1)" in text
    assert "200.0%" not in text


def test_on_the_first_the_month_just_ended_is_compared_with_the_whole_month_before(engine):
    _seed_december(engine)
    # Tuesday Dec 1: the digest reports November (6 leads in Alpha), against the whole of October (none): no delta.
    text = _team_digest(engine, Settings(), datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert "Funnel, November 2026: Leads 6 · " in text
    assert "vs October 2026" in text


def test_a_russian_manager_reads_the_whole_team_digest_in_russian(engine):
    _seed_december(engine)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "mgr-a").values(locale="ru"))
    text = _team_digest(engine, Settings(), WEDNESDAY)
    ru = Formatter("ru", "USD")
    nov_1_2 = ru.dates(range_period(date(2026, 11, 1), date(2026, 11, 3), UTC))
    dec_1 = ru.date(date(2026, 12, 1))  # "1 дек. 2026 г.", with the locale's own spaces
    assert f"Воронка, {dec_1} (с начала месяца): Лиды 3 (▲ {ru.percent(0.5)})" in text
    assert f"сравнение: {nov_1_2}, столько же рабочих дней (1)" in text
    for english in ("Funnel", "Leads", "month to date", "working days", "Yesterday", "activities", "plan"):
        assert english not in text, english


# Calls yesterday (Monday Nov 16) below 4 for a team: Bravo (Rae, 1 call) fires, Alpha (5 calls) does not.
CALLS = AlertRule(id="calls-yesterday", name="Calls yesterday", metric="activity", measure="calls",
                  condition="below", threshold=4, period="yesterday", every="15m")  # fmt: skip


def test_a_firing_alert_in_the_digest_names_the_team_not_its_id(engine):
    seed_november(engine)
    settings = Settings(alerts=[CALLS])
    now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    run_alerts(engine, settings, now, platforms=("console",))
    text = _team_digest(engine, settings, now, manager="mgr-b")
    assert "Alerts firing: Calls yesterday (Bravo)" in text
    assert "t-b" not in text


def test_digest_previewed_in_russian_is_russian_throughout(engine):
    _seed_december(
        engine
    )  # Mia's stored language is English; she asks in Russian (her Telegram is in Russian)
    conversation = Conversation(engine, Settings(), build_registry())
    reply = conversation.handle(Request("telegram", "/digest", WEDNESDAY, "mgr-a", locale="ru"))
    text = reply.plain_text
    assert reply.title == "Ваши дайджесты"
    dec_1 = Formatter("ru", "USD").date(date(2026, 12, 1))
    assert "Дайджест команды" in text and f"Воронка, {dec_1} (с начала месяца): Лиды 3" in text
    for english in ("Team digest", "Funnel", "Leads", "Yesterday", "activities done", "of plan"):
        assert english not in text, english
    english = conversation.handle(Request("telegram", "/digest", WEDNESDAY, "mgr-a", locale="en")).plain_text
    assert "Funnel, Dec 1, 2026 (month to date): Leads 3 (▲ 50.0%)" in english


def test_the_built_in_rules_names_are_in_the_readers_language_an_orgs_own_as_written(engine):
    seed_november(engine)
    renamed = Settings.model_validate({"alerts": [{"id": "mql-rate", "name": "Квалификация лидов", "metric": "funnel",
                                                   "measure": "mql_rate", "condition": "below", "threshold": 20,
                                                   "every": "1h"}]})  # fmt: skip
    conversation = Conversation(engine, Settings(), build_registry())
    listing = conversation.handle(Request("console", "/alerts", WEDNESDAY, "mgr-a", locale="ru")).plain_text
    assert (
        "plan-pace — Темп плана по выручке: темп ниже 80" in listing
        and "mql-rate — Доля MQL: ниже 20" in listing
    )
    english = conversation.handle(Request("console", "/alerts", WEDNESDAY, "mgr-a", locale="en")).plain_text
    assert "plan-pace — Revenue plan pace: pace below 80" in english
    own = Conversation(engine, renamed, build_registry()).handle(
        Request("console", "/alerts", WEDNESDAY, "mgr-a", locale="en")
    )
    assert "mql-rate — Квалификация лидов: below 20" in own.plain_text
