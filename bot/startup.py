"""Why kpibot could not start, as one line for the person who runs it — never with a secret in it.

A platform library's own exception is no use to an operator: python-telegram-bot's says "The token `<the whole
token>` was rejected by the server" inside a traceback, slack_sdk's spans three lines around the request URL. Each
platform's sender module turns its failures into a sentence (`startup_failure`); whatever it does not know becomes
`<what>: <type>: <message>`, flattened to one line and redacted.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["StartupError", "startup_reason"]


class StartupError(Exception):
    """Starting failed; the message is one line, meant for the operator, and holds no secret."""


def _platform_text(service: str, exc: BaseException) -> str | None:
    # Imported only for the platform that failed: its library is loaded already, the other's may not be.
    if service == "telegram":
        from bot.telegram.sender import startup_failure

        return startup_failure(exc)
    if service == "slack":
        from bot.slack.sender import startup_failure as slack_failure

        return slack_failure(exc)
    return None


def startup_reason(service: str, exc: BaseException, redact: Callable[[str], str]) -> str:
    """One redacted line saying why `service` (telegram, slack, scheduler …) did not start."""
    text = _platform_text(service, exc) or f"{service} did not start: {type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))
