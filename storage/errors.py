"""The one error type a user can cause; anything else is a bug and becomes an apology with an incident id."""

from __future__ import annotations

from typing import Any

__all__ = ["UserError", "PermissionDenied"]


class UserError(Exception):
    """A mistake the asker can fix (bad period, unknown rep, …).

    `key` names a message in the catalogue (bot/reply/locales); `params` fill it in; `text` is the English wording used
    where no catalogue is at hand (the CLI, logs).
    """

    # Positional-only, so a message may have a parameter called `text` ("I don't understand the period '{text}'").
    def __init__(self, key: str, text: str, /, **params: Any) -> None:
        super().__init__(text.format(**params) if params else text)
        self.key = key
        self.text = text
        self.params = params


class PermissionDenied(UserError):
    """A request beyond the asker's rights; the message names what they may see."""
