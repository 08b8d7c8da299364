"""The words of a plain question as the asker meant them: a filter value keeps its case and a value that names
nothing is refused; a leftover word is a person only by a whole name (a typo of one is asked about); namesakes
are offered as buttons that answer; and the phrases "new leads", "lost deals", "open deals", "calls per day".

The org is the plain-questions one (tests/bot/questions/test_plain_questions.py: the conversation fixture asked Friday
2026-11-20 12:00 UTC, "last month" is October, with rep-4 Anna Rogers in Alpha: 2 calls yesterday, and rep-5 Анна
Смирнова in Bravo: 1 call) and:
  rep-6 Никита Новиков   Alpha, no numbers of his own
  deal d-9              rep-1 Rita, won 2026-10-15, 4,000 of product P-ENT ("Enterprise plan")
So Alpha's October revenue is d-1 5,000 + d-3 3,000 + d-9 4,000 = 12,000, of which product P-ENT is 4,000.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from bot.conversation import Conversation
from bot.grammar import parse_arguments
from bot.reply.arguments import RELATIVE_PERIODS, command_words
from bot.reply.messages import Reply, Request
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import Activity, Deal, Product, User
from tests.bot.questions.test_plain_questions import ANNAS, REFINE, REFINE_RU
from tests.fixtures.bot_org import NOW, seed_org

YESTERDAY = datetime(2026, 11, 19, 12)


def _user(user_id: str, name: str, team: str, manager: str, **extra) -> dict:
    return dict(user_id=user_id, name=name, role="rep", team_id=team, manager_id=manager, timezone="UTC",
                email=f"{user_id}@fixture.example", locale="en", **extra)  # fmt: skip


def _call(activity_id: str, owner: str) -> dict:
    return dict(activity_id=activity_id, owner_id=owner, type="call", created_at=YESTERDAY, due_at=YESTERDAY,
                completed_at=YESTERDAY, status="done")  # fmt: skip


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [{"email": f"{p['user_id']}@fixture.example", "locale": "en", **p} for p in ANNAS]
            + [_user("rep-6", "Никита Новиков", "t-a", "mgr-a")],
        )
        conn.execute(
            insert(Activity), [_call("c-4-1", "rep-4"), _call("c-4-2", "rep-4"), _call("c-5-1", "rep-5")]
        )
        conn.execute(insert(Product), [dict(product_id="P-ENT", name="Enterprise plan")])
        conn.execute(
            insert(Deal),
            [dict(deal_id="d-9", owner_id="rep-1", created_at=datetime(2026, 10, 1, 12), status="won",
                  closed_at=datetime(2026, 10, 15, 12), amount=Decimal("4000"), product_id="P-ENT")],
        )  # fmt: skip
    return Conversation(engine, load_settings(env={}), build_registry(), rate_limited=False)


def ask(conversation: Conversation, user: str, text: str, locale: str = "en") -> Reply:
    return conversation.handle(Request("console", text, NOW, user, locale=locale))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


# --- filter values ------------------------------------------------------------------------------------------


def test_a_questions_filter_value_keeps_its_case_and_is_answered_as_the_command(conversation):
    # Alpha's October: of 12,000 won, d-9's 4,000 is product P-ENT.
    command = ask(conversation, "mgr-a", "/revenue last month product=P-ENT")
    assert lines(command)[0] == "Revenue: $4,000"
    question = ask(conversation, "mgr-a", "how much revenue product=P-ENT last month?")
    assert lines(question)[0] == f"Read as /revenue last month product=P-ENT{REFINE}"
    assert lines(question)[1:] == lines(command) and question.title == command.title
    # A source matches in any case (as the filter does): Alpha's 17 October leads are all paid_search.
    assert "Leads: 17" in lines(ask(conversation, "mgr-a", "how many leads source=PAID_SEARCH last month?"))


@pytest.mark.parametrize(
    "text, refusal",
    [
        (
            "/revenue last month product=p-ent",
            "I don't know a product called 'p-ent'. Try: /revenue this quarter",
        ),
        (
            "/revenue last month product=blorp",
            "I don't know a product called 'blorp'. Try: /revenue this quarter",
        ),
        ("/funnel last month source=blorp", "I don't know a source called 'blorp'."),
        ("/winrate segment=blorp", "I don't know a segment called 'blorp'. Try: /winrate last quarter"),
        ("/funnel campaign=blorp", "I don't know a campaign called 'blorp'. Try: /funnel last month"),
    ],
)
def test_a_filter_value_that_names_nothing_is_refused_not_answered_as_zero(conversation, text, refusal):
    reply = ask(conversation, "mgr-a", text)
    assert (reply.kind, lines(reply), reply.title) == ("user_error", [refusal], "")


def test_a_question_with_a_filter_value_that_names_nothing_is_refused_under_its_reading(conversation):
    reply = ask(conversation, "mgr-a", "how much revenue product=blorp last month?")
    assert reply.kind == "user_error" and not reply.title
    assert lines(reply) == [
        f"Read as /revenue last month product=blorp{REFINE}",
        "I don't know a product called 'blorp'. Try: /revenue this quarter",
    ]
    russian = ask(conversation, "mgr-a", "какая выручка продукт=blorp в прошлом месяце?", locale="ru")
    assert lines(russian)[1] == "Я не знаю продукт «blorp». Попробуйте: /выручка этот квартал"


# --- people -------------------------------------------------------------------------------------------------


def test_a_leftover_word_that_only_begins_a_name_is_not_read_as_that_person(conversation):
    # `nov` begins Новиков ("novikov"), but is no whole name of anyone: the question is not understood.
    reply = ask(conversation, "mgr-a", "how many leads in nov")
    assert reply.kind == "user_error" and not reply.title
    assert lines(reply)[:2] == [
        "I'm not sure what you mean. The closest commands:",
        "/funnel — Leads at each funnel stage and the conversion between stages.",
    ]


@pytest.mark.parametrize(
    "question, locale, title",
    [
        ("how many leads did Новиков get last month?", "en", "Funnel · Никита Новиков · October 2026"),
        ("how many leads for Nov last month?", "en", "Funnel · Никита Новиков · October 2026"),
        ("сколько лидов у Новикова в прошлом месяце?", "ru", "Воронка · Никита Новиков · октябрь 2026"),
        ("what are Rog's calls yesterday?", "en", "Activity · Anna Rogers · Nov 19, 2026"),
        ("how many calls did rogers make yesterday?", "en", "Activity · Anna Rogers · Nov 19, 2026"),
    ],
)
def test_a_person_is_read_by_a_whole_name_or_after_for_u_or_s(conversation, question, locale, title):
    assert ask(conversation, "mgr-a", question, locale=locale).title == title


def test_a_typo_of_a_name_in_a_question_is_asked_about_with_a_button_that_answers(conversation):
    reply = ask(conversation, "mgr-a", "how many calls did Anan make yesterday?")
    assert reply.kind == "user_error" and not reply.title
    assert lines(reply) == ["Did you mean Anna Rogers?"]
    assert [(a.label, a.command) for a in reply.actions] == [("Anna Rogers", "/activity 2026-11-19 @rep-4")]
    # Anna Rogers made 2 calls yesterday.
    assert "Calls: 2" in lines(ask(conversation, "mgr-a", reply.actions[0].command))
    russian = ask(conversation, "mgr-a", "сколько звонков вчера сделала Анан?", locale="ru")
    assert lines(russian) == ["Может быть, вы имели в виду Anna Rogers?"]
    # A typed command keeps reading a typo as the one person it fits.
    assert (
        ask(conversation, "mgr-a", "/activity yesterday Anan").title
        == "Activity · Anna Rogers · Nov 19, 2026"
    )


def test_namesakes_are_offered_by_id_only_the_active_ones_and_a_button_answers(conversation, engine):
    with engine.begin() as conn:
        # rep-8 left the company: a namesake no longer to offer.
        conn.execute(insert(User), [_user("rep-7", "Anna Rogers", "t-b", "mgr-b")])
        conn.execute(insert(User), [_user("rep-8", "Anna Rogers", "t-b", "mgr-b", active=False)])
        conn.execute(
            insert(Activity), [_call("c-7-1", "rep-7"), _call("c-7-2", "rep-7"), _call("c-7-3", "rep-7")]
        )
    for question in ("how many calls did Anna Rogers make yesterday?", "/activity yesterday Anna Rogers"):
        reply = ask(conversation, "admin", question)
        assert lines(reply) == ["'Anna Rogers' could be: Anna Rogers, Anna Rogers. Which one?"], question
        assert [a.command for a in reply.actions] == [
            "/activity 2026-11-19 @rep-4",
            "/activity 2026-11-19 @rep-7",
        ]
        # Pressed, each button answers for its own Anna: rep-4 made 2 calls yesterday, rep-7 made 3.
        for action, calls in zip(reply.actions, ("Calls: 2", "Calls: 3"), strict=True):
            pressed = ask(conversation, "admin", action.command)
            assert pressed.kind == "answer" and calls in lines(pressed), action.command
    # The whole name wins over names it only resembles: "Anna" is a first name of rep-4, rep-5 and rep-7 alike.
    first_names = ask(conversation, "admin", "/activity yesterday Anna")
    assert [a.command for a in first_names.actions] == [
        "/activity 2026-11-19 @rep-4",
        "/activity 2026-11-19 @rep-7",
        "/activity 2026-11-19 @rep-5",
    ]


# --- the phrases --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, command, locale",
    [
        ("how many new leads last month?", "/funnel last month", "en"),
        ("how many deals did we lose last month?", "/winrate last month", "en"),
        ("lost deals last month", "/winrate last month", "en"),
        ("open deals last month", "/winrate last month", "en"),
        ("calls per day last month", "/activity last month", "en"),
        ("сколько новых лидов в прошлом месяце?", "/воронка прошлый месяц", "ru"),
        ("сколько сделок мы проиграли в прошлом месяце?", "/конверсия прошлый месяц", "ru"),
        ("открытые сделки в прошлом месяце", "/конверсия прошлый месяц", "ru"),
        ("сколько звонков в день в прошлом месяце?", "/активность прошлый месяц", "ru"),
    ],
)
def test_new_lost_and_open_deals_and_calls_per_day_are_read(conversation, question, command, locale):
    refine = REFINE if locale == "en" else REFINE_RU
    asked = ask(conversation, "mgr-a", question, locale=locale)
    expected = ask(conversation, "mgr-a", command, locale=locale)
    assert lines(asked)[0] == ("Read as " if locale == "en" else "Понял как ") + command + refine
    assert lines(asked)[1:] == lines(expected) and asked.title == expected.title


def test_the_phrases_carry_the_fixtures_numbers(conversation):
    # Alpha's October: Rita 10 + Rob 7 = 17 new leads; d-2 is the one deal lost; Rita 5 + Rob 3 calls.
    assert "Leads: 17" in lines(ask(conversation, "mgr-a", "how many new leads last month?"))
    assert "Deals lost: 1" in lines(ask(conversation, "mgr-a", "how many deals did we lose last month?"))
    assert "Calls: 8" in lines(ask(conversation, "mgr-a", "calls per day last month"))


# --- the command words --------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_every_relative_period_is_written_in_words_the_grammar_reads_back(locale):
    for label in RELATIVE_PERIODS:
        words = command_words(label.replace(" ", "_"), locale)
        back = parse_arguments(words, now=NOW, tz=ZoneInfo("UTC"))
        assert back.period is not None and back.period.label == label and not back.rest, words
