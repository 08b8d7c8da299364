"""People type questions, typos and first names: each is read as the command it stands for and answered with exactly
that command's numbers, in English and Russian, on SQLite and PostgreSQL.

The org is the conversation fixture (tests/fixtures/bot_org.py: asked Friday 2026-11-20 12:00 UTC, "last month" is
October) with two more reps called Anna, each with calls made yesterday (Thursday Nov 19, noon UTC):
  rep-4 Anna Rogers     Alpha (manager Mia): 2 calls, 1 meeting
  rep-5 Анна Смирнова   Bravo (manager Max): 1 call
So Mia sees one Anna, Max sees one Анна, and Ada the admin sees both.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from bot.conversation import Conversation
from bot.phrases import SYNONYMS
from bot.registry import Registry
from bot.reply.messages import Reply, Request
from bot.telegram.handlers import addressed_text
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import Activity, User
from tests.bot.questions.test_offered_commands import settings_stored
from tests.fixtures.bot_org import NOW, seed_org

ANNAS = [
    dict(user_id="rep-4", name="Anna Rogers", role="rep", team_id="t-a", manager_id="mgr-a", timezone="UTC"),
    dict(
        user_id="rep-5", name="Анна Смирнова", role="rep", team_id="t-b", manager_id="mgr-b", timezone="UTC"
    ),
]


def _calls(owner: str, kind: str, count: int) -> list[dict]:
    when = datetime(2026, 11, 19, 12)
    return [
        dict(activity_id=f"y-{owner}-{kind}-{i}", owner_id=owner, type=kind, created_at=when, due_at=when,
             completed_at=when, status="done")
        for i in range(count)
    ]  # fmt: skip


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(User), [{"email": f"{p['user_id']}@fixture.example", "locale": "en", **p} for p in ANNAS]
        )
        conn.execute(insert(Activity), _calls("rep-4", "call", 2) + _calls("rep-4", "meeting", 1)
                     + _calls("rep-5", "call", 1))  # fmt: skip
    return Conversation(engine, load_settings(env={}), build_registry())


def ask(conversation: Conversation, user: str | None, text: str, **fields) -> Reply:
    return conversation.handle(Request("console", text, NOW, user, **fields))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


def assert_answered_as(question: Reply, command: Reply, lead: str) -> None:
    """The question's reply is the command's, word for word, under one line saying how it was read."""
    assert question.kind == command.kind, lines(command)
    assert lines(question)[0] == lead
    assert lines(question)[1:] == lines(command)
    assert (question.title, question.table, question.footer) == (command.title, command.table, command.footer)
    assert [a.command for a in question.actions][: len(command.actions)] == [
        a.command for a in command.actions
    ]


REFINE = " · change any word and send it to ask otherwise"
REFINE_RU = " · измените любое слово и отправьте, чтобы спросить иначе"


@pytest.mark.parametrize(
    "user, question, command",
    [
        ("rep-1", "how am I doing this month?", "/plan this month"),
        ("rep-1", "How am I doing last month?", "/plan last month"),
        ("mgr-a", "how many deals did we win last month?", "/winrate last month"),
        ("mgr-a", "what's our win rate this quarter by rep?", "/winrate this quarter by rep"),
        ("mgr-a", "who is behind plan?", "/plan by rep"),
        ("mgr-a", "who is behind plan last month?", "/plan last month by rep"),
        ("mgr-a", "how many calls did Anna make yesterday?", '/activity yesterday "Anna Rogers"'),
        ("mgr-a", "who has the most calls last month?", "/leaderboard calls last month"),
        ("mgr-a", "who is the best at win rate last month?", "/leaderboard win_rate last month"),
        ("mgr-a", "who is behind plan on calls last month?", "/plan calls last month by rep"),
    ],
)
def test_an_english_question_is_answered_as_the_command_it_reads_as(conversation, user, question, command):
    asked = ask(conversation, user, question, locale="en")
    assert_answered_as(asked, ask(conversation, user, command, locale="en"), f"Read as {command}{REFINE}")


def test_the_english_readings_carry_the_fixtures_numbers(conversation):
    # Rita's October: won 5,000 against a 10,000 revenue plan → 50.0 %.
    assert (
        "Revenue: 50.0% of plan"
        in lines(ask(conversation, "rep-1", "how am I doing last month?", locale="en"))[1]
    )
    # Alpha's October deals: Rita won d-1 and lost d-2, Rob won d-3 → 2 won, 1 lost, 2 / 3 = 66.7 %.
    won = lines(ask(conversation, "mgr-a", "how many deals did we win last month?", locale="en"))
    assert won[1:4] == ["Win rate: 66.7%", "Won: 2", "Deals lost: 1"]
    # Q4 so far is October's deals: Rita 1 / 2 = 50.0 %, Rob 1 / 1 = 100.0 %.
    by_rep = ask(conversation, "mgr-a", "what's our win rate this quarter by rep?", locale="en")
    assert by_rep.table is not None
    assert [row[:2] for row in by_rep.table.rows][:2] == [("Rita Rep", "50.0%"), ("Rob Rep", "100.0%")]
    # October's calls in Alpha: Rita 5, Rob 3 (Anna's are all in November).
    ranking = lines(ask(conversation, "mgr-a", "who has the most calls last month?", locale="en"))
    assert ranking[1:3] == ["1. Rita Rep — 5", "2. Rob Rep — 3"]
    # Anna Rogers made 2 calls and had 1 meeting yesterday.
    calls = lines(ask(conversation, "mgr-a", "how many calls did Anna make yesterday?", locale="en"))
    assert "Calls: 2" in calls and "Meetings: 1" in calls


@pytest.mark.parametrize(
    "user, question, command",
    [
        ("rep-1", "какая конверсия в SQL за квартал?", "/sql этот квартал"),
        ("mgr-a", "сколько звонков вчера у Анны?", '/активность вчера "Anna Rogers"'),
        ("mgr-b", "сколько звонков вчера у Анны?", '/активность вчера "Анна Смирнова"'),
        ("mgr-a", "кто отстаёт от плана?", "/план по менеджерам"),
        ("mgr-a", "кто отстаёт от плана в прошлом месяце?", "/план прошлый месяц по менеджерам"),
        ("rep-1", "как у меня дела в прошлом месяце?", "/план прошлый месяц"),
        ("mgr-a", "сколько сделок мы выиграли в прошлом месяце?", "/конверсия прошлый месяц"),
        ("mgr-a", "какой винрейт за квартал по менеджерам?", "/конверсия этот квартал по менеджерам"),
        ("mgr-a", "у кого больше всего звонков в прошлом месяце?", "/рейтинг calls прошлый месяц"),
    ],
)
def test_a_russian_question_is_answered_as_the_command_it_reads_as(conversation, user, question, command):
    asked = ask(conversation, user, question, locale="ru")
    assert_answered_as(
        asked, ask(conversation, user, command, locale="ru"), f"Понял как {command}{REFINE_RU}"
    )


def test_the_russian_readings_carry_the_fixtures_numbers(conversation):
    # Rita's Q4 so far: L1-1 and L1-2 reached SQL, 4 leads reached MQL → acceptance rate 2 / 4 = 50,0 %.
    sql = lines(ask(conversation, "rep-1", "какая конверсия в SQL за квартал?", locale="ru"))
    assert sql[1] == "SQL: 2" and "Доля принятых: 50,0\u00a0%" in sql
    english = ask(conversation, "rep-1", "/sql this quarter", locale="ru")
    assert lines(english) == sql[1:], "the Russian reading is the same question as the English command"
    # Mia's Anna is Anna Rogers (2 calls); Max's is Анна Смирнова (1 call).
    assert "Звонки: 2" in lines(ask(conversation, "mgr-a", "сколько звонков вчера у Анны?", locale="ru"))
    assert "Звонки: 1" in lines(ask(conversation, "mgr-b", "сколько звонков вчера у Анны?", locale="ru"))


def test_a_question_naming_two_people_the_asker_may_see_lists_them(conversation):
    reply = ask(conversation, "admin", "сколько звонков вчера у Анны?", locale="ru")
    assert reply.kind == "user_error" and not reply.title
    assert lines(reply) == ["«Анны» — это может быть: Anna Rogers, Анна Смирнова. Кого вы имеете в виду?"]
    # Each button names its person by id and the day by its date, so it answers whenever it is pressed.
    assert [a.command for a in reply.actions] == [
        "/activity 2026-11-19 @rep-4",
        "/activity 2026-11-19 @rep-5",
    ]
    assert "Звонки: 1" in lines(ask(conversation, "admin", reply.actions[1].command, locale="ru"))


def test_a_question_it_cannot_read_gets_the_three_closest_commands_and_no_numbers(conversation):
    reply = ask(conversation, "mgr-a", "what is the weather like in Paris?", locale="en")
    assert reply.kind == "user_error" and not reply.title and reply.table is None and not reply.charts
    text = lines(reply)
    assert text[0] == "I'm not sure what you mean. The closest commands:"
    assert len(text) == 4 and all(line.startswith("/") and " — " in line for line in text[1:])
    assert len(reply.actions) == 3 and all(a.command.startswith(a.label) for a in reply.actions)
    # A word left unread is never guessed at, even when the rest names a command: that command comes first.
    unread = ask(conversation, "mgr-a", "what is our revenue in zorblax last month?", locale="en")
    assert lines(unread)[1].startswith("/revenue — ") and not unread.title
    # A name the asker may not see is a word that names nobody: Rita sees only herself.
    assert ask(conversation, "rep-1", "сколько звонков вчера у Анны?", locale="ru").kind == "user_error"
    # A command that exists nowhere is named as such, with the closest ones.
    unknown = ask(conversation, "rep-2", "/nonsense", locale="en")
    assert lines(unknown)[0] == "I don't know the command '/nonsense'. The closest commands:"
    assert len(unknown.actions) == 3 and unknown.kind == "user_error"
    russian = ask(conversation, "rep-1", "как погода?", locale="ru")
    assert lines(russian)[0] == "Не уверен, что понял вас. Ближайшие команды:" and len(russian.actions) == 3


def test_a_plain_question_in_a_group_bound_to_a_team_reads_like_its_command_there(conversation, engine):
    fields = dict(locale="en", chat_type="group", bound_team_id="t-a")
    asked = ask(conversation, "mgr-a", "how many deals did we win last month?", **fields)
    command = ask(conversation, "mgr-a", "/winrate last month", **fields)
    assert_answered_as(asked, command, f"Read as /winrate last month{REFINE}")
    assert asked.table is None, "in a group a team gets its totals; who did what only when asked"


def test_in_a_telegram_group_only_words_put_to_the_bot_are_answered():
    assert addressed_text("how are we doing?", "kpi_bot") is None
    assert addressed_text("@kpi_bot how are we doing?", "kpi_bot") == "how are we doing?"
    assert addressed_text("@KPI_bot, how are we doing?", "kpi_bot") == "how are we doing?"
    assert addressed_text("@other_bot how are we doing?", "kpi_bot") is None
    assert addressed_text("and this month?", "kpi_bot", replies_to_bot=True) == "and this month?"


def test_help_says_a_plain_question_works_and_the_example_it_gives_does(conversation):
    for locale, example in (("en", "how am I doing this month?"), ("ru", "как у меня дела в этом месяце?")):
        assert lines(ask(conversation, "rep-1", "/help", locale=locale))[-1].endswith(example)
        assert ask(conversation, "rep-1", example, locale=locale).title.endswith(
            ("November 2026", "ноябрь 2026")
        )


@pytest.mark.parametrize(
    "typo, command, lead, locale",
    [
        ("/funel last month", "/funnel last month", "Did you mean /funnel?", "en"),
        ("/funel", "/funnel", "Did you mean /funnel?", "en"),
        ("funnle by rep", "/funnel by rep", "Did you mean /funnel?", "en"),
        ("/winrat last quarter", "/winrate last quarter", "Did you mean /winrate?", "en"),
        ("/вронка прошлый месяц", "/воронка прошлый месяц", "Может быть, вы имели в виду /воронка?", "ru"),
        ("/плна", "/план", "Может быть, вы имели в виду /план?", "ru"),
    ],
)
def test_a_typo_of_one_command_is_answered_as_that_command(conversation, typo, command, lead, locale):
    asked = ask(conversation, "mgr-a", typo, locale=locale)
    expected = ask(conversation, "mgr-a", command, locale=locale)
    assert lines(asked)[0] == lead
    assert lines(asked)[1:] == lines(expected) and asked.title == expected.title


def test_a_typo_close_to_several_commands_asks_which(conversation):
    reply = ask(conversation, "mgr-a", "/lan ru", locale="en")
    assert reply.kind == "user_error" and not reply.title
    assert lines(reply) == ["Did you mean /plan or /lang?"]
    assert [(a.label, a.command) for a in reply.actions] == [("/plan", "/plan ru"), ("/lang", "/lang ru")]
    assert lines(ask(conversation, "mgr-a", "/lan", locale="ru")) == [
        "Может быть, вы имели в виду /plan или /lang?"
    ]


@pytest.mark.parametrize(
    "words", ["Anna", "anna", "Ann", "Ana", "Rogers", "Rogres", "anna rog", "@rep-4", "for Anna", "у Анны"]
)
def test_a_manager_names_a_rep_by_first_name_prefix_or_typo(conversation, words):
    full = ask(conversation, "mgr-a", '/funnel last month "Anna Rogers"', locale="en")
    assert full.title == "Funnel · Anna Rogers · October 2026"
    reply = ask(conversation, "mgr-a", f"/funnel last month {words}", locale="en")
    assert (reply.title, lines(reply)) == (full.title, lines(full))


def test_a_name_that_fits_several_people_lists_them_to_choose(conversation):
    reply = ask(conversation, "admin", "/funnel last month Anna", locale="en")
    assert reply.kind == "user_error"
    assert lines(reply) == ["'Anna' could be: Anna Rogers, Анна Смирнова. Which one?"]
    assert [(a.label, a.command) for a in reply.actions] == [
        ("Anna Rogers", "/funnel 2026-10 @rep-4"),
        ("Анна Смирнова", "/funnel 2026-10 @rep-5"),
    ]
    # The Cyrillic name in a case: `Анной` is Анна for Max, who sees only Bravo.
    assert (
        ask(conversation, "mgr-b", "/воронка Анной", locale="ru").title
        == "Воронка · Анна Смирнова · ноябрь 2026"
    )
    # Rita may see only herself: Anna is a word that names nobody, as before.
    assert lines(ask(conversation, "rep-1", "/funnel Anna", locale="en")) == [
        "I don't understand 'Anna'. Try: /funnel last month"
    ]


def test_a_refused_alert_command_suggests_what_the_asker_may_do_not_the_same_command(conversation):
    for text in ("/alerts snooze mql-rate 4h", "/alerts snooze mql-rate", "/alerts ack mql-rate"):
        reply = ask(conversation, "rep-3", text, locale="en")
        assert reply.kind == "user_error"
        assert lines(reply) == [
            "Only managers and admins can snooze or acknowledge alerts; /alerts shows what is firing, and your "
            "manager gets the alerts about your numbers."
        ], text
    # A manager without a scope is shown the command for a team of their own.
    manager = lines(ask(conversation, "mgr-a", "/alerts snooze mql-rate 4h", locale="en"))
    assert manager[0].endswith("name its scope, e.g. /alerts snooze mql-rate team:t-a 4h.")
    assert ask(conversation, "mgr-a", "/alerts snooze mql-rate team:t-a 4h", locale="en").kind == "info"
    other = lines(ask(conversation, "mgr-a", "/alerts ack mql-rate team:t-b", locale="ru"))
    assert other == ["Откладывать и подтверждать можно только алерты о своих командах и их участниках, а не "
                     "team:t-b; например /alerts ack mql-rate team:t-a."]  # fmt: skip


def test_a_rep_refused_the_team_digest_is_offered_the_digests_they_may_have(conversation):
    reply = ask(conversation, "rep-2", "/subscribe team_digest", locale="en")
    assert lines(reply) == [
        "The team_digest digest is for managers of a team; you can have rep_daily, weekly_plan, "
        "e.g. /subscribe rep_daily."
    ]
    assert ask(conversation, "rep-2", "/subscribe rep_daily", locale="en").kind == "info"
    russian = lines(ask(conversation, "rep-1", "/подписка team_digest 08:30", locale="ru"))
    assert russian == ["Дайджест team_digest — для руководителей команд; вам доступны: rep_daily, weekly_plan, "
                       "например /subscribe rep_daily."]  # fmt: skip


def test_a_usage_hint_never_repeats_the_command_just_asked(conversation):
    # "For how long?" names its own example: no second "Try:" with the same command.
    assert lines(ask(conversation, "mgr-a", "/alerts snooze mql-rate", locale="en")) == [
        "For how long? e.g. /alerts snooze mql-rate 4h."
    ]
    # A mistake in other words still gets the usage.
    assert lines(ask(conversation, "mgr-a", "/funnel blorp", locale="en")) == [
        "I don't understand 'blorp'. Try: /funnel last month"
    ]


COMMANDS = list(build_registry())
WORDS = sorted({word.rstrip("*") for phrase, _, _ in SYNONYMS for word in phrase.split()})
WORDS += [
    "last",
    "month",
    "прошлый",
    "месяц",
    "by",
    "rep",
    "по",
    "менеджерам",
    "vs",
    "prev",
    "за",
    "квартал",
    "у",
    "Anna",
    "Анны",
]
# How a message may begin: nothing special, a typo of a command that changes something (with the words it takes),
# a typo of one that only reads.
HEADS = ["", "/lamg ru", "/lamg en", "/lnag", "/unsubscrbe weekly_plan", "/subscrbe rep_daily 08:30",
         "/alerst mute mql-rate", "/alerst snooze mql-rate team:t-a 4h", "/strat", "/bnid team Alpha", "/funel",
         "/воронкаа", "/вронка"]  # fmt: skip
QUIET = Registry(replace(command, chart=False) for command in COMMANDS)
READ_AS = {"Read as ", "Понял как "}
ASKS = {"en": "Did you mean", "ru": "Может быть, вы имели в виду"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    head=st.sampled_from(HEADS),
    words=st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=8),
    user=st.sampled_from(["admin", "mgr-a", "rep-1", None]),
    locale=st.sampled_from(["en", "ru"]),
)
def test_any_message_gets_a_reply_that_reads_as_it_says_in_the_askers_language_and_changes_nothing(
    engine, conversation, head, words, user, locale
):
    answering = Conversation(engine, conversation.settings, QUIET, rate_limited=False)
    text = " ".join([head, *words])
    before = settings_stored(engine)
    reply = answering.handle(Request("console", text, NOW, user, locale=locale))
    # An answer or a one-line reason, never an apology with an incident; in the asker's language.
    assert reply.kind != "failure" and reply.incident_id is None, lines(reply)
    assert (reply.lines or reply.title) and reply.extra["locale"] == locale
    assert not any(line.startswith(ASKS["ru" if locale == "en" else "en"]) for line in lines(reply))
    # Words that do not begin with a command's own name change no setting, whatever the bot made of them.
    if not text.split() or QUIET.get(text.split()[0]) is None:
        assert settings_stored(engine) == before, text
    # A reading names a command that exists, and its answer is exactly that command's.
    lead = reply.lines[0] if reply.lines else ()
    if lead and lead[0].text in READ_AS:
        shown = lead[1].text
        assert QUIET.get(shown.split()[0]) is not None, shown
        again = answering.handle(Request("console", shown, NOW, user, locale=locale))
        assert (again.title, lines(again)) == (reply.title, lines(reply)[1:]), shown
    # Every button runs a command that exists; pressed, none changes a setting but the one a question asks about.
    assert all(QUIET.get(action.command.split()[0]) is not None for action in reply.actions), reply.actions
    if not "".join(lines(reply)[:1]).startswith(ASKS[locale]):
        for action in reply.actions:
            answering.handle(Request("console", action.command, NOW, user, locale=locale))
        assert settings_stored(engine) == before, [action.command for action in reply.actions]
