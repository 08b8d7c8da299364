"""The scheduler service: an APScheduler `AsyncIOScheduler` that runs one pass a minute — digests due, alerts due,
outbox drain — in the bot's own event loop.

The pass is the same code the CLI and the tests call with a fixed clock (`run_digests`, `run_alerts`,
`drain_outbox`); its database work runs in threads, so a flood of chat commands on the event loop cannot starve it
and a slow query cannot stall the chats. Several instances may run it against one PostgreSQL database: the outbox's
idempotency keys and SKIP LOCKED claims, and the alert run log's unique slots, make each message go out once.
On start a pass runs at once, which catches up the slots missed while no instance was running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts import chat as _chat_commands  # noqa: F401  (registers the scheduler's chat commands)
from alerts.digests import run_digests
from alerts.outbox import drain_outbox, worker_id
from alerts.rules import run_alerts
from alerts.sender import Sender

__all__ = ["SchedulerService", "scheduling_pass"]

log = logging.getLogger(__name__)


async def scheduling_pass(
    engine, settings, senders: dict[str, Sender], now: datetime, *, worker: str
) -> None:
    """Queue what is due at `now`, then deliver; one failing step does not skip the others."""
    platforms = list(senders)
    for step, call in (
        ("digests", lambda: run_digests(engine, settings, now, platforms=platforms)),
        ("alerts", lambda: run_alerts(engine, settings, now, platforms=platforms)),
    ):
        try:
            await asyncio.to_thread(call)
        except Exception:
            log.exception("scheduler: %s pass failed", step)
    try:
        await drain_outbox(engine, senders, now, delivery=settings.delivery, worker=worker)
    except Exception:
        log.exception("scheduler: outbox drain failed")


class SchedulerService:
    """`bot.serve.Service` that runs the scheduling pass every minute."""

    name = "scheduler"

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.clock = cast(Callable[[], datetime], runtime.clock or (lambda: datetime.now(UTC)))
        self.worker = worker_id()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._lock = asyncio.Lock()

    async def run_once(self) -> None:
        """One pass now; a pass still running is not doubled (the next minute catches up)."""
        if self._lock.locked():
            return
        async with self._lock:
            senders = cast(dict[str, Sender], dict(self.runtime.senders))
            if not senders:
                return
            await scheduling_pass(
                self.runtime.engine, self.runtime.settings, senders, self.clock(), worker=self.worker
            )

    async def start(self) -> None:
        self.scheduler.add_job(
            self.run_once,
            "interval",
            minutes=1,
            id="kpibot-pass",
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=30,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
