"""`/healthz` and `/readyz` over real HTTP: ready with the database up and the scheduler started, then 503 naming
the reason once the database is gone, an old schema, or a CRM whose last sync failed."""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from alerts.service import SchedulerService
from bot.conversation import Conversation
from bot.serve import Runtime
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.db import make_engine, upgrade
from storage.schema import SyncRun
from tests.conftest import POSTGRES_URL
from tests.ops.served import Served

SECRET = "tok-3f9a0c2e7b"


def _runtime(url: str) -> Runtime:
    # Syncs every 30 days: the failed run of the test below is the latest, and no new one starts meanwhile.
    settings = load_settings(
        config_path=None,
        env={"KPIBOT_HTTP_PORT": "0", "SALESFORCE_CLIENT_SECRET": SECRET},
        crm={"sync_every": "30d"},
    )
    engine = make_engine(url)
    return Runtime(settings, engine, Conversation(engine, settings, build_registry()), http_host="127.0.0.1")


def _not_due(settings):
    raise AssertionError("no sync is due in these tests")


def _scheduler(runtime: Runtime) -> list:
    return [SchedulerService(runtime)]


def _scheduler_syncing(runtime: Runtime) -> list:
    return [SchedulerService(runtime, {"salesforce": _not_due})]


def test_healthz_and_readyz_answer_and_a_vanished_database_is_503_with_the_reason(db_url, tmp_path):
    own = _own_database(db_url, tmp_path)
    runtime = _runtime(own.url)
    with Served(runtime, _scheduler) as served:
        health = served.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = served.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": {"ok": True}, "scheduler": {"ok": True}},
        }
        own.take_away()
        runtime.engine.dispose()  # SQLite's pooled connection would go on reading the unlinked file
        gone = served.get("/readyz")
        assert gone.status_code == 503
        body = gone.json()
        assert body["status"] == "not ready" and body["checks"]["scheduler"] == {"ok": True}
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["database"]["reason"].startswith("the database cannot be reached: ")
        assert (
            served.get("/healthz").status_code == 200
        )  # the process still serves: no restart for a database
    runtime.engine.dispose()


def test_an_old_schema_is_not_ready_and_says_to_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0009")
    engine.dispose()
    with Served(_runtime(url), lambda runtime: []) as served:
        ready = served.get("/readyz")
    assert ready.status_code == 503
    reason = ready.json()["checks"]["database"]["reason"]
    assert reason.startswith("the database is at migration 0009") and reason.endswith(
        "run `kpibot db upgrade`"
    )


def test_a_crm_whose_last_sync_failed_makes_the_scheduler_not_ready(engine, db_url):
    at = datetime(2026, 12, 1, 6, 0)
    with engine.begin() as conn:
        conn.execute(insert(SyncRun), [
            dict(crm="salesforce", started_at=at.replace(hour=5), finished_at=at, status="ok"),
            dict(crm="salesforce", started_at=at, finished_at=at, status="failed", error=f"401 for {SECRET}"),
        ])  # fmt: skip
    with Served(_runtime(db_url), _scheduler_syncing) as served:
        ready = served.get("/readyz")
    assert ready.status_code == 503
    scheduler = ready.json()["checks"]["scheduler"]
    assert scheduler == {"ok": False, "reason": "salesforce sync failed at 2026-12-01T06:00:00+00:00"}
    assert SECRET not in ready.text


class _Own:
    """A database of the test's own, which the test can take away while the bot runs."""

    def __init__(self, url: str, take_away) -> None:
        self.url = url
        self.take_away = take_away


def _own_database(db_url: str, tmp_path) -> _Own:
    if db_url.startswith("sqlite"):
        path = tmp_path / "own.db"
        shutil.copy(make_url(db_url).database, path)

        def take_away() -> None:
            path.unlink()
            path.mkdir()  # not a file any more: SQLite cannot open it (nor quietly make a new one)

        return _Own(f"sqlite:///{path}", take_away)
    assert POSTGRES_URL
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kpibot_ready_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return _Own(url, drop)
