"""The weekly changes digest: on Monday 2026-11-30 Enterprise's manager reads what moved in the week Nov 23–29
against Nov 16–22 (and Oct 26–Nov 1), with the reps, sources and segments that moved it; SMB's manager reads that
the week was quiet. Fixture and working: tests/fixtures/weekly_org.py.

Enterprise, worked out by hand (defaults: 20 % for counts, 5 points for rates, 10 items, 5 items a row):
- revenue: P 8 × 1,000 + 4 × 1,000 = 12,000; W 3 × 1,000 + 4 × 2,000 = 11,000: −8.3 %, not mentioned.
- deals won: P 12, W 7 (−41.7 %, on 12 ≥ 10), A 5. By rep Liam 8 → 3 (−5), Nora 4 → 4; by source referral 6 → 3
  (−3), paid search 6 → 4 (−2); by segment SaaS 8 → 3 (−5), retail 4 → 4.
- win rate: P 12 / 20 = 60.0 %, W 7 / 21 = 33.3 % (−26.7 points, 21 and 20 closed ≥ 10), A 5 / 10 = 50.0 %.
  By rep Liam 8/10 = 80.0 % → 3/11 = 27.3 % (−52.7 points on 11 deals), Nora 4/10 → 4/10 (no change).
  By source referral 6/7 = 85.7 % → 3/7 = 42.9 % (−42.9 points × 7 deals = 300), paid search 6/13 = 46.2 % →
  4/14 = 28.6 % (−17.6 points × 14 = 246): referral. By segment SaaS = Liam's deals: −52.7 points on 11.
- MQL → SQL acceptance (flow): P 6 / 10 = 60.0 %, W (2 + 1 from a P MQL) / 10 = 30.0 % (−30.0 points on 10 and 10
  MQLs); no MQL in A (n/a: no "4 weeks ago"). All of them Nora's, email, retail.
- activities: P 20 + 20 = 40, W 20 + 30 = 50 (+25.0 %), A 30. Nora +10, Liam ±0.
- new opportunities: P 4 (Nora), W 12 (Liam, referral, SaaS), +200 %, A 0.
SMB: 10 of 20 deals won both weeks, 20 activities both weeks, no funnel entries: nothing moved.
Midmarket (its manager in New York, so New York weeks): see test_a_rep_silent_this_week_still_counts_last_week.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import event, update

from alerts.delivery.payload import payload_to_reply
from alerts.digests.run import preview_digests, run_digests
from alerts.digests.weekly_changes import WeeklyNumbers, is_movement
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from metrics.scope import Scope
from run_bot import build_registry
from storage.config.alerts import DigestsSettings, WeeklyChangesConfig
from storage.config.settings import Settings
from storage.schema import Deal, OutboxMessage
from tests.fixtures.weekly_org import seed_weekly_org

MONDAY_9 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

ENTERPRISE = [
    "Deals won fell from 12 to 7 (4 weeks ago 5): Liam Mitchell −5, Referral −3, SaaS −5.",
    "Win rate fell from 60.0% to 33.3% (4 weeks ago 50.0%): Liam Mitchell −52.7 pts on 11 deals, "
    "Referral −42.9 pts on 7 deals, SaaS −52.7 pts on 11 deals.",
    "MQL → SQL acceptance fell from 60.0% to 30.0%: Nora Quinn −30.0 pts on 10 MQLs, Email −30.0 pts on 10 MQLs, "
    "Retail −30.0 pts on 10 MQLs.",
    "Activities done rose from 40 to 50 (4 weeks ago 30): Nora Quinn +10.",
    "New opportunities rose from 4 to 12 (4 weeks ago 0): Liam Mitchell +12, Referral +12, SaaS +12.",
]
ENTERPRISE_RU = [
    "Число выигранных сделок снизилось с 12 до 7 (4 недели назад — 5): Liam Mitchell −5, Рекомендации −3, SaaS −5.",
    "Доля выигранных сделок снизилась с 60,0 % до 33,3 % (4 недели назад — 50,0 %): Liam Mitchell −52,7 п. п. "
    "по 11 сделкам, Рекомендации −42,9 п. п. по 7 сделкам, SaaS −52,7 п. п. по 11 сделкам.",
    "Доля MQL, принятых в SQL, снизилась с 60,0 % до 30,0 %: Nora Quinn −30,0 п. п. по 10 MQL, Рассылка −30,0 п. п. "
    "по 10 MQL, Розница −30,0 п. п. по 10 MQL.",
    "Число выполненных активностей выросло с 40 до 50 (4 недели назад — 30): Nora Quinn +10.",
    "Число созданных сделок выросло с 4 до 12 (4 недели назад — 0): Liam Mitchell +12, Рекомендации +12, SaaS +12.",
]


def plain(text: str) -> str:
    """Babel writes the space before % and the thin spaces of a date range as no-break spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ").replace("\u2009", " ")


def sentences(reply: Reply) -> list[str]:
    return [plain("".join(span.text for span in line)) for line in reply.lines]


def weekly(engine, user: str, settings: Settings | None = None, locale: str | None = None) -> Reply:
    found = dict(preview_digests(engine, settings or Settings(), user, MONDAY_9, locale=locale))
    return found["weekly_changes"]


def test_on_monday_the_enterprise_manager_reads_exactly_the_movers(engine):
    seed_weekly_org(engine)
    result = run_digests(engine, Settings(), MONDAY_9, platforms=("console",))
    # Keyed on the ISO week: Monday 2026-11-30 is in week 49 of 2026.
    key = "digest:weekly_changes:mgr-e:2026-W49"
    assert key in result.queued
    assert "digest:weekly_changes:mgr-s:2026-W49" in result.queued
    # Reps and the admin are not in the digest's audience (managers).
    assert not [k for k in result.queued if k.startswith("digest:weekly_changes:") and "mgr-" not in k]
    with engine.connect() as conn:
        payload = (
            conn.execute(OutboxMessage.__table__.select().where(OutboxMessage.idempotency_key == key))
            .one()
            ._mapping["payload"]
        )
    reply = payload_to_reply(payload)
    assert plain(reply.title) == "What changed · Nov 23 – 29, 2026"
    assert sentences(reply) == ENTERPRISE
    assert [chart.filename for chart in reply.charts] == ["weekly_changes.png"]
    assert reply.charts[0].png.startswith(b"\x89PNG")
    # A button per command, the first three: each opens the metric's command for the week, by rep.
    assert [(a.label, a.command) for a in reply.actions] == [
        ("Deals won by rep", "/revenue 2026-11-23..2026-11-29 vs prev team Enterprise by rep"),
        ("Win rate by rep", "/winrate 2026-11-23..2026-11-29 vs prev team Enterprise by rep"),
        ("MQL → SQL acceptance by rep", "/funnel 2026-11-23..2026-11-29 vs prev team Enterprise by rep flow"),
    ]
    assert plain(reply.footer).startswith(
        "Nov 23 – 29, 2026 vs Nov 16 – 22, 2026; 4 weeks earlier Oct 26 – Nov 1, 2026"
    )
    # The same pass again queues nothing: the key is the digest, the manager and the week.
    again = run_digests(engine, Settings(), MONDAY_9, platforms=("console",))
    assert key in again.already and key not in again.queued


def test_the_same_week_in_russian(engine):
    seed_weekly_org(engine)
    reply = weekly(engine, "mgr-e", locale="ru")
    assert plain(reply.title) == "Что изменилось · 23—29 нояб. 2026 г."
    assert sentences(reply) == ENTERPRISE_RU
    assert reply.actions[1].command == (
        "/winrate 2026-11-23..2026-11-29 к прошлому команда Enterprise по менеджерам"
    )


def test_a_quiet_week_says_so_in_one_line(engine):
    seed_weekly_org(engine)
    # Sasha Lead reads Russian; SMB won 10 of 20 deals and did 20 activities in both weeks.
    reply = weekly(engine, "mgr-s")
    assert sentences(reply) == [
        "Спокойная неделя: ни один ключевой показатель не изменился на 20,0 % и больше (5,0 п. п. для долей) "
        "при достаточной выборке."
    ]
    assert reply.charts == () and reply.actions == ()
    english = weekly(engine, "mgr-s", locale="en")
    assert sentences(english) == [
        "A quiet week: no key number moved by 20.0% or more (5.0 pts for rates) on enough data."
    ]


def configured(**options) -> Settings:
    return Settings(digests=DigestsSettings(weekly_changes=WeeklyChangesConfig(**options)))


def test_the_sizes_and_samples_decide_what_is_mentioned(engine):
    seed_weekly_org(engine)
    # 50 %: deals won (−41.7 %) and activities (+25 %) stay out; the rates (points) and pipeline (+200 %) stay.
    heads = [s.split(":")[0] for s in sentences(weekly(engine, "mgr-e", configured(min_change_pct=50)))]
    assert heads == [
        "Win rate fell from 60.0% to 33.3% (4 weeks ago 50.0%)",
        "MQL → SQL acceptance fell from 60.0% to 30.0%",
        "New opportunities rose from 4 to 12 (4 weeks ago 0)",
    ]
    # 30 points: acceptance (−30.0) stays, win rate (−26.7) goes.
    heads = [s.split(":")[0] for s in sentences(weekly(engine, "mgr-e", configured(min_change_pts=30)))]
    assert [h for h in heads if "%" in h] == ["MQL → SQL acceptance fell from 60.0% to 30.0%"]
    # 11 items: acceptance has 10 MQLs a week, out; win rate 21 and 20 closed, in; pipeline max(12, 4), in.
    heads = [s.split(" from")[0] for s in sentences(weekly(engine, "mgr-e", configured(min_sample=11)))]
    assert heads == [
        "Deals won fell",
        "Win rate fell",
        "Activities done rose",
        "New opportunities rose",
    ]


def test_a_small_row_is_not_named(engine):
    seed_weekly_org(engine)
    # 8 deals a row: referral closed 7 in each week, so paid search (13 and 14) is the source named instead:
    # 6/13 = 46.2 % → 4/14 = 28.6 %, −17.6 points on 14 deals. The row sample is for rates only: deals won still
    # names referral (6 → 3, −3), the biggest fall, though it won at most 6 deals a week.
    found = sentences(weekly(engine, "mgr-e", configured(min_row_sample=8)))
    assert found[0] == "Deals won fell from 12 to 7 (4 weeks ago 5): Liam Mitchell −5, Referral −3, SaaS −5."
    assert found[1] == (
        "Win rate fell from 60.0% to 33.3% (4 weeks ago 50.0%): Liam Mitchell −52.7 pts on 11 deals, "
        "Paid search −17.6 pts on 14 deals, SaaS −52.7 pts on 11 deals."
    )


def test_two_contributors_per_breakdown(engine):
    seed_weekly_org(engine)
    found = sentences(weekly(engine, "mgr-e", configured(contributors=2)))
    # Deals won by source: referral −3, then paid search −2; by rep and segment only one row moved.
    assert (
        found[0]
        == "Deals won fell from 12 to 7 (4 weeks ago 5): Liam Mitchell −5, Referral −3, Paid search −2, SaaS −5."
    )


def test_digest_weekly_changes_on_demand(engine):
    seed_weekly_org(engine)
    conversation = Conversation(engine, Settings(), build_registry())
    reply = conversation.handle(Request("console", "/digest weekly_changes", MONDAY_9, "mgr-e", locale="en"))
    assert sentences(reply)[1].startswith("Win rate fell from 60.0% to 33.3%")
    # An admin is not in the default audience; asked by name, the digest shows them the organisation's week.
    admin = conversation.handle(Request("console", "/digest weekly_changes", MONDAY_9, "admin", locale="en"))
    # Org win rate in UTC weeks: Enterprise's, SMB's 10 of 20 each week and Midmarket's 12 of 18 in P and Kai's 2
    # of 6 in W (Jo's four deals closed Nov 30 04:30 UTC, after W in UTC): 34/58 = 58.6 % → 19/47 = 40.4 %.
    assert any(s.startswith("Win rate fell from 58.6% to 40.4%") for s in sentences(admin))
    # Not in the scheduled pass, though, unless they subscribe.
    due = run_digests(engine, Settings(), MONDAY_9, platforms=("console",), dry_run=True).due
    assert "digest:weekly_changes:admin:2026-W49" not in [item.key for item in due]
    # A rep may not take it, nor preview it: both say so the same way.
    preview = conversation.handle(
        Request("console", "/digest weekly_changes", MONDAY_9, "rep-liam", locale="en")
    )
    refused = conversation.handle(
        Request("console", "/subscribe weekly_changes", MONDAY_9, "rep-liam", locale="en")
    )
    assert refused.kind == preview.kind == "user_error"
    assert "The weekly_changes digest is for managers of a team" in preview.plain_text
    assert preview.plain_text == refused.plain_text
    # Turned off, the digest says so rather than "you receive no digests".
    off = Conversation(engine, configured(enabled=False), build_registry())
    reply = off.handle(Request("console", "/digest weekly_changes", MONDAY_9, "mgr-e", locale="en"))
    assert sentences(reply) == ["The weekly_changes digest is turned off for everyone."]


def test_when_a_number_is_a_movement():
    config = WeeklyChangesConfig()
    assert is_movement("percent", 0.55, 0.60, (10, 10), config)  # exactly 5 points
    assert not is_movement("percent", 0.56, 0.60, (10, 10), config)
    assert not is_movement("percent", 0.20, 0.60, (9, 40), config)  # a rate needs the sample in both weeks
    assert is_movement("count", 12, 10, (12, 10), config)  # exactly 20 %
    assert not is_movement("count", 11, 10, (11, 10), config)
    assert is_movement("count", 10, 0, (10, 0), config)  # from nothing
    assert not is_movement("money", 9000, 1000, (4, 1), config)  # four deals are too few


def test_a_quiet_team_costs_no_metric_question_of_its_own(engine):
    seed_weekly_org(engine)
    statements: list[str] = []
    with engine.connect() as conn:
        numbers = WeeklyNumbers(conn, Settings(), UTC, MONDAY_9.date())
        assert len(numbers.changes(Scope("team", "t-ent")).movements) == 5
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2]))
        # SMB moved nothing: its totals and reps are slices of the organisation's answers Enterprise asked for;
        # only the team itself is looked up (its name and members).
        assert numbers.changes(Scope("team", "t-smb")).movements == ()
    assert 0 < len(statements) <= 3
    assert not any("deals" in s or "activities" in s or "lead_journeys" in s for s in statements)


def test_a_teams_revenue_keeps_its_cents(engine):
    seed_weekly_org(engine)
    # One of Nora's W deals won 2,000.60 instead of 2,000: W = 3,000 + 8,000.60 = 11,000.60, shown as $11,001;
    # against P's 12,000 that is −8.3 %, mentioned at a 5 % threshold. Liam 8,000 → 3,000; referral 6,000 → 3,000
    # (paid search 6,000 → 8,000.60 rose); SaaS 8,000 → 3,000.
    with engine.begin() as conn:
        conn.execute(update(Deal).where(Deal.deal_id == "c6-0").values(amount=Decimal("2000.60")))
    found = sentences(weekly(engine, "mgr-e", configured(min_change_pct=5)))
    assert found[0] == (
        "Revenue fell from $12,000 to $11,001 (4 weeks ago $5,000): Liam Mitchell −$5,000, Referral −$3,000, "
        "SaaS −$5,000."
    )


def test_the_buttons_open_the_numbers_they_speak_of(engine):
    seed_weekly_org(engine)
    conversation = Conversation(engine, Settings(), build_registry())
    for locale in ("en", "ru"):
        reply = weekly(engine, "mgr-e", locale=locale)
        pressed = conversation.handle(
            Request("console", reply.actions[1].command, MONDAY_9, "mgr-e", locale=locale)
        )
        text = plain(pressed.plain_text)
        assert pressed.kind == "answer", text
        # The win rate of Enterprise's week, and Liam's row of it: 3 / 11.
        assert ("33.3%" if locale == "en" else "33,3 %") in text
        assert ("27.3%" if locale == "en" else "27,3 %") in text
