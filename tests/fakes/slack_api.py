"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that the real slack_sdk / slack_bolt talk to.

It answers the methods kpibot uses — auth.test, chat.postMessage, chat.update, views.publish, users.info,
conversations.open, files.getUploadURLExternal, the upload URL it hands out and files.completeUploadExternal — and
it is also the `response_url` a slash command or a button press answers through. Every call is recorded; on demand
the next call of a method answers 429 with `Retry-After`, or a Slack error such as `channel_not_found`. Tests wait,
with a deadline, for the bot's calls to arrive.

It runs its own event loop in a background thread, so synchronous tests can drive it while the bot runs in another
process or in the test's own loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeSlackApi", "BOT_USER_ID", "TEAM_ID"]

BOT_USER_ID = "U0KPIBOT"
TEAM_ID = "T0KPI"
_JSON_FORM_FIELDS = {"blocks", "files", "view", "attachments"}  # sent as JSON strings inside form bodies


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: the method (or `upload` / `response_url`), its parameters, the raw body."""

    method: str
    params: dict[str, Any]
    body: bytes = b""
    token: str = ""
    key: str = ""  # the upload's file id, or the response_url's path tail
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None


class FakeSlackApi(LoopbackServer):
    name = "fake Slack API"

    """The fake server; `api_url` is what `SLACK_API_BASE_URL` should be set to."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: list[ApiCall] = []
        self.users: dict[str, dict[str, Any]] = {}  # Slack user id -> users.info's `user`
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        """A response_url for one slash command or button press; its posts are recorded as `response_url`."""
        return f"{self.base_url}/respond/{name}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)
        return app

    # --- what tests do --------------------------------------------------------------------------------------------

    def add_user(
        self, user_id: str, *, email: str | None, name: str = "", locale: str = "en-US", **extra: Any
    ) -> None:
        """A workspace member users.info will describe."""
        profile = {"real_name": name or user_id, "display_name": name or user_id}
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": (name or user_id).lower().replace(" ", "."),
            "deleted": False,
            "is_bot": False,
            "locale": locale,
            "profile": profile,
            **extra,
        }

    def fail_next(
        self, method: str, *, status: int = 200, error: str = "ratelimited", retry_after: int | None = None
    ) -> None:
        """Answer the next call of `method` with an error: 429 + Retry-After, or `ok: false` with `error`."""
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(status, error, retry_after))

    def calls_of(self, method: str, *, after: int = 0) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls[after:] if call.method == method]

    def wait_for_calls(
        self, method: str, count: int = 1, *, after: int = 0, timeout: float = 10.0
    ) -> list[ApiCall]:
        """The first `count` calls of `method` made after call number `after`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.calls_of(method, after=after)
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                seen = [call.method for call in self.calls[after:]]
                raise AssertionError(f"expected {count} {method} call(s) within {timeout} s; saw {seen}")
            time.sleep(0.02)

    async def await_calls(
        self, method: str, count: int = 1, *, after: int = 0, timeout: float = 10.0
    ) -> list[ApiCall]:
        """`wait_for_calls` for a test whose own event loop runs the bot: waits without blocking that loop."""
        deadline = time.monotonic() + timeout
        while len(self.calls_of(method, after=after)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.wait_for_calls(method, count, after=after, timeout=0)

    # --- the server -----------------------------------------------------------------------------------------------

    def _record(self, call: ApiCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            pending = self._failures.get(method)
            return pending.pop(0) if pending else None

    @staticmethod
    async def _params(request: web.Request) -> tuple[dict[str, Any], bytes]:
        body = await request.read()
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and body:
            params.update(json.loads(body))
        elif body and request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        for name in _JSON_FORM_FIELDS:
            if isinstance(params.get(name), str):
                params[name] = json.loads(params[name])
        return params, body

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, body = await self._params(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        self._record(ApiCall(method, params, body, token))
        refusal = self._token_refusal(method, token)
        if refusal is not None:
            return web.json_response({"ok": False, "error": refusal})
        failure = self._take_failure(method)
        if failure is not None:
            if failure.status == 429:
                headers = {"Retry-After": str(failure.retry_after or 1)}
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
            return web.json_response({"ok": False, "error": failure.error}, status=failure.status)
        answer = getattr(self, "_m_" + method.replace(".", "_"), None)
        if answer is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(answer(params))

    def _token_refusal(self, method: str, token: str) -> str | None:
        """Slack's error for calling `method` with `token`, or None when the token may call it."""
        return None if token == self.token else "invalid_auth"

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(ApiCall("upload", {}, body, key=request.match_info["file_id"]))
        return web.Response(text=f"OK - {len(body)}")

    async def _respond(self, request: web.Request) -> web.Response:
        params, body = await self._params(request)
        self._record(ApiCall("response_url", params, body, key=request.match_info["name"]))
        return web.json_response({"ok": True})

    # --- the methods ----------------------------------------------------------------------------------------------

    def _ts(self) -> str:
        return f"1760000000.{next(self._ids):06d}"

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://kpi-test.slack.com/",
            "team": "KPI Test",
            "user": "kpibot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": "B0KPIBOT",
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._ts()
        message = {
            "type": "message",
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": params.get("blocks", []),
        }
        return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channel": params.get("channel"),
            "ts": params.get("ts"),
            "text": params.get("text", ""),
        }

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": f"V{next(self._ids)}", **(params.get("view") or {})}}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = str(params.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("UW")}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):06d}"
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = [{"id": f["id"], "title": f.get("title") or ""} for f in params.get("files") or []]
        return {"ok": True, "files": files}
