"""A Reply as JSON for the outbox, and back: what is queued is exactly what is sent, whichever instance sends it."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from bot.reply.messages import Action, Chart, Reply, Span
from metrics.result import Table

__all__ = ["reply_to_payload", "payload_to_reply", "without_charts"]


def reply_to_payload(reply: Reply) -> dict[str, Any]:
    """The reply as plain JSON values (chart PNGs base64-encoded)."""
    payload: dict[str, Any] = {
        "title": reply.title,
        "lines": [[[s.text, s.bold, s.italic, s.code] for s in line] for line in reply.lines],
        "actions": [[a.label, a.command] for a in reply.actions],
        "footer": reply.footer,
        "kind": reply.kind,
        "charts": [
            {
                "filename": c.filename,
                "png": base64.b64encode(c.png).decode("ascii"),
                "caption": c.caption,
                "alt_text": c.alt_text,
            }
            for c in reply.charts
        ],
    }
    if reply.table is not None:
        table = reply.table
        payload["table"] = {
            "key": table.key,
            "title": table.title,
            "columns": list(table.columns),
            "rows": [[None if cell is None else str(cell) for cell in row] for row in table.rows],
        }
    return payload


def payload_to_reply(payload: dict[str, Any]) -> Reply:
    """The reply a payload was made from."""
    table = None
    if payload.get("table"):
        data = payload["table"]
        table = Table(
            key=data["key"],
            title=data["title"],
            columns=tuple(data["columns"]),
            rows=tuple(tuple(row) for row in data["rows"]),
        )
    return Reply(
        title=payload.get("title", ""),
        lines=tuple(
            tuple(Span(text, bold=bold, italic=italic, code=code) for text, bold, italic, code in line)
            for line in payload.get("lines", [])
        ),
        table=table,
        charts=tuple(
            Chart(
                filename=c["filename"],
                png=base64.b64decode(c["png"]),
                caption=c.get("caption", ""),
                alt_text=c.get("alt_text", ""),
            )
            for c in payload.get("charts", [])
        ),
        actions=tuple(Action(label, command) for label, command in payload.get("actions", [])),
        kind=payload.get("kind", "answer"),
        footer=payload.get("footer", ""),
    )


def without_charts(reply: Reply) -> Reply:
    return replace(reply, charts=())
