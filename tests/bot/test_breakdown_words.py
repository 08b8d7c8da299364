"""A breakdown's rows are named in words in the text as in the chart: lead sources and the row without a value.

The fixture org (tests/fixtures/bot_org.py): Rita's 10 October leads all come from paid search; one more lead of
hers, L1-x on Oct 20, has no source. Her October funnel by source: Paid search 10 leads, No source 1.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert

from bot.conversation import Conversation
from bot.reply.messages import Request
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import Lead
from tests.fixtures.bot_org import NOW, seed_org


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Lead), [dict(lead_id="L1-x", owner_id="rep-1", created_at=datetime(2026, 10, 20, 12))]
        )
    return Conversation(engine, load_settings(env={}), build_registry())


@pytest.mark.parametrize(
    ("lang", "named"),
    [("en", ["Paid search", "No source"]), ("ru", ["Платный поиск", "Без источника"])],
)
def test_a_source_breakdown_names_its_rows_in_words(conversation, lang, named):
    reply = conversation.handle(Request("console", "/funnel last month by source", NOW, "rep-1", locale=lang))
    assert reply.table is not None
    rows = {row[0]: row[1] for row in reply.table.rows}
    assert list(rows) == named
    assert [rows[name] for name in named] == ["10", "1"]  # leads
    assert "paid_search" not in reply.plain_text


@pytest.mark.parametrize(
    ("lang", "breakdowns", "filters"),
    [
        ("en", "Breakdowns: by rep, by team, by source", "Filters: source=…, segment=…, campaign=…"),
        (
            "ru",
            "Разбивка: по менеджерам, по командам, по источникам",
            "Фильтры: источник=…, сегмент=…, кампания=…",
        ),
    ],
)
def test_help_lists_breakdowns_and_filters_as_the_asker_types_them(conversation, lang, breakdowns, filters):
    text = conversation.handle(Request("console", "/help funnel", NOW, "rep-1", locale=lang)).plain_text
    assert breakdowns in text
    assert filters in text
