"""Every chat command, declared once: the console, Telegram and Slack serve exactly this list, and /help is made
from it.

A metric command names its catalogue metric and is answered by the conversation (grammar → query → reply). Any
other command carries a `handler(ctx) -> Reply`; other packages add theirs with `register_command` (the scheduler's
/digest /alerts /subscribe /unsubscribe /deliveries, Telegram's /bind), usually at import of their module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from bot.reply.messages import Reply, Request
from metrics.scope import Viewer
from storage.config.settings import Settings

if TYPE_CHECKING:
    from bot.reply.formatting import Formatter
    from bot.reply.i18n import Translator

from storage.schema import PLAN_METRICS

__all__ = [
    "Command",
    "CommandContext",
    "Handler",
    "register_command",
    "get_command",
    "commands",
    "METRIC_COMMANDS",
]


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


_COMMANDS: dict[str, Command] = {}


def register_command(command: Command, *, replace: bool = False) -> Command:
    """Add a command (or, with `replace`, swap the declaration of one with the same name, e.g. /start with invite
    codes). A name or alias already taken by another command is refused."""
    if command.name in _COMMANDS and not replace:
        raise ValueError(f"command /{command.name} declared twice")
    if command.metric is None and command.handler is None:
        raise ValueError(f"command /{command.name} needs a metric or a handler")
    taken = {name: cmd.name for cmd in _COMMANDS.values() if cmd.name != command.name for name in cmd.names}
    clash = [name for name in command.names if name in taken]
    if clash:
        raise ValueError(f"/{command.name}: {clash} already belong to other commands")
    _COMMANDS[command.name] = command
    return command


def _load_builtins() -> None:
    # /help, /start, /whoami, /lang and /leaderboard have handlers that need the replies; importing them here
    # keeps every caller's view of the registry complete.
    import bot.commands.builtin  # noqa: F401


def commands() -> tuple[Command, ...]:
    """Every command, in declaration order (the order of /help)."""
    _load_builtins()
    return tuple(_COMMANDS.values())


def get_command(name: str) -> Command | None:
    """The command called `name` or one of its aliases (case-insensitive, without the slash)."""
    _load_builtins()
    key = name.lower().lstrip("/")
    for command in _COMMANDS.values():
        if key in command.names:
            return command
    return None


METRIC_COMMANDS: tuple[Command, ...] = (
    Command("funnel", "/funnel last month", "help.funnel", "funnel", ("воронка",)),
    Command("activity", "/activity yesterday", "help.activity", "activity", ("активность",)),
    Command(
        "plan",
        "/plan this month",
        "help.plan",
        "plan",
        ("план",),
        option_words=("plan_metric", PLAN_METRICS),
    ),
    Command("retention", "/retention last quarter", "help.retention", "retention", ("удержание",)),
    Command("cycle", "/cycle last quarter", "help.cycle", "cycle", ("цикл",)),
    Command("stages", "/stages last quarter", "help.stages", "stages", ("этапы",)),
    Command("sql", "/sql last month", "help.sql", "sql"),
    Command("winrate", "/winrate last quarter", "help.winrate", "win_rate", ("win_rate", "конверсия")),
    Command("revenue", "/revenue this quarter", "help.revenue", "revenue", ("выручка",)),
    Command("cac", "/cac last quarter", "help.cac", "cac"),
    Command("ltv", "/ltv this year", "help.ltv", "ltv"),
    Command("roi", "/roi last quarter", "help.roi", "roi"),
    Command("email", "/email last month", "help.email", "email", ("рассылка",)),
    Command("mrr", "/mrr last month", "help.mrr", "mrr"),
    Command("cs", "/cs last quarter", "help.cs", "cs"),
)
for _command in METRIC_COMMANDS:
    register_command(_command)
