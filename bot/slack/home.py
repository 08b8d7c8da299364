"""App Home: the person's own dashboard — plan pace, funnel and yesterday's activity — as a Home tab view.

The numbers are asked of the conversation exactly as if the person had typed the commands, so the Home tab shows
what `/kpi plan` would, with the same permissions and language. Charts and buttons are left out: a Home view cannot
carry uploaded files, and a button there would have no message to replace.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from bot.reply.i18n import translator
from bot.reply.messages import Reply
from bot.slack.blocks import escape_mrkdwn, reply_blocks

__all__ = ["HOME_COMMANDS", "MAX_HOME_BLOCKS", "home_view", "unlinked_home_view"]

HOME_COMMANDS = ("/plan", "/funnel", "/activity yesterday")
MAX_HOME_BLOCKS = 100


def _hint(locale: str) -> dict[str, Any]:
    text = translator(locale)("slack.home.hint", "Ask for more with /kpi — try /kpi help.")
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": escape_mrkdwn(text), "verbatim": True}],
    }


def home_view(replies: Sequence[Reply], commands: Container[str], *, locale: str) -> dict[str, Any]:
    """The Home tab showing each reply in turn, divided, within Slack's 100 blocks."""
    t = translator(locale)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": t("slack.home.title", "Your numbers")}}
    ]
    for reply in replies:
        part = [{"type": "divider"}, *reply_blocks(reply, commands, with_actions=False)]
        if len(blocks) + len(part) > MAX_HOME_BLOCKS - 1:
            break
        blocks.extend(part)
    blocks.append(_hint(locale))
    return {"type": "home", "blocks": blocks}


def unlinked_home_view(text: str, *, locale: str) -> dict[str, Any]:
    """The Home tab of someone not linked yet: how to get linked."""
    t = translator(locale)
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": t("slack.home.title", "Your numbers")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": escape_mrkdwn(text), "verbatim": True}},
        ],
    }
