"""One-time invite codes that link a chat account to a kpibot (CRM) user.

An admin runs `kpibot invite USER_ID`, sends the person the link, and the person's `/start CODE` links the chat
account they pressed it from. A code expires (7 days by default) and works once: it is marked used in the same
conditional UPDATE that checks it, so two presses racing each other cannot both succeed.

The built-in /start (bot/commands/builtin.py) redeems a code when one follows it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from bot.identity import PLATFORMS
from storage.errors import UserError
from storage.schema import Invite, User
from storage.times import naive_utc

__all__ = [
    "DEFAULT_INVITE_DAYS",
    "IssuedInvite",
    "create_invite",
    "redeem_invite",
    "telegram_link",
]

DEFAULT_INVITE_DAYS = 7


@dataclass(frozen=True)
class IssuedInvite:
    """A fresh code for `user_id`, valid until `expires_at` (UTC)."""

    code: str
    user_id: str
    user_name: str
    expires_at: datetime


def _utc(now: datetime) -> datetime:
    """Naive UTC, as the store keeps timestamps."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return naive_utc(now)


def create_invite(
    engine: Engine, user_id: str, *, now: datetime, days: int = DEFAULT_INVITE_DAYS
) -> IssuedInvite:
    """Issue a one-time code for an active user; valid for `days` days from `now`."""
    if days < 1:
        raise UserError("invite.days", "An invite must be valid for at least one day.")
    with engine.begin() as conn:
        row = conn.execute(select(User.name, User.active).where(User.user_id == user_id)).first()
        if row is None:
            raise UserError("invite.no_user", "There is no user '{user}'.", user=user_id)
        if not row.active:
            raise UserError("invite.inactive", "User '{user}' is deactivated.", user=user_id)
        # 16 URL-safe characters (96 random bits): fits Telegram's deep-link parameter ([A-Za-z0-9_-], ≤ 64).
        code = secrets.token_urlsafe(12)
        created = _utc(now)
        expires = created + timedelta(days=days)
        conn.execute(
            insert(Invite).values(code=code, user_id=user_id, created_at=created, expires_at=expires)
        )
    return IssuedInvite(code, user_id, row.name, expires)


def telegram_link(bot_username: str, code: str) -> str:
    """The deep link that opens the bot and sends `/start CODE`."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


def redeem_invite(
    engine: Engine, code: str, *, platform: str, platform_user_id: str | int, now: datetime
) -> str:
    """Link the chat account to the invite's user and use the code up; the linked user's id.

    Refused with a UserError when the code is unknown, expired or already used, or when this chat account is
    already linked to someone else (an admin must unlink it first: a code must not move another person's link).
    """
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    at = _utc(now)
    account = int(platform_user_id) if platform == "telegram" else str(platform_user_id)
    column = User.telegram_user_id if platform == "telegram" else User.slack_user_id
    with engine.begin() as conn:
        invite = conn.execute(select(Invite).where(Invite.code == code.strip())).first()
        if invite is None:
            raise UserError("invite.unknown", "This invite code is not valid. Ask your admin for a new one.")
        if invite.used_at is not None:
            raise UserError("invite.used", "This invite code was already used. Ask your admin for a new one.")
        if invite.expires_at <= at:
            raise UserError("invite.expired", "This invite code has expired. Ask your admin for a new one.")
        holder = conn.execute(select(User.user_id).where(column == account)).scalar()
        if holder is not None and holder != invite.user_id:
            raise UserError(
                "invite.taken",
                "This account is already linked to another kpibot user. Ask your admin to unlink it.",
            )
        used = conn.execute(
            update(Invite)
            .where(Invite.code == invite.code, Invite.used_at.is_(None), Invite.expires_at > at)
            .values(used_at=at, used_by=f"{platform}:{account}")
        )
        if used.rowcount != 1:  # someone redeemed it between our read and this write
            raise UserError("invite.used", "This invite code was already used. Ask your admin for a new one.")
        conn.execute(update(User).where(User.user_id == invite.user_id).values({column: account}))
    return str(invite.user_id)
