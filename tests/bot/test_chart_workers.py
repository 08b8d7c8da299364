"""A server draws its replies' charts in worker processes (bot/reply/charts.py): the same images as drawn in place,
in the asker's language, a dead worker costs one reply its chart and never the text, and after the workers are
stopped charts are drawn in place again. Numbers from tests/fixtures/bot_org.py (see its docstring)."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from bot.conversation import Conversation
from bot.reply import charts
from bot.reply.messages import Reply, Request
from run_bot import build_registry
from storage.config.settings import load_settings
from tests.fixtures.bot_org import NOW, seed_org


@pytest.fixture
def conversation(engine) -> Conversation:
    seed_org(engine)
    return Conversation(engine, load_settings(env={}), build_registry())


@pytest.fixture
def workers():
    charts.start_chart_workers(1)
    yield
    charts.stop_chart_workers()


def ask(conversation: Conversation, user: str, text: str) -> Reply:
    return conversation.handle(Request("console", text, NOW, user))


def _worker_pids() -> list[int]:
    pool = charts._pool
    return [] if pool is None else [p.pid for p in (pool._processes or {}).values() if p.is_alive()]


def test_a_worker_draws_the_same_charts_in_the_askers_language(conversation):
    in_place = ask(conversation, "mgr-a", "/plan last month").charts
    charts.start_chart_workers(1)
    try:
        drawn = ask(conversation, "mgr-a", "/plan last month").charts
        (pid,) = _worker_pids()
        assert pid != os.getpid()
        assert [(c.filename, c.caption, c.png) for c in drawn] == [
            (c.filename, c.caption, c.png) for c in in_place
        ]
        ask(conversation, "mgr-a", "/lang ru")
        plan = ask(conversation, "mgr-a", "/plan прошлый месяц")
        # won 8,000 of Alpha's 10,000: 80.0 %, as the reply's first line says
        assert plan.charts[0].caption == "План · Выручка: 80,0\xa0% плана"
        assert _worker_pids() == [pid]
        ask(conversation, "mgr-a", "/lang en")
    finally:
        charts.stop_chart_workers()
    assert not any(p.is_alive() for p in _processes_of(pid))


def _processes_of(pid: int) -> list:
    import multiprocessing

    return [p for p in multiprocessing.active_children() if p.pid == pid]


def test_a_worker_dead_between_two_replies_costs_one_chart_and_the_next_reply_has_its_own(
    conversation, workers, caplog
):
    first = ask(conversation, "mgr-a", "/plan last month")
    assert first.charts
    (pid,) = _worker_pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid in _worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    with caplog.at_level(logging.ERROR, logger="bot.reply.charts"):
        lost = ask(conversation, "mgr-a", "/plan last month")
    assert lost.charts == () and "80.0" in lost.plain_text
    assert "failed to render" in caplog.text
    again = ask(conversation, "mgr-a", "/plan last month")
    assert [c.png for c in again.charts] == [c.png for c in first.charts]
    assert _worker_pids() and pid not in _worker_pids()


def test_a_stop_signal_to_the_whole_group_leaves_the_workers_to_the_server(conversation, workers):
    ask(conversation, "mgr-a", "/plan last month")
    (pid,) = _worker_pids()
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    time.sleep(0.5)  # a worker that took them would be gone by now
    reply = ask(conversation, "mgr-a", "/plan last month")
    assert reply.charts and all(c.png.startswith(b"\x89PNG") for c in reply.charts)
    assert _worker_pids() == [pid]


def test_after_the_workers_stop_charts_are_drawn_in_place(conversation):
    charts.start_chart_workers(1)
    ask(conversation, "mgr-a", "/leaderboard calls last month")
    charts.stop_chart_workers()
    board = ask(conversation, "mgr-a", "/leaderboard calls last month")
    assert [c.caption for c in board.charts] == ["Leaderboard: Calls"]
    assert charts._pool is None


def test_every_metric_commands_charts_come_from_a_worker_as_they_are_drawn_in_place(engine):
    # Each result crosses to the worker pickled: one that cannot would lose its chart to an error in the log.
    from bot.commands.metric import METRIC_COMMANDS

    seed_org(engine)  # thirty-odd questions in a row: the flood limit off
    conversation = Conversation(
        engine, load_settings(env={}, chat={"rate_limit_per_minute": 0}), build_registry()
    )
    texts = [command.usage for command in METRIC_COMMANDS] + ["/leaderboard revenue last month"]
    in_place = {text: ask(conversation, "mgr-a", text).charts for text in texts}
    charts.start_chart_workers(1)
    try:
        drawn = {text: ask(conversation, "mgr-a", text).charts for text in texts}
    finally:
        charts.stop_chart_workers()
    for text in texts:
        assert [(c.filename, c.png) for c in drawn[text]] == [(c.filename, c.png) for c in in_place[text]], (
            text
        )
    with_charts = sorted(text.split()[0] for text in texts if in_place[text])
    assert {"/funnel", "/leaderboard", "/revenue", "/sql", "/stages"} <= set(with_charts), with_charts
