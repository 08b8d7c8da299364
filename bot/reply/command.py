"""What a chat command is: its declaration (`Command`), what its handler gets (`CommandContext`) and returns (a
`Reply`).

The declarations live with the code that answers them (bot/commands/, alerts/chat.py); the one list of every
command is assembled in run_bot.py into a `bot.registry.Registry`, which the console, Telegram and Slack all serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.reply.messages import Reply, Request
from metrics.scope import Viewer
from storage.config.settings import Settings

if TYPE_CHECKING:
    from bot.reply.formatting import Formatter
    from bot.reply.i18n import Translator

__all__ = ["Command", "CommandContext", "CommandSet", "Handler"]


class CommandSet(Protocol):
    """The commands a conversation serves, in order: what a handler may look up (/help)."""

    def __iter__(self) -> Iterator[Command]: ...

    def get(self, name: str) -> Command | None: ...


@dataclass(frozen=True)
class CommandContext:
    """What a command handler gets: the store, the settings, who asks (viewer None while unlinked), in which
    language and zone, and the words after the command."""

    engine: Engine
    settings: Settings
    request: Request
    command: Command
    viewer: Viewer | None
    locale: str
    tz: ZoneInfo
    words: tuple[str, ...]
    t: Translator
    fmt: Formatter
    commands: CommandSet  # every command the conversation serves (what /help lists)

    @property
    def args_text(self) -> str:
        return " ".join(self.words)


Handler = Callable[[CommandContext], Reply]


@dataclass(frozen=True)
class Command:
    """One chat command.

    `usage` is the example shown after "Try:" (`/funnel last month`); `help_key` names its help text in the message
    catalogue, `help_text` is the English fallback for commands declared outside this package. A metric command
    sets `metric`; `options` are the MetricQuery options it always sends; `option_words` lets a word after the
    command choose a metric option (`/plan calls` → plan_metric=calls).
    """

    name: str
    usage: str
    help_key: str
    metric: str | None = None
    aliases: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    option_words: tuple[str, tuple[str, ...]] | None = None
    chart: bool = True
    admin_only: bool = False
    allowed_for_unlinked: bool = False
    handler: Handler | None = field(default=None, compare=False)
    help_text: str = ""
    group: str = "metrics"  # "metrics", "team" (scheduler, alerts), "account" (help, language, linking)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)
