from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.schema import CRM_TABLES, Base


def test_migrations_create_every_table_and_match_the_models(engine):
    names = set(inspect(engine).get_table_names())
    assert set(CRM_TABLES) <= names
    assert {"outbox", "alert_states", "alert_runs", "invites", "chat_bindings", "subscriptions"} <= names
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"storage/schema.py and the migrations disagree: {diff}"
