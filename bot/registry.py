"""The one list of chat commands a conversation serves: the console, Telegram and Slack serve exactly this list,
and /help is made from it.

A `Registry` is built once, from declarations assembled in run_bot.py (bot/commands/, alerts/chat.py), and passed
to the conversation; nothing is added by importing a module, and the list does not depend on which platforms run.
A metric command names its catalogue metric and is answered by the conversation (grammar → query → reply); any
other command carries a `handler(ctx) -> Reply`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from bot.reply.command import Command

__all__ = ["Registry"]


class Registry:
    """Commands in declaration order (the order of /help); a name or alias given twice is refused."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self._commands: tuple[Command, ...] = tuple(commands)
        owners: dict[str, str] = {}
        for command in self._commands:
            if command.metric is None and command.handler is None:
                raise ValueError(f"command /{command.name} needs a metric or a handler")
            if command.name in owners and owners[command.name] == command.name:
                raise ValueError(f"command /{command.name} declared twice")
            clash = [name for name in command.names if name in owners]
            if clash:
                raise ValueError(f"/{command.name}: {clash} already belong to other commands")
            owners.update(dict.fromkeys(command.names, command.name))
        self._by_name = {name: command for command in self._commands for name in command.names}

    def __iter__(self) -> Iterator[Command]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)

    def get(self, name: str) -> Command | None:
        """The command called `name` or one of its aliases (case-insensitive, with or without the slash)."""
        return self._by_name.get(name.lower().lstrip("/"))

    @property
    def names(self) -> frozenset[str]:
        """Every name and alias."""
        return frozenset(self._by_name)

    def with_changes(self, name: str, **changes: object) -> Registry:
        """The same commands with one declaration changed (`with_changes("funnel", chart=False)`)."""
        return Registry(replace(c, **changes) if c.name == name else c for c in self._commands)  # type: ignore[arg-type]
