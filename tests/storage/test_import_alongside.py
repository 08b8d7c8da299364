"""RevOps imports a big leads export while the bot is answering chats: the bot's own writes go through meanwhile.

On SQLite an import used to hold the store's one write lock from its first batch to its commit (46 s for a million
leads), so a chat's `INSERT INTO chat_actions` or the scheduler's outbox waited out the 30 s busy timeout and
failed. The import now stages its rows apart and takes the lock only for the final merge. Here the import's reader
stops at a known row (after two batches have been written), the bot writes with a one-second busy timeout, and
then the import goes on; the file stays all or nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, update

from storage.config.settings import Settings
from storage.db import make_engine
from storage.importing.importer import ImportReport, import_file, load_source
from storage.importing.sources import CsvSource, Record
from storage.schema import ChatAction, Lead, OutboxMessage, User

SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})
BATCH = 100
# Batches of 100: the reader stops after lead 250, when batches 1 and 2 are written and 3 is being read.
LEADS = 450
PAUSE_AT = 250


def leads_csv(path: Path, bad_line: int | None = None) -> Path:
    lines = ["lead_id,created_at,owner_id,company"]
    for i in range(1, LEADS + 1):
        owner = "u-nobody" if i + 1 == bad_line else "u-anna"
        lines.append(f"l-{i:04d},2026-03-01T09:00:00,{owner},Company {i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class PausingCsv(CsvSource):
    """A CSV whose reader stops after `PAUSE_AT` rows until the test lets it go on."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.paused = threading.Event()
        self.resume = threading.Event()

    def records(self) -> Iterator[Record]:
        for count, record in enumerate(super().records(), start=1):
            yield record
            if count == PAUSE_AT:
                self.paused.set()
                assert self.resume.wait(30), "the test never let the import go on"


def start_import(
    engine: Engine, source: PausingCsv, table: str = "leads", skip_invalid: bool = False
) -> tuple[threading.Thread, list[ImportReport]]:
    reports: list[ImportReport] = []

    def run() -> None:
        try:
            reports.append(
                load_source(
                    engine,
                    SETTINGS,
                    table,
                    source,
                    str(source.path),
                    skip_invalid=skip_invalid,
                    batch_size=BATCH,
                )
            )
        finally:
            source.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert source.paused.wait(30), "the import never reached its pause"
    return thread, reports


def bot_writes(db_url: str, stamp: str) -> float:
    """What a chat and the scheduler write while the import runs, each waiting at most a second for a lock; the
    seconds it took."""
    bot = make_engine(db_url)
    now = datetime(2026, 3, 2, 9, 0)
    started = time.monotonic()
    try:
        with bot.begin() as conn:
            if bot.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA busy_timeout = 1000")
            conn.execute(insert(ChatAction).values(action_id=f"a-{stamp}", command="/funnel", created_at=now))
            conn.execute(
                insert(OutboxMessage).values(
                    idempotency_key=f"digest:{stamp}",
                    kind="digest",
                    source="weekly",
                    recipient="u-anna",
                    platform="telegram",
                    chat_id="42",
                    payload={},
                    created_at=now,
                    next_attempt_at=now,
                )
            )
        return time.monotonic() - started
    finally:
        bot.dispose()


def stored(engine: Engine, column) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(column.table)).scalar_one()


@pytest.fixture
def anna(engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(insert(User).values(user_id="u-anna", name="Anna", role="rep"))
    return engine


def test_a_chat_and_the_outbox_write_while_a_big_file_is_being_read(anna, db_url, tmp_path):
    source = PausingCsv(leads_csv(tmp_path / "leads.csv"))
    thread, reports = start_import(anna, source)
    try:
        seconds = bot_writes(db_url, "during")
        # Until the file is accepted, none of it is in the store, for the bot as for anyone.
        leads_meanwhile = stored(anna, Lead.lead_id)
    finally:
        source.resume.set()
        thread.join(60)

    assert seconds < 1.0
    assert leads_meanwhile == 0
    (report,) = reports
    assert (report.read, report.written, report.rejected, report.refused) == (450, 450, 0, False)
    assert stored(anna, Lead.lead_id) == 450
    assert stored(anna, ChatAction.action_id) == 1
    assert stored(anna, OutboxMessage.id) == 1


def test_a_file_refused_after_the_bot_wrote_leaves_the_store_as_the_bot_left_it(anna, db_url, tmp_path):
    # After the pause: line 400, lead 399, has an owner nobody knows.
    source = PausingCsv(leads_csv(tmp_path / "leads.csv", bad_line=400))
    thread, reports = start_import(anna, source)
    try:
        seconds = bot_writes(db_url, "during")
    finally:
        source.resume.set()
        thread.join(60)

    assert seconds < 1.0
    (report,) = reports
    assert report.refused
    assert [(e.line, e.column, e.value) for e in report.errors] == [(400, "owner_id", "u-nobody")]
    assert stored(anna, Lead.lead_id) == 0
    assert stored(anna, ChatAction.action_id) == 1


def test_a_second_import_updates_in_place_and_the_bot_writes_after_it(anna, db_url, tmp_path):
    path = leads_csv(tmp_path / "leads.csv")
    import_file(anna, SETTINGS, "leads", path, batch_size=BATCH)
    path.write_text("lead_id,created_at,company\nl-0001,2026-03-01T09:00:00,Renamed\n", encoding="utf-8")

    report = import_file(anna, SETTINGS, "leads", path, batch_size=BATCH)

    assert (report.read, report.written) == (1, 1)
    assert bot_writes(db_url, "after") < 1.0
    with anna.connect() as conn:
        first = conn.execute(select(Lead.company, Lead.owner_id).where(Lead.lead_id == "l-0001")).one()
    assert tuple(first) == ("Renamed", "u-anna")  # the owner, not named by the second file, stays
    assert stored(anna, Lead.lead_id) == 450


def test_an_import_that_fails_half_way_leaves_the_connection_fit_for_the_next(anna, tmp_path):
    path = leads_csv(tmp_path / "leads.csv")

    class Broken(CsvSource):
        def records(self) -> Iterator[Record]:
            for count, record in enumerate(super().records(), start=1):
                if count == PAUSE_AT:
                    raise RuntimeError("the disk went away")
                yield record

    source = Broken(path)
    with pytest.raises(RuntimeError, match="the disk went away"):
        load_source(anna, SETTINGS, "leads", source, str(path), batch_size=BATCH)
    source.close()
    assert stored(anna, Lead.lead_id) == 0

    report = import_file(anna, SETTINGS, "leads", path, batch_size=BATCH)

    assert (report.written, report.refused) == (450, False)
    assert stored(anna, Lead.lead_id) == 450


def test_a_telegram_id_the_bot_links_while_the_file_is_read_is_refused_to_the_row_that_comes_later(
    anna, tmp_path
):
    # Line 400 gives u-0399 the id 9000399; while the reader is paused at line 251, Zoe links that id in a chat.
    lines = ["user_id,name,telegram_user_id"]
    lines += [f"u-{i:04d},User {i},{9_000_000 + i}" for i in range(1, LEADS + 1)]
    path = tmp_path / "users.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with anna.begin() as conn:
        conn.execute(insert(User).values(user_id="u-zoe", name="Zoe", role="rep"))
    source = PausingCsv(path)
    thread, reports = start_import(anna, source, "users", skip_invalid=True)
    try:
        with anna.begin() as conn:
            conn.execute(update(User).where(User.user_id == "u-zoe").values(telegram_user_id=9_000_399))
    finally:
        source.resume.set()
        thread.join(60)

    (report,) = reports
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (400, "telegram_user_id", "already belongs to u-zoe")
    ]
    assert (report.read, report.written, report.rejected) == (450, 449, 1)
    with anna.connect() as conn:
        linked = conn.execute(select(User.user_id).where(User.telegram_user_id == 9_000_399)).scalars().all()
    assert linked == ["u-zoe"]
    assert stored(anna, User.user_id) == 2 + 449
