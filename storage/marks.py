"""Dirty lists: triggers on the CRM tables put the ids of the rows they change into a list, so a table kpibot keeps
from them (`lead_journeys`, `lead_stage_spans`, `deal_stage_spans`) can be read as it is for every other id and be
worked out again only for the listed ones.

The triggers watch the tables themselves, not kpibot's writers: the importer, the demo, a CRM sync and a hand-made
fix all mark alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete

__all__ = ["Marking", "lock_marks", "clear_marks"]

_OPERATIONS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}
"""Each operation that marks, with the rows (before and after) whose id it marks."""


@dataclass(frozen=True)
class Marking:
    """The triggers that mark, in the table `dirty`, the `key` of every row of the `watched` tables they change.

    `watched` maps each table to the columns the kept table reads (one of them `key`): on SQLite an UPDATE of
    other columns marks nothing. `name` goes into the trigger names and PostgreSQL's transition tables, `function`
    is PostgreSQL's trigger function.
    """

    name: str
    function: str
    dirty: str
    key: str
    watched: Mapping[str, str]

    def triggers(self) -> list[tuple[str, str, str]]:
        """(trigger name, table, operation) of every marking trigger."""
        return [(f"{t}_{self.name}_{o.lower()}", t, o) for t in self.watched for o in _OPERATIONS]

    def _pg_function(self) -> str:
        marks = "\n".join(
            f"""    IF TG_OP IN ({ops}) THEN
        INSERT INTO {self.dirty} ({self.key})
        SELECT DISTINCT {self.key} FROM {self.name}_{side} WHERE {self.key} IS NOT NULL ON CONFLICT DO NOTHING;
    END IF;"""
            for ops, side in (("'INSERT', 'UPDATE'", "new"), ("'UPDATE', 'DELETE'", "old"))
        )
        return f"""
CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{marks}
    RETURN NULL;
END $$
"""

    def trigger_ddl(self, dialect: str) -> list[str]:
        """The statements that make the watched tables mark the ids they change.

        PostgreSQL marks once per statement from its transition tables (a million-row COPY stays one insert);
        SQLite has row triggers only, and an UPDATE marks only when a column the kept table reads is set.
        """
        statements = []
        for name, table, operation in self.triggers():
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
            key = self.key
            marks = " ".join(
                f"INSERT INTO {self.dirty} ({key}) SELECT {row}.{key} WHERE {row}.{key} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {self.dirty} WHERE {key} = {row}.{key});"
                for row in _OPERATIONS[operation]
            )
            event = f"UPDATE OF {self.watched[table]}" if operation == "UPDATE" else operation
            statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {marks} END")
        return [self._pg_function(), *statements] if dialect == "postgresql" else statements

    def drop_trigger_ddl(self, dialect: str) -> list[str]:
        """The statements that undo `trigger_ddl`."""
        if dialect != "postgresql":
            return [f"DROP TRIGGER IF EXISTS {name}" for name, _table, _operation in self.triggers()]
        drops = [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table, _operation in self.triggers()]
        return [*drops, f"DROP FUNCTION IF EXISTS {self.function}()"]


def lock_marks(conn: Connection, dirty: Table, *, wait: bool) -> None:
    """Hold writers back from marking until the caller's transaction ends (PostgreSQL; SQLite has one writer).

    A refresh works out the listed ids and then empties the list: a mark made in between would be lost. Without
    `wait`, a writer still marking makes PostgreSQL refuse at once with `OperationalError`.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {dirty.name} IN EXCLUSIVE MODE" + ("" if wait else " NOWAIT"))


def clear_marks(conn: Connection, dirty: Table) -> None:
    """Empty a dirty list once its ids are worked out (under `lock_marks`)."""
    if conn.dialect.name == "postgresql":
        # Not DELETE: a million dead rows would slow every reader's "anything waiting?" until a vacuum.
        conn.exec_driver_sql(f"TRUNCATE {dirty.name}")
    else:
        conn.execute(delete(dirty))
