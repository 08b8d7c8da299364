"""The platform-neutral conversation types: one frozen Request in, one Reply out.

Adapters (console, Telegram, Slack) only translate platform events into a Request and render a Reply; they hold no
metric logic, no SQL and no permission checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from metrics.result import Table

__all__ = ["Request", "Span", "Line", "Chart", "Action", "Reply"]


@dataclass(frozen=True)
class Request:
    """One message to the bot. `user_id` is the kpibot (CRM) user, None while the chat account is not linked."""

    platform: Literal["console", "telegram", "slack", "scheduler"]
    text: str  # "/funnel last month by rep" (the leading slash is optional)
    now: datetime  # tz-aware
    user_id: str | None
    platform_user_id: str = ""
    chat_id: str = ""
    chat_type: Literal["private", "group"] = "private"
    locale: str | None = None  # None: the user's stored locale, else the org's
    timezone: str | None = None  # None: the user's stored zone, else the org's
    bound_team_id: str | None = None  # a group chat bound to a team answers at team level


@dataclass(frozen=True)
class Span:
    """A run of text; adapters escape `text` for their markup and apply the emphasis."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False


Line = tuple[Span, ...]


@dataclass(frozen=True)
class Chart:
    """A rendered PNG with a short caption (Telegram captions are limited to 1024 characters)."""

    filename: str
    png: bytes
    caption: str = ""
    alt_text: str = ""


@dataclass(frozen=True)
class Action:
    """A follow-up a platform can show as a button: pressing it runs `command` and replaces the reply."""

    label: str
    command: str


@dataclass(frozen=True)
class Reply:
    """What the bot answers: a title, lines of text, an optional table, charts and follow-up actions."""

    title: str = ""
    lines: tuple[Line, ...] = ()
    table: Table | None = None
    charts: tuple[Chart, ...] = ()
    actions: tuple[Action, ...] = ()
    kind: Literal["answer", "user_error", "failure", "info"] = "answer"
    incident_id: str | None = None
    footer: str = ""  # the context line: period, scope and definition
    extra: dict = field(default_factory=dict, compare=False)  # platform-neutral extras (e.g. locale used)

    @property
    def plain_text(self) -> str:
        """The reply as plain text (the console's rendering, also used for previews and logs)."""
        parts = [self.title] if self.title else []
        parts += ["".join(span.text for span in line) for line in self.lines]
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)
