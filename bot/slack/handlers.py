"""Slack events in, replies out: `/kpi …`, a follow-up button and the Home tab each become Requests for the
conversation.

Slack wants an acknowledgement within three seconds, so every listener acks first and answers afterwards — through
the command's `response_url` (no channel membership needed), charts as files uploaded into the conversation.
Everything that touches the database runs in a worker thread (`asyncio.to_thread`), so a slow query in one
channel never stalls the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine

from bot.commands.bind import bound_team
from bot.conversation import Conversation
from bot.reply.command import CommandSet
from bot.reply.i18n import translator
from bot.reply.messages import Reply, Request, Span
from bot.slack.blocks import fallback_text, reply_blocks
from bot.slack.home import HOME_COMMANDS, home_view, unlinked_home_view
from bot.slack.identity import SlackIdentity, SlackPerson
from bot.slack.sender import upload_charts

__all__ = ["SlackChat", "command_text", "needs_link", "link_needed_text"]

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]


def command_text(text: str) -> str:
    """`/kpi funnel last month` arrives as `funnel last month`: the conversation's `/funnel last month`."""
    text = text.strip()
    return "/" + (text.lstrip("/") or "help")


def needs_link(text: str, commands: CommandSet) -> bool:
    """Whether the command in `text` is closed to someone whose Slack account is not linked yet."""
    name = text.strip().split(" ", 1)[0].lstrip("/").lower() or "help"
    command = commands.get(name)
    return command is not None and not command.allowed_for_unlinked


def link_needed_text(locale: str, email: str | None) -> str:
    """What an unlinked person is told: who can link them and what to tell that person."""
    t = translator(locale)
    if email:
        return t(
            "slack.link.email",
            "Your Slack account is not linked to kpibot yet. Ask your kpibot admin to put {email} on your "
            "kpibot user (then just ask again), or to send you an invite code for /kpi start CODE.",
            email=email,
        )
    return t(
        "slack.link.no_email",
        "Your Slack account is not linked to kpibot yet. Ask your kpibot admin for an invite code and send "
        "/kpi start CODE.",
    )


def _chat_type(channel_id: str) -> Literal["private", "group"]:
    return "private" if channel_id.startswith("D") else "group"


class SlackChat:
    """Answers `/kpi` commands, button presses and Home tab visits with the conversation."""

    def __init__(
        self,
        engine: Engine,
        conversation: Conversation,
        client: AsyncWebClient,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.conversation = conversation
        self.commands = conversation.registry
        self.client = client
        self.clock = clock
        self.identity = SlackIdentity(engine, client)

    def answer(self, text: str, person: SlackPerson, *, channel_id: str, now: datetime) -> Reply:
        """The reply to `text` from `person` in `channel_id` (blocking: run it in a thread)."""
        chat_type = _chat_type(channel_id)
        if person.user_id is None and needs_link(text, self.commands):
            locale = person.locale or self.conversation.settings.org.locale
            return Reply(lines=((Span(link_needed_text(locale, person.email)),),), kind="info")
        team = None
        if chat_type == "group" and channel_id:
            with self.engine.connect() as conn:
                team = bound_team(conn, "slack", channel_id)
        request = Request(
            platform="slack",
            text=text,
            now=now,
            user_id=person.user_id,
            platform_user_id=person.slack_user_id,
            chat_id=channel_id,
            chat_type=chat_type,
            # A linked user's own language setting (/lang) wins; Slack's language helps until then.
            locale=None if person.user_id else person.locale,
            bound_team_id=team,
        )
        return self.conversation.handle(request)

    async def _answer(self, text: str, slack_user_id: str, channel_id: str) -> Reply:
        person = await self.identity.person(slack_user_id)
        return await asyncio.to_thread(self.answer, text, person, channel_id=channel_id, now=self.clock())

    async def _charts(self, channel_id: str, reply: Reply, respond: Respond | None) -> None:
        """Upload the charts; where the app may not post (a channel it was not invited to) say so instead."""
        if not reply.charts or not channel_id:
            return
        try:
            await upload_charts(self.client, channel_id, reply.charts)
        except SlackApiError as exc:
            log.warning("slack: chart upload to %s failed: %s", channel_id, exc.response.get("error"))
            if respond is not None:
                locale = reply.extra.get("locale") or self.conversation.settings.org.locale
                note = translator(locale)(
                    "slack.charts_unavailable", "Invite the kpibot app to this channel to see the chart here."
                )
                await respond(text=note, response_type="ephemeral", replace_original=False)

    async def on_command(self, ack: Callable[..., Awaitable[Any]], command: dict, respond: Respond) -> None:
        """`/kpi <command> …`: ack at once, then answer through the response_url and upload the charts."""
        await ack()
        channel_id = str(command.get("channel_id", ""))
        reply = await self._answer(
            command_text(str(command.get("text", ""))), str(command["user_id"]), channel_id
        )
        public = reply.kind == "answer"  # mistakes and refusals are for the asker's eyes only
        await respond(
            text=fallback_text(reply),
            blocks=reply_blocks(reply, self.commands.names),
            response_type="in_channel" if public else "ephemeral",
        )
        await self._charts(channel_id, reply, respond)

    async def on_button(self, ack: Callable[..., Awaitable[Any]], body: dict, respond: Respond) -> None:
        """A follow-up button: run its command as the presser and replace the message it sits on."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        command = str(action.get("value") or "")
        channel_id = str(
            (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        )
        if not command:
            return
        reply = await self._answer(command, str(body["user"]["id"]), channel_id)
        blocks, text = reply_blocks(reply, self.commands.names), fallback_text(reply)
        if body.get("response_url"):
            await respond(text=text, blocks=blocks, replace_original=True)
        else:  # a message the outbox posted: no response_url travels with it in every case
            ts = str(
                (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or ""
            )
            await self.client.chat_update(channel=channel_id, ts=ts, text=text, blocks=blocks)
        await self._charts(channel_id, reply, respond if body.get("response_url") else None)

    def dashboard(self, person: SlackPerson, now: datetime) -> list[Reply]:
        """The Home tab's replies, as the person (blocking: run it in a thread)."""
        return [self.answer(text, person, channel_id="", now=now) for text in HOME_COMMANDS]

    async def on_home_opened(self, event: dict) -> None:
        """The Home tab was opened: publish the person's dashboard (or how to get linked)."""
        if event.get("tab", "home") != "home":
            return
        slack_user_id = str(event["user"])
        person = await self.identity.person(slack_user_id)
        default_locale = self.conversation.settings.org.locale
        if person.user_id is None:
            locale = person.locale or default_locale
            view = unlinked_home_view(link_needed_text(locale, person.email), locale=locale)
        else:
            replies = await asyncio.to_thread(self.dashboard, person, self.clock())
            locale = str(next((r.extra["locale"] for r in replies if r.extra.get("locale")), default_locale))
            view = home_view(replies, self.commands.names, locale=locale)
        await self.client.views_publish(user_id=slack_user_id, view=view)
