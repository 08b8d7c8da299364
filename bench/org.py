"""The benchmark's data: the demo organisation at a given scale, built once per database and reused after.

A small marker table records which demo (scale, seed, day) a database holds, so a second run of the benchmark
reuses minutes of generation instead of repeating them, and a database holding anything else is rebuilt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from storage.config.settings import Settings
from storage.db import make_engine, upgrade
from storage.demo.generate import generate_demo, has_crm_data
from storage.journeys import refresh_store
from storage.schema import Base

__all__ = [
    "BENCH_SEED",
    "BENCH_TODAY",
    "BENCH_DATABASE",
    "postgres_database",
    "MARKER_TABLE",
    "BenchOrg",
    "ensure_demo_org",
    "ensure_indexes",
    "analyze",
    "read_marker",
]

BENCH_SEED = 42
BENCH_TODAY = date(2026, 11, 18)
"""A Wednesday: "yesterday" is a working day and "last quarter" (Q3) is complete, so every run asks the same."""

MARKER_TABLE = "kpibot_bench_marker"
BENCH_DATABASE = "kpibot_bench"


@dataclass(frozen=True)
class BenchOrg:
    """Who the benchmark asks as, and what the database holds."""

    scale: str
    seed: int
    today: date
    now: datetime  # tz-aware: the demo's "now", today 00:00 UTC
    admin_id: str
    manager_id: str
    team_id: str
    rep_id: str
    recipients: int
    built_seconds: float | None  # None when an earlier build was reused


def postgres_database(server_url: str, name: str = BENCH_DATABASE) -> str:
    """The URL of database `name` on the server of `server_url`, created when it does not exist yet."""
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def read_marker(engine: Engine) -> tuple[str, int, date] | None:
    """(scale, seed, today) of the demo the database holds, or None."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, MARKER_TABLE):
            return None
        row = conn.execute(text(f"SELECT scale, seed, today FROM {MARKER_TABLE}")).first()
    if row is None:
        return None
    return str(row[0]), int(row[1]), date.fromisoformat(str(row[2])[:10])


def _write_marker(engine: Engine, scale: str, seed: int, today: date) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {MARKER_TABLE}"))
        conn.execute(
            text(f"CREATE TABLE {MARKER_TABLE} (scale VARCHAR(16), seed INTEGER, today VARCHAR(10))")
        )
        conn.execute(
            text(f"INSERT INTO {MARKER_TABLE} (scale, seed, today) VALUES (:scale, :seed, :today)"),
            {"scale": scale, "seed": seed, "today": today.isoformat()},
        )


def ensure_indexes(engine: Engine) -> list[str]:
    """Make the indexes those storage/schema.py declares: create the missing, drop replaced `ix_` ones; what changed.

    A database built before an index was added keeps its data; the index is what a fresh migration would have made.
    """
    inspector = inspect(engine)
    changed = []
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            have = {str(ix["name"]) for ix in inspector.get_indexes(table.name)}
            declared = {str(index.name) for index in table.indexes}
            for name in sorted(have - declared):
                if name.startswith("ix_"):  # an index the schema has since replaced
                    conn.execute(text(f'DROP INDEX "{name}"'))
                    changed.append(f"-{name}")
            for index in table.indexes:
                if index.name not in have:
                    index.create(conn)
                    changed.append(str(index.name))
    return changed


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics (SQLite never does it by itself; PostgreSQL only eventually).

    On PostgreSQL a VACUUM too: after a bulk load no page is marked all-visible yet, so index-only scans would
    still visit the table for every row until autovacuum got round to it, as it would on a running system.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def ensure_demo_org(
    engine: Engine,
    settings: Settings,
    *,
    scale: str,
    seed: int = BENCH_SEED,
    today: date = BENCH_TODAY,
    progress: bool = False,
) -> BenchOrg:
    """The demo org at `scale` in this database: reused when the marker matches, (re)generated otherwise."""
    upgrade(engine)
    built: float | None = None
    # The marker alone is not enough: whoever empties the CRM tables (a test, `kpibot demo --replace`) leaves it.
    if read_marker(engine) != (scale, seed, today) or not has_crm_data(engine):
        started = time.monotonic()
        generate_demo(
            engine, scale=scale, seed=seed, today=today, progress=progress, replace=True, settings=settings
        )
        _write_marker(engine, scale, seed, today)
        built = time.monotonic() - started
    # As the bot does at start: leads the migration or a writer marked get their journeys worked out.
    refresh_store(engine, settings)
    if ensure_indexes(engine) or built is not None:
        analyze(engine)
    with engine.connect() as conn:
        recipients = conn.execute(text("SELECT COUNT(*) FROM users WHERE active")).scalar_one()
    return BenchOrg(
        scale=scale,
        seed=seed,
        today=today,
        now=datetime(today.year, today.month, today.day, tzinfo=UTC),
        admin_id="admin",
        manager_id="mgr-1",
        team_id="team-1",
        rep_id="rep-001",
        recipients=int(recipients),
        built_seconds=built,
    )
