"""Who a chat account is: the CRM user linked to a Telegram or Slack account, if any.

Linking itself (one-time invite codes redeemed with `/start CODE`, bot/invites.py) writes
`users.telegram_user_id` / `users.slack_user_id`, which is all this module reads.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from storage.schema import User

__all__ = ["resolve_user", "PLATFORMS"]

PLATFORMS = ("telegram", "slack")


def resolve_user(conn: Connection, platform: str, platform_user_id: str | int) -> str | None:
    """The active kpibot user linked to this chat account, or None (unlinked, deactivated, or unknown platform)."""
    if platform == "telegram":
        try:
            column_value: int | str = int(platform_user_id)
        except (TypeError, ValueError):
            return None
        condition = User.telegram_user_id == column_value
    elif platform == "slack":
        condition = User.slack_user_id == str(platform_user_id)
    else:
        return None
    row = conn.execute(select(User.user_id, User.active).where(condition)).first()
    if row is None or not row.active:
        return None
    return row.user_id
