"""Hostile and odd input through the conversation: every mistake gets one line in the asker's language, never an
incident; on SQLite and PostgreSQL (whose driver refuses NUL in text parameters)."""

from __future__ import annotations

import pytest

from bot.conversation import Conversation
from bot.reply.messages import Action, Reply, Request, Span
from bot.telegram.render import render_reply
from run_bot import build_registry
from storage.config.settings import load_settings
from tests.fixtures.bot_org import NOW, seed_org


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), build_registry())


def ask(conversation: Conversation, user: str, text: str, locale: str = "en") -> Reply:
    return conversation.handle(Request("console", text, NOW, user, locale=locale))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("/funnel ³", "I don't understand '³'."),
        ("/funnel last ³ days", "I don't understand the period '³'."),
        ("/stages ² E", "I don't understand '² E'."),
        ("/funnel 2026-１０", "I don't understand '2026-１０'."),
    ],
)
def test_digits_of_other_scripts_get_a_reason_not_an_incident(conversation, text, reason):
    reply = ask(conversation, "rep-2", text)
    assert reply.kind == "user_error" and reply.incident_id is None
    assert reply.plain_text.startswith(reason)


@pytest.mark.parametrize("user", ["rep-2", "mgr-a", "admin"])
@pytest.mark.parametrize(
    "text",
    ["/funnel Rob\x00Rep", "/funnel \x00", "/activity last\x00month", "/funnel source=a\x00b", "/funnel @rep\x00-2",
     "/funnel team Al\x00pha", "/alerts ack x\x00 rep:rep-2", "/help fun\x00nel", "/funnel \x1b[31m", "/lang r\x07u"],
)  # fmt: skip
def test_a_control_character_is_a_mistake_of_the_message(conversation, user, text):
    reply = ask(conversation, user, text)
    assert (reply.kind, reply.incident_id) == ("user_error", None)
    assert (
        reply.plain_text == "The message contains a character I can't read; please type it again without it."
    )


def test_tabs_and_newlines_are_spaces(conversation):
    reply = ask(conversation, "rep-2", "/funnel\tlast\nmonth\r\n")
    assert reply.kind == "answer" and reply.title == "Funnel · Rob Rep · October 2026"


@pytest.mark.parametrize(
    "text", ["/funnel \ud800", "/funnel @\udfff", "\ud83d/funnel", "/funnel source=\udc80x"]
)
def test_a_lone_surrogate_is_a_mistake_and_the_reply_encodes(conversation, text):
    reply = ask(conversation, "rep-1", text, locale="ru")
    assert (reply.kind, reply.incident_id) == ("user_error", None)
    assert (
        reply.plain_text
        == "В сообщении есть символ, который я не могу прочитать; наберите его ещё раз без него."
    )
    for message in render_reply(reply).texts:
        message.encode("utf-8")


def test_the_telegram_renderer_never_fails_to_encode_a_lone_surrogate():
    # Whatever a command puts into a reply — a name stored with a broken character, say — Telegram gets text.
    reply = Reply(
        title="Funnel · \ud800",
        lines=((Span("Leads: 7 \udfff", bold=True),),),
        footer="\ud83d footer",
        actions=(Action("vs \udc00prev", "/funnel \udc00 vs prev"),),
    )
    rendered = render_reply(reply)
    for text in (
        *rendered.texts,
        *(a.label for a in rendered.actions),
        *(a.command for a in rendered.actions),
    ):
        text.encode("utf-8")
        text.encode("utf-16-le")
    assert "Leads: 7 \ufffd" in rendered.texts[0] and "Funnel · \ufffd" in rendered.texts[0]


def test_a_request_for_two_centuries_by_week_is_refused_in_one_line(conversation):
    reply = ask(conversation, "rep-2", "/activity 1900-01-01..2100-12-31 by week")
    assert (reply.kind, reply.plain_text) == (
        "user_error",
        "A period may cover at most 10 years; choose a shorter one. Try: /activity yesterday",
    )
    russian = ask(conversation, "rep-1", "/воронка 2016-01-01..2026-11-30 к прошлому", locale="ru")
    assert russian.plain_text.startswith("Период может охватывать не больше 10 лет; выберите период короче.")


def test_a_weekly_breakdown_of_five_years_is_refused_and_by_month_answered(conversation):
    # 2021-11-01 (a Monday) to 2026-10-31 holds 261 weeks but 60 months.
    reply = ask(conversation, "mgr-a", "/funnel 2021-11-01..2026-10-31 by week")
    assert reply.plain_text == (
        "A breakdown may have at most 200 weeks; choose a shorter period or by month. Try: /funnel last month"
    )
    monthly = ask(conversation, "mgr-a", "/funnel 2021-11-01..2026-10-31 by month")
    assert monthly.kind == "answer" and monthly.table is not None and len(monthly.table.rows) == 60
