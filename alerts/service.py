"""The scheduler service: an APScheduler `AsyncIOScheduler` that runs one pass a minute — CRM syncs due, digests
due, alerts and plan milestones due, outbox drain — in the bot's own event loop.

The pass is the same code the CLI and the tests call with a fixed clock (`run_digests`, `run_alerts`,
`drain_outbox`); its database work runs in a small thread pool of its own ("kpibot-scheduler" threads), not in the
loop's default pool where the chat adapters run theirs, so a flood of chat commands cannot starve it, and a slow
query cannot stall the chats (only a sender's own work, such as the Telegram sender storing its buttons' payloads,
still goes through the default pool). Several instances may run it against one PostgreSQL database: the outbox's
idempotency keys and SKIP LOCKED claims, and the alert run log's unique slots, make each message go out once.
On start a pass runs at once, which catches up the slots missed while no instance was running. On stop (SIGTERM)
the pass under way is given a few seconds: the message being sent is finished and recorded, the rest of its batch
handed back to the outbox, and the steps not begun are skipped.

A CRM sync (alerts/syncing.py: every `crm.sync_every`, of each configured CRM) is started by a pass but not
awaited by it: it runs in the same pool while the pass goes on and the next passes run, so a long sync holds up
neither the digests nor the alerts; a pass that finds a sync still running starts none. A stop does not wait for a
sync under way: its thread ends with the process, and the next sync resumes from the watermarks committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from alerts.delivery.held import release_held
from alerts.delivery.outbox import drain_outbox, run_blocking, worker_id
from alerts.digests.run import run_digests
from alerts.rules.milestones import run_milestones
from alerts.rules.run import run_alerts
from alerts.syncing import ConnectorFactory, CrmSyncs
from bot.reply.sender import Sender
from storage.config.settings import Settings
from storage.journeys import refresh_store

__all__ = ["SchedulerRuntime", "SchedulerService", "scheduling_pass"]

log = logging.getLogger(__name__)

# How long a stop waits for the pass under way to finish the send in flight and record it: a send takes seconds at
# most, and orchestrators kill after about ten (Docker's default stop timeout).
STOP_GRACE_SECONDS = 8.0
# A scheduler whose last pass ended longer ago than this is not alive (`/readyz`); passes run every minute.
STALLED_AFTER = timedelta(minutes=5)


async def scheduling_pass(
    engine,
    settings,
    senders: dict[str, Sender],
    now: datetime,
    *,
    worker: str,
    executor: Executor | None = None,
    redact: Callable[[str], str] | None = None,
    stopping: asyncio.Event | None = None,
) -> None:
    """Queue what is due at `now`, then deliver; one failing step does not skip the others, a stop skips those
    not begun.

    The database work runs in `executor`, else in the loop's default pool (`asyncio.to_thread`); stored errors go
    through `redact`."""
    platforms = list(senders)
    for step, call in (
        ("digests", lambda: run_digests(engine, settings, now, platforms=platforms)),
        ("alerts", lambda: run_alerts(engine, settings, now, platforms=platforms)),
        ("milestones", lambda: run_milestones(engine, settings, now, platforms=platforms)),
        ("held messages", lambda: release_held(engine, now)),
    ):
        if stopping is not None and stopping.is_set():
            return
        try:
            await run_blocking(executor, call)
        except Exception:
            log.exception("scheduler: %s pass failed", step)
    try:
        await drain_outbox(
            engine,
            senders,
            now,
            delivery=settings.delivery,
            worker=worker,
            executor=executor,
            redact=redact,
            stopping=stopping,
        )
    except Exception:
        log.exception("scheduler: outbox drain failed")


class SchedulerRuntime(Protocol):
    """What the scheduler needs of the process it runs in (bot.serve.Runtime is one): the store, the settings, the
    platforms' senders — filled in by the chat services as they start — a clock and the secrets' redactor."""

    settings: Settings
    engine: Engine
    senders: dict[str, Sender]
    clock: Callable[[], datetime] | None
    redact: Callable[[str], str] | None


class SchedulerService:
    """A `bot.serve.Service` that runs the scheduling pass every minute."""

    name = "scheduler"

    def __init__(
        self, runtime: SchedulerRuntime, connectors: Mapping[str, ConnectorFactory] | None = None
    ) -> None:
        """`connectors`: the CRMs to sync on schedule, by name (run_bot.py passes every CRM `kpibot sync` knows;
        none by default)."""
        connectors = connectors or {}
        self.runtime = runtime
        self.clock: Callable[[], datetime] = runtime.clock or (lambda: datetime.now(UTC))
        self.worker = worker_id()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.executor: ThreadPoolExecutor | None = None
        self.syncs = CrmSyncs(runtime.engine, runtime.settings, connectors, runtime.redact)
        self.sync_task: asyncio.Task[None] | None = None  # the syncs under way, if any
        self.started_at: datetime | None = None
        self.last_pass_at: datetime | None = None  # when the last pass ended (on the wall clock)

    async def run_once(self) -> None:
        """One pass now; a pass still running is not doubled (the next minute catches up)."""
        if self._lock.locked() or self._stopping.is_set():
            return
        async with self._lock:
            try:
                await self._pass()
            finally:
                self.last_pass_at = datetime.now(UTC)

    async def _pass(self) -> None:
        await self._start_due_syncs()
        await self._refresh_journeys()
        senders = dict(self.runtime.senders)
        if not senders:
            return
        await scheduling_pass(
            self.runtime.engine,
            self.runtime.settings,
            senders,
            self.clock(),
            worker=self.worker,
            executor=self.executor,
            redact=self.runtime.redact,
            stopping=self._stopping,
        )

    async def _start_due_syncs(self) -> None:
        """Start the CRM syncs due now, one after another in a task of their own, unless syncs are still running."""
        if self.sync_task is not None and not self.sync_task.done():
            return
        now = self.clock()
        try:
            due = await run_blocking(self.executor, self.syncs.due, now)
        except Exception:
            log.exception("scheduler: could not tell which CRM syncs are due")
            return
        if due:
            self.sync_task = asyncio.get_running_loop().create_task(self._run_syncs(due, now))

    async def _run_syncs(self, crms: list[str], now: datetime) -> None:
        for crm in crms:
            if self._stopping.is_set():
                return
            try:
                await run_blocking(self.executor, self.syncs.run, crm, now)
            except Exception:  # the store failed before the run was recorded: the next due time tries again
                log.exception("scheduler: %s sync failed", crm)

    async def _refresh_journeys(self) -> None:
        """Work out the journeys of leads and the months of accounts changed since the last pass, so chat answers
        keep reading the kept tables whole."""
        loop = asyncio.get_running_loop()
        refresh = partial(refresh_store, self.runtime.engine, self.runtime.settings, wait=False)
        try:
            await loop.run_in_executor(self.executor, refresh)
        except OperationalError as exc:
            # An import holds the tables (PostgreSQL refuses at once, SQLite after its busy timeout); it brings the
            # journeys up to date itself when it is done.
            log.info("lead journeys not refreshed this pass (%s)", type(exc.orig).__name__)
        except Exception:  # answers stay right meanwhile (changed leads are read live); the next pass retries
            log.exception("refreshing the lead journeys failed")

    def health(self) -> tuple[bool, str]:
        """Alive: started, and a pass ended within `STALLED_AFTER` (or it started less than that ago); and no CRM
        it syncs has its latest sync failed. The reason says which, for `/readyz`."""
        now = datetime.now(UTC)
        if self.started_at is None or not self.scheduler.running:
            return False, "the scheduler is not running"
        last = self.last_pass_at or self.started_at
        if now - last > STALLED_AFTER:
            return False, f"no scheduling pass has ended since {last.isoformat(timespec='seconds')}"
        try:
            failed = self.syncs.last_failed()
        except SQLAlchemyError:  # the database check of `/readyz` reports the database itself
            failed = []
        if failed:
            return False, "; ".join(failed)
        return True, "ok"

    async def start(self) -> None:
        self.started_at = datetime.now(UTC)
        # A pass does one thing at a time and passes never overlap (the lock), and at most one CRM sync runs beside
        # them, so a small pool is enough; it is the scheduler's alone, so chat commands waiting for threads never
        # queue ahead of a pass or a sync.
        self.executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="kpibot-scheduler")
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
        self._stopping.set()  # no new pass starts; the one under way skips what it has not begun
        if self._lock.locked():
            # A message sent and not yet recorded would go out again after its lease: let the pass get that far
            # before shutting the scheduler down, which cancels the job under way.
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS), self._lock:
                    pass
            except TimeoutError:
                log.warning("scheduler: the pass under way did not end within %g s", STOP_GRACE_SECONDS)
        if self.sync_task is not None and not self.sync_task.done():
            log.info("scheduler: a CRM sync is under way; it resumes from its watermarks at the next start")
            self.sync_task.cancel()  # the task, not the thread: the sync in it runs on until the process ends
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.executor is not None:
            # A query already running finishes in its thread; nothing new starts.
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
