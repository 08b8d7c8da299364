"""What reaches `/slack/events` from someone who is not Slack, or from Slack twice: refused with a 4xx, answered
once, and the bot goes on serving.

Every request goes over real loopback HTTP to kpibot's own server; a good `/kpi funnel last month` from Rob after
the bad ones must still be answered (his 7 October leads).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
from sqlalchemy import insert

from storage.db import make_engine
from storage.schema import Lead
from tests.bot.slack.conftest import ROB
from tests.bot.slack.slack_requests import (
    button_press,
    home_opened,
    signed_headers,
    slash_command,
)
from tests.bot.slack.test_run_bot import _texts

FORM = "application/x-www-form-urlencoded"


def signed(body: bytes, content_type: str, **headers: str) -> dict[str, str]:
    return {**signed_headers(body, content_type=content_type), **headers}


async def still_answers(served, slack_api, name: str = "after") -> None:
    """Rob's `/kpi funnel last month` is answered: the bad requests before it left the bot serving."""
    ask = slash_command(
        ROB, "funnel last month", channel_id="D0ROB", response_url=slack_api.response_url(name)
    )
    assert (await served.post(ask)).status_code == 200
    deadline = time.monotonic() + 20
    while not (answers := [c for c in slack_api.calls_of("response_url") if c.key == name]):
        assert time.monotonic() < deadline, "the good request after the bad ones was not answered"
        await asyncio.sleep(0.02)
    assert answers[0].params["blocks"][1]["text"]["text"].startswith("*Leads:* *7*")


def no_tracebacks(caplog) -> None:
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]


async def test_a_bad_or_missing_timestamp_or_signature_is_refused_with_401(served, slack_api, caplog):
    caplog.set_level(logging.WARNING)
    body, content_type = slash_command(
        ROB, "funnel", channel_id="D0ROB", response_url=slack_api.response_url("x")
    )
    good = signed_headers(body, content_type=content_type)
    stale = signed_headers(body, content_type=content_type, timestamp=int(time.time()) - 600)
    refused = [
        {**good, "X-Slack-Request-Timestamp": "not-a-number"},
        {**good, "X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠".encode()},  # digits of another script
        {**good, "X-Slack-Request-Timestamp": "+" + good["X-Slack-Request-Timestamp"]},  # int() would take it
        {**good, "X-Slack-Request-Timestamp": "1_" + good["X-Slack-Request-Timestamp"][1:]},
        {**good, "X-Slack-Request-Timestamp": "9" * 400},
        {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"},
        {k: v for k, v in good.items() if k != "X-Slack-Signature"},
        {**good, "X-Slack-Signature": "v0=" + "0" * 64},
        {**good, "X-Slack-Signature": "garbage"},
        {**good, "X-Slack-Signature": "v0=é".encode()},
        stale,  # signed ten minutes ago: outside Slack's five-minute window
        signed_headers(body, content_type=content_type, secret="not-the-secret"),
    ]
    for headers in refused:
        response = await served.http.post(served.url, content=body, headers=headers)
        assert response.status_code == 401, (headers, response.status_code, response.text)
    assert not slack_api.calls_of("response_url")
    no_tracebacks(caplog)
    await still_answers(served, slack_api)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"[" * 100_000, "application/json"),  # nested deeper than any parser's stack
        (b'{"type": "event_callback", "event": 5}', "application/json"),
        (
            b'{"type": "event_callback", "event": {"type": "app_home_opened", "user": ["U0ROB"]}}',
            "application/json",
        ),
        (urlencode({"payload": "notjson"}).encode(), FORM),
        (urlencode({"payload": "[1]"}).encode(), FORM),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})}).encode(), FORM),
        (b"\xff\xfe\x00\x81binary", FORM),
        (b"\xff\xfe\x00\x81binary", "application/json"),
        (b"", FORM),
        (urlencode({"command": "/kpi", "text": "funnel"}).encode(), FORM),  # a command with no user
    ],
    ids=[
        "bad-json",
        "json-array",
        "json-string",
        "json-null",
        "deep-nesting",
        "event-not-an-object",
        "event-user-not-a-string",
        "payload-notjson",
        "payload-array",
        "actions-not-a-list",
        "binary-form",
        "binary-json",
        "empty",
        "command-without-user",
    ],
)
async def test_a_correctly_signed_but_malformed_body_is_refused_with_400(
    served, slack_api, caplog, body, content_type
):
    caplog.set_level(logging.WARNING)
    response = await served.http.post(served.url, content=body, headers=signed(body, content_type))
    assert response.status_code == 400, response.text
    no_tracebacks(caplog)
    await still_answers(served, slack_api)
    assert not slack_api.calls_of("views.publish") and not slack_api.calls_of("chat.update")


async def test_a_replayed_slash_command_is_answered_once(served, slack_api):
    body, content_type = slash_command(
        ROB, "funnel last month", channel_id="D0ROB", response_url=slack_api.response_url("ask")
    )
    headers = signed(body, content_type)
    first = await served.http.post(served.url, content=body, headers=headers)
    replay = await served.http.post(
        served.url, content=body, headers=headers
    )  # the same bytes, a second later
    assert (first.status_code, replay.status_code) == (200, 200)  # the replay is acknowledged, not run
    await still_answers(served, slack_api, "later")
    answered = [call.key for call in slack_api.calls_of("response_url")]
    assert sorted(answered) == ["ask", "later"]


async def test_slack_retrying_an_event_does_not_publish_the_home_tab_twice(served, slack_api):
    body, content_type = home_opened(ROB)
    assert (
        await served.http.post(served.url, content=body, headers=signed(body, content_type))
    ).status_code == 200
    # Slack thought the first delivery timed out: the same event, signed anew a second later, with the retry headers.
    retry = signed_headers(body, content_type=content_type, timestamp=int(time.time()) + 1)
    retry |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await served.http.post(served.url, content=body, headers=retry)).status_code == 200
    await slack_api.await_calls("views.publish", 1, timeout=20)
    await still_answers(served, slack_api)
    assert len(slack_api.calls_of("views.publish")) == 1


async def test_a_replayed_button_press_runs_once(served, slack_api):
    button = {"action_id": "kpi_action_0", "text": {"type": "plain_text", "text": "Last month"}}
    press = button_press(
        ROB,
        {**button, "value": "/funnel last month"},
        channel_id="D0ROB",
        message_ts="1.000001",
        response_url=slack_api.response_url("press"),
    )
    body, content_type = press
    headers = signed(body, content_type)
    for _ in range(3):
        assert (await served.http.post(served.url, content=body, headers=headers)).status_code == 200
    await still_answers(served, slack_api, "later")
    # The press's answer (a chart) may come after the later question's on a busy machine: wait for both.
    await slack_api.await_calls("response_url", 2, timeout=20)
    assert sorted(call.key for call in slack_api.calls_of("response_url")) == ["later", "press"]


async def test_echoed_user_text_keeps_no_slack_formatting(served, slack_api):
    ask = slash_command(
        ROB,
        "funnel last *blorp* _it_ ~st~ `x`",
        channel_id="D0ROB",
        response_url=slack_api.response_url("ask"),
    )
    assert (await served.post(ask)).status_code == 200
    (answer,) = await slack_api.await_calls("response_url", 1, timeout=20)
    text = _texts(answer.params["blocks"])
    shown = text.replace("\u200b", "")
    assert "*blorp*" in shown  # the word Rob typed, as he typed it …
    for (
        mark
    ) in "*_~`":  # … with every formatting mark fenced by zero-width spaces, so Slack shows it literally
        assert all(text[i - 1 : i + 2] == f"\u200b{mark}\u200b" for i, ch in enumerate(text) if ch == mark)
    assert "\u200b*\u200bblorp\u200b*\u200b" in answer.params["text"]  # the notification text too


async def test_a_filter_value_with_a_quote_survives_the_round_trip_through_a_button(
    served, slack_api, db_url
):
    engine = make_engine(db_url)
    with engine.begin() as conn:  # a source the data knows, or the filter is refused as naming nothing
        conn.execute(insert(Lead), [dict(lead_id="Q-1", owner_id="rep-2", created_at=datetime(2026, 1, 5, 12),
                                         source="it's")])  # fmt: skip
    engine.dispose()
    asked = slash_command(
        ROB, 'funnel source="it\'s"', channel_id="D0ROB", response_url=slack_api.response_url("ask")
    )
    assert (await served.post(asked)).status_code == 200
    (answer,) = await slack_api.await_calls("response_url", 1, timeout=20)
    buttons = [e for b in answer.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    last_month = next(b for b in buttons if b["text"]["text"] == "Last month")
    press = button_press(
        ROB,
        last_month,
        channel_id="D0ROB",
        message_ts="1.000001",
        response_url=slack_api.response_url("press"),
    )
    assert (await served.post(press)).status_code == 200
    await still_answers(served, slack_api, "after")
    (pressed,) = [c for c in slack_api.calls_of("response_url") if c.key == "press"]
    typed_again = slash_command(
        ROB,
        'funnel last month source="it\'s"',
        channel_id="D0ROB",
        response_url=slack_api.response_url("typed"),
    )
    assert (await served.post(typed_again)).status_code == 200
    await still_answers(served, slack_api, "after2")
    (by_hand,) = [c for c in slack_api.calls_of("response_url") if c.key == "typed"]
    assert pressed.params["blocks"] == by_hand.params["blocks"]  # the same request, to the letter
    assert "quote" not in _texts(pressed.params["blocks"])  # not "A quote is not closed."
    assert "October 2026" in pressed.params["blocks"][0]["text"]["text"]
