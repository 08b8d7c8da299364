"""journey marks never conflict: SQLite's triggers skip a lead already marked instead of INSERT OR IGNORE

SQLite runs the statements inside a trigger under the conflict policy of the statement that fired it, so an upsert
on `leads` or `deals` (every re-import) turned the triggers' `OR IGNORE` into an abort on a lead marked twice.
PostgreSQL's statement triggers were right all along and are left as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:20:00.000000
"""

from alembic import op

from storage.journeys import drop_trigger_ddl, trigger_ddl


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect != "sqlite":
        return
    for statement in (*drop_trigger_ddl(dialect), *trigger_ddl(dialect)):
        op.execute(statement)


def downgrade() -> None:
    # The triggers stay as they are: they mark the same leads as before, without the failure, and 0002's
    # downgrade drops them by name.
    pass
