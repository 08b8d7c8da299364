"""The outbox's way into Slack: deliver a digest or an alert (a Reply) to a channel or to a person's DM.

A chat id is a channel id (`C…`, `G…`, `D…`) or a user id (`U…`, `W…`), whose DM with the app is opened first.
The text goes out with chat.postMessage as Block Kit, each chart with files_upload_v2 into the same conversation.
Slack's refusals become what the outbox understands: 429 into `DeliveryError(retry_after=<Retry-After>)`, a
channel, person or token that will never work into `DeliveryError(permanent=True)`; anything else is transient.

A failure to start (a token Slack rejects) becomes one line naming the setting, the method and Slack's error.

The Sender's client should have no rate-limit retry handler of its own: the outbox waits out a 429 and keeps the
row, where a retry inside `send` would hold the scheduler's worker for the whole wait.
"""

from __future__ import annotations

import logging
from collections.abc import Container

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.reply.messages import Chart, Reply
from bot.reply.sender import DeliveryError
from bot.slack.blocks import fallback_text, reply_blocks

__all__ = [
    "SlackSender",
    "delivery_error",
    "post_reply",
    "upload_charts",
    "conversation_id",
    "PERMANENT_ERRORS",
    "startup_failure",
]

log = logging.getLogger(__name__)

PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
    }
)


def delivery_error(exc: SlackApiError) -> Exception:
    """The DeliveryError a Slack failure means to the outbox (or the failure itself: transient)."""
    response = exc.response
    error = str(response.get("error", "")) if isinstance(response.data, dict) else ""
    if response.status_code == 429 or error == "ratelimited":
        header = response.headers.get("Retry-After") or response.headers.get("retry-after") or "1"
        try:
            seconds = float(header[0] if isinstance(header, list) else header)
        except ValueError:
            seconds = 1.0
        return DeliveryError(f"slack rate limit: retry after {seconds:g} s", retry_after=seconds)
    if error in PERMANENT_ERRORS:
        return DeliveryError(f"slack refused: {error}", permanent=True)
    return exc


# Slack's answers that mean the token itself is wrong, not the request.
_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
    }
)


def startup_failure(exc: BaseException) -> str | None:
    """Why the Slack service could not start, in one line without a token; None when it is not Slack's."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        data = response.data if isinstance(response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {response.status_code}")
        method = str(response.api_url).rstrip("/").rsplit("/", 1)[-1]
        if error in _TOKEN_ERRORS or response.status_code in (401, 403):
            setting = "SLACK_APP_TOKEN" if method == "apps.connections.open" else "SLACK_BOT_TOKEN"
            return f"Slack rejected {setting} ({method}: {error})"
        return f"Slack refused {method}: {error}"
    if isinstance(exc, SlackClientError | OSError):
        return f"cannot reach the Slack API: {type(exc).__name__}: {exc}"
    return None


async def conversation_id(client: AsyncWebClient, chat_id: str) -> str:
    """A channel id as it is; a user id as the id of the app's DM with them (files need a conversation)."""
    if chat_id[:1] in ("U", "W"):
        opened = await client.conversations_open(users=chat_id)
        return str(opened["channel"]["id"])
    return chat_id


async def upload_charts(
    client: AsyncWebClient, channel: str, charts: tuple[Chart, ...], *, thread_ts: str | None = None
) -> None:
    """Upload each chart PNG into the conversation (files.getUploadURLExternal → upload → completeUploadExternal)."""
    for chart in charts:
        if not chart.png:
            continue
        await client.files_upload_v2(
            channel=channel,
            content=chart.png,
            filename=chart.filename or "chart.png",
            title=chart.caption or chart.filename or "chart",
            alt_txt=(chart.alt_text or chart.caption)[:1000] or None,
            thread_ts=thread_ts,
        )


async def post_reply(client: AsyncWebClient, channel: str, reply: Reply, commands: Container[str]) -> str:
    """Post `reply` as a message (and its charts as files) into `channel`; the message's ts. `commands`: the chat
    commands' names, written as `/kpi <command>`."""
    posted = await client.chat_postMessage(
        channel=channel, text=fallback_text(reply), blocks=reply_blocks(reply, commands), unfurl_links=False
    )
    await upload_charts(client, channel, reply.charts)
    return str(posted.get("ts", ""))


class SlackSender:
    """`bot.reply.sender.Sender` for Slack."""

    platform = "slack"

    def __init__(self, client: AsyncWebClient, commands: Container[str]) -> None:
        self.client = client
        self.commands = commands  # the chat commands' names (`Registry.names`), shown as `/kpi <command>`

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Send `reply` to a channel or a person's DM, its charts as files and its actions as buttons."""
        try:
            channel = await conversation_id(self.client, chat_id)
            await post_reply(self.client, channel, reply, self.commands)
        except SlackApiError as exc:
            mapped = delivery_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
