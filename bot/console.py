"""The console chat: the embedded default of `python run_bot.py` with no platform tokens.

It is an adapter like Telegram and Slack: it turns a typed line into a Request (as a chosen kpibot user, on the
real clock) and prints the Reply as plain text, with the table aligned and each chart saved as a PNG file whose
path is printed. When stdin is not a terminal it reads one command per line, so `printf '/funnel\n/plan\n' |
python run_bot.py` answers both.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, func, select

from bot.reply.messages import Reply, Request
from bot.reply.tables import table_lines
from metrics.result import Table
from storage.config.settings import Settings
from storage.db import upgrade
from storage.journeys import refresh_store
from storage.schema import User

__all__ = ["ConsoleChat", "render_table", "render_reply", "prepare_database", "DEMO_USER"]

DEMO_USER = "mgr-1"
_QUIT = frozenset({"/quit", "/exit", "quit", "exit", "/выход"})
_NUMBERED = re.compile(r"([0-9]+)-")


def render_table(table: Table) -> str:
    """The table as aligned columns of text (numbers right-aligned, the first column left-aligned)."""
    return "\n".join(table_lines(table, rule=True))


def render_reply(reply: Reply, chart_paths: Iterable[Path] = ()) -> str:
    """A Reply as console text: title, lines, table, footer, follow-ups and saved chart files."""
    parts = []
    if reply.title:
        parts += [reply.title, "=" * min(len(reply.title), 80)]
    parts += ["".join(span.text for span in line) for line in reply.lines]
    if reply.table is not None and reply.table.rows:
        parts += (
            ["", reply.table.title, render_table(reply.table)]
            if reply.table.title
            else ["", render_table(reply.table)]
        )
    if reply.footer:
        parts += ["", reply.footer]
    parts += [f"[chart] {path}" for path in chart_paths]
    parts += [f"→ {action.label}: {action.command}" for action in reply.actions]
    return "\n".join(parts)


def prepare_database(
    engine: Engine,
    settings: Settings,
    *,
    today_for_demo: Callable[[], date],
    out: TextIO = sys.stderr,
    progress: bool = True,
) -> None:
    """Migrate the store, bring the lead journeys up to date and, when it has no users yet, fill it with the demo
    organisation."""
    upgrade(engine)
    refresh_store(engine, settings)
    with engine.connect() as conn:
        users = conn.execute(select(func.count()).select_from(User)).scalar_one()
    if users:
        return
    from storage.demo.generate import generate_demo

    print("The database is empty: building the demo sales organisation …", file=out)
    generate_demo(
        engine, scale="small", seed=42, today=today_for_demo(), progress=progress, settings=settings
    )


def user_exists(engine: Engine, user_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(User.user_id).where(User.user_id == user_id)).first() is not None


@dataclass
class ConsoleChat:
    """One console conversation as one kpibot user; `clock` is the edge's real clock (tests may fix it)."""

    conversation: object  # bot.conversation.Conversation
    settings: Settings
    user_id: str
    charts_dir: Path
    clock: Callable[[], datetime]
    locale: str | None = None
    output: TextIO | None = None  # None: whatever sys.stdout is when printing
    _asked: int = 0
    _offset: int | None = (
        None  # added to the answer's count in chart file names; found on the first chart saved
    )

    @property
    def out(self) -> TextIO:
        return self.output if self.output is not None else sys.stdout

    def request(self, text: str) -> Request:
        return Request(
            platform="console",
            text=text,
            now=self.clock(),
            user_id=self.user_id,
            platform_user_id=self.user_id,
            chat_id="console",
            locale=self.locale,
        )

    def _number(self) -> int:
        """The number in this answer's chart file names: its place in this run, after the highest number an
        earlier run left in the same folder, so no run overwrites another's charts."""
        if self._offset is None:
            found = (_NUMBERED.match(path.name) for path in self.charts_dir.iterdir())
            highest = max((int(match[1]) for match in found if match), default=0)
            self._offset = highest  # nothing of this run is saved yet: the highest number is an earlier run's
        return self._offset + self._asked

    def save_charts(self, reply: Reply) -> list[Path]:
        if not reply.charts:
            return []
        self.charts_dir.mkdir(parents=True, exist_ok=True)
        number = self._number()
        paths = []
        for chart in reply.charts:
            path = self.charts_dir / f"{number:03d}-{chart.filename}"
            path.write_bytes(chart.png)
            paths.append(path)
        return paths

    def answer(self, text: str) -> Reply:
        """Answer one line and print the reply."""
        self._asked += 1
        reply = self.conversation.handle(self.request(text))  # type: ignore[attr-defined]
        if reply.extra.get("locale") and self.locale and reply.extra["locale"] != self.locale:
            self.locale = None  # after /lang the stored language wins over --lang
        print(render_reply(reply, self.save_charts(reply)), file=self.out, flush=True)
        return reply

    def run(self, lines: Iterable[str], *, interactive: bool) -> int:
        """Answer each line until /quit or the end of input; the exit code is 0."""
        if interactive:
            print(
                f"kpibot console as {self.user_id}. Try /help, /funnel, /plan; /quit to leave.", file=self.out
            )
        for raw in lines:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            if text.lower() in _QUIT:
                break
            if not interactive:
                print(f"> {text}", file=self.out)
            self.answer(text)
            print(file=self.out)
        return 0


def interactive_lines(prompt: str = "> ") -> Iterable[str]:
    """Lines typed at a terminal, until Ctrl-D (or Ctrl-C)."""
    while True:
        try:
            yield input(prompt)
        except (EOFError, KeyboardInterrupt):
            print()
            return
