"""Who is asking in Slack: the kpibot user linked to a Slack account, found once by the profile's email.

The first time someone writes, their `users.slack_user_id` is usually empty. Slack's users.info gives the profile's
email (scope `users:read.email`); an active kpibot user with that email and no Slack account yet is linked on the
spot, so every later request is one indexed lookup and users.info is not asked again. An email is trusted because
Slack only shows confirmed addresses; a kpibot user already linked to another Slack account is never re-linked by
email (that would let a second account take over someone's numbers) — an admin unlinks it first, or sends an invite
code (`/kpi start CODE`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, func, select, update

from bot.identity import resolve_user
from bot.reply.i18n import normalize_locale
from storage.schema import User

__all__ = ["SlackPerson", "link_by_email", "SlackIdentity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackPerson:
    """A Slack account as kpibot sees it: the linked user (None: unlinked), their Slack email and language."""

    slack_user_id: str
    user_id: str | None
    email: str | None = None
    locale: str | None = None


def link_by_email(engine: Engine, slack_user_id: str, email: str) -> str | None:
    """Link the Slack account to the one active kpibot user with this email who has no Slack account yet."""
    address = email.strip().lower()
    if not address:
        return None
    with engine.begin() as conn:
        found = conn.execute(
            select(User.user_id, User.slack_user_id)
            .where(func.lower(User.email) == address, User.active.is_(True))
            .limit(2)
        ).all()
        if len(found) != 1:  # nobody, or two people share the address: an admin has to decide
            return None
        user_id, linked = found[0]
        if linked is not None:
            return str(user_id) if linked == slack_user_id else None
        taken = conn.execute(select(User.user_id).where(User.slack_user_id == slack_user_id)).scalar()
        if taken is not None:  # this Slack account already belongs to someone (an inactive user)
            return None
        conn.execute(
            update(User)
            .where(User.user_id == user_id, User.slack_user_id.is_(None))
            .values(slack_user_id=slack_user_id)
        )
    log.info("slack: linked %s to %s by email", slack_user_id, user_id)
    return str(user_id)


class SlackIdentity:
    """Resolves Slack accounts to kpibot users, asking users.info only for accounts not linked yet."""

    def __init__(self, engine: Engine, client: AsyncWebClient) -> None:
        self.engine = engine
        self.client = client

    def _linked(self, slack_user_id: str) -> str | None:
        with self.engine.connect() as conn:
            return resolve_user(conn, "slack", slack_user_id)

    async def person(self, slack_user_id: str) -> SlackPerson:
        """The kpibot user behind `slack_user_id`, linking by email on first contact."""
        user_id = await asyncio.to_thread(self._linked, slack_user_id)
        if user_id is not None:
            return SlackPerson(slack_user_id, user_id)
        try:
            info = await self.client.users_info(user=slack_user_id, include_locale=True)
        except SlackApiError as exc:
            log.warning("slack: users.info for %s failed: %s", slack_user_id, exc.response.get("error"))
            return SlackPerson(slack_user_id, None)
        member = info.get("user") or {}
        email = (member.get("profile") or {}).get("email")
        locale = normalize_locale(member.get("locale"))
        if member.get("deleted") or member.get("is_bot") or not email:
            return SlackPerson(slack_user_id, None, email, locale)
        user_id = await asyncio.to_thread(link_by_email, self.engine, slack_user_id, email)
        return SlackPerson(slack_user_id, user_id, email, locale)
