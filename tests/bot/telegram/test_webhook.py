"""The Telegram webhook route inside one process: updates posted over loopback HTTP to kpibot's own server, as
Telegram posts them, and as someone who learnt the secret might.

The clock is fixed at Friday 2026-10-30 12:00 UTC. Eve (not linked) asking /help is answered with one message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import insert

from bot.conversation import Conversation
from bot.invites import create_invite
from bot.serve import Runtime
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.db import make_engine
from storage.schema import Lead
from tests.bot.telegram.conftest import TOKEN
from tests.bot.telegram.test_service import NOW, BotThread
from tests.bot.telegram.updates import button_press, person, private_text
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures.run_bot_process import free_port

SECRET = "s3cret-webhook-token"
EVE = person(555999, "Eve")


class Hook:
    """The running bot's webhook URL and an HTTP client that posts to it with the right secret."""

    def __init__(self, url: str, fake_api: FakeBotApi, engine) -> None:
        self.engine = engine
        self.url = url
        self.fake_api = fake_api
        self.http = httpx.Client(timeout=10)

    def post(self, body: bytes, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return self.http.post(self.url, content=body, headers=headers)

    def deliver(self, update: dict) -> httpx.Response:
        return self.post(json.dumps(update).encode())

    def still_answers(self) -> None:
        """Eve's /help is answered: whatever came before left the bot serving."""
        mark = len(self.fake_api.calls)
        assert self.deliver(self.fake_api.make_update(private_text(EVE, "/help"))).status_code == 200
        (reply,) = self.fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)
        assert int(reply.params["chat_id"]) == EVE["id"]


@pytest.fixture
def hook(fake_api: FakeBotApi, org_db_url: str) -> Iterator[Hook]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    env = {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake_api.base_url,
        "TELEGRAM_WEBHOOK_URL": url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "KPIBOT_HTTP_PORT": str(port),
    }
    settings = load_settings(env=env)
    engine = make_engine(org_db_url)
    runtime = Runtime(
        settings,
        engine,
        Conversation(engine, settings, build_registry()),
        http_host="127.0.0.1",
        clock=lambda: NOW,
    )
    with BotThread(runtime):
        fake_api.wait_for_calls("setWebhook", 1, timeout=20)
        served = Hook(url, fake_api, engine)
        deadline = time.monotonic() + 15
        while True:  # the HTTP site opens right after the services have started
            try:
                served.post(b"{}", secret="not-yet")
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the webhook port never opened"
                time.sleep(0.05)
        try:
            yield served
        finally:
            served.http.close()
    engine.dispose()


def test_a_wrong_or_missing_secret_is_refused_with_403(hook, fake_api):
    update = json.dumps(fake_api.make_update(private_text(EVE, "/help"))).encode()
    assert hook.post(update, secret=None).status_code == 403
    assert hook.post(update, secret="guess").status_code == 403
    assert hook.post(update, secret=SECRET + "x").status_code == 403
    assert not fake_api.calls_of("sendMessage")
    hook.still_answers()


MALFORMED = {
    "array": b"[]",
    "number": b"42",
    "null": b"null",
    "string": b'"update"',
    "not-json": b"{update_id: 1}",
    "not-utf8": b'{"update_id": 1, "x": "\xff"}',
    "update-id-a-string": b'{"update_id": "x"}',
    "update-id-a-bool": b'{"update_id": true}',
    "update-id-a-float": b'{"update_id": 1.5}',
    "update-id-missing": b'{"message": {}}',
    "update-id-thousands-of-digits": b'{"update_id": ' + b"9" * 5000 + b"}",
    "message-a-number": b'{"update_id": 1, "message": 5}',
    "chat-id-a-string": json.dumps(
        {"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": "x", "type": "private"}}}
    ).encode(),
    "text-a-number": json.dumps(
        {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": {"id": 5, "type": "private"},
                "from": EVE,
                "text": 5,
            },
        }
    ).encode(),
    "callback-without-from": b'{"update_id": 1, "callback_query": {"id": "cb", "chat_instance": "c"}}',
    "deep-nesting": b"[" * 100_000,
    "deep-nesting-in-an-update": b'{"update_id": 1, "message": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
}


@pytest.mark.parametrize("body", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_body_with_the_right_secret_is_refused_with_400(hook, fake_api, body):
    response = hook.post(body)
    assert response.status_code == 400, response.text
    hook.still_answers()


def test_an_update_telegram_delivers_twice_is_answered_once(hook, fake_api):
    update = fake_api.make_update(private_text(EVE, "/whoami"))
    mark = len(fake_api.calls)
    assert hook.deliver(update).status_code == 200
    assert hook.deliver(update).status_code == 200  # Telegram got no 200 in time and sent it again
    (whoami,) = fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)
    hook.still_answers()
    answered = fake_api.calls_of("sendMessage")[-2:]
    assert [int(c.params["chat_id"]) for c in fake_api.calls_of("sendMessage")] == [EVE["id"], EVE["id"]]
    assert answered[0].params["text"] == whoami.params["text"]


def test_a_button_press_delivered_twice_runs_once(hook, fake_api):
    shown = {"message_id": 900, "date": 1, "chat": {"id": EVE["id"], "type": "private"}, "text": "…"}
    press = fake_api.make_update(button_press(EVE, shown, "a:0:/help"))
    mark = len(fake_api.calls)
    for _ in range(3):
        assert hook.deliver(press).status_code == 200
    fake_api.wait_for_calls("answerCallbackQuery", 1, after=mark, timeout=20)
    hook.still_answers()
    assert len(fake_api.calls_of("answerCallbackQuery")) == 1


def test_a_filter_value_with_a_quote_survives_the_round_trip_through_a_button(hook, fake_api):
    with hook.engine.begin() as conn:  # a source the data knows, or the filter is refused as naming nothing
        conn.execute(insert(Lead), [dict(lead_id="Q-1", owner_id="rep-1", created_at=datetime(2026, 1, 5, 12),
                                         source="it's")])  # fmt: skip
    rita = person(555001, "Rita")
    code = create_invite(hook.engine, "rep-1", now=NOW).code
    mark = len(fake_api.calls)
    hook.deliver(fake_api.make_update(private_text(rita, f"/start {code}")))
    fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)

    mark = len(fake_api.calls)
    hook.deliver(fake_api.make_update(private_text(rita, '/funnel last month source="it\'s"')))
    (by_hand,) = fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)

    mark = len(fake_api.calls)
    hook.deliver(fake_api.make_update(private_text(rita, '/funnel source="it\'s"')))
    (asked,) = fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)
    buttons = [b for row in asked.params["reply_markup"]["inline_keyboard"] for b in row]
    last_month = buttons[0]["callback_data"]
    assert len(last_month.encode()) <= 64
    shown = fake_api.messages[(rita["id"], max(m for c, m in fake_api.messages if c == rita["id"]))]
    mark = len(fake_api.calls)
    hook.deliver(fake_api.make_update(button_press(rita, shown, last_month)))
    (edited,) = fake_api.wait_for_calls("editMessageText", 1, after=mark, timeout=20)
    assert edited.params["text"] == by_hand.params["text"]  # the same request, to the letter
    assert "September 2026" in edited.params["text"] or "сентябрь" in edited.params["text"]
