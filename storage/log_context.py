"""Who and what a log line is about — platform, command, user id, incident id — set where a message is handled and
read by the JSON log format (bot/logs.py), so every line logged while answering carries them without each call
passing them along. Only these fields, and never a message's text."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

__all__ = ["LOG_FIELDS", "bind_log_context", "reset_log_context", "log_context"]

LOG_FIELDS = ("platform", "command", "user_id", "incident")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: ContextVar[Mapping[str, str]] = ContextVar("kpibot_log_context", default=_EMPTY)


def bind_log_context(**fields: str | None) -> Token[Mapping[str, str]]:
    """Add fields (of `LOG_FIELDS`; None leaves one out) to the lines logged from here on in this context; the token
    puts back what was there before (`reset_log_context`)."""
    unknown = set(fields) - set(LOG_FIELDS)
    if unknown:
        raise ValueError(f"not a log context field: {', '.join(sorted(unknown))}")
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None and v != ""}}
    return _context.set(MappingProxyType(merged))


def reset_log_context(token: Token[Mapping[str, str]]) -> None:
    _context.reset(token)


def log_context() -> Mapping[str, str]:
    """The fields bound in this context."""
    return _context.get()
