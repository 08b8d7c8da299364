"""The chat commands the benchmark asks, as whom, and the MetricResult behind each reply.

A Reply carries text, not numbers, so to give a hand-written query the same question (period bounds, owners in
scope) the benchmark asks each command once more, untimed, while recording what the metrics core answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from bot.commands import builtin as bot_commands
from bot.commands import metric as bot_metric_commands
from bot.conversation import Conversation
from bot.reply.messages import Reply, Request
from metrics import catalogue
from metrics.result import MetricResult

__all__ = ["COMMAND_TEXTS", "ROLES", "request_for", "answer_with_result", "charts_off"]

COMMAND_TEXTS: dict[str, str] = {
    "funnel": "/funnel last quarter",
    "activity": "/activity yesterday",
    "plan": "/plan",
    "retention": "/retention last quarter",
    "cycle": "/cycle last quarter",
    "stages": "/stages last quarter",
    "sql": "/sql last month",
    "winrate": "/winrate last quarter",
    "leaderboard": "/leaderboard last month",
}
"""What each command is asked; the scope is the asker's default (a rep: their own, a manager: the team, an admin:
the organisation), and a team-level answer comes broken down by rep, as in the chat."""

ROLES = ("rep", "manager", "admin")


def request_for(text: str, user_id: str, now: datetime) -> Request:
    """A console request from `user_id` at `now`."""
    return Request(platform="console", text=text, now=now, user_id=user_id)


@contextmanager
def _recording() -> Iterator[list[MetricResult]]:
    results: list[MetricResult] = []
    original = catalogue.query

    def recording_query(engine, settings, q, *, viewer=None):
        result = original(engine, settings, q, viewer=viewer)
        results.append(result)
        return result

    modules = (bot_metric_commands, bot_commands)
    for module in modules:
        module.query = recording_query  # type: ignore[attr-defined]
    try:
        yield results
    finally:
        for module in modules:
            module.query = original  # type: ignore[attr-defined]


def answer_with_result(conversation: Conversation, request: Request) -> tuple[Reply, MetricResult]:
    """The reply, and the MetricResult it was made from (the last metric question the command asked)."""
    with _recording() as results:
        reply = conversation.handle(request)
    if reply.kind != "answer" or not results:
        raise RuntimeError(f"{request.text!r} from {request.user_id} did not answer: {reply.plain_text}")
    return reply, results[-1]


@contextmanager
def charts_off(conversation: Conversation, names: tuple[str, ...]) -> Iterator[None]:
    """Answer the named commands without rendering their charts (the text reply's time alone)."""
    saved = conversation.registry
    registry = saved
    for name in names:
        command = saved.get(name)
        if command is not None:
            registry = registry.with_changes(command.name, chart=False)
    conversation.registry = registry
    try:
        yield
    finally:
        conversation.registry = saved
