"""Why kpibot could not start, as one line for the person who runs it — never with a secret in it.

A platform library's own exception is no use to an operator: python-telegram-bot's says "The token `<the whole
token>` was rejected by the server" inside a traceback, slack_sdk's spans three lines around the request URL. Each
platform's sender module turns its failures into a sentence (`startup_failure`, which its service carries as
`startup_failure` too); whatever it does not know becomes `<what>: <type>: <message>`, flattened to one line and
redacted.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Describe", "StartupError", "startup_reason"]


class StartupError(Exception):
    """Starting failed; the message is one line, meant for the operator, and holds no secret."""


Describe = Callable[[BaseException], "str | None"]


def startup_reason(
    service: str, exc: BaseException, redact: Callable[[str], str], describe: Describe | None = None
) -> str:
    """One redacted line saying why `service` (telegram, slack, scheduler …) did not start; `describe` is the
    platform's own wording of its failures (its sender module's `startup_failure`), when it has one."""
    text = (describe(exc) if describe else None) or f"{service} did not start: {type(exc).__name__}: {exc}"
    return redact(" ".join(text.split()))
