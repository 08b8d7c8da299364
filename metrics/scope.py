"""Who is asking, whose numbers they asked for, and whether they may see them (SPEC section 2).

Permissions live here, in the core, so every adapter, digest and alert gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Connection,
    String,
    bindparam,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)

from storage.config.settings import Settings
from storage.errors import PermissionDenied, UserError
from storage.schema import Team, User

__all__ = [
    "Viewer",
    "Scope",
    "ResolvedScope",
    "load_viewer",
    "resolve_scope",
    "default_scope",
    "SYSTEM_VIEWER",
    "visible_people",
    "sees_org",
]

ScopeKind = Literal["me", "rep", "team", "org"]


@dataclass(frozen=True)
class Viewer:
    """The asker, as the store knows them."""

    user_id: str
    name: str
    role: Literal["rep", "manager", "admin"]
    team_id: str | None
    managed_team_ids: tuple[str, ...]  # teams whose manager they are
    report_ids: tuple[str, ...]  # everyone they may drill into (members of managed teams, direct reports)
    timezone: str | None = None
    locale: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM_VIEWER = Viewer("kpibot:scheduler", "kpibot", "admin", None, (), ())
"""The scheduler's identity, handed to `query(..., viewer=SYSTEM_VIEWER)` as an object — never looked up by id, so
no CRM user can take it on: it computes for recipients whose rights it checks itself."""


@dataclass(frozen=True)
class Scope:
    """What was asked for: `me`, a rep (`ref` = user id or name), a team (`ref` = id or name; None = my team), `org`."""

    kind: ScopeKind = "me"
    ref: str | None = None


@dataclass(frozen=True)
class ResolvedScope:
    """Whose numbers a result holds. `owner_ids` None means the whole organisation (no owner restriction)."""

    kind: Literal["rep", "team", "org"]
    label: str
    owner_ids: tuple[str, ...] | None
    user_id: str | None = None
    team_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Stable id for idempotency and alert state keys."""
        if self.kind == "rep":
            return f"rep:{self.user_id}"
        if self.kind == "team":
            return "team:" + ",".join(self.team_ids)
        return "org"


def _viewer_statement() -> CompoundSelect:
    """The asker, the teams they manage and everyone they may drill into, as one statement of tagged rows.

    Built once: every chat message starts with this lookup, and a statement built anew costs more in Python than
    the three small reads take in the database; one statement is also one round trip instead of three.
    """
    asker: BindParameter[str] = bindparam("viewer_id", type_=String)
    managed = select(Team.team_id).where(Team.manager_id == asker)
    nothing = [null()] * 6
    return union_all(
        select(
            literal_column("'user'").label("kind"),
            User.user_id.label("id"),
            User.name,
            User.role,
            User.team_id,
            User.timezone,
            User.locale,
            User.active,
        ).where(User.user_id == asker),
        select(literal_column("'team'"), Team.team_id, *nothing).where(Team.manager_id == asker),
        select(literal_column("'report'"), User.user_id, *nothing).where(
            User.user_id != asker, or_(User.team_id.in_(managed), User.manager_id == asker)
        ),
    ).order_by("kind", "id")


_VIEWER = _viewer_statement()


def load_viewer(conn: Connection, user_id: str) -> Viewer:
    """The viewer with their managed teams and reports; UserError when the id is unknown or inactive."""
    user = None
    managed: list[str] = []
    reports: list[str] = []
    for kind, found, *columns in conn.execute(_VIEWER, {"viewer_id": user_id}).all():
        if kind == "user":
            user = (found, *columns)
        elif kind == "team":
            managed.append(found)
        else:
            reports.append(found)
    if user is None or not user[6]:
        raise UserError("user.unknown", "I don't know the user '{user}'.", user=user_id)
    found_id, name, role, team_id, timezone, locale, _active = user
    return Viewer(
        user_id=found_id,
        name=name,
        role=role or "rep",
        team_id=team_id,
        managed_team_ids=tuple(managed),
        report_ids=tuple(reports),
        timezone=timezone,
        locale=locale,
    )


def default_scope(viewer: Viewer) -> Scope:
    """A rep's default is themselves, a manager's their team, an admin's the organisation."""
    if viewer.role == "admin":
        return Scope("org")
    if viewer.role == "manager" and viewer.managed_team_ids:
        return Scope("team")
    return Scope("me")


def sees_org(viewer: Viewer, settings: Settings) -> bool:
    """Whether the viewer may see the whole organisation's numbers: an admin, or anyone when
    `org.reps_see_org_totals` is on."""
    return viewer.is_admin or settings.org.reps_see_org_totals


def _what_you_may_see(viewer: Viewer, settings: Settings) -> str:
    if viewer.role == "manager" and viewer.managed_team_ids:
        return "your team(s) and each member"
    if settings.org.reps_see_org_totals:
        return "your own numbers and the org totals"
    return "your own numbers"


def _deny(
    viewer: Viewer,
    settings: Settings,
    what: str,
    *,
    denied: Literal["person", "team", "org"],
    ref: str = "",
) -> PermissionDenied:
    # `denied` and `ref` let a chat say the same thing in the asker's language without parsing `what`.
    return PermissionDenied(
        "scope.denied",
        "You can't see {what}. You can see {allowed}.",
        what=what,
        allowed=_what_you_may_see(viewer, settings),
        denied=denied,
        ref=ref,
    )


def _find_user(conn: Connection, ref: str, among: tuple[str, ...] | None = None) -> dict | None:
    """The user `ref` names — id, name, email or Slack id — looked up only `among` these ids when given."""
    ref = ref.lstrip("@")
    allowed = true() if among is None else User.user_id.in_(among)
    row = conn.execute(select(User).where(User.user_id == ref, allowed)).mappings().first()
    if row is None:
        matches = (
            conn.execute(
                select(User).where(
                    or_(
                        func.lower(User.name) == ref.lower(),
                        func.lower(User.email) == ref.lower(),
                        func.lower(User.slack_user_id) == ref.lower(),
                    ),
                    allowed,
                )
            )
            .mappings()
            .all()
        )
        if len(matches) > 1:
            raise UserError(
                "scope.ambiguous", "More than one person is called '{ref}'; use their id.", ref=ref
            )
        row = matches[0] if matches else None
    return dict(row) if row is not None else None


def visible_people(viewer: Viewer) -> tuple[str, ...] | None:
    """The ids whose numbers `viewer` may see: themselves and their reports; None (everyone) for an admin."""
    return None if viewer.is_admin else (viewer.user_id, *viewer.report_ids)


def _find_team(conn: Connection, ref: str, among: tuple[str, ...] | None = None) -> dict | None:
    allowed = true() if among is None else Team.team_id.in_(among)
    row = (
        conn.execute(
            select(Team).where(or_(Team.team_id == ref, func.lower(Team.name) == ref.lower()), allowed)
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _team_names_and_members(conn: Connection, team_ids: tuple[str, ...]) -> tuple[list[str], tuple[str, ...]]:
    """The teams' names, and their sellers: their users except managers and admins, who lead a team rather than
    sell in it (their own records still count under their own name), so a team breakdown lists reps only.

    One statement of tagged rows, as the viewer's lookup is: a manager's every answer starts with it."""
    stmt: CompoundSelect = union_all(
        select(literal_column("'name'").label("kind"), Team.name.label("value")).where(
            Team.team_id.in_(team_ids)
        ),
        select(literal_column("'member'"), User.user_id).where(
            User.team_id.in_(team_ids), User.role.not_in(("manager", "admin"))
        ),
    ).order_by("kind", "value")  # in the database's collation, as names and ids are sorted everywhere
    rows = conn.execute(stmt).all()
    names = [value for kind, value in rows if kind == "name"]
    members = tuple(value for kind, value in rows if kind == "member")
    return names, members


def resolve_scope(conn: Connection, viewer: Viewer, scope: Scope | None, settings: Settings) -> ResolvedScope:
    """Turn what was asked into whose numbers, refusing what the viewer may not see."""
    scope = scope or default_scope(viewer)
    if scope.kind == "me" or (scope.kind == "rep" and scope.ref in (None, viewer.user_id)):
        return ResolvedScope("rep", viewer.name, (viewer.user_id,), user_id=viewer.user_id)

    if scope.kind == "rep":
        assert scope.ref is not None
        # Anyone but an admin is answered only from the people they may see, so a refusal is the same whether
        # the id, name or email belongs to a colleague or to nobody: it never tells who is behind an email.
        user = _find_user(conn, scope.ref, visible_people(viewer))
        if user is None and not viewer.is_admin:
            ref = scope.ref.lstrip("@")
            raise _deny(viewer, settings, f"the numbers of '{ref}'", denied="person", ref=ref)
        if user is None:
            raise UserError("scope.unknown_rep", "I don't know a rep called '{ref}'.", ref=scope.ref)
        if user["user_id"] == viewer.user_id:
            return ResolvedScope("rep", viewer.name, (viewer.user_id,), user_id=viewer.user_id)
        return ResolvedScope(
            "rep", user["name"], (user["user_id"],), user_id=user["user_id"], team_ids=_opt(user["team_id"])
        )

    if scope.kind == "team":
        if scope.ref is None:
            team_ids = viewer.managed_team_ids or _opt(viewer.team_id)
            if not team_ids:
                raise UserError("scope.no_team", "You are not in a team.")
        else:
            # As for people: a team one may not see is refused alike whether or not it exists.
            team = _find_team(conn, scope.ref, None if viewer.is_admin else viewer.managed_team_ids)
            if team is None and not viewer.is_admin:
                raise _deny(viewer, settings, "that team's numbers", denied="team")
            if team is None:
                raise UserError("scope.unknown_team", "I don't know a team called '{ref}'.", ref=scope.ref)
            team_ids = (team["team_id"],)
        if not (viewer.is_admin or set(team_ids) <= set(viewer.managed_team_ids)):
            raise _deny(viewer, settings, "that team's numbers", denied="team")
        names, members = _team_names_and_members(conn, team_ids)
        return ResolvedScope("team", ", ".join(names), members, team_ids=team_ids)

    if not sees_org(viewer, settings):
        raise _deny(viewer, settings, "the whole organisation's numbers", denied="org")
    return ResolvedScope("org", settings.org.name, None)


def _opt(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()
