"""The load test: 50 chat requests at once over the production HTTP path while an import writes into the database.

kpibot is served as in production (`bot.serve.serve` with run_bot.py's services: the Telegram webhook, Slack in
HTTP mode, the scheduler), on a copy of the benchmark org (bench/load_org.py). Its replies go out to the fake
Telegram Bot API and the fake Slack Web API of the tests (tests/fakes), real HTTP servers on 127.0.0.1 that record
when each call arrived. 25 people post a command to the Telegram webhook (with the secret-token header) and 25
others a `/kpi` slash command to `/slack/events` (signed with the signing secret), all at once, each one of the
benchmark's commands in turn, while a child process imports 100 k leads into the same database (`python -m
bench.importing`, as `kpibot import` does). A second into the load the clock reaches the Slack askers' morning
digests and a scheduler pass runs, as its minute tick would.

Latency is from the webhook's 200 (the request accepted) to the last message of its reply arriving at the fake API.
An error is a request refused, a reply that never came, an apology with an incident id, or a log record at ERROR;
"database is locked" is counted wherever it shows (logs, replies, the import's output).
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.commands import COMMAND_TEXTS
from bench.importing import write_leads_csv
from bench.load_org import Asker, copy_database, link_askers
from bench.load_report import LOCKED, reply_calls, summary
from bench.org import BenchOrg
from storage.config.settings import Settings, load_settings
from storage.db import make_engine

__all__ = ["measure_load"]

TELEGRAM_TOKEN = "424242:BENCH-token"
SLACK_TOKEN = "xoxb-bench-token"
WEBHOOK_SECRET = "bench-webhook-secret"
_REPLY_TIMEOUT_S = 120.0
_QUIET_S = 2.0


class _MovableClock:
    """kpibot's clock for the run: runs at wall-clock pace from `start`, and can be moved forward."""

    def __init__(self, start: datetime) -> None:
        self._base, self._anchor = start, time.monotonic()

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._anchor)

    def move_to(self, at: datetime) -> None:
        self._base, self._anchor = at, time.monotonic()


class _Records(logging.Handler):
    """Every log record at WARNING or above, kept for counting."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _Bot:
    """kpibot's serve() on a thread of its own, with a handle on its scheduler service."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.loop = asyncio.new_event_loop()
        self.scheduler: Any = None
        self.error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _services(self, runtime: Any) -> list[Any]:
        from run_bot import build_services

        services = build_services(runtime)
        self.scheduler = next(s for s in services if s.name == "scheduler")
        return services

    def _run(self) -> None:
        from bot.serve import serve

        async def main() -> None:
            self._stop = asyncio.Event()
            await serve(self.runtime, self._services, stop=self._stop)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # reported by the run
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        if self._stop is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


def _settings(telegram_api: Any, slack_api: Any, port: int) -> Settings:
    from tests.bot.slack.slack_requests import SIGNING_SECRET

    env = {
        "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_BASE_URL": slack_api.api_url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "KPIBOT_HTTP_PORT": str(port),
    }
    # As in the other parts, the flood limit is off: 50 questions in a second from 50 people is the load asked for.
    return load_settings(config_path=None, env=env, chat={"rate_limit_per_minute": 0})


def _digest_window(engine: Any, settings: Settings, askers: list[Asker], org: BenchOrg) -> datetime:
    """When the Slack askers' morning digests are all due: their latest slot."""
    from alerts.digests.run import due_digests, load_choices, load_people
    from storage.config.settings import DeliverySettings

    slack_people = {a.user_id for a in askers if a.platform == "slack"}
    # Every slot of the benchmark day, whatever the zone: looked for with a day-long catch-up window.
    whole_day = settings.model_copy(
        update={"delivery": DeliverySettings(**{**settings.delivery.model_dump(), "catch_up_hours": 24})}
    )
    with engine.connect() as conn:
        due = due_digests(whole_day, load_people(conn), load_choices(conn), org.now + timedelta(hours=23))
    slots = sorted(d.slot.astimezone(UTC) for d in due if d.person.user_id in slack_people)
    return slots[-1]


async def _post_all(askers: list[Asker], port: int, slack_api: Any, stamp: str) -> dict[str, Any]:
    """Post every asker's command at once; when each was sent and accepted (monotonic), or why it was not."""
    import httpx

    from tests.bot.slack.slack_requests import signed_headers, slash_command
    from tests.bot.telegram.updates import person, private_text

    commands = list(COMMAND_TEXTS.values())
    accepted: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as http:

        async def post(i: int, asker: Asker) -> None:
            text = commands[i % len(commands)]
            if asker.platform == "telegram":
                update = {
                    "update_id": int(stamp) * 100 + i,
                    **private_text(person(int(asker.account), asker.user_id), text),
                }
                body = json.dumps(update).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
                }
                url = f"http://127.0.0.1:{port}/telegram/webhook"
            else:
                body, content_type = slash_command(
                    asker.account,
                    text.lstrip("/"),
                    channel_id=asker.channel,
                    response_url=slack_api.response_url(f"load-{i}"),
                )
                headers = signed_headers(body, content_type=content_type)
                url = f"http://127.0.0.1:{port}/slack/events"
            sent = time.monotonic()
            try:
                response = await http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                accepted[asker.channel] = f"{type(exc).__name__}"
                return
            ok = response.status_code == 200
            accepted[asker.channel] = (sent, time.monotonic()) if ok else f"HTTP {response.status_code}"

        await asyncio.gather(*(post(i, a) for i, a in enumerate(askers)))
    return accepted


def _wait_for_replies(askers: list[Asker], telegram_api: Any, slack_api: Any) -> None:
    deadline = time.monotonic() + _REPLY_TIMEOUT_S
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = len(telegram_api.calls) + len(slack_api.calls)
        if total != seen:
            seen, quiet_since = total, time.monotonic()
        answered = all(reply_calls(a, i, telegram_api, slack_api) for i, a in enumerate(askers))
        if answered and time.monotonic() - quiet_since >= _QUIET_S:
            return
        time.sleep(0.1)


def _wait_port(port: int, bot: _Bot, deadline_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + deadline_s
    while True:
        try:
            httpx.post(f"http://127.0.0.1:{port}/telegram/webhook", content=b"{}", timeout=5)
            return
        except httpx.ConnectError:
            if bot.error is not None or time.monotonic() > deadline:
                raise RuntimeError(f"kpibot did not start serving: {bot.error!r}") from bot.error
            time.sleep(0.1)


def measure_load(source_url: str, copy_name: str, data_dir: Path, org: BenchOrg, import_rows: int,
                 log: Callable[[str], None] = print) -> dict[str, Any]:  # fmt: skip
    """The load test on a copy of the database at `source_url`; latencies, errors, the import and the digests."""
    from bot.conversation import Conversation
    from bot.serve import Runtime
    from run_bot import build_registry
    from tests.fakes.slack_api import FakeSlackApi
    from tests.fakes.telegram_api import FakeBotApi
    from tests.fixtures.run_bot_process import free_port

    csv_path = write_leads_csv(
        data_dir / f"load_leads_{import_rows}.csv", import_rows, owners=org_reps(source_url), prefix="ld"
    )
    url = copy_database(source_url, copy_name, data_dir)
    engine = make_engine(url)
    askers = link_askers(engine, org.now)
    telegram_api, slack_api = FakeBotApi(TELEGRAM_TOKEN).start(), FakeSlackApi(SLACK_TOKEN).start()
    records = _Records()
    logging.getLogger().addHandler(records)
    port = free_port()
    settings = _settings(telegram_api, slack_api, port)
    due_at = _digest_window(engine, settings, askers, org)
    clock = _MovableClock(due_at - timedelta(hours=settings.delivery.catch_up_hours) + timedelta(minutes=1))
    runtime = Runtime(settings, engine, Conversation(engine, settings, build_registry()), http_host="127.0.0.1",
                      clock=clock)  # fmt: skip
    bot = _Bot(runtime)
    importer: subprocess.Popen[str] | None = None
    try:
        bot.start()
        telegram_api.wait_for_calls("setWebhook", 1, timeout=60)
        _wait_port(port, bot)
        time.sleep(1.0)  # the scheduler's first pass at start (nothing due yet) is out of the way
        importer = subprocess.Popen([sys.executable, "-m", "bench.importing", url, str(csv_path)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        waited = _until_import_writes(engine, importer)
        log(f"  {len(askers)} requests at once, a {import_rows:,}-row import writing, a digest pass …")
        started = time.monotonic()
        pass_done: dict[str, float] = {}

        def digest_pass() -> None:
            time.sleep(1.0)
            clock.move_to(due_at)
            moved = time.monotonic()
            while bot.scheduler._lock.locked():  # a minute tick under way: the pass waits for it, as it would
                time.sleep(0.05)
            bot.call(bot.scheduler.run_once()).result(_REPLY_TIMEOUT_S)
            pass_done.update(moved=moved, done=time.monotonic())

        passing = threading.Thread(target=digest_pass)
        passing.start()
        accepted = asyncio.run(_post_all(askers, port, slack_api, str(int(time.time()) % 10_000_000)))
        _wait_for_replies(askers, telegram_api, slack_api)
        import_overlapped = importer.poll() is None  # still writing when the last reply arrived
        passing.join(_REPLY_TIMEOUT_S)
        digests_due = _digests_sent(engine)
        load_seconds = time.monotonic() - started
        out, err = importer.communicate(timeout=600)
        import_report = {
            **_import_report(importer.returncode, out, err),
            "still_writing_at_last_reply": import_overlapped,
            "writing_before_the_requests_s": waited,
        }
        return summary(askers, accepted, telegram_api, slack_api, records, pass_done, digests_due,
                        import_report, load_seconds, import_rows)  # fmt: skip
    finally:
        if importer is not None and importer.poll() is None:
            importer.kill()
        bot.stop()
        logging.getLogger().removeHandler(records)
        telegram_api.stop()
        slack_api.stop()
        engine.dispose()


def _until_import_writes(
    engine: Any, importer: subprocess.Popen[str], timeout_s: float = 300
) -> float | None:
    """Wait until the import's transaction holds written rows (it reads and checks the file first); seconds
    waited, or None if it never did (finished or failed first). SQLite: another writer cannot take the write lock;
    PostgreSQL: another session of this database has a transaction id (it has written)."""
    started = time.monotonic()
    while importer.poll() is None and time.monotonic() - started < timeout_s:
        if _someone_writes(engine):
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    return None


def _someone_writes(engine: Any) -> bool:
    import sqlite3

    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_xid IS NOT NULL LIMIT 1")).first())  # fmt: skip
    probe = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # the write lock is taken
        return True
    finally:
        probe.close()


def org_reps(url: str) -> list[str]:
    """The reps of the org at `url`: the owners the imported leads are given."""
    from sqlalchemy import select

    from storage.schema import User

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [
                str(u)
                for u in conn.execute(
                    select(User.user_id).where(User.role == "rep").order_by(User.user_id)
                ).scalars()
            ]
    finally:
        engine.dispose()


def _digests_sent(engine: Any) -> int:
    from sqlalchemy import func, select

    from storage.schema import OutboxMessage

    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.kind == "digest", OutboxMessage.status == "sent")).scalar_one())  # fmt: skip


def _import_report(code: int | None, out: str, err: str) -> dict[str, Any]:
    if code != 0:
        return {"error": (err.strip().splitlines() or ["import failed"])[-1], "locked": LOCKED in err}
    child = json.loads(out.strip().splitlines()[-1])
    return {"rows": child["written"], "seconds": round(child["seconds"], 2),
            "journeys_seconds": round(child["journeys_seconds"], 2), "locked": LOCKED in err}  # fmt: skip
