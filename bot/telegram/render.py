"""A Reply as Telegram messages: HTML text split at Telegram's limits, charts as photos with short captions.

Telegram counts a message's length in UTF-16 code units after parsing the markup (4096 for a text, 1024 for a
caption). The splitter counts the markup too, which only ever makes a chunk a little shorter than it could be,
and it cuts between lines, so no tag or entity is ever split; a single line longer than a whole message is cut as
plain text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.reply.messages import Action, Chart, Line, Reply
from bot.reply.tables import table_lines
from metrics.result import Table

__all__ = [
    "MESSAGE_LIMIT",
    "CAPTION_LIMIT",
    "HtmlLine",
    "Photo",
    "TelegramReply",
    "telegram_length",
    "render_line",
    "render_table",
    "split_html",
    "fit_caption",
    "render_reply",
]

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
_PRE_OPEN, _PRE_CLOSE = "<pre>", "</pre>"


@dataclass(frozen=True)
class HtmlLine:
    """One line of a message: its HTML, its plain text (for cutting an overlong line), and whether it is part of a
    monospaced block (a table)."""

    html: str
    plain: str
    pre: bool = False


@dataclass(frozen=True)
class Photo:
    """A chart to send with sendPhoto; `caption` is HTML within the caption limit."""

    png: bytes
    filename: str
    caption: str


@dataclass(frozen=True)
class TelegramReply:
    """What one Reply becomes: photos first, then text messages; the actions go on the last message sent."""

    photos: tuple[Photo, ...]
    texts: tuple[str, ...]
    actions: tuple[Action, ...]


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """`text` with every lone surrogate (half of a broken emoji, which cannot be encoded to send) as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def telegram_length(text: str) -> int:
    """The length Telegram measures: UTF-16 code units (an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def render_line(line: Line) -> str:
    """A Line as Telegram HTML, every text escaped."""
    parts = []
    for span in line:
        text = html.escape(span.text, quote=False)
        if span.code:
            text = f"<code>{text}</code>"
        if span.italic:
            text = f"<i>{text}</i>"
        if span.bold:
            text = f"<b>{text}</b>"
        parts.append(text)
    return "".join(parts)


def render_table(table: Table) -> list[HtmlLine]:
    """A table as monospaced lines: the title in bold, then columns padded to line up (numbers to the right)."""
    lines = []
    if table.title:
        lines.append(HtmlLine(f"<b>{html.escape(table.title, quote=False)}</b>", table.title))
    for plain in table_lines(table):
        lines.append(HtmlLine(html.escape(plain, quote=False), plain, pre=True))
    return lines


def _longest_prefix(text: str, room: int) -> int:
    """How many characters of `text` fit in `room` once escaped (binary search: escaping is not linear)."""
    low, high = 0, min(len(text), room)
    while low < high:
        middle = (low + high + 1) // 2
        if telegram_length(html.escape(text[:middle], quote=False)) <= room:
            low = middle
        else:
            high = middle - 1
    return low


def _cut_overlong(line: HtmlLine, limit: int) -> list[HtmlLine]:
    """An overlong line as several lines of plain (escaped) text, each within `limit` with its markup."""
    room = limit - (len(_PRE_OPEN) + len(_PRE_CLOSE) if line.pre else 0)
    pieces: list[HtmlLine] = []
    rest = line.plain
    while rest:
        size = max(1, _longest_prefix(rest, room))
        piece, rest = rest[:size], rest[size:]
        pieces.append(HtmlLine(html.escape(piece, quote=False), piece, line.pre))
    return pieces


def split_html(lines: Iterable[HtmlLine], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Pack lines into as few messages as fit `limit`, cutting only between lines; monospaced runs are wrapped in
    <pre> in every message they reach."""
    chunks: list[str] = []
    current: list[HtmlLine] = []
    size = -1  # a chunk of n lines costs the lines, n - 1 newlines and 11 per <pre> run

    def cost(line: HtmlLine, previous: HtmlLine | None) -> int:
        opens_run = line.pre and (previous is None or not previous.pre)
        return telegram_length(line.html) + 1 + (len(_PRE_OPEN) + len(_PRE_CLOSE) if opens_run else 0)

    def flush() -> None:
        if current:
            chunks.append(_join(current))
            current.clear()

    queue = list(lines)
    while queue:
        line = queue.pop(0)
        alone = cost(line, None) - 1
        if alone > limit:
            queue[:0] = _cut_overlong(line, limit)
            continue
        step = cost(line, current[-1] if current else None)
        if current and size + step > limit:
            flush()
            size = -1
            step = cost(line, None)
        current.append(line)
        size += step
    flush()
    return [chunk for chunk in chunks if chunk.strip()]


def _join(lines: Sequence[HtmlLine]) -> str:
    out: list[str] = []
    run: list[str] = []
    for line in lines:
        if line.pre:
            run.append(line.html)
            continue
        if run:
            out.append(_PRE_OPEN + "\n".join(run) + _PRE_CLOSE)
            run = []
        out.append(line.html)
    if run:
        out.append(_PRE_OPEN + "\n".join(run) + _PRE_CLOSE)
    return "\n".join(out)


def fit_caption(text: str, limit: int = CAPTION_LIMIT) -> str:
    """`text` escaped as a caption, shortened with an ellipsis if it would not fit."""
    escaped = html.escape(text, quote=False)
    if telegram_length(escaped) <= limit:
        return escaped
    size = _longest_prefix(text, limit - 1)
    return html.escape(text[:size], quote=False) + "…"


def _photo(chart: Chart, fallback_caption: str) -> Photo:
    return Photo(chart.png, chart.filename or "chart.png", fit_caption(chart.caption or fallback_caption))


def reply_lines(reply: Reply) -> list[HtmlLine]:
    """Everything of a reply but its charts, line by line."""
    lines: list[HtmlLine] = []
    if reply.title:
        lines.append(HtmlLine(f"<b>{html.escape(reply.title, quote=False)}</b>", reply.title))
    for line in reply.lines:
        lines.append(HtmlLine(render_line(line), "".join(span.text for span in line)))
    if reply.table is not None and reply.table.rows:
        lines.append(HtmlLine("", ""))
        lines.extend(render_table(reply.table))
    if reply.footer:
        lines.append(HtmlLine(f"<i>{html.escape(reply.footer, quote=False)}</i>", reply.footer))
    if reply.incident_id and reply.incident_id not in reply.plain_text:
        incident = f"#{reply.incident_id}"
        lines.append(HtmlLine(f"<code>{html.escape(incident, quote=False)}</code>", incident))
    return lines


def render_reply(reply: Reply) -> TelegramReply:
    """The messages that show `reply` in Telegram."""
    photos = tuple(
        _photo(replace(chart, caption=_encodable(chart.caption)), _encodable(reply.title))
        for chart in reply.charts
        if chart.png
    )
    lines = [HtmlLine(_encodable(line.html), _encodable(line.plain), line.pre) for line in reply_lines(reply)]
    actions = tuple(Action(_encodable(a.label), _encodable(a.command)) for a in reply.actions)
    return TelegramReply(photos, tuple(split_html(lines)), actions)
