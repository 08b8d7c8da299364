"""The one platform-neutral way to deliver a Reply to a chat; every platform adapter provides a Sender.

The delivery outbox retries by what a Sender raises: `DeliveryError(retry_after=…)` for a rate limit (429),
`DeliveryError(permanent=True)` for what will never work (chat not found, bot blocked), anything else as a
transient failure with exponential backoff.
"""

from __future__ import annotations

from typing import Protocol

from bot.reply.messages import Reply

__all__ = ["DeliveryError", "Sender"]


class DeliveryError(Exception):
    """A platform refused a message; says whether and when to try again."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Sender(Protocol):
    """Delivers replies to one platform's chats (a user's DM, a group, a channel)."""

    platform: str

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Send `reply` (text and charts) to `chat_id`; raise DeliveryError or any exception on failure."""
        ...
