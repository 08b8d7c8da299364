"""The charts a reply carries speak the asker's language: captions (the chart's title) from the catalogue, and a
leaderboard comes with its chart. Numbers from tests/fixtures/bot_org.py (see its docstring)."""

from __future__ import annotations

import pytest

from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from run_bot import build_registry
from storage.config.settings import load_settings
from tests.fixtures.bot_org import NOW, seed_org


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), build_registry())


def ask(conversation: Conversation, user: str, text: str) -> Reply:
    return conversation.handle(Request("console", text, NOW, user))


def test_the_leaderboard_comes_with_its_chart_and_russian_charts_have_russian_titles(conversation):
    board = ask(conversation, "mgr-a", "/leaderboard calls last month")
    assert [c.caption for c in board.charts] == ["Leaderboard: Calls"]
    assert board.charts[0].png.startswith(b"\x89PNG")
    ask(conversation, "mgr-a", "/lang ru")
    plan = ask(conversation, "mgr-a", "/plan прошлый месяц")
    # won 8,000 of Alpha's 10,000: 80.0 %, as the reply's first line says
    assert plan.charts[0].caption == "План · Выручка: 80,0\xa0% плана"
    board = ask(conversation, "mgr-a", "/leaderboard calls last month")
    assert [c.caption for c in board.charts] == ["Рейтинг: Звонки"]
    ask(conversation, "mgr-a", "/lang en")
