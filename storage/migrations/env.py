"""Alembic environment: the engine is handed in by `storage.db.upgrade`, never read from a file."""

from alembic import context

from storage.schema import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: use the same URL rules as kpibot itself
    import os

    from storage.config.settings import DEFAULT_DATABASE_URL
    from storage.db import make_engine

    engine = make_engine(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
