"""kpibot's one place of wiring: the settings once, the command registry, the services with their senders, the CLI.

    python run_bot.py            # = `kpibot run`: the configured chat platforms, else the console chat on demo data
    kpibot COMMAND …             # every subcommand (`kpibot --help`)

Nothing here computes or answers anything; it chooses which parts run and hands each the others it needs, so no
package has to import one above or beside it (the layer contract in pyproject.toml keeps them so).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence

from sqlalchemy.exc import OperationalError

from alerts import cli as alerts_cli
from alerts.chat import COMMANDS as ALERT_COMMANDS
from alerts.service import SchedulerService
from bot import cli as bot_cli
from bot import invite_cli
from bot.commands.bind import BIND_COMMAND
from bot.commands.builtin import BUILTIN_COMMANDS
from bot.commands.metric import METRIC_COMMANDS
from bot.commands.syncs import SYNCS_COMMAND
from bot.logs import configure_logging
from bot.registry import Registry
from bot.reply.sender import Sender
from bot.serve import Runtime, Service
from bot.startup import StartupError, startup_reason
from metrics import cli as metrics_cli
from storage import cli as storage_cli
from storage.cli import CliContext
from storage.config.settings import config_problem, load_settings
from storage.crm import cli as crm_cli
from storage.crm.cli import CONNECTORS as CRM_CONNECTORS

__all__ = ["build_registry", "build_services", "open_senders", "build_parser", "main"]


def build_registry() -> Registry:
    """Every chat command, in the order of /help: the metrics, the account commands, the scheduler's digests, alerts
    and deliveries, the CRM syncs, and /bind. The same list on every platform, whichever of them run."""
    return Registry((*METRIC_COMMANDS, *BUILTIN_COMMANDS, *ALERT_COMMANDS, SYNCS_COMMAND, BIND_COMMAND))


def build_services(runtime: Runtime) -> list[Service]:
    """The services the settings ask for: Telegram, Slack, and the scheduler whenever a platform is on (it sends
    through the senders the platform services put into `runtime.senders` when they start, and syncs each CRM
    that is configured)."""
    settings = runtime.settings
    services: list[Service] = []
    if settings.telegram_token:
        from bot.telegram.service import TelegramService

        services.append(TelegramService(runtime))
    if settings.slack_bot_token:
        from bot.slack.service import SlackService

        services.append(SlackService(runtime))
    if services:
        services.append(SchedulerService(runtime, CRM_CONNECTORS))
    return services


@contextlib.asynccontextmanager
async def open_senders(ctx: CliContext, registry: Registry) -> AsyncIterator[dict[str, Sender]]:
    """A sender for each platform whose token is set (none when no token is), for one CLI pass of the scheduler."""
    settings = ctx.settings
    async with contextlib.AsyncExitStack() as stack:
        senders: dict[str, Sender] = {}
        if settings.telegram_token is not None:
            from bot.telegram.api import make_bot
            from bot.telegram.sender import TelegramSender, startup_failure

            try:
                bot = await stack.enter_async_context(
                    make_bot(settings)
                )  # getMe: a rejected token fails here
            except Exception as exc:
                raise StartupError(startup_reason("telegram", exc, ctx.redact, startup_failure)) from exc
            senders["telegram"] = TelegramSender(bot, ctx.engine)
        if settings.slack_bot_token is not None:
            from bot.slack.sender import SlackSender
            from bot.slack.service import make_client

            client = make_client(
                settings.slack_bot_token.get_secret_value(),
                settings.slack_api_base_url,
                wait_out_rate_limits=False,
            )
            senders["slack"] = SlackSender(client, registry.names)
        yield senders


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    """`kpibot` and every package's subcommands, each handed what it needs from here."""
    registry = build_registry() if registry is None else registry
    parser = argparse.ArgumentParser(
        prog="kpibot", description="Sales KPIs in Telegram, Slack and the console."
    )
    parser.add_argument("--config", help="path of kpibot.yaml (default: ./kpibot.yaml if present)")
    parser.add_argument("--db", help="database URL (default: $DATABASE_URL or sqlite:///kpibot.db)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    storage_cli.register(subparsers)
    crm_cli.register(subparsers)
    metrics_cli.register(subparsers)
    bot_cli.register(subparsers, registry=registry, services=build_services)
    invite_cli.register(subparsers)
    alerts_cli.register(subparsers, senders=lambda ctx: open_senders(ctx, registry))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`kpibot …`: parse, build the settings once, run the chosen subcommand; errors as one line, never a secret."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        settings = load_settings(args.config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"kpibot: bad configuration: {config_problem(exc)}", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
