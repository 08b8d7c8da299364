"""Dirty lists: how a table kpibot keeps from the CRM tables learns what to work out again, whoever wrote.

Each kept table (`lead_journeys`, `account_months`) has a dirty list of the ids its rows are keyed by. Triggers on
the CRM tables it is worked out from put the ids of every row they insert, update or delete into that list; a
reader takes a listed id live from the CRM tables, and a refresh works the listed ids out again and empties the
list. `Marks` describes one such list; the trigger DDL, the writers' lock and the emptying are the same for all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete

__all__ = ["Marks", "hold_writers", "empty_list"]

_OPERATIONS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}
"""Each operation that marks, with the rows (before and after) whose id it marks."""


@dataclass(frozen=True)
class Marks:
    """One dirty list: its table, the id column it holds, and per watched table the columns the kept rows read
    (an UPDATE of other columns marks nothing on SQLite). Triggers are named `<table>_<name>_<operation>`."""

    name: str
    dirty: str
    key: str
    watched: Mapping[str, str]

    @property
    def function(self) -> str:
        return f"{self.dirty.removesuffix('_dirty')}_mark"

    def _triggers(self) -> list[tuple[str, str, str]]:
        """(trigger name, table, operation) of every marking trigger."""
        return [(f"{t}_{self.name}_{o.lower()}", t, o) for t in self.watched for o in _OPERATIONS]

    def _pg_function(self) -> str:
        marks = {
            "('INSERT', 'UPDATE')": f"{self.name}_new",
            "('UPDATE', 'DELETE')": f"{self.name}_old",
        }
        body = "".join(
            f"""
    IF TG_OP IN {operations} THEN
        INSERT INTO {self.dirty} ({self.key})
        SELECT DISTINCT {self.key} FROM {rows} WHERE {self.key} IS NOT NULL ON CONFLICT DO NOTHING;
    END IF;"""
            for operations, rows in marks.items()
        )
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{body}
    RETURN NULL;
END $$
"""

    def trigger_ddl(self, dialect: str) -> list[str]:
        """The statements that make the watched tables mark the ids they change.

        PostgreSQL marks once per statement from its transition tables (a million-row COPY stays one insert);
        SQLite has row triggers only, and an UPDATE marks only when a watched column is set.
        """
        statements = []
        for name, table, operation in self._triggers():
            if dialect == "postgresql":
                new = f"NEW TABLE AS {self.name}_new" if operation != "DELETE" else ""
                old = f"OLD TABLE AS {self.name}_old" if operation != "INSERT" else ""
                statements.append(
                    f"CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {old} {new} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {self.function}()"
                )
                continue
            # Not INSERT OR IGNORE: SQLite runs a trigger's statements under the conflict policy of the statement
            # that fired it when that one names a policy ("ON CONFLICT in a trigger body", CREATE TRIGGER), so an
            # upsert turned the ignore back into an abort. A mark that is already there is simply not inserted:
            # nothing can conflict, whatever the outer statement says.
            marks = " ".join(
                f"INSERT INTO {self.dirty} ({self.key}) SELECT {row}.{self.key} WHERE {row}.{self.key} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {self.dirty} WHERE {self.key} = {row}.{self.key});"
                for row in _OPERATIONS[operation]
            )
            event = f"UPDATE OF {self.watched[table]}" if operation == "UPDATE" else operation
            statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {marks} END")
        return [self._pg_function(), *statements] if dialect == "postgresql" else statements

    def drop_trigger_ddl(self, dialect: str) -> list[str]:
        """The statements that undo `trigger_ddl`."""
        if dialect != "postgresql":
            return [f"DROP TRIGGER IF EXISTS {name}" for name, _table, _operation in self._triggers()]
        drops = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, _operation in self._triggers()]
        return [*drops, f"DROP FUNCTION IF EXISTS {self.function}()"]


def hold_writers(conn: Connection, dirty: Table, *, wait: bool) -> None:
    """On PostgreSQL, hold back writers marking ids until the caller's transaction commits, so no mark made while
    a refresh works is lost in between; without `wait`, refuse at once (`OperationalError`) if one is writing."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {dirty.name} IN EXCLUSIVE MODE" + ("" if wait else " NOWAIT"))


def empty_list(conn: Connection, dirty: Table) -> None:
    """Empty a dirty list once its ids are worked out."""
    if conn.dialect.name == "postgresql":
        # Not DELETE: a million dead rows would slow every reader's "anything waiting?" until a vacuum.
        conn.exec_driver_sql(f"TRUNCATE {dirty.name}")
    else:
        conn.execute(delete(dirty))
