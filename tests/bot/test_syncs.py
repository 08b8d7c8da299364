"""`/syncs` through the conversation: an admin reads the last CRM syncs in their own zone and language.

Three hand-made runs of Friday 2026-11-20 (UTC): #1 ok 09:00–09:02:05 (125 s: read 1 200, written 1 180,
rejected 20, deleted 1); #2 failed 09:15–09:15:30 (30 s: read 40, written 40), its error quoting the access token;
#3 a full sync started 09:30 and still running. In New York (UTC−5) they started 04:00, 04:15 and 04:30; in
Moscow (UTC+3) 12:00, 12:15 and 12:30.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import insert, update

from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.schema import SyncRun, User
from tests.fixtures.bot_org import NOW
from tests.fixtures.metrics_org import seed_people

TOKEN = "00DFK0000000001!AQ4AQFakeAccessTokenValue"
RUNS = [
    dict(crm="salesforce", started_at=datetime(2026, 11, 20, 9, 0), finished_at=datetime(2026, 11, 20, 9, 2, 5),
         status="ok", full=False, read=1200, written=1180, rejected=20, deleted=1, objects="[]"),
    dict(crm="salesforce", started_at=datetime(2026, 11, 20, 9, 15), finished_at=datetime(2026, 11, 20, 9, 15, 30),
         status="failed", full=False, read=40, written=40, rejected=0, deleted=0, objects="[]",
         error=f"Lead: INVALID_SESSION_ID: Session expired or invalid (Bearer {TOKEN})"),
    dict(crm="salesforce", started_at=datetime(2026, 11, 20, 9, 30), finished_at=None, status="running",
         full=True, read=0, written=0, rejected=0, deleted=0),
]  # fmt: skip


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_people(engine)
    settings = load_settings(env={"SALESFORCE_ACCESS_TOKEN": TOKEN})
    return Conversation(engine, settings, build_registry())


def _seed_runs(engine) -> None:
    with engine.begin() as conn:
        for run in RUNS:
            conn.execute(insert(SyncRun).values(**run))


def _zone(engine, user_id: str, zone: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == user_id).values(timezone=zone))


def ask(conversation: Conversation, user: str, text: str, locale: str = "en") -> Reply:
    return conversation.handle(Request("console", text, NOW, user, locale=locale))


def lines(reply: Reply) -> list[str]:
    return ["".join(span.text for span in line) for line in reply.lines]


def test_an_admin_reads_the_last_syncs_in_their_zone(engine, conversation):
    _seed_runs(engine)
    _zone(engine, "admin", "America/New_York")
    reply = ask(conversation, "admin", "/syncs")
    assert reply.kind == "info"
    assert reply.title == "CRM syncs (America/New_York)"
    assert lines(reply) == [
        "#3 salesforce · Nov 20, 2026 04:30 · running (full)",
        "read 0 · written 0 · rejected 0 · deleted 0",
        "#2 salesforce · Nov 20, 2026 04:15 · failed · 30 s",
        "read 40 · written 40 · rejected 0 · deleted 0",
        "error: Lead: INVALID_SESSION_ID: Session expired or invalid (Bearer ***)",
        "#1 salesforce · Nov 20, 2026 04:00 · ok · 125 s",
        "read 1,200 · written 1,180 · rejected 20 · deleted 1",
    ]
    assert TOKEN not in reply.plain_text
    # `/syncs 1`: the newest run only.
    assert (
        lines(ask(conversation, "admin", "/syncs 1"))[0]
        == "#3 salesforce · Nov 20, 2026 04:30 · running (full)"
    )
    assert len(lines(ask(conversation, "admin", "/syncs 1"))) == 2


def test_in_russian_and_moscow_time(engine, conversation):
    _seed_runs(engine)
    _zone(engine, "admin", "Europe/Moscow")
    reply = ask(conversation, "admin", "/синхронизации 2", locale="ru")
    assert reply.title == "Синхронизации CRM (Europe/Moscow)"
    assert lines(reply) == [
        "#3 salesforce · 20 нояб. 2026\u202fг. 12:30 · идёт (полная)",
        "прочитано 0 · записано 0 · отклонено 0 · удалено 0",
        "#2 salesforce · 20 нояб. 2026\u202fг. 12:15 · с ошибкой · 30 с",
        "прочитано 40 · записано 40 · отклонено 0 · удалено 0",
        "ошибка: Lead: INVALID_SESSION_ID: Session expired or invalid (Bearer ***)",
    ]
    # The older run's counts in Russian digit grouping (a no-break space).
    older = lines(ask(conversation, "admin", "/syncs", locale="ru"))
    assert older[-1] == "прочитано 1\xa0200 · записано 1\xa0180 · отклонено 20 · удалено 1"


def test_no_syncs_yet(conversation):
    assert lines(ask(conversation, "admin", "/syncs")) == [
        "No CRM sync has run yet (the data comes from file imports)."
    ]
    assert lines(ask(conversation, "admin", "/syncs", locale="ru")) == [
        "Синхронизаций с CRM ещё не было (данные загружены из файлов)."
    ]


def test_a_bad_count_is_explained(engine, conversation):
    _seed_runs(engine)
    reply = ask(conversation, "admin", "/syncs 0")
    assert reply.kind == "user_error"
    assert "Try: /syncs or /syncs N, N from 1 to 30." in reply.plain_text


def test_only_admins_see_the_syncs(engine, conversation):
    _seed_runs(engine)
    for user in ("mgr-a", "rep-1"):
        reply = ask(conversation, user, "/syncs")
        assert reply.kind == "user_error"
        assert reply.plain_text == "Only admins can use /syncs."
        assert "salesforce" not in reply.plain_text
    russian = ask(conversation, "rep-1", "/syncs", locale="ru")
    assert russian.plain_text == "Команда /syncs доступна только администраторам."
    # /help lists it for an admin only.
    assert "/syncs" in ask(conversation, "admin", "/help").plain_text
    assert "/syncs" not in ask(conversation, "mgr-a", "/help").plain_text
