"""The scheduler's CRM syncs (alerts/syncing.py) with a fixed clock: a sync when one is due (`crm.sync_every`, 15 min
by default, from the newest run's start in `sync_runs`) and not before; a sync still running is not doubled and
does not hold up the digests; a failed one is retried at the next due time; a CRM that is not configured is
logged once; the Salesforce connector itself, over real HTTP against tests/fakes/salesforce_api.py.

Passes are driven by hand (`run_once`), as the APScheduler job would, with the service's own pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from alerts.delivery.console import ConsoleSender
from alerts.service import SchedulerService
from bot.conversation import Conversation
from bot.reply.messages import Request
from bot.serve import Runtime
from run_bot import build_registry
from storage.config.settings import Settings, load_settings
from storage.crm.cli import CONNECTORS
from storage.crm.mapping import ObjectMap
from storage.crm.salesforce import salesforce_mapping
from storage.schema import Lead, SyncRun, User
from tests.fakes.salesforce_api import FakeSalesforceApi
from tests.fixtures.alerts_org import seed_november

T0 = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
USER = {"Id": "005000000000UNA", "Name": "Una User", "Email": "una@example.com", "IsActive": True,
        "TimeZoneSidKey": "UTC", "LanguageLocaleKey": "en_US"}  # fmt: skip


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeCrm:
    """A connector of one object (Salesforce's User mapping), counting how often it is built; its read can block
    until released, or fail."""

    crm = "fakecrm"

    def __init__(self, *, block: threading.Event | None = None, fail: str | None = None) -> None:
        self.built = 0
        self.block = block
        self.fail = fail
        self.mapping = replace(salesforce_mapping(), crm="fakecrm", objects=salesforce_mapping().objects[:1])

    def __call__(self, settings: Settings) -> FakeCrm:
        self.built += 1
        return self

    def read(self, mapped: ObjectMap, since: datetime | None) -> Iterator[dict]:
        if self.block is not None:
            assert self.block.wait(20), "never released"
        if self.fail:
            raise RuntimeError(self.fail)
        yield USER

    def stamp(self, record, mapped: ObjectMap) -> datetime | None:
        return None

    def close(self) -> None:
        pass


def service_for(
    engine, settings: Settings, clock: Clock, connectors=CONNECTORS, out=None
) -> SchedulerService:
    runtime = Runtime(settings=settings, engine=engine, conversation=Conversation(engine, settings, build_registry()),
                      clock=clock)  # fmt: skip
    if out is not None:
        runtime.senders["console"] = ConsoleSender(out)
    service = SchedulerService(runtime, connectors=connectors)
    service.executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="kpibot-scheduler")
    return service


async def pass_at(
    service: SchedulerService, clock: Clock, when: datetime, *, wait_for_sync: bool = True
) -> None:
    clock.now = when
    await service.run_once()
    if wait_for_sync and service.sync_task is not None:
        await asyncio.wait_for(service.sync_task, 20)


def runs(engine) -> list[tuple[datetime, str]]:
    with engine.connect() as conn:
        return [(r.started_at, r.status) for r in conn.execute(select(SyncRun).order_by(SyncRun.id))]


def naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def test_a_sync_runs_when_due_and_not_before(engine):
    crm, clock = FakeCrm(), Clock(T0)
    service = service_for(engine, load_settings(env={}), clock, {"fakecrm": crm})

    async def scenario() -> list[int]:
        built = []
        for when in (
            T0,
            T0 + MINUTE,
            T0 + 14 * MINUTE + timedelta(seconds=59),
            T0 + 15 * MINUTE,
            T0 + 16 * MINUTE,
        ):
            await pass_at(service, clock, when)
            built.append(crm.built)
        await service.stop()
        return built

    # Never synced: due at once; then again 15 minutes after that run started, not a second earlier.
    assert asyncio.run(scenario()) == [1, 1, 1, 2, 2]
    assert runs(engine) == [(naive(T0), "ok"), (naive(T0 + 15 * MINUTE), "ok")]
    with engine.connect() as conn:
        assert conn.execute(select(User.name).where(User.user_id == USER["Id"])).scalar() == "Una User"


def test_sync_every_is_read_from_the_settings(engine):
    crm, clock = FakeCrm(), Clock(T0)
    settings = load_settings(env={}, crm={"sync_every": "5m"})
    service = service_for(engine, settings, clock, {"fakecrm": crm})

    async def scenario() -> list[int]:
        built = []
        for minutes in (0, 4, 5, 9, 10):
            await pass_at(service, clock, T0 + minutes * MINUTE)
            built.append(crm.built)
        await service.stop()
        return built

    assert asyncio.run(scenario()) == [1, 1, 2, 2, 3]


def test_due_ness_comes_from_the_store_so_a_restart_does_not_sync_at_once(engine):
    # Another instance (or this one before a restart) started a sync 10 minutes ago.
    with engine.begin() as conn:
        conn.execute(insert(SyncRun).values(crm="fakecrm", started_at=naive(T0 - 10 * MINUTE), status="ok",
                                            finished_at=naive(T0 - 9 * MINUTE)))  # fmt: skip
    crm, clock = FakeCrm(), Clock(T0)
    service = service_for(engine, load_settings(env={}), clock, {"fakecrm": crm})

    async def scenario() -> list[int]:
        built = []
        for minutes in (0, 4, 5):
            await pass_at(service, clock, T0 + minutes * MINUTE)
            built.append(crm.built)
        await service.stop()
        return built

    assert asyncio.run(scenario()) == [0, 0, 1]  # due at T0 − 10 min + 15 min


def test_a_run_left_running_holds_the_next_for_four_intervals(engine):
    # A run that never finished (its process died, or another instance is still at it), started 20 minutes ago:
    # held back until 4 × 15 min after its start, T0 + 40 min.
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(crm="fakecrm", started_at=naive(T0 - 20 * MINUTE), status="running")
        )
    crm, clock = FakeCrm(), Clock(T0)
    service = service_for(engine, load_settings(env={}), clock, {"fakecrm": crm})

    async def scenario() -> list[int]:
        built = []
        for minutes in (0, 39, 40):
            await pass_at(service, clock, T0 + minutes * MINUTE)
            built.append(crm.built)
        await service.stop()
        return built

    assert asyncio.run(scenario()) == [0, 0, 1]


def test_a_running_sync_is_not_doubled_and_holds_up_neither_digests_nor_chat(engine, tmp_path):
    # Four digests are due at 09:00 UTC on Tuesday 2026-11-17 (tests/fixtures/alerts_org.py); no alert rules.
    seed_november(engine)
    out = tmp_path / "out.jsonl"
    release = threading.Event()
    crm, clock = FakeCrm(block=release), Clock(T0)
    service = service_for(engine, load_settings(env={}, alerts=[]), clock, {"fakecrm": crm}, out=out)

    async def scenario() -> tuple[list[str], list[str], int, bool, str]:
        try:
            # The pass starts the sync, which blocks in the CRM's read, and still queues and sends the digests.
            await asyncio.wait_for(pass_at(service, clock, T0, wait_for_sync=False), 20)
            chats = sorted(json.loads(line)["chat_id"] for line in out.read_text().splitlines())
            # 61 minutes later even the store takes that `running` row for dead (4 × 15 min), but this process knows
            # its sync is still running: no second one.
            await asyncio.wait_for(pass_at(service, clock, T0 + 61 * MINUTE, wait_for_sync=False), 20)
            statuses = [status for _, status in runs(engine)]
            still_running = service.sync_task is not None and not service.sync_task.done()
            # Meanwhile an admin asks the bot and is answered.
            answer = service.runtime.conversation.handle(Request("console", "/syncs", T0, "admin")).plain_text
            built = crm.built
        finally:
            release.set()
        assert service.sync_task is not None
        await asyncio.wait_for(service.sync_task, 20)
        await service.stop()
        return chats, statuses, built, still_running, answer

    chats, statuses, built, still_running, answer = asyncio.run(scenario())
    assert chats == ["mgr-a", "mgr-b", "rep-1", "rep-2"]
    assert (statuses, built, still_running) == (["running"], 1, True)
    assert "#1 fakecrm · Nov 17, 2026 09:00 · running" in answer
    assert [status for _, status in runs(engine)] == ["ok"]


def test_a_failed_sync_is_logged_and_retried_at_the_next_due_time(engine, caplog):
    crm, clock = FakeCrm(fail="CRM said 503 Service Unavailable"), Clock(T0)
    service = service_for(engine, load_settings(env={}), clock, {"fakecrm": crm})

    async def scenario() -> list[int]:
        built = []
        for minutes in (0, 1, 14, 15):
            await pass_at(service, clock, T0 + minutes * MINUTE)
            built.append(crm.built)
        await service.stop()
        return built

    with caplog.at_level(logging.INFO, logger="alerts.syncing"):
        assert asyncio.run(scenario()) == [1, 1, 1, 2]
    assert runs(engine) == [(naive(T0), "failed"), (naive(T0 + 15 * MINUTE), "failed")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("scheduled fakecrm sync failed (run ")
    assert warnings[0].endswith("CRM said 503 Service Unavailable")


def test_a_crm_that_is_not_configured_is_logged_once_and_never_synced(engine, caplog):
    clock = Clock(T0)
    service = service_for(
        engine, load_settings(env={}), clock
    )  # the real connectors: Salesforce, no SALESFORCE_*

    async def scenario() -> None:
        for minutes in (0, 1, 15, 30):
            await pass_at(service, clock, T0 + minutes * MINUTE)
        await service.stop()

    with caplog.at_level(logging.INFO, logger="alerts.syncing"):
        asyncio.run(scenario())
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "alerts.syncing"]
    # Each CRM kpibot reads is said to be off once, at info level, with what to set.
    assert sorted(message.split(" sync off:")[0] for _level, message in said) == sorted(
        f"scheduled {name}" for name in CONNECTORS
    )
    assert {level for level, _message in said} == {logging.INFO}
    assert (logging.INFO, "scheduled salesforce sync off: SALESFORCE_INSTANCE_URL is not set "
                          "(e.g. https://yourorg.my.salesforce.com)") in said  # fmt: skip
    assert runs(engine) == []


@pytest.fixture
def fake():
    api = FakeSalesforceApi(now=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    api.start()
    try:
        yield api
    finally:
        api.stop()


def test_salesforce_is_synced_on_schedule_over_http(engine, fake):
    fake.add("User", **USER)
    fake.add("Lead", Id="00Q0000000000L1", OwnerId=USER["Id"], LeadSource="Web", Company="Acme",
             Status="Open - Not Contacted")  # fmt: skip
    env = {"SALESFORCE_INSTANCE_URL": fake.base_url, "SALESFORCE_CLIENT_ID": fake.client_id,
           "SALESFORCE_CLIENT_SECRET": fake.client_secret}  # fmt: skip
    clock = Clock(T0)
    service = service_for(engine, load_settings(env=env), clock)

    async def scenario() -> list[int]:
        calls = []
        for minutes in (0, 10, 15):
            await pass_at(service, clock, T0 + minutes * MINUTE)
            calls.append(len(fake.calls))
        await service.stop()
        return calls

    first, before_due, second = asyncio.run(scenario())
    assert (
        first > 0 and before_due == first and second > first
    )  # nothing asked of Salesforce before it was due
    assert runs(engine) == [(naive(T0), "ok"), (naive(T0 + 15 * MINUTE), "ok")]
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id, Lead.owner_id)).all() == [("00Q0000000000L1", USER["Id"])]


def test_two_instances_due_at_once_sync_once_and_a_dead_holders_claim_lapses(engine):
    from alerts.syncing import CrmSyncs

    settings = load_settings(env={})
    crm = FakeCrm()
    first = CrmSyncs(engine, settings, {"fakecrm": crm}, holder="instance-a")
    second = CrmSyncs(engine, settings, {"fakecrm": crm}, holder="instance-b")
    assert first.due(T0) == ["fakecrm"] and second.due(T0) == ["fakecrm"]  # both see it due
    assert first.run("fakecrm", T0) is not None
    assert second.run("fakecrm", T0) is None  # the claim is instance-a's until T0 + 15 min
    assert len(runs(engine)) == 1
    # instance-a dies without syncing again: at the next due time its claim has lapsed and instance-b takes over.
    later = T0 + settings.crm.sync_every
    assert second.due(later) == ["fakecrm"]
    result = second.run("fakecrm", later)
    assert result is not None and result.completed
    assert len(runs(engine)) == 2
