"""Fixtures for the Slack tests: the fake Slack Web API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.slack.fake_slack_api import FakeSlackApi

TOKEN = "xoxb-0000-test-token"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi(TOKEN).start()
    try:
        yield api
    finally:
        api.stop()
