"""What every `kpibot` subcommand gets (`CliContext`); `kpibot db …`, and the registration of `kpibot import …` and
`kpibot demo …`.

run_bot.py builds the parser from each package's `register(subparsers)` and one CliContext from the settings.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from storage.config.secrets import Redactor
from storage.config.settings import Settings
from storage.db import make_engine, upgrade
from storage.demo import cli as demo_cli
from storage.importing import cli as import_cli

__all__ = ["CliContext", "CliHandler", "register"]


@dataclass
class CliContext:
    """What every subcommand gets: the settings and, on first use, an engine on the chosen database."""

    settings: Settings
    db_url: str
    redact: Redactor = field(default_factory=Redactor)  # the settings' secrets, for errors shown or stored
    _engines: list[Engine] = field(default_factory=list)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.db_url)
        self._engines.append(engine)
        return engine

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()


CliHandler = Callable[[CliContext, argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the storage subcommands."""
    db = subparsers.add_parser("db", help="create or upgrade the database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema to the newest version")
    up.set_defaults(handler=_db_upgrade)
    import_cli.register(subparsers)
    demo_cli.register(subparsers)


def _db_upgrade(ctx: CliContext, args: argparse.Namespace) -> int:
    upgrade(ctx.engine)
    print(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")
    return 0
