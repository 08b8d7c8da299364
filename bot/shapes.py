"""Is a webhook body shaped like what the platform documents? Checked before a library or a handler reads it.

Slack and Telegram post JSON; anyone who has (or guesses) the URL can post anything. A field of the wrong type is
refused at the door with a 400, instead of surfacing as a TypeError somewhere inside slack_bolt or
python-telegram-bot (a 500 and a traceback). Only the fields kpibot or its libraries read are described; others
are left alone, so a field the platform adds tomorrow does not turn good requests away.

A shape is a type (`str`, `int` — never a bool —, `bool`, `dict`, `list`), an object shape (a dict of field name
to shape; a name ending in `?` may be absent), a list shape (`[shape]`: a list of those), or a tuple of shapes of
which one must match (`(str, None)`: a string or null).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Shape", "malformed", "load_json", "JSON_DEPTH_LIMIT"]

Shape = Any  # type | None | dict[str, Shape] | list[Shape] | tuple[Shape, ...]

JSON_DEPTH_LIMIT = 64  # deeper than anything Slack or Telegram send; json.loads would recurse far deeper


def _is(value: Any, kind: type | None) -> bool:
    if kind is None:
        return value is None
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def malformed(value: Any, shape: Shape, path: str = "body") -> str | None:
    """Why `value` does not have `shape` (the first field that is wrong), or None when it does."""
    if isinstance(shape, tuple):
        reasons = [malformed(value, alternative, path) for alternative in shape]
        return None if any(reason is None for reason in reasons) else next(r for r in reasons if r)
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{path} is not an object"
        for name, inner in shape.items():
            key = name.rstrip("?")
            if key not in value:
                if name.endswith("?"):
                    continue
                return f"{path}.{key} is missing"
            if reason := malformed(value[key], inner, f"{path}.{key}"):
                return reason
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{path} is not a list"
        for i, item in enumerate(value):
            if reason := malformed(item, shape[0], f"{path}[{i}]"):
                return reason
        return None
    return None if _is(value, shape) else f"{path} is not {getattr(shape, '__name__', 'null')}"


def _depth(text: str) -> int:
    """How deeply the JSON text nests (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_json(raw: bytes | str) -> tuple[Any, str | None]:
    """(the parsed value, None), or (None, why it is not JSON): bad UTF-8, bad syntax, nesting too deep, a number
    too long for Python to read."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if text.count("[") + text.count("{") > JSON_DEPTH_LIMIT and _depth(text) > JSON_DEPTH_LIMIT:
        return None, "nested too deeply"
    try:
        return json.loads(text), None
    # ValueError: bad syntax, or an integer of thousands of digits.
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON ({type(exc).__name__})"
