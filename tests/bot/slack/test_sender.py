"""The outbox's Slack Sender, with the real slack_sdk client talking to the fake Slack API over loopback HTTP."""

from __future__ import annotations

import time

import pytest

from bot.reply.messages import Action, Chart, Reply, Span
from bot.reply.sender import DeliveryError
from bot.slack.sender import SlackSender
from bot.slack.service import make_client
from run_bot import build_registry
from tests.bot.slack.conftest import TOKEN

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DIGEST = Reply(
    title="Morning digest · Alpha",
    lines=((Span("Leads: "), Span("17", bold=True)),),
    charts=(Chart(filename="funnel.png", png=PNG, caption="Funnel", alt_text="Funnel of Alpha"),),
    actions=(Action("Snooze", "/alerts snooze 1"),),
    footer="Oct 1 – Oct 31, 2026 · Alpha.",
)


def sender_for(api) -> SlackSender:
    return SlackSender(make_client(TOKEN, api.api_url, wait_out_rate_limits=False), build_registry().names)


async def test_a_digest_for_a_channel_is_a_block_kit_message_and_its_chart_a_file_in_that_channel(slack_api):
    await sender_for(slack_api).send("C0SALES", DIGEST)
    (posted,) = slack_api.calls_of("chat.postMessage")
    assert posted.params["channel"] == "C0SALES"
    assert posted.params["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Morning digest · Alpha", "emoji": True},
    }
    assert posted.params["blocks"][-1]["elements"][0]["value"] == "/alerts snooze 1"
    assert posted.params["text"].startswith("Morning digest · Alpha\nLeads: 17")
    (asked,) = slack_api.calls_of("files.getUploadURLExternal")
    assert asked.params["filename"] == "funnel.png" and asked.params["length"] == str(len(PNG))
    assert asked.params["alt_txt"] == "Funnel of Alpha"
    (upload,) = slack_api.calls_of("upload")
    assert upload.body == PNG
    (complete,) = slack_api.calls_of("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C0SALES"
    assert complete.params["files"] == [{"id": upload.key, "title": "Funnel"}]


async def test_a_digest_for_a_person_goes_to_their_dm_with_the_app(slack_api):
    await sender_for(slack_api).send("U0RITA", DIGEST)
    (opened,) = slack_api.calls_of("conversations.open")
    assert opened.params["users"] == "U0RITA"
    assert slack_api.calls_of("chat.postMessage")[0].params["channel"] == "D0RITA"
    assert slack_api.calls_of("files.completeUploadExternal")[0].params["channel_id"] == "D0RITA"


async def test_a_rate_limit_tells_the_outbox_when_to_try_again(slack_api):
    slack_api.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as raised:
        await sender_for(slack_api).send("C0SALES", DIGEST)
    assert raised.value.retry_after == 7.0 and not raised.value.permanent
    assert len(slack_api.calls_of("chat.postMessage")) == 1  # the outbox waits, not the sender


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "account_inactive", "invalid_auth"])
async def test_a_channel_or_token_that_will_never_work_is_permanent(slack_api, error):
    slack_api.fail_next("chat.postMessage", error=error)
    with pytest.raises(DeliveryError) as raised:
        await sender_for(slack_api).send("C0GONE", DIGEST)
    assert raised.value.permanent and raised.value.retry_after is None
    assert error in str(raised.value)


async def test_any_other_refusal_is_left_to_the_outbox_backoff(slack_api):
    from slack_sdk.errors import SlackApiError

    slack_api.fail_next("chat.postMessage", error="internal_error")
    with pytest.raises(SlackApiError):
        await sender_for(slack_api).send("C0SALES", DIGEST)


async def test_the_services_client_waits_out_a_429_and_tries_again(slack_api):
    client = make_client(TOKEN, slack_api.api_url, wait_out_rate_limits=True)
    slack_api.fail_next("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    response = await client.chat_postMessage(channel="C0SALES", text="hi")
    assert response["ok"] and time.monotonic() - started >= 0.9
    assert len(slack_api.calls_of("chat.postMessage")) == 2
