"""kpibot in Telegram: a python-telegram-bot Application driven inside kpibot's own event loop.

Polling by default. With `TELEGRAM_WEBHOOK_URL`, Telegram posts updates to a route on kpibot's shared HTTP server
(the URL's path, `/telegram/webhook` by default) and every post must carry `TELEGRAM_WEBHOOK_SECRET` in the
`X-Telegram-Bot-Api-Secret-Token` header (403 without it); PTB's own webhook server is not used, so Telegram, Slack
and health checks share one port. A body that is not an update as the Bot API documents it (`bot.shapes`: an object
with an integer `update_id`, messages and button presses with the fields kpibot reads, of the right types) is a 400,
and an update already answered — Telegram redelivers one it got no 200 for — is acknowledged and dropped
(`bot.replays`, a memory shared through the database by every instance behind the webhook URL). `TELEGRAM_API_BASE_URL` points the bot at a self-hosted Bot API server.

Flood control is PTB's AIORateLimiter (Telegram's 30 messages/s overall, 20/min per group), which also waits out
a 429's `retry_after` and tries again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import urlsplit

from aiohttp import web
from telegram import BotCommand, Update
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, MessageHandler, filters

from bot.replays import first_delivery, request_key
from bot.reply.command import CommandSet
from bot.reply.i18n import translator
from bot.serve import Runtime
from bot.shapes import load_json, malformed
from bot.telegram.api import api_urls
from bot.telegram.handlers import TelegramChat
from bot.telegram.sender import TelegramSender, startup_failure

__all__ = ["TelegramService", "menu_commands", "DEFAULT_WEBHOOK_PATH"]

log = logging.getLogger(__name__)

DEFAULT_WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_MENU_NAME = re.compile(r"[a-z0-9_]{1,32}")
_RETRIES = 3  # 429s waited out per request before giving up
# Telegram keeps an update it could not deliver for up to 24 hours, retrying all along: remember one a little longer.
REPLAY_MEMORY = timedelta(hours=25)

_USER = {"id": int, "is_bot": bool, "first_name": str, "language_code?": str, "username?": str}
_CHAT = {"id": int, "type": str}
_MESSAGE = {"message_id": int, "date": int, "chat": _CHAT, "from?": _USER, "text?": str}
UPDATE_SHAPE = {
    "update_id": int,
    "message?": _MESSAGE,
    "callback_query?": {
        "id": str,
        "from": _USER,
        "chat_instance?": str,
        "data?": str,
        "message?": {"message_id": int, "date": int, "chat": _CHAT},
    },
}


def menu_commands(commands: CommandSet, locale: str) -> list[BotCommand]:
    """The command menu in one language: every command a user can run, with its help line (admin ones left out)."""
    t = translator(locale)
    menu = []
    for command in commands:
        if command.admin_only or not _MENU_NAME.fullmatch(command.name):
            continue
        description = t(command.help_key, command.help_text or command.usage).strip().splitlines()[0]
        menu.append(BotCommand(command.name, description[:256] or command.usage))
    return menu[:100]


class TelegramService:
    """The Telegram platform service: `start()` connects and begins serving, `stop()` lets go."""

    name = "telegram"
    startup_failure = staticmethod(startup_failure)  # why it did not start, in one line

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        self.runtime = runtime
        self.commands = runtime.conversation.registry
        self.webhook_url: str | None = settings.telegram_webhook_url or None
        self._secret = (
            settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
        )
        if self.webhook_url and not self._secret:
            raise ValueError("TELEGRAM_WEBHOOK_SECRET is required with TELEGRAM_WEBHOOK_URL")
        builder = (
            Application.builder()
            .token(settings.telegram_token.get_secret_value())
            .rate_limiter(AIORateLimiter(max_retries=_RETRIES))
            .concurrent_updates(32)
        )
        base_url, base_file_url = api_urls(settings)
        builder = builder.base_url(base_url).base_file_url(base_file_url)
        if self.webhook_url:
            builder = builder.updater(None)
        self.app = builder.build()
        clock = cast(Callable[[], datetime], runtime.clock or (lambda: datetime.now(UTC)))
        self.clock = clock
        self.chat = TelegramChat(runtime.engine, runtime.conversation, clock)
        self.app.add_handler(MessageHandler(filters.TEXT & filters.UpdateType.MESSAGE, self.chat.on_message))
        self.app.add_handler(CallbackQueryHandler(self.chat.on_button))
        self.app.add_error_handler(self.chat.on_error)
        self.sender = TelegramSender(self.app.bot, runtime.engine, clock)
        if self.webhook_url:
            self.webhook_path = urlsplit(self.webhook_url).path.rstrip("/") or DEFAULT_WEBHOOK_PATH
            runtime.http.router.add_post(self.webhook_path, self._webhook)

    async def start(self) -> None:
        await self.app.initialize()  # getMe: a wrong token fails here, before anything is served
        await self.app.bot.set_my_commands(menu_commands(self.commands, "en"))
        await self.app.bot.set_my_commands(menu_commands(self.commands, "ru"), language_code="ru")
        await self.app.start()
        allowed = [Update.MESSAGE, Update.CALLBACK_QUERY]
        if self.webhook_url:
            await self.app.bot.set_webhook(
                self.webhook_url, secret_token=self._secret, allowed_updates=allowed
            )
            log.info("telegram: webhook mode on %s", self.webhook_path)
        else:
            assert self.app.updater is not None
            await self.app.updater.start_polling(allowed_updates=allowed)
            log.info("telegram: polling as @%s", self.app.bot.username)
        self.runtime.senders["telegram"] = self.sender

    def health(self) -> tuple[bool, str]:
        """Connected: the application runs and, without a webhook, its long polling does (`/readyz`)."""
        if not self.app.running:
            return False, "telegram is not running"
        if self.webhook_url is None and (self.app.updater is None or not self.app.updater.running):
            return False, "telegram polling has stopped"
        return True, "ok"

    async def stop(self) -> None:
        # The webhook stays registered: other instances behind the same URL keep serving.
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def _webhook(self, request: web.Request) -> web.Response:
        """One update from Telegram: only with the right secret, only if it is an update, only the first time;
        queued for the application at once."""
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=403, text="forbidden")
        data, reason = load_json(await request.read())
        if reason is None:
            reason = malformed(data, UPDATE_SHAPE, "update")
        update = None
        if reason is None:
            try:
                update = Update.de_json(data, self.app.bot)
            # A shape the check did not foresee.
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                reason = f"not an update ({type(exc).__name__})"
        if update is None:
            log.warning("telegram: refused a webhook post: %s", reason)
            return web.Response(status=400, text="bad update")
        key = request_key("telegram", str(self.app.bot.id), str(update.update_id))
        first = await asyncio.to_thread(
            first_delivery, self.runtime.engine, key, now=self.clock(), keep=REPLAY_MEMORY
        )
        if first:
            await self.app.update_queue.put(update)
        else:
            log.info("telegram: dropped update %s, already answered", update.update_id)
        return web.Response(text="ok")
