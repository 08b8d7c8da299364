"""What arrives at `/slack/events`, checked before slack_bolt sees it: who signed it, whether it parses, and which
delivery it is (so a copy of it is not answered twice).

Slack signs every request with `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` and sends the
timestamp, in Unix seconds, as `X-Slack-Request-Timestamp`; a request signed more than five minutes before or after
now is refused. Anything that is not exactly that — a timestamp in another script's digits, with spaces, too long,
a signature that is not hex — is a 401, never an exception. A correctly signed body that does not parse, or that
lacks the fields kpibot reads, is a 400.

The body is parsed the way slack_bolt parses it (JSON when the content type says so or it starts with `{`; a form
whose `payload` field holds JSON for interactivity; a plain form for slash commands), so both see the same thing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bot.shapes import load_json, malformed

__all__ = ["SIGNATURE_WINDOW_SECONDS", "Inbound", "signature_ok", "read_body", "delivery_parts"]

SIGNATURE_WINDOW_SECONDS = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take '١٧٠٠', ' 17' and '1_7'
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

_USER = {"id": str, "team_id?": (str, None), "username?": str, "name?": str}
_EVENT_CALLBACK = {
    "type": str,
    "event_id": str,
    "team_id?": str,
    "api_app_id?": str,
    "enterprise_id?": (str, None),
    "is_ext_shared_channel?": bool,
    "authorizations?": [
        {"enterprise_id?": (str, None), "team_id?": (str, None), "user_id?": str, "is_bot?": bool}
    ],
    "event": {"type": str, "user?": str, "channel?": str, "tab?": str, "team?": str, "event_ts?": str},
}
_INTERACTION = {
    "type": str,
    "user": _USER,
    "team?": ({"id?": str, "domain?": str}, None),
    "enterprise?": ({"id?": str}, None),
    "channel?": ({"id?": str, "name?": str}, None),
    "container?": {"type?": str, "message_ts?": str, "channel_id?": str, "is_ephemeral?": bool},
    "message?": {"ts?": str},
    "response_url?": str,
    "trigger_id?": str,
    "api_app_id?": str,
    "is_enterprise_install?": bool,
    "actions?": [{"action_id": str, "block_id?": str, "value?": str, "type?": str}],
}


@dataclass(frozen=True)
class Inbound:
    """A request that parsed: its decoded text (what bolt is given) and the parsed body."""

    text: str
    body: dict[str, Any]


def signature_ok(headers: Mapping[str, str], raw: bytes, secret: str, *, now: float) -> bool:
    """Whether `raw` was signed with `secret` by Slack within five minutes of `now` (Unix seconds)."""
    stamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not _TIMESTAMP.fullmatch(stamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now - int(stamp)) > SIGNATURE_WINDOW_SECONDS:
        return False
    expected = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"v0={expected}".encode(), signature.encode())


def _json_shape(body: dict[str, Any]) -> Any:
    kind = body.get("type")
    if kind == "event_callback":
        return _EVENT_CALLBACK
    if kind == "url_verification":
        return {"type": str, "challenge": str}
    return {"type": str}  # anything else finds no listener: bolt answers 404


def _interaction_shape(body: dict[str, Any]) -> Any:
    return _INTERACTION


def _form_shape(body: dict[str, Any]) -> Any:
    if "ssl_check" in body:
        return {"ssl_check": str}
    return {"command": str, "user_id": str}


def read_body(raw: bytes, content_type: str | None) -> tuple[Inbound | None, str | None]:
    """(the parsed request, None), or (None, why it is malformed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "body is not UTF-8"
    if not text:
        return None, "body is empty"
    body: Any
    if content_type == "application/json" or text.startswith("{"):
        body, reason = load_json(text)
        shape = _json_shape
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        body, reason = load_json(payload) if payload is not None else (None, "the form has no payload")
        shape = _interaction_shape
    else:
        body, reason = dict(parse_qsl(text, keep_blank_values=True)), None
        shape = _form_shape
    if reason is None and not isinstance(body, dict):
        reason = "body is not an object"
    if reason is None:
        reason = malformed(body, shape(body))
    if reason is None and body.get("type") == "block_actions" and not body.get("actions"):
        reason = "body.actions is empty"
    if reason is not None:
        return None, reason
    return Inbound(text, body), None


def delivery_parts(inbound: Inbound, headers: Mapping[str, str]) -> tuple[str, ...] | None:
    """What names this delivery for the replay memory, or None for a request that is safe to answer again.

    An event keeps its `event_id` through Slack's retries (which are signed anew, with `X-Slack-Retry-Num`), so it is
    named by that; anything else Slack does not retry, and an exact replay repeats the signature, which covers the
    timestamp and every byte of the body.
    """
    body = inbound.body
    if body.get("type") == "url_verification" or "ssl_check" in body:
        return None
    if body.get("type") == "event_callback":
        return ("slack", "event", str(body["event_id"]))
    return ("slack", "signed", headers.get("X-Slack-Signature", ""))
