"""`kpibot invite USER_ID`: issue a one-time code that links a chat account to a kpibot user.

For Telegram it prints the deep link `https://t.me/<bot>?start=<code>`; the bot's username comes from
`--bot-username` or, when a token is configured, from the Bot API's getMe.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from bot.identity import PLATFORMS
from bot.invites import DEFAULT_INVITE_DAYS, create_invite, telegram_link
from storage.config.settings import Settings
from storage.errors import UserError

__all__ = ["register", "telegram_bot_username"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `kpibot invite`."""
    parser = subparsers.add_parser(
        "invite", help="issue a one-time link that connects a chat account to a user"
    )
    parser.add_argument("user_id", metavar="USER_ID", help="the kpibot (CRM) user id")
    parser.add_argument(
        "--days", type=int, default=DEFAULT_INVITE_DAYS, help="how long the code works (days)"
    )
    parser.add_argument("--platform", choices=PLATFORMS, default="telegram")
    parser.add_argument(
        "--bot-username", help="the Telegram bot's username (default: asked from the Bot API)"
    )
    parser.set_defaults(handler=_invite)


def telegram_bot_username(settings: Settings) -> str | None:
    """The bot's username from getMe, or None without a token or when the Bot API cannot be reached."""
    if settings.telegram_token is None:
        return None
    from telegram.error import TelegramError

    from bot.telegram.api import make_bot

    async def ask() -> str | None:
        async with make_bot(settings) as bot:
            return bot.username

    try:
        return asyncio.run(ask())
    except (TelegramError, OSError):
        return None


def _invite(ctx, args: argparse.Namespace) -> int:
    try:
        invite = create_invite(ctx.engine, args.user_id, now=datetime.now(UTC), days=args.days)
    except UserError as exc:
        print(f"kpibot invite: {exc}", file=sys.stderr)
        return 1
    expires = invite.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    print(f"Invite for {invite.user_name} ({invite.user_id}), valid until {expires}, works once.")
    if args.platform == "telegram":
        username = args.bot_username or telegram_bot_username(ctx.settings)
        if username:
            print(f"Link: {telegram_link(username, invite.code)}")
        else:
            print("(no bot username: pass --bot-username or set TELEGRAM_TOKEN to print the t.me link)")
        print(f"Code: {invite.code}  (or send the bot: /start {invite.code})")
    else:
        print(f"Code: {invite.code}  (send the bot: /kpi start {invite.code})")
    return 0
