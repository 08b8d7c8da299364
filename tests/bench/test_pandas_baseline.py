"""The benchmark's pandas baseline computes exactly the numbers of each command's reply.

A rep, a manager and the admin of the tiny demo org ask every command that has a pandas version (as on the morning
of Wednesday 2026-11-18); the pandas version, reading the CRM tables whole (or by date) and counting in pandas, must
return the MetricResult's numbers. Only then is "pandas time / reply time" a fair speed-up.
"""

from __future__ import annotations

import pytest

from bench.commands import COMMAND_TEXTS, answer_with_result, request_for
from bench.org import ensure_demo_org
from bench.pandas_baseline import PANDAS_BASELINES, PANDAS_COMPARED
from bench.queries import hand_params, result_numbers, same_number
from bot.conversation import Conversation
from run_bot import build_registry
from storage.config.settings import load_settings


@pytest.fixture
def tiny_org(engine):
    return ensure_demo_org(engine, load_settings(config_path=None, env={}), scale="tiny")


def test_every_pandas_version_returns_the_replys_numbers(engine, tiny_org):
    settings = load_settings(config_path=None, env={})
    conversation = Conversation(engine, settings, build_registry())
    mismatches = {}
    compared = 0
    for user in (tiny_org.rep_id, tiny_org.manager_id, tiny_org.admin_id):
        for command, baseline in PANDAS_BASELINES.items():
            request = request_for(COMMAND_TEXTS[command], user, tiny_org.now)
            _reply, result = answer_with_result(conversation, request)
            with engine.connect() as conn:
                numbers = baseline(conn, hand_params(result, tiny_org.now, settings))
            keys = list(PANDAS_COMPARED[command] or numbers)
            assert keys, f"{command} as {user}: the pandas version returned nothing to compare"
            core = result_numbers(command, result, keys)
            for key in keys:
                compared += 1
                if not same_number(core[key], numbers.get(key)):
                    mismatches[(user, command, key)] = (core[key], numbers.get(key))
    assert mismatches == {}
    assert compared > 100
