"""What Slack sends an app in HTTP mode, built the way Slack builds it, and signed the way Slack signs it.

Slash commands are form-encoded; button presses are form-encoded with one field, `payload`, holding JSON; events
are JSON. Every request carries `X-Slack-Request-Timestamp` and `X-Slack-Signature`: `v0=` and the hex HMAC-SHA256
of `v0:{timestamp}:{body}` keyed with the signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import TEAM_ID

__all__ = [
    "signed_headers",
    "slash_command",
    "slash_command_fields",
    "button_press",
    "home_opened",
    "home_opened_event",
    "SIGNING_SECRET",
]

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_ids = itertools.count(1)


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None, content_type: str
) -> dict[str, str]:
    """The headers Slack sends with `body`, signed at `timestamp` (now by default)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


def slash_command_fields(user_id: str, text: str, *, channel_id: str, response_url: str) -> dict[str, str]:
    """The fields Slack sends for `/kpi <text>` typed by `user_id` in `channel_id` (a form, or a Socket Mode payload)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "kpi-test",
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else "sales",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": "/kpi",
        "text": text,
        "api_app_id": "A0KPI",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{next(_ids)}.1.abc",
    }


def slash_command(user_id: str, text: str, *, channel_id: str, response_url: str) -> tuple[bytes, str]:
    """`/kpi <text>` typed by `user_id` in `channel_id`: (body, content type)."""
    form = slash_command_fields(user_id, text, channel_id=channel_id, response_url=response_url)
    return urlencode(form).encode(), "application/x-www-form-urlencoded"


def button_press(
    user_id: str, button: dict[str, Any], *, channel_id: str, message_ts: str, response_url: str
) -> tuple[bytes, str]:
    """`user_id` pressed `button` (a block element as kpibot made it) on a message: (body, content type)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": "A0KPI",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": f"{next(_ids)}.1.def",
        "team": {"id": TEAM_ID, "domain": "kpi-test"},
        "channel": {"id": channel_id, "name": "directmessage"},
        "message": {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": "kpi",
                "text": button["text"],
                "value": button["value"],
                "action_ts": f"{int(time.time())}.000100",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


def home_opened_event(user_id: str) -> dict[str, Any]:
    """The event callback Slack sends when `user_id` opens the app's Home tab (a body, or a Socket Mode payload)."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A0KPI",
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": f"{int(time.time())}.000200",
        },
        "type": "event_callback",
        "event_id": f"Ev{next(_ids):06d}",
        "event_time": int(time.time()),
    }


def home_opened(user_id: str) -> tuple[bytes, str]:
    """`user_id` opened the app's Home tab: (body, content type)."""
    return json.dumps(home_opened_event(user_id)).encode(), "application/json"
