"""What people do to alerts from the chat: snooze, acknowledge, mute and unmute — and what the list shows.

A snooze or mute without a scope applies to the whole rule (the `*` row, which every scope's evaluation reads);
with a scope key (`team:t-a`, `rep:rep-1`, `org`) to that scope only. Acknowledging needs a scope: it silences the
repeats of one firing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from alerts.rules.run import RULE_WIDE
from storage.schema import AlertState
from storage.times import naive_utc

__all__ = ["StateRow", "alert_states", "snooze", "acknowledge", "set_muted"]


@dataclass(frozen=True)
class StateRow:
    rule_id: str
    scope_key: str
    state: str
    since: datetime | None
    snoozed_until: datetime | None
    acknowledged_by: str | None
    muted: bool
    last_value: float | None
    breaches: int = 0  # evaluations in a row whose condition held (the rule's `for`)


def alert_states(engine: Engine) -> list[StateRow]:
    """Every stored state, rule by rule."""
    s = AlertState
    with engine.connect() as conn:
        rows = conn.execute(select(s).order_by(s.rule_id, s.scope_key)).mappings().all()
    return [
        StateRow(
            r["rule_id"],
            r["scope_key"],
            r["state"],
            r["since"],
            r["snoozed_until"],
            r["acknowledged_by"],
            bool(r["muted"]),
            r["last_value"],
            r["breaches"] or 0,
        )
        for r in rows
    ]


def _upsert(engine: Engine, rule_id: str, scope_key: str, **values) -> None:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(AlertState).values(rule_id=rule_id, scope_key=scope_key, state="ok", **values)
    stmt = stmt.on_conflict_do_update(index_elements=["rule_id", "scope_key"], set_=values)
    with engine.begin() as conn:
        conn.execute(stmt)


def snooze(engine: Engine, rule_id: str, scope_key: str | None, until: datetime) -> None:
    """Silence the rule (or one scope of it) until `until`."""
    _upsert(engine, rule_id, scope_key or RULE_WIDE, snoozed_until=naive_utc(until))


def set_muted(engine: Engine, rule_id: str, scope_key: str | None, muted: bool) -> None:
    """Mute or unmute the rule (or one scope of it); unmuting the rule also lifts its rule-wide snooze."""
    values: dict = {"muted": muted}
    if not muted and scope_key is None:
        values["snoozed_until"] = None
    _upsert(engine, rule_id, scope_key or RULE_WIDE, **values)


def acknowledge(engine: Engine, rule_id: str, scope_key: str | None, user_id: str) -> int:
    """Acknowledge the firing scopes of a rule (or one of them); returns how many were firing."""
    s = AlertState
    stmt = update(s).where(s.rule_id == rule_id, s.state == "firing").values(acknowledged_by=user_id)
    if scope_key:
        stmt = stmt.where(s.scope_key == scope_key)
    with engine.begin() as conn:
        return conn.execute(stmt).rowcount or 0
