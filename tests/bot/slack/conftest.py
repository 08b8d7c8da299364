"""Fixtures for the Slack tests: the fake Slack Web API, and the Slack service serving HTTP on loopback.

The service's clock is fixed at Friday 2026-11-20 12:00 UTC, so "last month" is October in the fixture org
(tests/fixtures/bot_org.py); Rob (rep-2) is linked to the Slack user U0ROB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiohttp import web
from sqlalchemy import update

from bot.conversation import Conversation
from bot.serve import Runtime
from bot.slack.service import EVENTS_PATH, SlackService
from run_bot import build_registry
from storage.config.settings import load_settings
from storage.db import make_engine
from storage.schema import User
from tests.bot.slack.slack_requests import SIGNING_SECRET, signed_headers
from tests.fakes.slack_api import FakeSlackApi
from tests.fixtures.bot_org import NOW, seed_org

TOKEN = "xoxb-0000-test-token"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi(TOKEN).start()
    try:
        yield api
    finally:
        api.stop()


ROB = "U0ROB"


def make_runtime(engine, api: FakeSlackApi, **env: str) -> Runtime:
    settings = load_settings(env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_BASE_URL": api.api_url, **env})
    return Runtime(
        settings,
        engine,
        Conversation(engine, settings, build_registry()),
        http_host="127.0.0.1",
        clock=lambda: NOW,
    )


class Served:
    """A started SlackService and the URL its events route answers on."""

    def __init__(self, service: SlackService, url: str) -> None:
        self.service = service
        self.url = url
        self.http = httpx.AsyncClient(timeout=10)

    async def post(self, request: tuple[bytes, str]) -> httpx.Response:
        body, content_type = request
        return await self.http.post(
            self.url, content=body, headers=signed_headers(body, content_type=content_type)
        )


@pytest.fixture
async def served(db_url, slack_api: FakeSlackApi) -> AsyncIterator[Served]:
    engine = make_engine(db_url)
    seed_org(engine)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "rep-2").values(slack_user_id=ROB))
    runtime = make_runtime(engine, slack_api, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    service = SlackService(runtime)
    await service.start()
    runner = web.AppRunner(runtime.http)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    served = Served(service, f"http://127.0.0.1:{port}{EVENTS_PATH}")
    try:
        yield served
    finally:
        await served.http.aclose()
        await runner.cleanup()
        await service.stop()
        engine.dispose()
