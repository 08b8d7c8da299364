"""How many SQL statements a reply runs, counted, never timed.

Each statement is a round trip to the database and a query built in Python, which is most of what a light reply
costs around its SQL (docs/benchmark.md). A rep and a manager of the tiny demo org (the manager's team has four
reps) ask the main commands on the benchmark's morning; the counts below are what the replies run today, so a
change that asks once per rep, or looks the asker up again, fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event

from bench.commands import COMMAND_TEXTS, request_for
from bench.org import ensure_demo_org
from bot.conversation import Conversation
from run_bot import build_registry
from storage.config.settings import load_settings

# command -> (most statements as the rep, most as the manager of a four-rep team, broken down by rep)
MOST_STATEMENTS: dict[str, tuple[int, int]] = {
    # the asker with their teams and reports (1); the team's name and sellers (1, the manager only); then:
    "leaderboard": (3, 4),  # revenue per rep (1), the reps' names (1)
    # journeys' state (1), every tally (1), the plan (1); once more the journeys' state the first time, while the
    # tallies' statement is built; the team: membership (1), the reps' names (1)
    "activity": (5, 8),
    "cycle": (2, 4),  # the won deals' durations (1); the team: the reps' names (1)
    "funnel": (3, 5),
    "winrate": (5, 7),
}


@contextmanager
def _counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def tiny_org(engine):
    return ensure_demo_org(engine, load_settings(config_path=None, env={}), scale="tiny")


def test_a_reply_runs_a_fixed_handful_of_statements(engine, tiny_org):
    settings = load_settings(config_path=None, env={})
    conversation = Conversation(engine, settings, build_registry(), rate_limited=False)
    counted = {}
    for command, (as_rep, as_manager) in MOST_STATEMENTS.items():
        for role, user, most in (
            ("rep", tiny_org.rep_id, as_rep),
            ("manager", tiny_org.manager_id, as_manager),
        ):
            request = request_for(COMMAND_TEXTS[command], user, tiny_org.now)
            with _counting(engine) as statements:
                reply = conversation.handle(request)
            assert reply.kind == "answer", (command, role, reply.plain_text)
            counted[(command, role)] = (len(statements), most)
    assert {key: n for key, (n, most) in counted.items() if n > most} == {}


def test_the_leaderboard_asks_once_whatever_the_number_of_reps(engine, tiny_org):
    settings = load_settings(config_path=None, env={})
    conversation = Conversation(engine, settings, build_registry(), rate_limited=False)
    request = request_for(COMMAND_TEXTS["leaderboard"], tiny_org.manager_id, tiny_org.now)
    with _counting(engine) as statements:
        reply = conversation.handle(request)
    ranked = [line for line in reply.plain_text.splitlines() if line[:1].isdigit()]
    assert len(ranked) == 4  # the manager's four reps, each on a line of their own
    assert sum("FROM deals" in statement for statement in statements) == 1
