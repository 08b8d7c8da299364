"""Sending a rendered reply to a chat, and replacing one in place when a follow-up button is pressed.

A reply goes out as its photos (each with a short caption), then its text messages; the follow-up buttons sit on
the last message. Their payload names the first photo's message, so a press replaces the chart with
editMessageMedia and the text with editMessageText, and the conversation keeps one reply instead of a trail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.reply.messages import Action
from bot.telegram.actions import callback_data
from bot.telegram.render import Photo, TelegramReply

__all__ = ["Keyboard", "keyboard_maker", "send_reply", "edit_reply"]

Keyboard = Callable[[int], Awaitable[InlineKeyboardMarkup | None]]
"""The buttons for a reply whose first photo is message `head` (0: no photo)."""

_BUTTONS_PER_ROW = 3
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def keyboard_maker(engine: Engine, actions: Sequence[Action], now: datetime) -> Keyboard:
    """Buttons for `actions`; a payload that must be stored is written off the event loop."""

    def build(head: int) -> InlineKeyboardMarkup:
        buttons = [
            InlineKeyboardButton(
                action.label,
                callback_data=callback_data(engine, action.command, head_message_id=head, now=now),
            )
            for action in actions
        ]
        rows = [buttons[i : i + _BUTTONS_PER_ROW] for i in range(0, len(buttons), _BUTTONS_PER_ROW)]
        return InlineKeyboardMarkup(rows)

    async def make(head: int) -> InlineKeyboardMarkup | None:
        if not actions:
            return None
        return await asyncio.to_thread(build, head)

    return make


def _media(photo: Photo) -> InputMediaPhoto:
    return InputMediaPhoto(
        photo.png, caption=photo.caption, parse_mode=ParseMode.HTML, filename=photo.filename
    )


async def send_reply(bot: Bot, chat_id: int | str, reply: TelegramReply, keyboard: Keyboard) -> list[Message]:
    """Send the photos, then the texts; the buttons go on the last message."""
    sent: list[Message] = []
    head = 0
    for i, photo in enumerate(reply.photos):
        last = i == len(reply.photos) - 1 and not reply.texts
        message = await bot.send_photo(
            chat_id,
            photo.png,
            caption=photo.caption,
            parse_mode=ParseMode.HTML,
            filename=photo.filename,
            reply_markup=await keyboard(0) if last else None,
        )
        head = head or message.message_id
        sent.append(message)
    for i, text in enumerate(reply.texts):
        last = i == len(reply.texts) - 1
        sent.append(
            await bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
                reply_markup=await keyboard(head) if last else None,
            )
        )
    return sent


async def _ignore_unchanged(edit: Awaitable[object]) -> None:
    try:
        await edit
    except BadRequest as exc:  # pressing "this month" on this month's reply changes nothing
        if "not modified" not in exc.message.lower():
            raise


async def edit_reply(bot: Bot, pressed: Message, head: int, reply: TelegramReply, keyboard: Keyboard) -> None:
    """Replace the reply whose button was pressed: the chart (message `head`, or the pressed photo) and the text
    in place; what does not fit the old messages is sent after them."""
    chat_id = pressed.chat_id
    if pressed.photo:  # a reply that was only a chart carries its buttons on the photo itself
        photos, texts = list(reply.photos), list(reply.texts)
        if photos:
            first = photos.pop(0)
            markup = await keyboard(0) if not texts and not photos else None
            await _ignore_unchanged(
                bot.edit_message_media(
                    _media(first), chat_id=chat_id, message_id=pressed.message_id, reply_markup=markup
                )
            )
        await send_reply(bot, chat_id, TelegramReply(tuple(photos), tuple(texts), reply.actions), keyboard)
        return
    photos = list(reply.photos)
    if head and photos:
        await _ignore_unchanged(
            bot.edit_message_media(_media(photos.pop(0)), chat_id=chat_id, message_id=head)
        )
    elif photos:  # the old reply had no chart: the new one's come after it
        sent = await send_reply(bot, chat_id, TelegramReply(tuple(photos), (), ()), keyboard)
        head = sent[0].message_id
        photos = []
    texts = list(reply.texts) or [pressed.text_html or "…"]
    first_text = texts.pop(0)
    await _ignore_unchanged(
        bot.edit_message_text(
            first_text,
            chat_id=chat_id,
            message_id=pressed.message_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=_NO_PREVIEW,
            reply_markup=None if texts else await keyboard(head),
        )
    )
    if texts:
        for i, text in enumerate(texts):
            last = i == len(texts) - 1
            await bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
                reply_markup=await keyboard(head) if last else None,
            )
