"""Logging set-up: the level and format from the settings, and no secret ever written to a log line or a stored
error.

`KPIBOT_LOG_FORMAT=json` writes one JSON object a line (`JsonFormatter`): time, level, logger, message, and the
platform, command, user id and incident id of the message being answered (storage/log_context.py), never the
message's text.

The settings' `Redactor` (storage/config/secrets.py) is a logging filter on the root handlers (message, exception
text and stack); the delivery outbox passes every error through the same redactor before storing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from storage.config.secrets import Redactor
from storage.config.settings import Settings
from storage.log_context import LOG_FIELDS, log_context

__all__ = ["RedactSecrets", "JsonFormatter", "configure_logging"]


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


class JsonFormatter(logging.Formatter):
    """One JSON object a line: `time` (UTC, ISO 8601), `level`, `logger`, `message`, the bound context fields that
    are set (`platform`, `command`, `user_id`, `incident`), and `exception` when there is one. It runs after
    `RedactSecrets`, so what it writes is already redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "kpibot_context", None) or log_context()
        entry.update({field: context[field] for field in LOG_FIELDS if field in context})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, *, verbose: bool = False) -> Redactor:
    """Log at KPIBOT_LOG_LEVEL (or DEBUG with -v) to stderr, as text or (KPIBOT_LOG_FORMAT=json) one JSON object a
    line, with every secret blanked out; returns the redactor, for what stores errors."""
    level = logging.DEBUG if verbose else getattr(logging, settings.kpibot_log_level.upper(), logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per Bot API call (a long poll every few seconds) would drown kpibot's own lines at INFO; -v shows them.
    logging.getLogger("httpx").setLevel(logging.NOTSET if verbose else max(level, logging.WARNING))
    redact = Redactor.from_settings(settings)
    flt = RedactSecrets(redact)
    for handler in logging.getLogger().handlers:
        if settings.kpibot_log_format == "json":
            handler.setFormatter(JsonFormatter())
        for old in [f for f in handler.filters if isinstance(f, RedactSecrets)]:
            handler.removeFilter(old)
        handler.addFilter(flt)
    return redact
