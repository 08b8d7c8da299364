"""No token in what the outbox keeps and shows: the Bot API answers a digest with an error that quotes the request
path, `/bot<token>/sendMessage`; the stored last error, `kpibot deliveries`, the admin's `/deliveries` and the log
lines all show `***` where the token was."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from telegram import Bot

import alerts.chat  # noqa: F401  (registers /deliveries)
from alerts.delivery.outbox import OutboxItem, drain_outbox, enqueue
from bot.conversation import Conversation
from bot.logs import RedactSecrets, configure_logging
from bot.reply.messages import Reply, Request, Span
from bot.telegram.sender import TelegramSender
from run_bot import build_registry, main
from storage.config.secrets import Redactor
from storage.config.settings import Settings, load_settings
from storage.schema import OutboxMessage
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures.alerts_org import seed_november

# Shaped like a real token: the bot's id, a colon and 35 characters.
TOKEN = "7000001234:AAFakeTokenForTests_0123456789abcde"
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(monkeypatch, tmp_path) -> Iterator[Settings]:
    """TELEGRAM_TOKEN set as in production, in a directory without kpibot.yaml; the logging set up from it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    loaded = load_settings()
    configure_logging(loaded)
    yield loaded
    _remove_redaction_filters()


def _remove_redaction_filters() -> None:
    """Take off what configure_logging put on the test run's own handlers."""
    for handler in logging.getLogger().handlers:
        for installed in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(installed)


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    fake = FakeBotApi(TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


def _queue_rita(engine) -> None:
    reply = Reply(title="Your day", lines=((Span("Yesterday: 2 calls"),),))
    item = OutboxItem(
        "digest:rep_daily:rep-1:2026-11-17", "digest", "rep_daily", "rep-1", "telegram", "555001", reply
    )
    with engine.begin() as conn:
        enqueue(conn, [item], NOW)


def _drain(engine, api: FakeBotApi, redact: Redactor) -> None:
    async def run() -> None:
        async with Bot(
            TOKEN, base_url=f"{api.base_url}/bot", base_file_url=f"{api.base_url}/file/bot"
        ) as bot:
            await drain_outbox(engine, {"telegram": TelegramSender(bot, engine)}, NOW, redact=redact)

    asyncio.run(run())


def _shown(engine, db_url: str, capsys) -> tuple[str, str]:
    """What `kpibot deliveries` prints and what an admin's `/deliveries` answers."""
    capsys.readouterr()
    assert main(["--db", db_url, "deliveries"]) == 0
    printed = capsys.readouterr().out
    answer = Conversation(engine, Settings(), build_registry()).handle(
        Request("console", "/deliveries", NOW, "admin", locale="en")
    )
    return printed, answer.plain_text


def test_a_bot_api_error_quoting_the_token_is_stored_shown_and_logged_without_it(
    db_url, engine, api, settings, capsys, caplog
):
    seed_november(engine)
    _queue_rita(engine)
    api.fail_next(
        "sendMessage", status=500, description=f"Internal Server Error: POST /bot{TOKEN}/sendMessage"
    )
    caplog.set_level(logging.WARNING)
    _drain(engine, api, Redactor.from_settings(settings))

    with engine.connect() as conn:
        stored = conn.execute(select(OutboxMessage.last_error)).scalar_one()
    assert stored == "NetworkError: Internal Server Error: POST /bot***/sendMessage"

    printed, answer = _shown(engine, db_url, capsys)
    assert "error: NetworkError: Internal Server Error: POST /bot***/sendMessage" in printed
    assert "POST /bot***/sendMessage" in answer
    # The bot's id before the colon is public; what follows it must not show, not even in part.
    secret_part = TOKEN.split(":")[1]
    for text in (stored, printed, answer, caplog.text):
        assert secret_part[:8] not in text
    assert "delivery digest:rep_daily:rep-1:2026-11-17 to telegram:555001 failed" in caplog.text
    for record in caplog.records:
        assert secret_part[:8] not in record.getMessage() + (record.exc_text or "")


def test_an_error_stored_before_redaction_is_shown_without_the_token(db_url, engine, settings, capsys):
    seed_november(engine)
    _queue_rita(engine)
    with engine.begin() as conn:
        conn.execute(
            update(OutboxMessage).values(
                status="dead", last_error=f"NetworkError: Bad Gateway: POST /bot{TOKEN}/sendMessage"
            )
        )
    printed, answer = _shown(engine, db_url, capsys)
    assert "error: NetworkError: Bad Gateway: POST /bot***/sendMessage" in printed
    assert "POST /bot***/sendMessage" in answer
    # Before, /deliveries cut the error at 80 characters and so showed all of the token but its last three.
    assert TOKEN.split(":")[1][:8] not in printed + answer


def test_digests_run_with_a_rejected_token_says_so_in_one_line_without_it(
    db_url, engine, monkeypatch, tmp_path, capsys
):
    seed_november(engine)
    wrong = "7000001234:AAWrongTokenForTests_0123456789abcdef"
    fake = FakeBotApi(TOKEN).start()
    try:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("TELEGRAM_TOKEN", wrong)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
        code = main(["--db", db_url, "digests", "run", "--now", "2026-11-17T09:00:00+00:00"])
    finally:
        fake.stop()
        _remove_redaction_filters()
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines() == [
        "kpibot: Telegram rejected TELEGRAM_TOKEN (getMe: Unauthorized); check it with @BotFather"
    ]
    assert "WrongToken" not in captured.out + captured.err
