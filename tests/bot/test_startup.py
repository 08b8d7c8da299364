"""Start-up against a chat platform that refuses or cannot be reached: the real run_bot.py stops with exit code 1
and says why in one line — no traceback, no log line, no token.

The database plays no part (the platform is asked before anything is served), so these runs use a SQLite file.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.fakes.refusing_proxy import RefusingProxy
from tests.fixtures.run_bot_process import free_port, start_run_bot, stop_run_bot

TELEGRAM_TOKEN = "7000001234:AAStartupTokenForTests_0123456789ab"
SLACK_TOKEN = "xoxb-1111-2222-StartupTokenForTests"


@pytest.fixture(scope="module")
def proxy() -> Iterator[RefusingProxy]:
    server = RefusingProxy().start()
    yield server
    server.stop()


def _start(tmp_path, platform: str, base_url: str) -> list[str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'kpibot.db'}"}
    if platform == "telegram":
        env |= {"TELEGRAM_TOKEN": TELEGRAM_TOKEN, "TELEGRAM_API_BASE_URL": base_url}
    else:
        env |= {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": "startup-signing-secret",
                "SLACK_API_BASE_URL": f"{base_url}/api/", "KPIBOT_HTTP_PORT": str(free_port())}  # fmt: skip
    process = start_run_bot(tmp_path, env)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bot kept running\n--- bot output ---\n{stop_run_bot(process)}")
    output = stop_run_bot(process)
    assert process.returncode == 1, output
    assert "Traceback" not in output and "StartupToken" not in output, output
    return output.splitlines()


def test_telegram_behind_a_gateway_that_answers_401_is_one_line(tmp_path, proxy):
    # python-telegram-bot cannot read the HTML page as the Bot API's JSON and logs it with a traceback; the
    # operator gets what it means.
    assert _start(tmp_path, "telegram", proxy.base_url) == [
        "kpibot: Telegram rejected TELEGRAM_TOKEN (getMe: Unauthorized (401)); check it with @BotFather"
    ]


def test_telegram_on_a_closed_port_is_one_line(tmp_path):
    assert _start(tmp_path, "telegram", f"http://127.0.0.1:{free_port()}") == [
        "kpibot: cannot reach the Telegram Bot API: httpx.ConnectError: All connection attempts failed"
    ]


def test_slack_behind_a_gateway_that_answers_401_is_one_line(tmp_path, proxy):
    # No `error` in an HTML page: the status says the token was not let through. (Slack Bolt's start-up warning
    # about its own token handling is no line for the operator either.)
    assert _start(tmp_path, "slack", proxy.base_url) == [
        "kpibot: Slack rejected SLACK_BOT_TOKEN (auth.test: HTTP 401)"
    ]


def test_slack_on_a_closed_port_is_one_line(tmp_path):
    port = free_port()
    [line] = _start(tmp_path, "slack", f"http://127.0.0.1:{port}")
    assert line.startswith("kpibot: cannot reach the Slack API: ClientConnectorError: Cannot connect to host")
    assert f"127.0.0.1:{port}" in line
