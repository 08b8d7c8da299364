"""What Telegram would deliver: messages typed by people and button presses, as Bot API update dicts."""

from __future__ import annotations

import itertools
import time
from typing import Any

__all__ = ["person", "private_text", "group_text", "button_press"]

_ids = itertools.count(1)


def person(user_id: int, first_name: str, language_code: str = "en") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}


def private_text(user: dict[str, Any], text: str) -> dict[str, Any]:
    """`user` types `text` in their private chat with the bot."""
    chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    return {
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
    }


def group_text(user: dict[str, Any], chat_id: int, text: str, title: str = "Alpha sales") -> dict[str, Any]:
    """`user` types `text` in the group `chat_id`."""
    chat = {"id": chat_id, "type": "supergroup", "title": title}
    return {
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
    }


def button_press(user: dict[str, Any], message: dict[str, Any], data: str) -> dict[str, Any]:
    """`user` presses the button with payload `data` under the bot's `message`."""
    return {
        "callback_query": {
            "id": f"cb-{next(_ids)}",
            "from": user,
            "chat_instance": "ci-1",
            "message": message,
            "data": data,
        }
    }
