"""The Telegram service inside one process, against the fake Bot API over real HTTP (python-telegram-bot as is).

The clock is fixed at Friday 2026-10-30 12:00 UTC, so "this month" is October and "last month" September in the
fixture org (tests/fixtures/bot_org.py): Rita had 10 leads in October and 8 in September.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.conversation import Conversation
from bot.invites import create_invite
from bot.reply.messages import Reply, Span
from bot.serve import Runtime, serve
from run_bot import build_registry, build_services
from storage.config.settings import load_settings
from storage.db import make_engine
from tests.bot.telegram.conftest import TOKEN
from tests.bot.telegram.updates import button_press, person, private_text
from tests.fakes.telegram_api import FakeBotApi

NOW = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
RITA = person(555001, "Rita", "ru")
STRANGER = person(555999, "Eve")


class BotThread:
    """kpibot's serve() in its own event loop on a background thread; stopped and joined on exit."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop_event = asyncio.Event()
            self.started.set()
            await serve(self.runtime, build_services, stop=self.stop_event)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.started.set()

    def call(self, coroutine, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> BotThread:
        self.thread.start()
        assert self.started.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self.stop_event is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(20)
        assert not self.thread.is_alive(), "the bot did not stop within 20 s"
        self.loop.close()
        if self.error is not None:
            raise self.error


@pytest.fixture
def runtime(fake_api: FakeBotApi, org_db_url: str) -> Iterator[Runtime]:
    settings = load_settings(
        env={"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake_api.base_url, "KPIBOT_HTTP_PORT": "0"}
    )
    engine = make_engine(org_db_url)
    yield Runtime(
        settings,
        engine,
        Conversation(engine, settings, build_registry()),
        http_host="127.0.0.1",
        clock=lambda: NOW,
    )
    engine.dispose()


def photo_id(fake_api: FakeBotApi) -> int:
    return next(m for (c, m), msg in fake_api.messages.items() if c == RITA["id"] and "photo" in msg)


def last_text_to(fake_api: FakeBotApi, chat_id: int, after: int) -> str:
    (call,) = fake_api.wait_for_calls("sendMessage", 1, after=after)
    assert int(call.params["chat_id"]) == chat_id
    return call.params["text"]


def test_rita_links_with_her_invite_asks_for_the_funnel_and_flips_it_to_last_month(fake_api, runtime):
    with BotThread(runtime) as bot:
        fake_api.wait_for_calls("getUpdates", 1)
        # The command menu is set in English and in Russian.
        menus = fake_api.calls_of("setMyCommands")
        assert [m.params.get("language_code") for m in menus] == [None, "ru"]
        assert {"command": "funnel", "description": menus[0].params["commands"][0]["description"]} in menus[
            0
        ].params["commands"]

        # Before linking, Rita is refused the numbers.
        mark = len(fake_api.calls)
        fake_api.push_update(private_text(RITA, "/funnel"))
        assert "/start" in last_text_to(fake_api, RITA["id"], mark)  # how to link, in her Russian
        assert not fake_api.calls_of("sendPhoto")

        # The admin's invite links her Telegram account.
        invite = create_invite(runtime.engine, "rep-1", now=NOW)
        mark = len(fake_api.calls)
        fake_api.push_update(private_text(RITA, f"/start {invite.code}"))
        assert "Rita Rep" in last_text_to(fake_api, RITA["id"], mark)

        # /funnel (this month): the chart as a photo, then the numbers, with follow-up buttons.
        mark = len(fake_api.calls)
        fake_api.push_update(private_text(RITA, "/funnel"))
        (photo,) = fake_api.wait_for_calls("sendPhoto", 1, after=mark)
        assert photo.files["photo"].startswith(b"\x89PNG")
        assert len(photo.params["caption"]) <= 1024
        (text,) = fake_api.wait_for_calls("sendMessage", 1, after=mark)
        assert text.params["parse_mode"] == "HTML"
        buttons = [b for row in text.params["reply_markup"]["inline_keyboard"] for b in row]
        assert buttons, "the reply should offer follow-ups"
        last_month = buttons[0]
        # Rita reads Russian (her stored language), her follow-ups too.
        assert last_month["callback_data"] == f"a:{photo_id(fake_api)}:/funnel прошлый месяц"
        assert "<b>10</b>" in text.params["text"]  # Rita's ten October leads

        # Pressing the button replaces the chart and the text in place.
        message = fake_api.messages[(RITA["id"], max(m for c, m in fake_api.messages if c == RITA["id"]))]
        mark = len(fake_api.calls)
        fake_api.push_update(button_press(RITA, message, last_month["callback_data"]))
        (media,) = fake_api.wait_for_calls("editMessageMedia", 1, after=mark)
        (edited,) = fake_api.wait_for_calls("editMessageText", 1, after=mark)
        assert fake_api.calls_of("answerCallbackQuery")
        assert int(media.params["message_id"]) == photo_id(fake_api)
        assert int(edited.params["message_id"]) == message["message_id"]
        assert "<b>8</b>" in edited.params["text"]  # her eight September leads
        assert "сентябрь 2026" in edited.params["text"]
        assert media.files and next(iter(media.files.values())).startswith(b"\x89PNG")
        assert not [c for c in fake_api.calls[mark:] if c.method in ("sendMessage", "sendPhoto")]
    assert bot.error is None


def test_a_429_is_waited_out_and_the_message_still_arrives(fake_api, runtime):
    with BotThread(runtime):
        fake_api.wait_for_calls("getUpdates", 1)
        fake_api.fail_next("sendMessage", status=429, retry_after=1)
        mark = len(fake_api.calls)
        fake_api.push_update(private_text(STRANGER, "/help"))
        refused, delivered = fake_api.wait_for_calls("sendMessage", 2, after=mark, timeout=15)
        assert delivered.at - refused.at >= 1.0
        assert delivered.params["text"] == refused.params["text"]


def test_the_outbox_sender_splits_a_5000_character_digest_into_two_messages(fake_api, runtime):
    lines = tuple((Span(f"Line {i:03d}: " + "x" * 89),) for i in range(50))  # 50 lines of 99 characters
    with BotThread(runtime) as bot:
        fake_api.wait_for_calls("getUpdates", 1)
        sender = runtime.senders["telegram"]
        mark = len(fake_api.calls)
        bot.call(sender.send("555001", Reply(lines=lines)))
        first, second = fake_api.wait_for_calls("sendMessage", 2, after=mark)
        assert first.params["text"].count("\n") == 39 and second.params["text"].startswith("Line 040")
