"""Who receives scheduled messages, where they are reached, and whose numbers each may see.

Everyone is loaded with two queries (users, teams), so a pass over 200 recipients does not ask the store about each
one; rights are those `metrics.scope` applies to a chat request, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from storage.config.settings import Settings
from storage.schema import Team, User

__all__ = ["DEFAULT_PLATFORMS", "Person", "load_people", "address_of", "zone_of"]

DEFAULT_PLATFORMS = ("telegram", "slack")
"""Where scheduled messages go unless a pass is told otherwise: the chat platforms, in the order a person's
direct messages prefer them (`address_of`)."""


@dataclass(frozen=True)
class Person:
    """An active user as the scheduler needs them."""

    user_id: str
    name: str
    role: str
    team_id: str | None
    timezone: str | None
    locale: str | None
    telegram_user_id: int | None
    slack_user_id: str | None
    managed_team_ids: tuple[str, ...] = ()
    report_ids: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.role == "manager" and bool(self.managed_team_ids)

    def may_see(self, user_id: str) -> bool:
        """Whether this person may see `user_id`'s numbers (own, reports, or everyone for an admin)."""
        return self.is_admin or user_id == self.user_id or user_id in self.report_ids

    def may_see_scope(self, scope_key: str) -> bool:
        """Whether this person may see an alert about `scope_key`: `team:<id>` of a team they manage, `rep:<id>`
        of themselves or a report; `org` and the rule-wide `*` only for an admin."""
        if self.is_admin:
            return True
        kind, _, ref = scope_key.partition(":")
        if kind == "team":
            return ref in self.managed_team_ids
        if kind == "rep":
            return self.may_see(ref)
        return False


def load_people(conn: Connection) -> dict[str, Person]:
    """Every active user by id, with the teams they manage and the people they may drill into."""
    users = conn.execute(select(User).where(User.active.is_(True)).order_by(User.user_id)).mappings().all()
    teams = conn.execute(select(Team.team_id, Team.manager_id)).all()
    managed: dict[str, list[str]] = {}
    for team_id, manager_id in teams:
        if manager_id:
            managed.setdefault(manager_id, []).append(team_id)
    people = {}
    for user in users:
        mine = tuple(sorted(managed.get(user["user_id"], ())))
        reports = frozenset(
            other["user_id"]
            for other in users
            if other["user_id"] != user["user_id"]
            and (other["team_id"] in mine or other["manager_id"] == user["user_id"])
        )
        people[user["user_id"]] = Person(
            user_id=user["user_id"],
            name=user["name"],
            role=user["role"] or "rep",
            team_id=user["team_id"],
            timezone=user["timezone"],
            locale=user["locale"],
            telegram_user_id=user["telegram_user_id"],
            slack_user_id=user["slack_user_id"],
            managed_team_ids=mine,
            report_ids=reports,
        )
    return people


def address_of(person: Person, platforms: Sequence[str]) -> tuple[str, str] | None:
    """The first of `platforms` on which `person` can be reached in a direct message: (platform, chat id)."""
    for platform in platforms:
        if platform == "telegram" and person.telegram_user_id is not None:
            return platform, str(person.telegram_user_id)
        if platform == "slack" and person.slack_user_id:
            return platform, person.slack_user_id
        if platform == "console":
            return platform, person.user_id
    return None


def zone_of(person: Person, settings: Settings) -> ZoneInfo:
    """The person's own time zone, else the organisation's (an unknown zone name falls back too)."""
    try:
        return ZoneInfo(person.timezone) if person.timezone else settings.org.tz
    except (KeyError, ValueError):
        return settings.org.tz
