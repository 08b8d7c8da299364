"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that the real python-telegram-bot library talks to.

It answers the methods kpibot uses (getMe, getUpdates with long polling, sendMessage, sendPhoto as multipart,
editMessageText, editMessageMedia, answerCallbackQuery, setMyCommands, setWebhook, deleteWebhook), records every
call, and on demand answers one call of a method with an error, e.g. 429 with `retry_after`, or every call of a
method slowly. Tests push updates (what users type or press) and wait, with a deadline, for the bot's calls to
arrive.

It runs its own event loop in a background thread, so a test may drive it from synchronous code while the bot runs
in another process or in the test's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeBotApi", "BOT_USER"]

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "KPI Bot", "username": "kpi_test_bot"}

# Parameters the library sends JSON-encoded; every other form field is a plain string.
_JSON_FIELDS = {
    "reply_markup",
    "media",
    "commands",
    "allowed_updates",
    "scope",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
}


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: the method, its parameters and any uploaded files (field name → bytes)."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None


class FakeBotApi(LoopbackServer):
    name = "fake Bot API"

    """The fake server; `base_url` is what `TELEGRAM_API_BASE_URL` should be set to."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: list[ApiCall] = []
        self.webhook: dict[str, Any] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}  # what each chat shows now, by message id
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(100)
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, float] = {}
        self._lock = threading.Lock()
        self._new_update: asyncio.Condition | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        self._new_update = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        return app

    # --- what tests do --------------------------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates (an `update_id` is added); returns it."""
        update = {"update_id": next(self._update_ids), **update}
        assert self._loop is not None

        async def add() -> None:
            assert self._new_update is not None
            async with self._new_update:
                self._updates.append(update)
                self._new_update.notify_all()

        asyncio.run_coroutine_threadsafe(add(), self._loop).result(5)
        return update

    def make_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """An update with a fresh `update_id`, for delivery through a webhook instead of getUpdates."""
        return {"update_id": next(self._update_ids), **update}

    def fail_next(
        self, method: str, *, status: int = 429, description: str = "", retry_after: int | None = None
    ) -> None:
        """Answer the next call of `method` with an error (429 + retry_after, 400 chat not found, 403 blocked …)."""
        if not description:
            description = f"Too Many Requests: retry after {retry_after}" if status == 429 else "Bad Request"
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(status, description, retry_after))

    def slow_down(self, method: str, seconds: float) -> None:
        """Answer every call of `method` only `seconds` after it arrived (it is recorded on arrival), as a Bot API
        under load or a slow network would; other calls are served meanwhile."""
        with self._lock:
            self._delays[method] = seconds

    def calls_of(self, *methods: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.method in methods]

    def wait_for(
        self, predicate: Callable[[list[ApiCall]], Any], *, timeout: float = 10.0, what: str = "a call"
    ) -> Any:
        """Poll the recorded calls until `predicate` returns something truthy; fail clearly after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                calls = list(self.calls)
            found = predicate(calls)
            if found:
                return found
            if time.monotonic() > deadline:
                seen = [(c.method, {k: v for k, v in c.params.items() if k != "media"}) for c in calls][-15:]
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}; last calls: {seen}"
                )
            time.sleep(0.05)

    def wait_for_calls(
        self, method: str, count: int, *, after: int = 0, timeout: float = 10.0, chat_id: int | None = None
    ) -> list[ApiCall]:
        """Wait until `count` calls of `method` (to `chat_id`, when given) were made after the first `after` calls;
        return them."""

        def enough(calls: list[ApiCall]) -> list[ApiCall] | None:
            found = [
                c
                for c in calls[after:]
                if c.method == method and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
            ]
            return found if len(found) >= count else None

        return self.wait_for(enough, timeout=timeout, what=f"{count} × {method}")

    # --- the API --------------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_params(request)
        with self._lock:
            self.calls.append(ApiCall(method, params, files, time.monotonic()))
            queue = self._failures.get(method) or []
            failure = queue.pop(0) if queue else None
            delay = self._delays.get(method, 0.0)
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        if method == "getUpdates":
            return _ok(await self._get_updates(params))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return _ok(handler(params, files))

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 2.0)  # short polls keep test shutdowns quick
        assert self._new_update is not None
        async with self._new_update:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout)
            return list(self._updates)

    def _api_getMe(self, params, files):
        return BOT_USER

    def _api_deleteWebhook(self, params, files):
        self.webhook = {}
        return True

    def _api_setWebhook(self, params, files):
        self.webhook = dict(params)
        return True

    def _api_setMyCommands(self, params, files):
        return True

    def _api_answerCallbackQuery(self, params, files):
        return True

    def _api_sendMessage(self, params, files):
        return self._message(params, text=params["text"])

    def _api_sendPhoto(self, params, files):
        return self._message(params, photo=True, caption=params.get("caption"))

    def _api_editMessageText(self, params, files):
        return self._message(params, text=params["text"], message_id=int(params["message_id"]))

    def _api_editMessageMedia(self, params, files):
        media = params["media"]
        return self._message(
            params, photo=True, caption=media.get("caption"), message_id=int(params["message_id"])
        )

    def _message(
        self,
        params: dict[str, Any],
        *,
        text: str | None = None,
        photo: bool = False,
        caption: str | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "chat"},
            "from": BOT_USER,
        }
        if text is not None:
            message["text"] = text
        if photo:
            message["photo"] = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 800, "height": 500}]
            if caption:
                message["caption"] = caption
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        with self._lock:
            self.messages[(chat_id, message["message_id"])] = message
        return message


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        return dict(await request.json()), files
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = value.file.read()
        elif name in _JSON_FIELDS:
            params[name] = json.loads(value)
        else:
            params[name] = value
    return params, files


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
