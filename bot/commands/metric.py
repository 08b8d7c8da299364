"""The chat commands that each ask one catalogue metric; the conversation answers them (grammar → query → reply)."""

from __future__ import annotations

from bot.reply.command import Command
from storage.schema import PLAN_METRICS

__all__ = ["METRIC_COMMANDS"]

METRIC_COMMANDS: tuple[Command, ...] = (
    Command("funnel", "/funnel last month", "help.funnel", "funnel", ("воронка",)),
    Command("activity", "/activity yesterday", "help.activity", "activity", ("активность",)),
    Command(
        "plan",
        "/plan this month",
        "help.plan",
        "plan",
        ("план",),
        option_words=("plan_metric", PLAN_METRICS),
    ),
    Command("retention", "/retention last quarter", "help.retention", "retention", ("удержание",)),
    Command("cycle", "/cycle last quarter", "help.cycle", "cycle", ("цикл",)),
    Command("stages", "/stages last quarter", "help.stages", "stages", ("этапы",)),
    Command("sql", "/sql last month", "help.sql", "sql"),
    Command("winrate", "/winrate last quarter", "help.winrate", "win_rate", ("win_rate", "конверсия")),
    Command("revenue", "/revenue this quarter", "help.revenue", "revenue", ("выручка",)),
    Command("cac", "/cac last quarter", "help.cac", "cac"),
    Command("ltv", "/ltv this year", "help.ltv", "ltv"),
    Command("roi", "/roi last quarter", "help.roi", "roi"),
    Command("email", "/email last month", "help.email", "email", ("рассылка",)),
    Command("mrr", "/mrr last month", "help.mrr", "mrr"),
    Command("cs", "/cs last quarter", "help.cs", "cs"),
)
