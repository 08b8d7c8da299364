"""The benchmark's hand-written SQL computes exactly the numbers of each command's reply.

A manager, a rep and the admin of the tiny demo org ask every benchmarked command (as on the morning of Wednesday
2026-11-18); for each answer the hand-written query, given the same period and owners, must return the same
numbers as the MetricResult behind the reply. Only then is "command time / hand-written time" a fair ratio.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.commands import COMMAND_TEXTS, answer_with_result, request_for
from bench.org import ensure_demo_org, read_marker
from bench.queries import COMPARED, HAND_QUERIES, hand_params, result_numbers
from bot.conversation import Conversation
from run_bot import build_registry
from storage.config.settings import load_settings


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return Decimal(str(a)) == Decimal(str(b))
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


@pytest.fixture
def tiny_org(engine):
    return ensure_demo_org(engine, load_settings(config_path=None, env={}), scale="tiny")


def test_every_hand_written_query_returns_the_replys_numbers(engine, tiny_org):
    settings = load_settings(config_path=None, env={})
    conversation = Conversation(engine, settings, build_registry())
    mismatches = {}
    compared = 0
    for user in (tiny_org.rep_id, tiny_org.manager_id, tiny_org.admin_id):
        for command, text in COMMAND_TEXTS.items():
            _reply, result = answer_with_result(conversation, request_for(text, user, tiny_org.now))
            with engine.connect() as conn:
                hand = HAND_QUERIES[command](conn, hand_params(result, tiny_org.now, settings))
            keys = list(COMPARED[command] or hand)
            assert keys, f"{command} as {user}: the hand-written query returned nothing to compare"
            core = result_numbers(command, result, keys)
            for key in keys:
                compared += 1
                if not _same(core[key], hand.get(key)):
                    mismatches[(user, command, key)] = (core[key], hand.get(key))
    assert mismatches == {}
    assert compared > 250  # every command, every role, every number it shows (282 today)


def test_the_org_is_built_once_and_then_reused(engine, tiny_org):
    assert read_marker(engine) == ("tiny", 42, tiny_org.today)
    assert tiny_org.built_seconds is not None
    again = ensure_demo_org(engine, load_settings(config_path=None, env={}), scale="tiny")
    assert again.built_seconds is None  # the marker matched: nothing was generated twice
    assert again.recipients == tiny_org.recipients > 8
