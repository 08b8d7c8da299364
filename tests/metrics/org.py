"""The people of the small hand-made fixture org every metrics test builds on.

admin    Ada Admin       admin, UTC
mgr-a    Mia Manager     manager of team t-a "Alpha"
mgr-b    Max Manager     manager of team t-b "Bravo"
rep-1    Rita Rep        rep in Alpha (Europe/Moscow, ru)
rep-2    Rob Rep         rep in Alpha
rep-3    Rae Rep         rep in Bravo (America/New_York)
"""

from __future__ import annotations

from sqlalchemy import Engine, insert

from storage.schema import Team, User

__all__ = ["seed_people"]

PEOPLE = [
    dict(user_id="admin", name="Ada Admin", role="admin", team_id=None, manager_id=None, timezone="UTC"),
    dict(user_id="mgr-a", name="Mia Manager", role="manager", team_id="t-a", manager_id=None, timezone="UTC"),
    dict(user_id="mgr-b", name="Max Manager", role="manager", team_id="t-b", manager_id=None, timezone="UTC"),
    dict(
        user_id="rep-1",
        name="Rita Rep",
        role="rep",
        team_id="t-a",
        manager_id="mgr-a",
        timezone="Europe/Moscow",
        locale="ru",
    ),
    dict(user_id="rep-2", name="Rob Rep", role="rep", team_id="t-a", manager_id="mgr-a", timezone="UTC"),
    dict(
        user_id="rep-3",
        name="Rae Rep",
        role="rep",
        team_id="t-b",
        manager_id="mgr-b",
        timezone="America/New_York",
    ),
]
TEAMS = [
    dict(team_id="t-a", name="Alpha", manager_id="mgr-a"),
    dict(team_id="t-b", name="Bravo", manager_id="mgr-b"),
]


def seed_people(engine: Engine) -> None:
    """Insert the fixture org's teams and users."""
    with engine.begin() as conn:
        conn.execute(insert(Team), TEAMS)
        conn.execute(
            insert(User), [{"email": f"{p['user_id']}@fixture.example", "locale": "en", **p} for p in PEOPLE]
        )
