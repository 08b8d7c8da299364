"""The scheduler service in the bot's event loop: its first pass, at start, queues and delivers what is due."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from alerts.delivery.console import ConsoleSender
from alerts.service import SchedulerService
from bot.conversation import Conversation
from bot.serve import Runtime
from run_bot import build_registry
from storage.config.settings import Settings
from tests.fixtures.alerts_org import seed_november

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


def _runtime(engine, out) -> Runtime:
    settings = Settings(alerts=[])
    runtime = Runtime(
        settings=settings,
        engine=engine,
        conversation=Conversation(engine, settings, build_registry()),
        clock=lambda: NOW,
    )
    runtime.senders["console"] = ConsoleSender(out)
    return runtime


async def _wait_for_lines(out, count: int) -> None:
    for _ in range(100):  # bounded wait: at most 10 s for the first pass
        if out.exists() and len(out.read_text().splitlines()) >= count:
            return
        await asyncio.sleep(0.1)


def test_the_first_pass_catches_up_and_delivers(engine, tmp_path):
    seed_november(engine)
    out = tmp_path / "out.jsonl"
    runtime = _runtime(engine, out)

    async def run() -> None:
        service = SchedulerService(runtime)
        await service.start()
        try:
            await _wait_for_lines(out, 4)
        finally:
            await service.stop()

    asyncio.run(run())
    chats = sorted(json.loads(line)["chat_id"] for line in out.read_text().splitlines())
    assert chats == ["mgr-a", "mgr-b", "rep-1", "rep-2"]


def test_a_flood_of_chat_work_does_not_starve_the_scheduler(engine, tmp_path):
    seed_november(engine)
    out = tmp_path / "out.jsonl"
    runtime = _runtime(engine, out)
    release = threading.Event()

    async def run() -> list[str]:
        # Chat commands run in the loop's default thread pool: occupy all of its threads.
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=3))
        busy = [loop.run_in_executor(None, release.wait, 30) for _ in range(3)]
        service = SchedulerService(runtime)
        await service.start()
        try:
            await _wait_for_lines(out, 4)
            return (
                [json.loads(line)["chat_id"] for line in out.read_text().splitlines()] if out.exists() else []
            )
        finally:
            release.set()
            await asyncio.gather(*busy)
            await service.stop()

    assert sorted(asyncio.run(run())) == ["mgr-a", "mgr-b", "rep-1", "rep-2"]
