"""The outbox's way into Telegram: deliver a digest or an alert (a Reply) to a chat id.

A user's direct messages are their `telegram_user_id`; a group is its (negative) chat id. Telegram's answers are
turned into what the outbox understands: a rate limit into `DeliveryError(retry_after=…)`, a chat that is gone or
a bot that was blocked into `DeliveryError(permanent=True)`; anything else is left to back off and retry. A failure
to start (a rejected token) becomes one line that does not quote the token, as python-telegram-bot's own does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.reply.messages import Reply
from bot.reply.sender import DeliveryError
from bot.telegram.deliver import keyboard_maker, send_reply
from bot.telegram.render import render_reply

__all__ = ["TelegramSender", "delivery_error", "startup_failure"]

# BadRequest texts that mean the message can never be delivered to this chat.
_GONE = ("chat not found", "user not found", "peer_id_invalid", "chat_id is empty", "group chat was upgraded")


def delivery_error(exc: Exception) -> Exception:
    """The DeliveryError a Telegram failure means to the outbox (or the failure itself: transient)."""
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return DeliveryError(f"telegram rate limit: retry after {seconds:g} s", retry_after=seconds)
    if isinstance(exc, Forbidden):
        return DeliveryError(f"telegram refused: {exc.message}", permanent=True)
    if isinstance(exc, BadRequest) and any(text in exc.message.lower() for text in _GONE):
        return DeliveryError(f"telegram: {exc.message}", permanent=True)
    return exc


def startup_failure(exc: BaseException) -> str | None:
    """Why the Telegram service could not start, in one line without the token; None when it is not Telegram's."""
    if isinstance(exc, InvalidToken):
        # python-telegram-bot's message quotes the whole token; what the Bot API said is the one it wraps.
        cause = exc.__cause__
        said = cause.message if isinstance(cause, TelegramError) else "rejected"
        # An answer that is not the Bot API's JSON (a proxy's HTML page) is described by the library at length.
        said = said.split(". Parsing the server response", 1)[0]
        return f"Telegram rejected TELEGRAM_TOKEN (getMe: {said}); check it with @BotFather"
    if isinstance(exc, NetworkError):  # TimedOut included
        return f"cannot reach the Telegram Bot API: {exc.message}"
    if isinstance(exc, TelegramError):
        return f"Telegram refused to start the bot: {exc.message}"
    return None


def _chat(chat_id: str) -> int | str:
    """A numeric chat id as a number; a public channel's `@name` as it is."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


class TelegramSender:
    """`bot.reply.sender.Sender` for Telegram."""

    platform = "telegram"

    def __init__(self, bot: Bot, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.bot = bot
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Send `reply` to `chat_id`, its actions (snooze, acknowledge …) as buttons."""
        rendered = render_reply(reply)
        try:
            await send_reply(
                self.bot, _chat(chat_id), rendered, keyboard_maker(self.engine, reply.actions, self.clock())
            )
        except (RetryAfter, Forbidden, BadRequest) as exc:
            mapped = delivery_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
