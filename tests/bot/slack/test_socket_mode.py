"""End to end: the real `run_bot.py` in a subprocess serving Slack over Socket Mode — slack_bolt's aiohttp
handler fetches its WebSocket URL from the fake Slack API with the app-level token, connects over loopback, and
answers the envelopes the fake pushes down the socket.

The data is made relative to the real clock (the subprocess reads it): Rob (rep-2) is linked to Slack U0ROB and
has 5 leads last month and 2 this month; Rita (rep-1, his teammate) has 4 last month, which are not his. So
`/kpi funnel last month` from Rob says Leads: 5, and his Home tab shows this month's 2. Eve (U0EVE) is nobody in
kpibot.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from storage.db import make_engine
from storage.schema import Lead, User
from tests.bot.slack.conftest import TOKEN
from tests.fakes.slack_socket_mode import (
    APP_TOKEN,
    SERVER_PING,
    FakeSlackSocketMode,
    home_opened_envelope,
    slash_command_envelope,
)
from tests.fixtures.metrics_org import seed_people
from tests.fixtures.run_bot_process import start_run_bot, stop_run_bot

ROB, EVE = "U0ROB", "U0EVE"
ROB_DM = "D0ROB"


@pytest.fixture
def slack() -> Iterator[FakeSlackSocketMode]:
    fake = FakeSlackSocketMode(TOKEN, APP_TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def linked_rob_db(db_url) -> Iterator[str]:
    """The fixture people, Rob linked to his Slack account, and the leads: Rob 5 + 2, Rita 4 last month."""
    engine = make_engine(db_url)
    seed_people(engine)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    last_month = (month_start - timedelta(days=1)).replace(day=10, hour=12)
    leads = [dict(lead_id=f"rob-prev-{i}", owner_id="rep-2", created_at=last_month) for i in range(5)]
    leads += [
        dict(lead_id=f"rob-now-{i}", owner_id="rep-2", created_at=month_start + timedelta(minutes=5))
        for i in range(2)
    ]
    leads += [dict(lead_id=f"rita-prev-{i}", owner_id="rep-1", created_at=last_month) for i in range(4)]
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "rep-2").values(slack_user_id=ROB))
        conn.execute(insert(Lead), leads)
    engine.dispose()
    yield db_url


def start_bot(tmp_path: Path, db_url: str, slack: FakeSlackSocketMode) -> subprocess.Popen:
    """run_bot.py in Socket Mode: both tokens and the fake's address, no signing secret, no HTTP port."""
    return start_run_bot(
        tmp_path,
        {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_BASE_URL": slack.api_url,
        },
    )


def test_socket_mode_rob_asks_opens_home_and_eve_is_told_how_to_get_linked(tmp_path, slack, linked_rob_db):
    slack.add_user(ROB, email="rep-2@fixture.example", name="Rob Rep")
    slack.add_user(EVE, email="eve@elsewhere.example", name="Eve")
    process = start_bot(tmp_path, linked_rob_db, slack)
    try:
        # The bot checks its bot token, then opens the socket with the app token; the fake greets it.
        slack.wait_for_connection(timeout=30)
        (auth,) = slack.calls_of("auth.test")
        (opened,) = slack.calls_of("apps.connections.open")
        assert auth.token == TOKEN and opened.token == APP_TOKEN
        # Both sides' pings are answered: the client's keep-alive and the server's.
        assert slack.wait_for_pong() == SERVER_PING
        assert slack.pings and slack.pings[0].startswith(b"sdk-ping-pong:")

        # Rob asks for last month's funnel: the envelope is acked with no payload, and the answer goes to the
        # command's response_url — his 5 leads, not Rita's 4 — with the chart uploaded into his DM.
        mark = len(slack.calls)
        envelope = slash_command_envelope(
            ROB, "funnel last month", channel_id=ROB_DM, response_url=slack.response_url("rob")
        )
        assert slack.wait_for_ack(slack.push(envelope)) == {"envelope_id": envelope["envelope_id"]}
        (answer,) = slack.wait_for_calls("response_url", 1, after=mark, timeout=20)
        assert answer.key == "rob" and answer.params["response_type"] == "in_channel"
        blocks = answer.params["blocks"]
        assert blocks[0]["type"] == "header" and "Rob Rep" in blocks[0]["text"]["text"]
        assert blocks[1]["text"]["text"].startswith("*Leads:* *5*"), blocks[1]
        (complete,) = slack.wait_for_calls("files.completeUploadExternal", 1, after=mark)
        assert complete.params["channel_id"] == ROB_DM
        assert not slack.calls_of("users.info", after=mark)  # already linked: no profile lookup

        # Opening the Home tab (an events_api envelope) publishes Rob's dashboard with this month's 2 leads.
        mark = len(slack.calls)
        envelope = home_opened_envelope(ROB)
        assert slack.wait_for_ack(slack.push(envelope)) == {"envelope_id": envelope["envelope_id"]}
        (published,) = slack.wait_for_calls("views.publish", 1, after=mark, timeout=20)
        assert published.params["user_id"] == ROB
        assert published.params["view"]["type"] == "home"
        assert any(
            "*2*" in block["text"]["text"]
            for block in published.params["view"]["blocks"]
            if block["type"] == "section" and "text" in block
        )

        # Slack retires the connection: the bot fetches a fresh URL and reconnects, and serves on.
        slack.disconnect()
        slack.wait_for_connection(2)
        assert [call.token for call in slack.calls_of("apps.connections.open")] == [APP_TOKEN, APP_TOKEN]

        # Eve is nobody in kpibot: on the new connection she is told, for her eyes only, whom to ask and what
        # to tell them.
        mark = len(slack.calls)
        envelope = slash_command_envelope(
            EVE, "funnel last month", channel_id="D0EVE", response_url=slack.response_url("eve")
        )
        slack.wait_for_ack(slack.push(envelope))
        (refusal,) = slack.wait_for_calls("response_url", 1, after=mark, timeout=20)
        assert refusal.key == "eve" and refusal.params["response_type"] == "ephemeral"
        text = refusal.params["blocks"][0]["text"]["text"]
        assert "not linked" in text and "eve@elsewhere.example" in text and "admin" in text
        assert not slack.calls_of("files.getUploadURLExternal", after=mark)

        # Every Web API call but opening the socket used the bot token; none was refused.
        for call in slack.calls:
            if call.method not in ("response_url", "upload"):
                assert call.token == (APP_TOKEN if call.method == "apps.connections.open" else TOKEN), call
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_run_bot(process)}") from exc
    finally:
        stop_run_bot(process)


@pytest.mark.parametrize(
    ("app_token", "error"),
    [("xapp-1-A0KPI-revoked", "invalid_auth"), (TOKEN, "not_allowed_token_type")],
    ids=["revoked", "bot-token-pasted"],
)
def test_a_wrong_app_token_stops_the_bot_at_once_with_slacks_error(tmp_path, slack, app_token, error):
    process = start_run_bot(
        tmp_path,
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'kpibot.db'}",
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_APP_TOKEN": app_token,
            "SLACK_API_BASE_URL": slack.api_url,
        },
    )
    try:
        process.wait(30)  # not retried every ten seconds for ever
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bot kept running\n--- bot output ---\n{stop_run_bot(process)}")
    output = stop_run_bot(process)
    assert process.returncode != 0
    assert "apps.connections.open" in output and error in output
    assert not slack.hellos
