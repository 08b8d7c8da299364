"""`/healthz`, `/readyz` and `/metrics` on the bot's HTTP server (`KPIBOT_HTTP_PORT`), for a container's health
check, a load balancer and Prometheus.

- `/healthz`: the process serves HTTP — 200 `{"status": "ok"}`.
- `/readyz`: it can do its work — the database answers and is migrated to this version's head, each platform
  service is connected, the scheduler is alive and no CRM it syncs has just failed. 200 when all hold, else 503;
  the body names every check and, for one that fails, why: `{"status": "not ready", "checks": {"database": {"ok":
  false, "reason": "…"}, …}}`.
- `/metrics`: Prometheus' text format (storage/telemetry.py says what is in it).

No check's reason quotes a secret: the reasons pass through the settings' redactor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text

from storage.db import alembic_config
from storage.telemetry import telemetry

__all__ = ["HEALTH_PATHS", "add_ops_routes", "database_check"]

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
# A check that takes longer than this counts as failed: a load balancer must not wait on a hung database.
CHECK_TIMEOUT_SECONDS = 5.0


def database_check(engine: Engine) -> tuple[bool, str]:
    """The database answers, and its schema is at this version's newest migration."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        return False, f"the database cannot be reached: {reason[:300]}"
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    if current != heads:
        shown = ", ".join(sorted(current)) or "none"
        return (
            False,
            f"the database is at migration {shown}, not {', '.join(sorted(heads))}: run `kpibot db upgrade`",
        )
    return True, "ok"


def _service_check(service: Any) -> tuple[bool, str]:
    health = getattr(service, "health", None)
    return health() if health is not None else (True, "ok")


def add_ops_routes(
    app: web.Application,
    engine: Engine,
    services: Sequence[Any],
    redact: Callable[[str], str],
    started: Callable[[], Sequence[Any]],
) -> None:
    """The three routes on `app`; `started()` gives the services started so far (a service not yet started is not
    ready)."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks: dict[str, dict[str, Any]] = {}
        running = set(map(id, started()))

        async def check(name: str, probe: Callable[[], tuple[bool, str]]) -> None:
            try:
                ok, reason = await asyncio.wait_for(asyncio.to_thread(probe), CHECK_TIMEOUT_SECONDS)
            except TimeoutError:
                ok, reason = False, f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
            except Exception as exc:  # a check that fails to run is a failed check, not a 500
                ok, reason = False, f"{type(exc).__name__}: {exc}"
            checks[name] = {"ok": ok} if ok else {"ok": False, "reason": redact(reason)}

        await check("database", lambda: database_check(engine))
        for service in services:
            if id(service) not in running:
                checks[service.name] = {"ok": False, "reason": f"{service.name} has not started"}
            else:
                await check(service.name, lambda service=service: _service_check(service))
        ready = all(c["ok"] for c in checks.values())
        if not ready:
            log.info("not ready: %s", ", ".join(name for name, c in checks.items() if not c["ok"]))
        return web.json_response(
            {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
        )

    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, telemetry().registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
