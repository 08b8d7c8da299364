"""`kpibot` — the command line: database, import, demo data, metrics, chat, digests and deliveries.

Each package registers its own subcommands (`register(subparsers)`); this module only builds the settings once and
hands them, with an engine, to the chosen command.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from bot.logs import configure_logging
from bot.startup import StartupError
from storage.config.secrets import Redactor
from storage.config.settings import Settings, load_settings
from storage.db import make_engine

__all__ = ["CliContext", "main", "build_parser"]


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


Handler = Callable[[CliContext, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    from alerts import cli as alerts_cli
    from bot import cli_commands as bot_cli
    from bot import invite_cli
    from metrics import cli as metrics_cli
    from storage import cli as storage_cli

    parser = argparse.ArgumentParser(
        prog="kpibot", description="Sales KPIs in Telegram, Slack and the console."
    )
    parser.add_argument("--config", help="path of kpibot.yaml (default: ./kpibot.yaml if present)")
    parser.add_argument("--db", help="database URL (default: $DATABASE_URL or sqlite:///kpibot.db)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (storage_cli, metrics_cli, bot_cli, invite_cli, alerts_cli):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"kpibot: bad configuration: {exc}", file=sys.stderr)
        return 2
    redact = configure_logging(settings, verbose=args.verbose)
    ctx = CliContext(settings=settings, db_url=args.db or settings.database_url, redact=redact)
    try:
        return int(args.handler(ctx, args) or 0)
    except StartupError as exc:  # one line, already redacted; the traceback was logged at debug level
        print(f"kpibot: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:  # the database cannot be reached or opened: the driver's reason, one line
        logging.getLogger(__name__).debug("database failure", exc_info=True)
        reason = " ".join(str(exc.orig or exc).split())
        print(f"kpibot: cannot use the database: {redact(reason)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        ctx.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
