"""KPIBOT_LOG_FORMAT=json: one JSON object a line, with who and what the line is about, never a secret nor what
the user typed."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime

import bot.conversation
from bot.conversation import Conversation
from bot.logs import JsonFormatter, RedactSecrets, configure_logging
from bot.reply.messages import Request
from run_bot import build_registry
from storage.config.secrets import Redactor
from storage.config.settings import load_settings
from tests.fixtures.alerts_org import seed_november
from tests.fixtures.run_bot_process import ROOT

TOKEN = "123456:AAE-json-log-secret-token"


def test_an_incident_line_names_platform_command_user_and_incident_and_nothing_typed(engine, monkeypatch):
    seed_november(engine)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets(Redactor([TOKEN])))
    root = logging.getLogger()
    root.addHandler(handler)

    def broken(ctx):
        raise RuntimeError(f"upstream refused {TOKEN}")

    monkeypatch.setattr(bot.conversation, "answer_metric_command", broken)
    conversation = Conversation(engine, load_settings(config_path=None, env={}), build_registry())
    try:
        reply = conversation.handle(
            Request("telegram", "/funnel my-private-words", datetime(2026, 11, 17, 14, tzinfo=UTC), "rep-2")
        )
    finally:
        root.removeHandler(handler)
    [entry] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert reply.kind == "failure" and reply.incident_id
    assert entry["level"] == "ERROR" and entry["logger"] == "bot.conversation"
    assert (entry["platform"], entry["command"], entry["user_id"], entry["incident"]) == (
        "telegram", "funnel", "rep-2", reply.incident_id,
    )  # fmt: skip
    assert entry["message"] == f"incident {reply.incident_id}: failed to answer /funnel from rep-2"
    assert "RuntimeError: upstream refused" in entry["exception"]
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert TOKEN not in out.getvalue() and "my-private-words" not in out.getvalue()


def test_the_cli_writes_one_json_object_a_line_without_its_secrets(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KPIBOT_LOG_FORMAT": "json",
        "TELEGRAM_TOKEN": TOKEN,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kpibot.db'}",
    }
    # `kpibot -v db upgrade`: alembic's lines and kpibot's own, at debug level.
    done = subprocess.run(
        [sys.executable, "-c", "import sys, run_bot; sys.exit(run_bot.main(['-v', 'db', 'upgrade']))"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "nothing was logged at debug level"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["logger"].startswith("alembic") for entry in entries)
    assert TOKEN not in done.stderr and TOKEN.split(":")[1] not in done.stderr


def test_at_info_the_bot_api_calls_of_a_long_poll_are_not_logged_but_with_v_they_are(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    httpx_log = logging.getLogger("httpx")
    before = httpx_log.level
    try:
        configure_logging(load_settings(env={"KPIBOT_LOG_LEVEL": "INFO"}))
        assert not httpx_log.isEnabledFor(logging.INFO) and httpx_log.isEnabledFor(logging.WARNING)
        configure_logging(load_settings(env={"KPIBOT_LOG_LEVEL": "INFO"}), verbose=True)
        assert httpx_log.level == logging.NOTSET  # as the root logger says: DEBUG with -v
    finally:
        httpx_log.setLevel(before)
