"""The scheduler service in the bot's event loop: its first pass, at start, queues and delivers what is due."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from alerts.console import ConsoleSender
from alerts.service import SchedulerService
from bot.conversation import Conversation
from bot.serve import Runtime
from storage.config import Settings
from tests.alerts.org import seed_november

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


def test_the_first_pass_catches_up_and_delivers(engine, tmp_path):
    seed_november(engine)
    out = tmp_path / "out.jsonl"
    settings = Settings(alerts=[])
    runtime = Runtime(
        settings=settings, engine=engine, conversation=Conversation(engine, settings), clock=lambda: NOW
    )
    runtime.senders["console"] = ConsoleSender(out)

    async def run() -> None:
        service = SchedulerService(runtime)
        await service.start()
        try:
            for _ in range(100):  # bounded wait: at most 10 s for the first pass
                if out.exists() and len(out.read_text().splitlines()) >= 4:
                    break
                await asyncio.sleep(0.1)
        finally:
            await service.stop()

    asyncio.run(run())
    chats = sorted(json.loads(line)["chat_id"] for line in out.read_text().splitlines())
    assert chats == ["mgr-a", "mgr-b", "rep-1", "rep-2"]
