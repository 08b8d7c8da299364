"""The follow-up commands under a reply are in the asker's language and mean exactly what they say: each one, read
back by the grammar, is the reply's own question with one thing changed (last month, vs prev, by rep)."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from bot.conversation import Conversation
from bot.grammar import parse_arguments, split_words
from bot.registry import Registry
from bot.reply.arguments import Arguments, to_words
from bot.reply.messages import Reply, Request
from metrics.periods import day_period, month_period, quarter_period, range_period, week_period
from metrics.scope import Scope
from run_bot import build_registry
from storage.config.settings import load_settings
from tests.fixtures.bot_org import NOW, seed_org

TZ = ZoneInfo("UTC")
LAST_MONTH = month_period(date(2026, 10, 1), TZ, label="last month")  # asked on 2026-11-20


def parse(words: list[str]) -> Arguments:
    return parse_arguments(words, now=NOW, tz=TZ)


PERIODS = [
    None,
    month_period(date(2026, 11, 1), TZ),
    week_period(date(2026, 11, 9), TZ),
    quarter_period(date(2026, 10, 1), TZ),
    day_period(date(2026, 11, 19), TZ),
    range_period(date(2026, 10, 1), date(2026, 10, 16), TZ),
]
SCOPES = [None, Scope("me"), Scope("org"), Scope("team"), Scope("team", "Alpha"), Scope("team", "Sales West"),
          Scope("rep", "rep-2")]  # fmt: skip
FILTERS = [(), (("source", "paid_search"),), (("campaign", "Spring Promo"), ("segment", "saas"))]
BYS = [None, "rep", "team", "source", "segment", "product", "campaign", "month", "week"]


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_arguments_written_as_words_read_back_the_same_in_both_languages(locale):
    for period, compare, scope, filters, by, mode in itertools.product(
        PERIODS, [None, "prev", "year"], SCOPES, FILTERS, BYS, [None, "cohort", "flow"]
    ):
        args = Arguments(period=period, compare=compare, scope=scope, filters=filters, by=by, mode=mode)
        words = to_words(args, locale=locale)
        back = parse(split_words(" ".join(words)))
        # A period comes back with its canonical label, so its days are compared.
        days = (back.period.start, back.period.end) if back.period else None
        assert days == ((period.start, period.end) if period else None), words
        assert replace(back, period=None) == replace(args, period=None), words
        if locale == "ru":  # nothing English but the data's own names (team, filter values) and the ids
            data = {"Alpha", "'Sales West'", "@rep-2"}
            latin = [
                w.partition("=")[0]
                for w in words
                if w not in data and re.search("[a-z]", w.partition("=")[0])
            ]
            assert not latin, words


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    # Charts do not change the follow-ups; leaving them out keeps the walk quick.
    registry = Registry(tuple(replace(command, chart=False) for command in build_registry()))
    return Conversation(engine, load_settings(env={}), registry, rate_limited=False)


def _ask(conversation: Conversation, user: str, text: str, locale: str) -> Reply:
    return conversation.handle(Request("console", text, NOW, user, locale=locale))


def _questions() -> list[str]:
    commands = [c.name for c in build_registry() if c.metric is not None]
    # The default, a named period, a filter with a bare team after it, a quarter in flow mode, a rep by id.
    variants = ["", "last month", "source=paid_search team", "2026-Q4 flow", "@rep-2"]
    return [f"/{c} {v}".strip() for c in commands for v in variants] + ["/plan calls", "/leaderboard calls"]


ENGLISH_WORDS = {"last", "month", "vs", "prev", "by", "rep", "team", "org", "source", "cohort", "flow", "me"}


def test_every_follow_up_of_every_reply_reads_back_as_the_same_question_in_russian(conversation):
    checked = 0
    for user, question in itertools.product(("mgr-a", "admin", "rep-2"), _questions()):
        english = _ask(conversation, user, question, "en")
        russian = _ask(conversation, user, question, "ru")
        assert [a.command.split()[0] for a in russian.actions] == [
            a.command.split()[0] for a in english.actions
        ]
        for en, ru in zip(english.actions, russian.actions, strict=True):
            ru_words = split_words(ru.command)[1:]
            assert not ENGLISH_WORDS & {w.lower() for w in ru_words}, ru.command
            meant, read = parse(split_words(en.command)[1:]), parse(ru_words)
            assert read == meant, (question, en.command, ru.command)
            # The English one is the question with one change, as its label says: what the question set stays.
            asked = parse(split_words(question)[1:])
            assert (meant.filters, meant.mode, meant.rest) == (asked.filters, asked.mode, asked.rest), (
                en.command
            )
            if asked.scope is not None:
                assert meant.scope is not None and meant.scope.kind == asked.scope.kind, en.command
            if en.label != "Last month":
                this_month = month_period(NOW.date(), TZ)  # what a question without a period asks for
                asked_period, meant_period = asked.period or this_month, meant.period or this_month
                assert (meant_period.start, meant_period.end) == (asked_period.start, asked_period.end)
            if en.label == "Last month":
                assert (meant.period.start, meant.period.end) == (LAST_MONTH.start, LAST_MONTH.end), (
                    en.command
                )
            elif en.label == "vs prev":
                assert meant.compare == "prev", en.command
            else:
                assert en.label == "By rep" and meant.by == "rep", en.command
            again = _ask(conversation, user, ru.command, "ru")
            assert again.kind == "answer", (ru.command, again.plain_text)
            checked += 1
    assert checked > 100  # the walk met follow-ups, not only refusals


def test_a_plan_lines_follow_ups_keep_the_line(conversation):
    reply = _ask(conversation, "mgr-a", "/plan calls", "ru")
    assert [a.command for a in reply.actions] == [
        "/plan calls прошлый месяц по менеджерам",
        "/plan calls 2026-11 к прошлому по менеджерам",
    ]
