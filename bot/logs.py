"""Logging set-up: the level from the settings, and no secret ever written to a log line or a stored error.

One `Redactor` is built once from the settings (`Redactor.from_settings`): it blanks out every configured secret
(the settings named in `SECRET_SETTINGS`, and the database URL's password) and anything shaped like a Telegram or
Slack token, configured or not. The same redactor is a logging filter on the root handlers (message, exception
text and stack) and what the delivery outbox passes every error through before storing it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.config.settings import Settings

__all__ = ["MASK", "SECRET_SETTINGS", "Redactor", "RedactSecrets", "configure_logging"]

MASK = "***"

# Every setting that holds a secret. A new one (a CRM's API key …) is covered by adding its name here.
SECRET_SETTINGS = (
    "telegram_token",
    "telegram_webhook_secret",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
)

# Secrets shorter than this are not searched for: blanking every "abc" would garble the text and hide nothing.
_MIN_SECRET = 8

# Token shapes, blanked even when they are not the configured ones (a token pasted into a chat id, another
# workspace's token in an error): a Telegram bot token `<bot id>:<35 characters>`, Slack's bot, user, app,
# refresh and configuration tokens.
_TOKEN_SHAPES = re.compile(
    r"\d+:[A-Za-z0-9_-]{30,}"
    r"|(?:xoxe\.)?xox[abeoprs]-[A-Za-z0-9-]+"
    r"|xapp-[A-Za-z0-9-]+"
)


class Redactor:
    """`redact(text)`: the text with every secret and every token-shaped string replaced by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            if len(secret) >= _MIN_SECRET:
                found.update({secret, quote(secret, safe="")})  # as it is, and as it stands in a URL
        # Longest first, so a secret that contains another is blanked whole.
        self.secrets = sorted(found, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """The redactor for the secrets these settings hold."""
        secrets: list[str] = []
        for name in SECRET_SETTINGS:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value:
                secrets.append(str(value))
        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None
        if password:
            secrets.append(str(password))
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _TOKEN_SHAPES.sub(MASK, text)


class RedactSecrets(logging.Filter):
    """Redacts a record's final message, its exception text and its stack (httpx logs Bot API URLs, which hold the
    token; an exception may quote a request path)."""

    def __init__(self, secrets: Redactor | Iterable[str]) -> None:
        super().__init__()
        self.redact = secrets if isinstance(secrets, Redactor) else Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: the handler reports it as it would have
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # Formatted here, once, so the handler's formatter prints the redacted text instead of its own.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def configure_logging(settings: Settings, *, verbose: bool = False) -> Redactor:
    """Log at KPIBOT_LOG_LEVEL (or DEBUG with -v) to stderr, with every secret blanked out; returns the redactor,
    for what stores errors."""
    level = logging.DEBUG if verbose else getattr(logging, settings.kpibot_log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redact = Redactor.from_settings(settings)
    flt = RedactSecrets(redact)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)
        handler.addFilter(flt)
    return redact
