"""Telegram updates in, replies out: a message or a button press becomes one Request for the conversation.

Everything that touches the database — who the sender is, which team a group is bound to, the answer itself and
its chart — runs in a worker thread (`asyncio.to_thread`), so a slow query in one chat never stalls the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine
from telegram import Message, Update
from telegram.ext import ContextTypes

from bot.commands.bind import bound_team
from bot.identity import resolve_user
from bot.reply.i18n import normalize_locale
from bot.reply.messages import Reply, Request
from bot.telegram.actions import lookup_command, parse_callback
from bot.telegram.deliver import edit_reply, keyboard_maker, send_reply
from bot.telegram.render import render_reply

__all__ = ["TelegramChat", "command_text", "addressed_text"]

log = logging.getLogger(__name__)


def command_text(text: str, bot_username: str | None) -> str | None:
    """The text to answer, without `@botname` after the command; None for a command meant for another bot."""
    head, sep, rest = text.strip().partition(" ")
    if head.startswith("/") and "@" in head:
        name, _, addressee = head.partition("@")
        if bot_username and addressee.lower() != bot_username.lower():
            return None
        head = name
    return f"{head}{sep}{rest}".strip()


def addressed_text(text: str, bot_username: str | None, *, replies_to_bot: bool = False) -> str | None:
    """A group message's words meant for the bot — after an `@botname` it starts with, or a reply to one of the
    bot's messages — else None: in a group the bot answers only what is addressed to it."""
    head, _, rest = text.strip().partition(" ")
    if bot_username and head.lower() in (f"@{bot_username.lower()}", f"@{bot_username.lower()},"):
        return rest.strip() or None
    return (text.strip() or None) if replies_to_bot else None


class TelegramChat:
    """Answers Telegram messages and button presses with the conversation."""

    def __init__(self, engine: Engine, conversation: Any, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.conversation = conversation
        self.clock = clock

    def answer(
        self,
        text: str,
        *,
        user_id: int,
        language_code: str | None,
        chat_id: int,
        chat_type: str,
        now: datetime,
    ) -> Reply:
        """The reply to `text` from Telegram user `user_id` in chat `chat_id` (blocking: run it in a thread)."""
        group: Literal["private", "group"] = "private" if chat_type == "private" else "group"
        with self.engine.connect() as conn:
            kpibot_user = resolve_user(conn, "telegram", user_id)
            team = bound_team(conn, "telegram", str(chat_id)) if group == "group" else None
        request = Request(
            platform="telegram",
            text=text,
            now=now,
            user_id=kpibot_user,
            platform_user_id=str(user_id),
            chat_id=str(chat_id),
            chat_type=group,
            # A linked user's own language setting (/lang) wins; Telegram's app language helps until then.
            locale=None if kpibot_user else normalize_locale(language_code),
            bound_team_id=team,
        )
        return self.conversation.handle(request)

    async def _answer(self, update: Update, text: str) -> tuple[Reply, datetime]:
        user, chat = update.effective_user, update.effective_chat
        assert user is not None and chat is not None
        now = self.clock()
        reply = await asyncio.to_thread(
            self.answer,
            text,
            user_id=user.id,
            language_code=user.language_code,
            chat_id=chat.id,
            chat_type=chat.type,
            now=now,
        )
        return reply, now

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text message: a command anywhere, or plain words in a private chat (the slash is optional there)."""
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None or not message.text or update.effective_user is None:
            return
        text: str | None = message.text
        if chat.type != "private" and not message.text.startswith("/"):
            # In a group the bot answers a command, or a question put to it (`@kpibot how are we doing?`, a reply).
            replied = message.reply_to_message
            to_bot = bool(replied and replied.from_user and replied.from_user.id == context.bot.id)
            text = addressed_text(message.text, context.bot.username, replies_to_bot=to_bot)
        if text:
            text = command_text(text, context.bot.username)
        if not text:
            return
        reply, now = await self._answer(update, text)
        await send_reply(
            context.bot, chat.id, render_reply(reply), keyboard_maker(self.engine, reply.actions, now)
        )

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A follow-up button: run its command as the presser and replace the reply it belongs to."""
        query = update.callback_query
        if query is None:
            return
        await query.answer()  # stop the button's spinner at once; the answer follows by editing
        pressed = parse_callback(query.data)
        message = query.message
        if pressed is None or not isinstance(message, Message):
            return  # not ours, or a message too old for Telegram to show us
        command = await asyncio.to_thread(lookup_command, self.engine, pressed)
        if command is None:
            return
        reply, now = await self._answer(update, command)
        await edit_reply(
            context.bot,
            message,
            pressed.head_message_id,
            render_reply(reply),
            keyboard_maker(self.engine, reply.actions, now),
        )

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a failure to talk to Telegram (the conversation itself never raises)."""
        log.error("telegram update failed: %s", context.error, exc_info=context.error)
