"""End to end: the real `run_bot.py` in a subprocess, talking over real HTTP to the fake Bot API — by polling, and
through its webhook route on kpibot's HTTP port.

The data is made relative to the real clock (the subprocess reads it): Rita (rep-1) has 3 leads this month and 5
last month, so /funnel shows 3 and the "last month" button turns the same reply into 5.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from alerts.delivery.outbox import OutboxItem, deliveries, enqueue
from bot.invites import create_invite
from bot.reply.messages import Reply, Span
from storage.db import make_engine
from tests.bot.telegram.conftest import TOKEN
from tests.bot.telegram.updates import button_press, person, private_text
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures.run_bot_process import free_port, seed_leads_around_now, start_run_bot, stop_run_bot

RITA = person(555001, "Rita", "en")
EVE = person(555999, "Eve")
SECRET = "s3cret-webhook-token"


@pytest.fixture
def rita_db(db_url) -> Iterator[tuple[str, str]]:
    """The fixture people, Rita's leads (3 this month, 5 last month) and an invite for her: (url, code)."""
    now = seed_leads_around_now(db_url, "rep-1")
    engine = make_engine(db_url)
    code = create_invite(engine, "rep-1", now=now).code
    engine.dispose()
    yield db_url, code


def start_bot(tmp_path: Path, db_url: str, fake_api: FakeBotApi, **env: str) -> subprocess.Popen:
    return start_run_bot(
        tmp_path,
        {"DATABASE_URL": db_url, "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake_api.base_url, **env},
    )


stop_bot = stop_run_bot


def rita_links_asks_and_flips(fake_api: FakeBotApi, code: str, deliver) -> None:
    """The story both modes must tell; `deliver` hands an update to the bot."""
    mark = len(fake_api.calls)
    deliver(private_text(EVE, "/funnel"))  # not linked: refused, pointed at /start
    (refusal,) = fake_api.wait_for_calls("sendMessage", 1, after=mark, timeout=20)
    assert int(refusal.params["chat_id"]) == EVE["id"] and "/start" in refusal.params["text"]

    mark = len(fake_api.calls)
    deliver(private_text(RITA, f"/start {code}"))
    (welcome,) = fake_api.wait_for_calls("sendMessage", 1, after=mark)
    assert "Rita Rep" in welcome.params["text"]

    mark = len(fake_api.calls)
    deliver(private_text(RITA, "/funnel"))
    (photo,) = fake_api.wait_for_calls("sendPhoto", 1, after=mark)
    assert photo.files["photo"].startswith(b"\x89PNG")
    (text,) = fake_api.wait_for_calls("sendMessage", 1, after=mark)
    assert "<b>3</b>" in text.params["text"]
    buttons = [b for row in text.params["reply_markup"]["inline_keyboard"] for b in row]
    # Rita (rep-1) reads Russian, her stored language: the follow-up says "last month" in her words.
    last_month = next(b for b in buttons if b["callback_data"].endswith("/funnel прошлый месяц"))

    shown = fake_api.messages[(RITA["id"], max(m for c, m in fake_api.messages if c == RITA["id"]))]
    mark = len(fake_api.calls)
    deliver(button_press(RITA, shown, last_month["callback_data"]))
    (edited,) = fake_api.wait_for_calls("editMessageText", 1, after=mark)
    fake_api.wait_for_calls("editMessageMedia", 1, after=mark)
    assert int(edited.params["message_id"]) == shown["message_id"]
    assert "<b>5</b>" in edited.params["text"]


def test_polling_rita_links_asks_for_the_funnel_and_flips_it_to_last_month(tmp_path, fake_api, rita_db):
    db_url, code = rita_db
    process = start_bot(tmp_path, db_url, fake_api)
    try:
        fake_api.wait_for_calls("getUpdates", 1, timeout=30)
        rita_links_asks_and_flips(fake_api, code, fake_api.push_update)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_bot(process)}") from exc
    finally:
        stop_bot(process)


def test_webhook_only_updates_with_the_secret_are_served(tmp_path, fake_api, rita_db):
    db_url, code = rita_db
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    process = start_bot(
        tmp_path,
        db_url,
        fake_api,
        TELEGRAM_WEBHOOK_URL=url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        KPIBOT_HTTP_PORT=str(port),
    )
    try:
        (hook,) = fake_api.wait_for_calls("setWebhook", 1, timeout=30)
        assert hook.params["url"] == url and hook.params["secret_token"] == SECRET
        assert not fake_api.calls_of("getUpdates")
        with httpx.Client(timeout=5) as client:
            deadline = time.monotonic() + 15
            while True:  # the HTTP site opens right after the services have started
                try:
                    forged = client.post(url, json=fake_api.make_update(private_text(RITA, f"/start {code}")))
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the webhook port never opened"
                    time.sleep(0.1)
            assert forged.status_code == 403
            wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
            update = fake_api.make_update(private_text(RITA, f"/start {code}"))
            assert client.post(url, json=update, headers=wrong).status_code == 403
            time.sleep(0.5)
            assert not fake_api.calls_of("sendMessage"), "a rejected update must not be answered"

            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

            def deliver(update: dict) -> None:
                response = client.post(url, json=fake_api.make_update(update), headers=headers)
                assert response.status_code == 200

            rita_links_asks_and_flips(fake_api, code, deliver)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_bot(process)}") from exc
    finally:
        stop_bot(process)


def test_a_rejected_token_stops_the_bot_with_one_line_that_does_not_show_it(tmp_path, fake_api, db_url):
    # A token of the right shape that the Bot API does not know (revoked with @BotFather, or mistyped).
    wrong = "7000001234:AAWrongTokenForTests_0123456789abcdef"
    process = start_run_bot(
        tmp_path,
        {"DATABASE_URL": db_url, "TELEGRAM_TOKEN": wrong, "TELEGRAM_API_BASE_URL": fake_api.base_url},
    )
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bot kept running\n--- bot output ---\n{stop_bot(process)}")
    output = stop_bot(process)
    assert process.returncode == 1
    assert output.splitlines() == [
        "kpibot: Telegram rejected TELEGRAM_TOKEN (getMe: Unauthorized); check it with @BotFather"
    ], output
    assert wrong.split(":")[1][:8] not in output


def test_a_database_it_cannot_reach_stops_the_bot_with_one_line_without_the_password(tmp_path, fake_api):
    url = f"postgresql+psycopg://kpibot:pg-pass-8c1e@127.0.0.1:{free_port()}/kpibot"  # nobody listens there
    process = start_run_bot(
        tmp_path, {"DATABASE_URL": url, "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake_api.base_url}
    )
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bot kept running\n--- bot output ---\n{stop_bot(process)}")
    output = stop_bot(process)
    assert process.returncode == 1
    [line] = output.splitlines()
    assert line.startswith("kpibot: cannot use the database: connection failed:") and "refused" in line
    assert "pg-pass-8c1e" not in output


def test_a_stop_while_a_digest_is_on_its_way_lets_it_arrive_and_records_it(tmp_path, fake_api, db_url):
    # Rita's digest is due; the Bot API takes 2 s to accept it, and the bot is asked to stop (a deploy) meanwhile.
    engine = make_engine(db_url)
    reply = Reply(title="Your day", lines=((Span("Yesterday: 2 calls"),),))
    item = OutboxItem(
        "digest:rep_daily:rep-1:2026-12-02", "digest", "rep_daily", "rep-1", "telegram", "555001", reply
    )
    with engine.begin() as conn:
        enqueue(conn, [item], datetime.now(UTC) - timedelta(minutes=1))
    fake_api.slow_down("sendMessage", 2.0)
    process = start_bot(tmp_path, db_url, fake_api)
    try:
        fake_api.wait_for_calls("sendMessage", 1, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_bot(process)}") from exc
    asked = time.monotonic()
    output = stop_bot(process)  # SIGTERM while the message is on its way
    assert process.returncode == 0, output
    assert time.monotonic() - asked < 10, output  # a deploy's stop, not a kill after the grace period
    # It arrived once and is recorded as sent: no other instance sends it again once the lease has run out.
    [row] = deliveries(engine)
    engine.dispose()
    assert (row.status, row.attempts) == ("sent", 1), output
    assert len(fake_api.calls_of("sendMessage")) == 1


def test_a_stop_while_an_answer_is_on_its_way_finishes_it_and_a_restart_does_not_answer_again(
    tmp_path, fake_api, rita_db
):
    # Rita asks /funnel; the Bot API takes 2 s for each part of the answer, and a deploy stops the bot meanwhile.
    db_url, code = rita_db
    process = start_bot(tmp_path, db_url, fake_api)
    try:
        fake_api.push_update(private_text(RITA, f"/start {code}"))
        fake_api.wait_for_calls("sendMessage", 1, timeout=30)
        mark = len(fake_api.calls)
        fake_api.slow_down("sendPhoto", 2.0)
        fake_api.slow_down("sendMessage", 2.0)
        fake_api.push_update(private_text(RITA, "/funnel"))
        fake_api.wait_for_calls("sendPhoto", 1, after=mark, timeout=30)  # the chart is on its way
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_bot(process)}") from exc
    asked = time.monotonic()
    output = stop_bot(process)
    assert process.returncode == 0, output
    assert time.monotonic() - asked < 10, output
    # The whole answer arrived: the chart and the numbers after it, once each.
    answers = [c for c in fake_api.calls[mark:] if c.method in ("sendPhoto", "sendMessage")]
    assert [c.method for c in answers] == ["sendPhoto", "sendMessage"], output
    assert "<b>3</b>" in answers[1].params["text"]

    # Started again, the bot does not take the answered /funnel for a new one.
    fake_api.slow_down("sendPhoto", 0.0)
    fake_api.slow_down("sendMessage", 0.0)
    again = start_bot(tmp_path, db_url, fake_api)
    try:
        restart = len(fake_api.calls)
        fake_api.wait_for_calls(
            "getUpdates", 2, after=restart, timeout=30
        )  # polling again, past the first poll
    finally:
        output = stop_bot(again)
    assert not [c for c in fake_api.calls[restart:] if c.method in ("sendPhoto", "sendMessage")], output
