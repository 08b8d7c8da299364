"""End to end: the real `run_bot.py` in a subprocess serving Slack in HTTP mode, with signed requests sent over
loopback HTTP to `/slack/events` and its Web API calls going to the fake Slack API.

The data is made relative to the real clock (the subprocess reads it): Rob (rep-2, Slack U0ROB, not linked yet)
has 3 leads this month and 5 last month, so `/kpi funnel` shows 3 and its "last month" button turns the same
message into 5. Rob's Slack email is his kpibot email, so his first command links him.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.db import make_engine
from storage.schema import User
from tests.bot.slack.conftest import TOKEN
from tests.bot.slack.slack_requests import (
    SIGNING_SECRET,
    button_press,
    home_opened,
    signed_headers,
    slash_command,
)
from tests.fakes.slack_api import FakeSlackApi
from tests.fixtures.run_bot_process import free_port, seed_leads_around_now, start_run_bot, stop_run_bot

ROB, EVE = "U0ROB", "U0EVE"
ROB_DM = "D0ROB"


@pytest.fixture
def rob_db(db_url) -> Iterator[str]:
    """The fixture people and Rob's leads: 3 this month, 5 last month."""
    seed_leads_around_now(db_url, "rep-2")
    yield db_url


def start_bot(tmp_path: Path, db_url: str, api: FakeSlackApi, port: int) -> subprocess.Popen:
    return start_run_bot(
        tmp_path,
        {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": api.api_url,
            "KPIBOT_HTTP_PORT": str(port),
        },
    )


stop_bot = stop_run_bot


def _texts(blocks: list[dict]) -> str:
    """Every text of a message's blocks, one per line (what a reader sees, in mrkdwn)."""
    found = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        for element in block.get("fields", []) + block.get("elements", []):
            text = element.get("text")
            found.append(text["text"] if isinstance(text, dict) else text or "")
    return "\n".join(found)


class SlackClient:
    """Sends Slack's signed requests to the bot."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=10)

    def post(self, request: tuple[bytes, str], **sign) -> httpx.Response:
        body, content_type = request
        return self.http.post(
            self.url, content=body, headers=signed_headers(body, content_type=content_type, **sign)
        )

    def wait_until_serving(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:  # the HTTP site opens right after the services have started
            try:
                self.http.post(self.url, content=b"")
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the Slack events port never opened"
                time.sleep(0.1)


def test_http_mode_rob_asks_flips_opens_home_and_is_refused_what_is_not_his(tmp_path, slack_api, rob_db):
    slack_api.add_user(ROB, email="Rep-2@Fixture.example", name="Rob Rep")
    slack_api.add_user(EVE, email="eve@elsewhere.example", name="Eve")
    port = free_port()
    slack = SlackClient(f"http://127.0.0.1:{port}/slack/events")
    process = start_bot(tmp_path, rob_db, slack_api, port)
    try:
        slack.wait_until_serving()
        slack_api.wait_for_calls("auth.test", 1)

        # A forged signature and a correctly signed but six-minute-old request are both turned away.
        ask = slash_command(ROB, "funnel", channel_id=ROB_DM, response_url=slack_api.response_url("forged"))
        assert slack.post(ask, secret="not-the-secret").status_code == 401
        assert slack.post(ask, timestamp=int(time.time()) - 6 * 60).status_code == 401

        # Eve is nobody in kpibot: she is told whom to ask and what to tell them.
        ask = slash_command(EVE, "funnel", channel_id="D0EVE", response_url=slack_api.response_url("eve"))
        assert slack.post(ask).status_code == 200
        (refusal,) = slack_api.wait_for_calls("response_url", 1)
        assert refusal.key == "eve" and refusal.params["response_type"] == "ephemeral"
        assert "eve@elsewhere.example" in _texts(refusal.params["blocks"])
        assert "admin" in _texts(refusal.params["blocks"])

        # Rob's first /kpi funnel links him by email and answers with his 3 leads and a chart.
        mark = len(slack_api.calls)
        ask = slash_command(ROB, "funnel", channel_id=ROB_DM, response_url=slack_api.response_url("funnel"))
        response = slack.post(ask)
        assert response.status_code == 200
        (answer,) = slack_api.wait_for_calls("response_url", 1, after=mark, timeout=20)
        assert answer.params["response_type"] == "in_channel"
        blocks = answer.params["blocks"]
        assert blocks[0]["type"] == "header" and "Rob Rep" in blocks[0]["text"]["text"]
        assert "*3*" in blocks[1]["text"]["text"]  # the headline: Leads: *3*
        (context,) = [b for b in blocks if b["type"] == "context"]  # which days, whose numbers, what it means
        assert "Rob Rep" in context["elements"][0]["text"]
        (users_info,) = slack_api.calls_of("users.info", after=mark)
        assert users_info.params["user"] == ROB
        (complete,) = slack_api.wait_for_calls("files.completeUploadExternal", 1, after=mark)
        assert complete.params["channel_id"] == ROB_DM
        (upload,) = slack_api.calls_of("upload", after=mark)
        assert upload.body.startswith(b"\x89PNG")
        engine = make_engine(rob_db)
        with engine.connect() as conn:
            assert conn.execute(select(User.slack_user_id).where(User.user_id == "rep-2")).scalar() == ROB
        engine.dispose()

        # The "last month" button replaces the same message with last month's 5 leads; users.info is not asked again.
        buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        last_month = next(b for b in buttons if b["value"] == "/funnel last month")
        mark = len(slack_api.calls)
        press = button_press(
            ROB,
            last_month,
            channel_id=ROB_DM,
            message_ts="1760000000.000900",
            response_url=slack_api.response_url("press"),
        )
        assert slack.post(press).status_code == 200
        (replaced,) = slack_api.wait_for_calls("response_url", 1, after=mark, timeout=20)
        assert replaced.key == "press" and replaced.params["replace_original"] is True
        assert "*5*" in replaced.params["blocks"][1]["text"]["text"]
        assert not slack_api.calls_of("users.info", after=mark)

        # Opening the Home tab publishes Rob's dashboard: plan, funnel and yesterday's activity.
        mark = len(slack_api.calls)
        assert slack.post(home_opened(ROB)).status_code == 200
        (published,) = slack_api.wait_for_calls("views.publish", 1, after=mark, timeout=20)
        assert published.params["user_id"] == ROB
        view = published.params["view"]
        assert view["type"] == "home"
        headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
        assert len(headers) == 4, headers  # "Your numbers" and the three replies
        assert "*3*" in _texts(view["blocks"])

        # Rob asking for Rita's numbers is refused, for his eyes only, with no numbers in it.
        mark = len(slack_api.calls)
        ask = slash_command(
            ROB, "funnel @rep-1", channel_id=ROB_DM, response_url=slack_api.response_url("rita")
        )
        assert slack.post(ask).status_code == 200
        (denied,) = slack_api.wait_for_calls("response_url", 1, after=mark, timeout=20)
        assert denied.params["response_type"] == "ephemeral"
        # It repeats what he typed and never says whose id that is.
        assert "You can't see the numbers of 'rep-1'" in _texts(denied.params["blocks"])
        assert "Rita" not in _texts(denied.params["blocks"])
        assert not slack_api.calls_of("files.getUploadURLExternal", after=mark)

        assert "forged" not in [call.key for call in slack_api.calls_of("response_url")], (
            "a refused request was answered"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- bot output ---\n{stop_bot(process)}") from exc
    finally:
        stop_bot(process)


def test_a_rejected_bot_token_stops_the_bot_with_one_line_that_does_not_show_it(tmp_path, slack_api, db_url):
    wrong = "xoxb-1111-2222-RevokedTokenForTests"
    process = start_run_bot(
        tmp_path,
        {
            "DATABASE_URL": db_url,
            "SLACK_BOT_TOKEN": wrong,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": slack_api.api_url,
            "KPIBOT_HTTP_PORT": str(free_port()),
        },
    )
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the bot kept running\n--- bot output ---\n{stop_bot(process)}")
    output = stop_bot(process)
    assert process.returncode == 1
    # Log lines (slack_bolt warns at start-up) are not the failure; the failure is one line of its own.
    said = [
        line for line in output.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", line)
    ]
    assert said == ["kpibot: Slack rejected SLACK_BOT_TOKEN (auth.test: invalid_auth)"], output
    assert "RevokedToken" not in output and SIGNING_SECRET not in output
    (asked,) = slack_api.calls_of("auth.test")
    assert asked.token == wrong
