"""Engines, sessions and migrations for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "upgrade", "session_scope", "is_postgres", "is_sqlite", "table_counts"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _normalise(url: str) -> str:
    # `postgresql://` and `postgres://` mean psycopg 3 here; psycopg2 is not a dependency.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so a chat and the scheduler can share the file, and
    PostgreSQL sessions run without JIT compilation."""
    url = _normalise(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - exercised by every sqlite test
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # kpibot's questions are many and short, but correlated subqueries make their cost estimates large: JIT then
    # spends up to a second compiling what runs in a few hundred milliseconds (a team's /retention: 2.2 s -> 1.2 s).
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"}, **kwargs)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to `revision`."""
    command.upgrade(alembic_config(engine), revision)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed when the block ends, rolled back if it raises."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def table_counts(engine: Engine, tables: list[str]) -> dict[str, int]:
    """Row counts of the given tables (those that exist)."""
    from sqlalchemy import text

    existing = set(inspect(engine).get_table_names())
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for name in tables:
            if name in existing:
                counts[name] = conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
    return counts
