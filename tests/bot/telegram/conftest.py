"""Fixtures for the Telegram tests: the fake Bot API server and a fixture org in a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storage.db import make_engine
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures.bot_org import seed_org

TOKEN = "123456:TEST-token"


@pytest.fixture
def fake_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi(TOKEN).start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def org_db_url(db_url) -> str:
    """A database holding the fixture org (people, October leads and deals; see tests/fixtures/bot_org.py)."""
    engine = make_engine(db_url)
    seed_org(engine)
    engine.dispose()
    return db_url
