"""Logging set-up: the level from the settings, and no secret ever written to a log line."""

from __future__ import annotations

import logging

from storage.config import Settings

__all__ = ["RedactSecrets", "configure_logging"]


class RedactSecrets(logging.Filter):
    """Replaces every configured secret in a record's final message (httpx logs Bot API URLs, which hold the token)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if len(secret) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "***")
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def configure_logging(settings: Settings, *, verbose: bool = False) -> None:
    """Log at KPIBOT_LOG_LEVEL (or DEBUG with -v) to stderr, with the platform tokens blanked out."""
    level = logging.DEBUG if verbose else getattr(logging, settings.kpibot_log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secrets = [
        value.get_secret_value()
        for value in (
            settings.telegram_token,
            settings.telegram_webhook_secret,
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
        )
        if value is not None
    ]
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
