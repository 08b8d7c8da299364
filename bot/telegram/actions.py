"""Follow-up buttons: the callback data Telegram returns when one is pressed, within its 64-byte limit.

A button carries `a:<head>:<command>`: `head` is the id of the reply's photo message (0 when there is none), so a
press can replace the chart as well as the text it belongs to, and `command` is what pressing it runs. A command
too long for the payload (Russian words take two bytes a letter) is kept in the `chat_actions` table and the
button carries `#<hash>` instead; a table row, unlike a cache in memory, still answers after a restart and on
every instance behind a load balancer.

The command is run as the person who pressed the button, with their rights, exactly as if they had typed it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from storage.schema import ChatAction
from storage.times import naive_utc

__all__ = ["CALLBACK_LIMIT", "Pressed", "callback_data", "parse_callback", "lookup_command"]

CALLBACK_LIMIT = 64
_PREFIX = "a"


@dataclass(frozen=True)
class Pressed:
    """A parsed button press: the reply's photo message id (0: none) and the command, or the stored action id."""

    head_message_id: int
    command: str | None
    action_id: str | None


def _store(engine: Engine, action_id: str, command: str, now: datetime) -> None:
    stored_at = naive_utc(now)
    with engine.connect() as conn:
        if conn.execute(select(ChatAction.action_id).where(ChatAction.action_id == action_id)).first():
            return
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(ChatAction).values(action_id=action_id, command=command, created_at=stored_at)
            )
    except IntegrityError:  # another instance stored the same command a moment ago
        return


def callback_data(engine: Engine, command: str, *, head_message_id: int, now: datetime) -> str:
    """The payload of a button that runs `command` (stored in the database when it does not fit)."""
    inline = f"{_PREFIX}:{head_message_id}:{command}"
    if len(inline.encode("utf-8")) <= CALLBACK_LIMIT:
        return inline
    action_id = hashlib.sha256(command.encode("utf-8")).hexdigest()[:24]
    _store(engine, action_id, command, now)
    return f"{_PREFIX}:{head_message_id}:#{action_id}"


def parse_callback(data: str | None) -> Pressed | None:
    """A button press's payload, or None for data kpibot did not make."""
    if not data:
        return None
    parts = data.split(":", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1].isdigit() or not parts[2]:
        return None
    head, payload = int(parts[1]), parts[2]
    if payload.startswith("#"):
        return Pressed(head, None, payload[1:])
    return Pressed(head, payload, None)


def lookup_command(engine: Engine, pressed: Pressed) -> str | None:
    """The command a press runs (None when a stored action is unknown, e.g. made by another deployment)."""
    if pressed.command is not None:
        return pressed.command
    with engine.connect() as conn:
        return conn.execute(
            select(ChatAction.command).where(ChatAction.action_id == pressed.action_id)
        ).scalar()
