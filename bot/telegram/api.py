"""Where the Bot API is: Telegram's own servers, or a self-hosted Bot API server given by TELEGRAM_API_BASE_URL."""

from __future__ import annotations

import logging

from telegram import Bot

from storage.config.settings import Settings

__all__ = ["api_urls", "make_bot"]

TELEGRAM_API = "https://api.telegram.org"


def _only_when_debugging(record: logging.LogRecord) -> bool:
    # python-telegram-bot logs an answer that is not JSON (a proxy's HTML 401 page, say) as an error with a
    # traceback, then raises the error kpibot reports in one line (bot/startup.py) or keeps with the delivery: the
    # log record says it again, so it is shown only with -v.
    return logging.getLogger().isEnabledFor(logging.DEBUG)


logging.getLogger("telegram.request.BaseRequest").addFilter(_only_when_debugging)


def api_urls(settings: Settings) -> tuple[str, str]:
    """(base_url, base_file_url) as python-telegram-bot takes them."""
    base = (settings.telegram_api_base_url or TELEGRAM_API).rstrip("/")
    return f"{base}/bot", f"{base}/file/bot"


def make_bot(settings: Settings) -> Bot:
    """A Bot for the configured token and API server (use it as `async with make_bot(settings) as bot`)."""
    if settings.telegram_token is None:
        raise ValueError("TELEGRAM_TOKEN is not set")
    base_url, base_file_url = api_urls(settings)
    return Bot(settings.telegram_token.get_secret_value(), base_url=base_url, base_file_url=base_file_url)
