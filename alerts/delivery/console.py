"""The console's Sender: appends each delivered message to a file as one JSON line (or prints it).

It is the sender of the embedded default (no chat platform configured) and of tests: counting the lines of its
file counts deliveries, even when several processes append to the same file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bot.reply.messages import Reply

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """`bot.reply.sender.Sender` for the console: one JSON line per message (`chat_id`, `title`, `text`)."""

    platform = "console"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None

    async def send(self, chat_id: str, reply: Reply) -> None:
        """Write the message; a file is appended to with one write, so lines from several processes never mix."""
        record = {"chat_id": chat_id, "title": reply.title, "text": reply.plain_text}
        if reply.table is not None:
            record["table"] = [list(reply.table.columns), *[list(row) for row in reply.table.rows]]
        if reply.actions:
            record["actions"] = [action.command for action in reply.actions]
        line = json.dumps(record, ensure_ascii=False) + "\n"
        if self.path is None:
            sys.stdout.write(line)
            sys.stdout.flush()
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
