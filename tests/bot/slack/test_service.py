"""The Slack service inside the test's own event loop: kpibot's shared HTTP server with bolt mounted on it, signed
requests over loopback HTTP, and the real slack_sdk talking to the fake Slack API.

The clock is fixed at Friday 2026-11-20 12:00 UTC, so "last month" is October in the fixture org
(tests/fixtures/bot_org.py): Rob had 7 leads in October, 3 of them MQL (42.9 %).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.slack.service import EVENTS_PATH, SlackService
from tests.bot.slack.conftest import ROB, make_runtime
from tests.bot.slack.slack_requests import button_press, home_opened, slash_command
from tests.bot.slack.test_run_bot import _texts


async def test_rob_asks_in_a_channel_the_app_was_not_invited_to_and_is_told_why_the_chart_is_missing(
    served, slack_api
):
    slack_api.fail_next("files.completeUploadExternal", error="not_in_channel")
    ask = slash_command(
        ROB, "funnel last month", channel_id="C0SALES", response_url=slack_api.response_url("ask")
    )
    response = await served.post(ask)
    assert response.status_code == 200 and response.text == ""  # acked at once, answered through response_url
    answer, note = await slack_api.await_calls("response_url", 2, timeout=20)
    assert answer.params["response_type"] == "in_channel"
    assert answer.params["blocks"][0]["text"]["text"] == "Funnel · Rob Rep · October 2026"
    assert answer.params["blocks"][1]["text"]["text"].startswith("*Leads:* *7*")
    assert "MQL: *3* · 42.9% of Leads" in _texts(answer.params["blocks"])
    assert note.params == {
        "text": "Invite the kpibot app to this channel to see the chart here.",
        "response_type": "ephemeral",
        "replace_original": False,
    }
    assert served.service.runtime.senders["slack"] is served.service.sender


async def test_a_button_on_a_message_the_outbox_posted_updates_it_with_chat_update(served, slack_api):
    button = {"action_id": "kpi_action_0", "text": {"type": "plain_text", "text": "Last month"}}
    press: Any = button_press(
        ROB,
        {**button, "value": "/funnel last month"},
        channel_id="D0ROB",
        message_ts="1.000001",
        response_url="",
    )
    assert (await served.post(press)).status_code == 200
    (updated,) = await slack_api.await_calls("chat.update", 1, timeout=20)
    assert updated.params["channel"] == "D0ROB" and updated.params["ts"] == "1.000001"
    assert updated.params["blocks"][1]["text"]["text"].startswith("*Leads:* *7*")
    (complete,) = await slack_api.await_calls("files.completeUploadExternal", 1)
    assert complete.params["channel_id"] == "D0ROB"


async def test_someone_unlinked_opening_the_home_tab_sees_how_to_get_linked(served, slack_api):
    slack_api.add_user("U0EVE", email="eve@elsewhere.example", locale="ru-RU")
    assert (await served.post(home_opened("U0EVE"))).status_code == 200
    (published,) = await slack_api.await_calls("views.publish", 1, timeout=20)
    blocks = published.params["view"]["blocks"]
    assert blocks[0]["text"]["text"] == "Ваши показатели"
    assert "eve@elsewhere.example" in blocks[1]["text"]["text"]


async def test_an_unsigned_request_never_reaches_a_listener(served, slack_api):
    body, content_type = home_opened(ROB)
    response = await served.http.post(served.url, content=body, headers={"Content-Type": content_type})
    assert response.status_code == 401
    assert not slack_api.calls_of("views.publish")


def test_http_mode_needs_the_signing_secret_and_socket_mode_needs_no_route(engine, slack_api):
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        SlackService(make_runtime(engine, slack_api))
    runtime = make_runtime(engine, slack_api, SLACK_APP_TOKEN="xapp-1-test")
    SlackService(runtime)
    assert not runtime.needs_http


def test_the_manifest_creates_the_app_kpibot_serves_in_one_paste():
    from pathlib import Path

    import bot.slack

    manifest = yaml.safe_load((Path(bot.slack.__file__).parent / "manifest.yaml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/kpi"]
    assert manifest["features"]["slash_commands"][0]["url"].endswith(EVENTS_PATH)
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "commands",
        "chat:write",
        "files:write",
        "users:read",
        "users:read.email",
        "im:write",
    }
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
