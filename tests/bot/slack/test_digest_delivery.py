"""An operator's `kpibot digests run` delivers to Slack users through the real slack-sdk, over loopback HTTP."""

from __future__ import annotations

from sqlalchemy import update

from run_bot import main
from storage.schema import User
from tests.bot.slack.conftest import TOKEN
from tests.fixtures.alerts_org import seed_november


def test_digests_run_posts_robs_morning_digest_into_his_slack_dm(
    engine, db_url, slack_api, monkeypatch, capsys
):
    seed_november(engine)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.user_id == "rep-2").values(slack_user_id="U0ROB"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_BASE_URL", slack_api.api_url)
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)

    # Tuesday 09:00 UTC: Rob's rep digest is due (see tests/fixtures/alerts_org.py for his Monday: 3 calls).
    assert main(["--db", db_url, "digests", "run", "--now", "2026-11-17T09:00:00+00:00"]) == 0

    (opened,) = slack_api.calls_of("conversations.open")
    assert opened.params["users"] == "U0ROB"
    posts = [call for call in slack_api.calls_of("chat.postMessage") if call.params["channel"] == "D0ROB"]
    assert len(posts) == 1
    blocks = str(posts[0].params["blocks"])
    assert "*Yesterday:* 3 activities done (3 calls, 0 meetings)" in blocks
    assert "/kpi unsubscribe rep_daily" in blocks  # the way Slack users type commands
    # Run again: the outbox already holds Rob's digest for that day, nothing goes out twice.
    assert main(["--db", db_url, "digests", "run", "--now", "2026-11-17T09:05:00+00:00"]) == 0
    assert len(slack_api.calls_of("chat.postMessage")) == 1
