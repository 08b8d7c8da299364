"""A Reply as Slack Block Kit: a header, the headline number with its delta, the other measures as fields, the
table as a monospaced block, a context line (period, scope, definition) and the follow-up actions as buttons.

Slack reads `&`, `<` and `>` in mrkdwn as markup (`<@U123>` mentions someone, `<!channel>` pings everyone), so
every dynamic text is escaped to entities before it is placed in a block. Slack documents no escape for the
formatting marks `*`, `_`, `~` and the backtick (a backslash stays visible and does not escape), so each of them is
fenced by zero-width spaces (U+200B): Slack formats `*x*` only when the opening mark follows a space or punctuation
and precedes a non-space, and the closing one the other way round — with a zero-width space on both sides no mark
qualifies, whether Slack counts that space as a space or as a letter, and the text reads as typed. A mark inside a
word (`rep_daily`) cannot format and is left alone. Block Kit's limits are kept here too:
a header of 150 characters, section texts of 3000, ten fields a section, 75-character button labels, 2000-character
button values and 50 blocks a message.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from typing import Any

from bot.reply.messages import Action, Line, Reply
from bot.reply.tables import table_lines
from metrics.result import Table

__all__ = [
    "ACTION_PREFIX",
    "MAX_BLOCKS",
    "escape_mrkdwn",
    "render_line",
    "table_text",
    "action_buttons",
    "reply_blocks",
    "fallback_text",
]

ACTION_PREFIX = "kpi_action_"
MAX_BLOCKS = 50
_HEADER_LIMIT = 150
_TEXT_LIMIT = 3000
_FIELD_LIMIT = 2000
_FIELDS_PER_SECTION = 10
_LABEL_LIMIT = 75
_VALUE_LIMIT = 2000
_BUTTONS_PER_BLOCK = 25
_CODE_FENCE = "```"

Block = dict[str, Any]


_ZWSP = "\u200b"
# A mark between two letters or digits never formats (`rep_daily`), and stays untouched so a command copied from
# the message still works; every other one is fenced.
_MARKS = re.compile(r"(?<!\w)[*_~`]|[*_~`](?!\w)")


def escape_mrkdwn(text: str) -> str:
    """`text` with Slack's three control characters as entities (`&` first, so entities are not escaped twice) and
    its formatting marks fenced by zero-width spaces, so it shows literally."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKS.sub(lambda m: f"{_ZWSP}{m.group(0)}{_ZWSP}", text)


def _emphasize(text: str, mark: str) -> str:
    # Slack only honours `*bold*` when the marks touch the words: keep the span's outer spaces outside them.
    core = text.strip()
    if not core:
        return text
    start = text.index(core)
    return f"{text[:start]}{mark}{core}{mark}{text[start + len(core) :]}"


_COMMAND_WORD = re.compile(r"(?<![\w/])/([^\W\d][\w]*)")


def as_kpi_commands(text: str, commands: Container[str]) -> str:
    """`/funnel last month` as Slack users type it: `/kpi funnel last month` (one slash command serves all);
    `commands` are the names and aliases of the chat commands (`Registry.names`), other `/words` stay."""
    return _COMMAND_WORD.sub(
        lambda m: f"/kpi {m.group(1)}" if m.group(1).lower() in commands else m.group(0), text
    )


def render_line(line: Line, commands: Container[str]) -> str:
    """A Line as mrkdwn, every text escaped, chat commands written as `/kpi <command>`."""
    parts = []
    for span in line:
        text = escape_mrkdwn(as_kpi_commands(span.text, commands))
        if span.code:
            text = _emphasize(text, "`")
        if span.italic:
            text = _emphasize(text, "_")
        if span.bold:
            text = _emphasize(text, "*")
        parts.append(text)
    return "".join(parts)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str) -> Block:
    # verbatim: Slack links and mentions nothing by itself, so a CRM name like "@here" or a URL stays plain text.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def table_text(table: Table) -> list[str]:
    """The table's rows as padded monospaced lines (header first; numbers to the right), not yet escaped."""
    return table_lines(table)


def _table_blocks(table: Table) -> list[Block]:
    """The table as code blocks within the section limit, cut only between rows."""
    blocks: list[Block] = []
    if table.title:
        blocks.append({"type": "section", "text": _mrkdwn(f"*{escape_mrkdwn(_cut(table.title, 200))}*")})
    room = _TEXT_LIMIT - 2 * len(_CODE_FENCE) - 2
    chunk: list[str] = []
    size = 0
    for row in table_text(table):
        escaped = _cut(escape_mrkdwn(row), room)
        if chunk and size + len(escaped) + 1 > room:
            blocks.append(
                {"type": "section", "text": _mrkdwn(f"{_CODE_FENCE}\n" + "\n".join(chunk) + _CODE_FENCE)}
            )
            chunk, size = [], 0
        chunk.append(escaped)
        size += len(escaped) + 1
    if chunk:
        blocks.append(
            {"type": "section", "text": _mrkdwn(f"{_CODE_FENCE}\n" + "\n".join(chunk) + _CODE_FENCE)}
        )
    return blocks


def action_buttons(actions: Sequence[Action]) -> list[Block]:
    """The follow-up actions as buttons: `action_id` per action, the command to run as the value."""
    buttons = [
        {
            "type": "button",
            "text": _plain(action.label, _LABEL_LIMIT),
            "action_id": f"{ACTION_PREFIX}{i}",
            "value": action.command,
        }
        for i, action in enumerate(actions)
        if action.command and len(action.command) <= _VALUE_LIMIT  # a longer one cannot round-trip
    ]
    return [
        {"type": "actions", "elements": buttons[i : i + _BUTTONS_PER_BLOCK]}
        for i in range(0, len(buttons), _BUTTONS_PER_BLOCK)
    ]


def _text_sections(texts: Sequence[str]) -> list[Block]:
    """Lines packed into sections of at most 3000 characters."""
    blocks: list[Block] = []
    chunk: list[str] = []
    size = 0
    for text in texts:
        text = _cut(text, _TEXT_LIMIT)
        if chunk and size + len(text) + 1 > _TEXT_LIMIT:
            blocks.append({"type": "section", "text": _mrkdwn("\n".join(chunk))})
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(chunk))})
    return blocks


def _field_sections(texts: Sequence[str]) -> list[Block]:
    return [
        {
            "type": "section",
            "fields": [_mrkdwn(_cut(text, _FIELD_LIMIT)) for text in texts[i : i + _FIELDS_PER_SECTION]],
        }
        for i in range(0, len(texts), _FIELDS_PER_SECTION)
    ]


def reply_blocks(reply: Reply, commands: Container[str], *, with_actions: bool = True) -> list[Block]:
    """The blocks that show `reply`: for an answer, the headline as its own section and the other lines as fields;
    for anything else (a mistake, an apology, help) the lines as text. `commands`: see `as_kpi_commands`."""
    blocks: list[Block] = []
    if reply.title:
        blocks.append({"type": "header", "text": _plain(reply.title, _HEADER_LIMIT)})
    lines = [render_line(line, commands) for line in reply.lines]
    if reply.kind == "answer" and lines:
        blocks.extend(_text_sections(lines[:1]))
        blocks.extend(_field_sections(lines[1:]))
    else:
        blocks.extend(_text_sections(lines))
    if reply.table is not None and reply.table.rows:
        blocks.extend(_table_blocks(reply.table))
    context: list[Block] = []
    if reply.footer:
        context.append(_mrkdwn(_cut(escape_mrkdwn(as_kpi_commands(reply.footer, commands)), _TEXT_LIMIT)))
    if reply.incident_id and reply.incident_id not in reply.plain_text:
        context.append(_mrkdwn(f"`#{escape_mrkdwn(reply.incident_id)}`"))
    tail = [{"type": "context", "elements": context}] if context else []
    if with_actions:
        tail += action_buttons(reply.actions)
    room = MAX_BLOCKS - len(tail)
    if len(blocks) > room:  # keep the head, the context and the buttons; the middle of a long table can go
        blocks = blocks[: room - 1] + [{"type": "context", "elements": [_mrkdwn("…")]}]
    return blocks + tail


def fallback_text(reply: Reply, limit: int = _TEXT_LIMIT) -> str:
    """The notification text that goes with the blocks (what a phone's lock screen shows), escaped."""
    return escape_mrkdwn(_cut(reply.plain_text or reply.title or "kpibot", limit))
