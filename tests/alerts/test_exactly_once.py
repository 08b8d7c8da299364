"""Each queued message reaches its chat exactly once, even when sending is slower than the claim's lease.

Eight managers' team digests are queued; the fake Bot API answers each sendMessage only after a delay, so one
drain needs longer than its lease of 2 s. A second `kpibot digests run` (here: a second drain in a thread of its
own, with an engine of its own) starts once the first one's lease would have run out. What the fake received is
counted per chat: one message each, eight in all, never a second copy.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot

from alerts.delivery.outbox import DrainReport, OutboxItem, claim, deliveries, drain_outbox, enqueue
from bot.reply.messages import Reply, Span
from bot.telegram.sender import TelegramSender
from storage.config.settings import DeliverySettings
from storage.db import make_engine
from tests.bot.telegram.conftest import TOKEN, fake_api  # noqa: F401  (fixture)
from tests.fakes.telegram_api import FakeBotApi

CHATS = [900001 + i for i in range(8)]
LEASE = DeliverySettings(lease_seconds=2)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
# `kpibot …` as the installed console script runs it.
KPIBOT = "import sys, run_bot; sys.exit(run_bot.main(sys.argv[1:]))"


def _queue(engine, now: datetime, chats: list[int]) -> None:
    items = [
        OutboxItem(
            f"digest:team_digest:mgr-{chat}:2026-12-02",
            "digest",
            "team_digest",
            f"mgr-{chat}",
            "telegram",
            str(chat),
            Reply(title="Team digest", lines=((Span(f"Yesterday: {chat % 10} calls"),),)),
        )
        for chat in chats
    ]
    with engine.begin() as conn:
        enqueue(conn, items, now)


class Run(threading.Thread):
    """One `digests run` delivering what is due: its own engine, Bot and event loop, the real clock."""

    def __init__(self, db_url: str, api: FakeBotApi) -> None:
        super().__init__(daemon=True)
        self.db_url, self.api = db_url, api
        self.report: DrainReport | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.report = asyncio.run(self._drain())
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc

    async def _drain(self) -> DrainReport:
        engine = make_engine(self.db_url)
        bot = Bot(TOKEN, base_url=f"{self.api.base_url}/bot", base_file_url=f"{self.api.base_url}/file/bot")
        try:
            async with bot:
                sender = TelegramSender(bot, engine)
                return await drain_outbox(engine, {"telegram": sender}, datetime.now(UTC), delivery=LEASE)
        finally:
            engine.dispose()


def _both(db_url: str, api: FakeBotApi, *, second_after_calls: int, then_wait: float = 0.0) -> list[Run]:
    first, second = Run(db_url, api), Run(db_url, api)
    first.start()
    api.wait_for_calls("sendMessage", second_after_calls, timeout=30)
    time.sleep(then_wait)
    second.start()
    for run in (first, second):
        run.join(60)
        assert not run.is_alive(), "a drain did not finish"
        if run.error is not None:
            raise run.error
    return [first, second]


def _received(api: FakeBotApi) -> Counter[int]:
    return Counter(int(call.params["chat_id"]) for call in api.calls_of("sendMessage"))


@pytest.mark.timeout(120)
def test_a_second_run_after_the_lease_sends_nothing_twice(db_url, engine, fake_api):  # noqa: F811
    _queue(engine, datetime.now(UTC) - timedelta(minutes=1), CHATS)
    # 0.6 s a message: eight take 4.8 s, more than twice the lease. The second run starts when the fourth
    # message arrives, 1.8 s or more after the first run claimed the batch — past the lease's end, were it
    # not renewed.
    fake_api.slow_down("sendMessage", 0.6)
    first, second = _both(db_url, fake_api, second_after_calls=4, then_wait=0.5)

    assert _received(fake_api) == Counter({chat: 1 for chat in CHATS})
    assert first.report is not None and second.report is not None
    assert len(first.report.sent) + len(second.report.sent) == 8
    assert sorted(row.status for row in deliveries(engine)) == ["sent"] * 8


@pytest.mark.timeout(120)
def test_a_single_send_slower_than_the_lease_is_not_sent_again(db_url, engine, fake_api):  # noqa: F811
    chats = CHATS[:2]
    _queue(engine, datetime.now(UTC) - timedelta(minutes=1), chats)
    # One message takes 3 s, half as long again as the whole lease; the second run starts 2.5 s into the first.
    fake_api.slow_down("sendMessage", 3.0)
    _both(db_url, fake_api, second_after_calls=1, then_wait=2.5)

    assert _received(fake_api) == Counter({chat: 1 for chat in chats})
    assert sorted(row.status for row in deliveries(engine)) == ["sent"] * 2


class FreezingSender:
    """A console sender whose process freezes for ten minutes in its first send (a paused VM, a stopped
    process): meanwhile another worker claims what ran out, and the frozen one wakes up to finish that send."""

    platform = "console"

    def __init__(self, engine, moment: list[datetime]) -> None:
        self.engine, self.moment = engine, moment
        self.sent: list[str] = []
        self.taken_over: list[str] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        if not self.sent:
            self.moment[0] += timedelta(minutes=10)
            other = claim(
                self.engine, ["console"], self.moment[0], worker="other", lease=timedelta(seconds=30)
            )
            self.taken_over = [m.chat_id for m in other]
        self.sent.append(chat_id)


def _console_items(engine, chats: list[str]) -> None:
    reply = Reply(title="Your day", lines=((Span("Yesterday: 5 calls"),),))
    with engine.begin() as conn:
        enqueue(
            conn,
            [
                OutboxItem(f"digest:rep_daily:{c}:2026-12-02", "digest", "rep_daily", c, "console", c, reply)
                for c in chats
            ],
            NOW,
        )


def test_a_worker_that_froze_past_its_lease_does_not_send_what_it_no_longer_holds(engine):
    _console_items(engine, ["rep-1", "rep-2", "rep-3"])
    moment = [NOW]
    sender = FreezingSender(engine, moment)
    report = asyncio.run(
        drain_outbox(
            engine,
            {"console": sender},
            NOW,
            delivery=DeliverySettings(lease_seconds=30),
            clock=lambda: moment[0],
        )
    )
    # While it was frozen in rep-1's send, the other worker claimed all three, rep-1's included: that one message
    # may reach rep-1 twice (no platform lets a sender make a message idempotent). rep-2's and rep-3's are not
    # sent by the frozen worker: the re-check before each send finds them claimed under another token.
    assert sender.taken_over == ["rep-1", "rep-2", "rep-3"]
    assert sender.sent == ["rep-1"]
    ids = {row.chat_id: row.id for row in deliveries(engine)}
    assert report.sent == [ids["rep-1"]] and report.lost == [ids["rep-2"], ids["rep-3"]]
    # Its record of rep-1 did not overwrite the other worker's claim: all three are the other's to finish.
    assert sorted(row.status for row in deliveries(engine)) == ["claimed"] * 3


class StoppingSender:
    """Records what it sends; the bot is asked to stop (SIGTERM) while the first message is on its way."""

    platform = "console"

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping
        self.sent: list[str] = []

    async def send(self, chat_id: str, reply: Reply) -> None:
        self.stopping.set()
        self.sent.append(chat_id)


def test_a_stop_finishes_the_send_under_way_and_hands_the_rest_back_at_once(engine):
    _console_items(engine, ["rep-1", "rep-2", "rep-3"])

    async def drain_until_stopped() -> DrainReport:
        stopping = asyncio.Event()
        return await drain_outbox(engine, {"console": StoppingSender(stopping)}, NOW, stopping=stopping)

    report = asyncio.run(drain_until_stopped())
    rows = {row.chat_id: row for row in deliveries(engine)}
    assert report.sent == [rows["rep-1"].id] and report.released == [rows["rep-2"].id, rows["rep-3"].id]
    assert (rows["rep-1"].status, rows["rep-1"].attempts) == ("sent", 1)
    # The two never tried are due again at once, for any instance, and their claim cost no attempt.
    assert [(rows[c].status, rows[c].attempts) for c in ("rep-2", "rep-3")] == [("pending", 0)] * 2
    assert [
        m.chat_id for m in claim(engine, ["console"], NOW, worker="next", lease=timedelta(seconds=30))
    ] == [
        "rep-2",
        "rep-3",
    ]


# What a run killed in the middle of a send does, as kpibot documents it: the message is never lost, and if the
# platform had already accepted it, it arrives a second time once the lease has run out.
KILL_CONFIG = """\
digests:
  rep_daily: {enabled: false}
  team_digest: {enabled: false}
  weekly_plan: {enabled: false}
alerts: []
delivery: {lease_seconds: 1}
"""


def _digests_run(directory: Path, db_url: str, api: FakeBotApi) -> subprocess.Popen:
    (directory / "kpibot.yaml").write_text(KILL_CONFIG, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(directory)),
        "MPLBACKEND": "Agg",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": api.base_url,
    }
    return subprocess.Popen(
        [sys.executable, "-c", KPIBOT, "--db", db_url, "digests", "run"],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.timeout(120)
def test_a_run_killed_while_sending_leaves_the_message_to_the_next_run_never_lost(
    db_url,
    engine,
    fake_api,  # noqa: F811
    tmp_path,
):
    chat = CHATS[0]
    _queue(engine, datetime.now(UTC) - timedelta(minutes=1), [chat])
    fake_api.slow_down("sendMessage", 1.0)
    killed = _digests_run(tmp_path, db_url, fake_api)
    fake_api.wait_for_calls("sendMessage", 1, timeout=60)
    killed.kill()  # SIGKILL: the Bot API has the message, the outbox never hears back
    killed.wait(10)
    [row] = deliveries(engine)
    assert row.status == "claimed"

    time.sleep(1.5)  # the dead run's lease of 1 s runs out
    second = _digests_run(tmp_path, db_url, fake_api)
    output = second.communicate(timeout=60)[0].decode()
    assert second.returncode == 0, output
    assert "sent 1, retrying 0, dead 0" in output
    [row] = deliveries(engine)
    assert (row.status, row.attempts) == ("sent", 2)
    # The one duplicate the platforms leave no way to prevent: the chat got the digest twice, and no more.
    assert _received(fake_api) == Counter({chat: 2})
