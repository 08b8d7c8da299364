"""Shared fixtures: every store-touching test runs on SQLite and, when KPIBOT_TEST_POSTGRES_URL is set, PostgreSQL.

A PostgreSQL run gets a database of its own (created here, dropped at the end), so parallel runs never meet. When
the variable is set and the server cannot be reached, the run fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from storage.db import make_engine, upgrade
from storage.schema import Base

POSTGRES_URL = os.environ.get("KPIBOT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


def pytest_report_header(config):
    return f"kpibot store backends: {', '.join(BACKENDS)}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run; its URL."""
    assert POSTGRES_URL, "postgres backend requested without KPIBOT_TEST_POSTGRES_URL"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kpibot_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the variable is set: an unreachable server is a failure, never a skip
        pytest.fail(f"KPIBOT_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}", pytrace=False)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    """Empty every table of the schema and drop any other a test left behind (the shared database of a run must
    look freshly migrated to the next test)."""
    known = {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    names = ", ".join(f'"{name}"' for name in sorted(known - {"alembic_version"}))
    with engine.begin() as conn:
        for stray in set(inspect(conn).get_table_names()) - known:
            conn.execute(text(f'DROP TABLE "{stray}" CASCADE'))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "kpibot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    """An engine on an empty, migrated database (each backend)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
