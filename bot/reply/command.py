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
    # With words it changes something (a setting, a subscription, an alert's state, a group's team, a link); bare
    # it only shows what is set. The bot never runs such a command unasked: a typo of it is asked about, and a
    # suggestion offers it bare, or as `shows` where bare is no use everywhere (`/help bind`: /bind shows only in a
    # group). `may_change` says who may make its changes (None: whoever may use the command).
    changes: bool = False
    shows: str = ""
    may_change: Callable[[Viewer], bool] | None = field(default=None, compare=False)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def read_only_usage(self) -> str:
        """The example a suggestion offers: the usage of a command that only reads, the bare command (which only
        shows) or `shows` of one that changes something."""
        return (self.shows or f"/{self.name}") if self.changes else self.usage

    def changes_allowed(self, viewer: Viewer | None) -> bool:
        """Whether `viewer` may make the changes this command makes (always, for a command that changes nothing)."""
        if not self.changes or self.may_change is None:
            return True
        return viewer is not None and self.may_change(viewer)
