"""Subcommands of `kpibot` that belong to this package: `run` (chat platforms, or the console chat) and `ask`."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from bot.registry import Registry
from storage.cli import CliContext

if TYPE_CHECKING:
    from bot.serve import ServicesFactory

__all__ = ["register"]


def _add_chat_options(parser: argparse.ArgumentParser, *, default_user: str | None) -> None:
    # `--db` again after the subcommand (`kpibot run --db …`); SUPPRESS keeps the global one when absent.
    parser.add_argument("--db", default=argparse.SUPPRESS, help="database URL (as the global --db)")
    parser.add_argument(
        "--as",
        dest="as_user",
        default=default_user,
        required=default_user is None,
        metavar="USER_ID",
        help=f"chat as this kpibot user (default: {default_user})"
        if default_user
        else "chat as this kpibot user",
    )
    parser.add_argument("--lang", choices=("en", "ru"), help="answer in this language")
    parser.add_argument(
        "--charts-dir", default="charts", type=Path, help="where charts are saved (default: ./charts)"
    )
    parser.add_argument(
        "--now",
        type=_moment,
        metavar="ISO_DATETIME",
        help="answer as if it were this moment, e.g. 2026-11-20T12:00+00:00 (default: the clock)",
    )


def _moment(text: str) -> datetime:
    """A fixed "now" for the console: replaying what the bot said on a given day, or a test's fixed clock."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date and time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(
    subparsers: argparse._SubParsersAction, *, registry: Registry, services: ServicesFactory
) -> None:
    """Add this package's subcommands: they chat with `registry`'s commands; `run` serves `services(runtime)`."""
    run = subparsers.add_parser(
        "run",
        help="serve Telegram/Slack when their tokens are set, else chat in the console on the demo data",
        description="With TELEGRAM_TOKEN and/or SLACK_BOT_TOKEN: serve those platforms and the scheduler. "
        "Without: migrate the database, build the demo organisation if it has no users, and chat here.",
    )
    _add_chat_options(run, default_user="mgr-1")
    run.set_defaults(handler=partial(_run, registry=registry, services=services))
    ask = subparsers.add_parser("ask", help="answer one chat message and exit (1: user error, 2: failure)")
    ask.add_argument("text", help='the message, e.g. "/funnel last month by rep"')
    _add_chat_options(ask, default_user=None)
    ask.set_defaults(handler=partial(_ask, registry=registry))


def _clock() -> datetime:
    return datetime.now(UTC)


def _chat(ctx: CliContext, args: argparse.Namespace, registry: Registry):
    from bot.console import ConsoleChat
    from bot.conversation import Conversation

    return ConsoleChat(
        conversation=Conversation(ctx.engine, ctx.settings, registry, rate_limited=False),
        settings=ctx.settings,
        user_id=args.as_user,
        charts_dir=args.charts_dir,
        clock=(lambda: args.now) if args.now else _clock,
        locale=args.lang,
    )


def _run(ctx: CliContext, args: argparse.Namespace, *, registry: Registry, services: ServicesFactory) -> int:
    settings = ctx.settings
    if settings.telegram_token or settings.slack_bot_token:
        import asyncio

        from bot.conversation import Conversation
        from bot.serve import Runtime, serve
        from storage.db import upgrade

        upgrade(ctx.engine)
        runtime = Runtime(
            settings=settings,
            engine=ctx.engine,
            conversation=Conversation(ctx.engine, settings, registry),
            redact=ctx.redact,
        )
        asyncio.run(serve(runtime, services))
        return 0

    from bot.console import interactive_lines, prepare_database, user_exists

    prepare_database(
        ctx.engine, settings, today_for_demo=lambda: (args.now or _clock()).astimezone(settings.org.tz).date()
    )
    if not user_exists(ctx.engine, args.as_user):
        print(
            f"kpibot: there is no user '{args.as_user}' in this database (use --as USER_ID)", file=sys.stderr
        )
        return 2
    chat = _chat(ctx, args, registry)
    interactive = sys.stdin.isatty()
    return chat.run(interactive_lines() if interactive else sys.stdin, interactive=interactive)


def _ask(ctx: CliContext, args: argparse.Namespace, *, registry: Registry) -> int:
    from bot.console import user_exists

    if not user_exists(ctx.engine, args.as_user):
        print(f"kpibot: there is no user '{args.as_user}' in this database", file=sys.stderr)
        return 2
    reply = _chat(ctx, args, registry).answer(args.text)
    return {"user_error": 1, "failure": 2}.get(reply.kind, 0)
