"""Slack's Socket Mode, faked on top of the fake Web API: `apps.connections.open` and the WebSocket it hands out.

The protocol, as Slack speaks it and slack_sdk's aiohttp client expects it:

- the app calls `apps.connections.open` with its app-level token (`xapp-…`; a bot token is refused with
  `not_allowed_token_type`, as is the app token anywhere else) and gets a one-time `ws://…/socket?ticket=…` URL;
- on connect the server says `{"type": "hello", …}`; then it pushes envelopes — `{"envelope_id", "type":
  "slash_commands" | "events_api" | "interactive", "payload", "accepts_response_payload"}` — and the app acks each
  with `{"envelope_id"}` (plus `"payload"` when its listener acked with a body);
- both sides ping: the client's pings (`sdk-ping-pong:<time>`) are answered with the same bytes, which is how the
  client knows its session is alive; the server's ping must come back as a pong;
- `{"type": "disconnect"}` asks the app to fetch a new URL and reconnect (Slack does so every few hours).

Everything the app sends over the socket is recorded; tests wait for it with a deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from tests.bot.slack.slack_requests import home_opened_event, slash_command_fields
from tests.fakes.slack_api import FakeSlackApi

__all__ = [
    "FakeSlackSocketMode",
    "APP_TOKEN",
    "SERVER_PING",
    "slash_command_envelope",
    "home_opened_envelope",
]

APP_TOKEN = "xapp-1-A0KPI-0000-test-app-token"
SERVER_PING = b"fake-slack-ping"
_APP_TOKEN_METHODS = {"apps.connections.open"}
_T = TypeVar("_T")


def slash_command_envelope(user_id: str, text: str, *, channel_id: str, response_url: str) -> dict[str, Any]:
    """`/kpi <text>` typed by `user_id` in `channel_id`, as a Socket Mode envelope."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "slash_commands",
        "payload": slash_command_fields(user_id, text, channel_id=channel_id, response_url=response_url),
        "accepts_response_payload": True,
    }


def home_opened_envelope(user_id: str) -> dict[str, Any]:
    """`user_id` opened the app's Home tab, as a Socket Mode envelope."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": "events_api",
        "payload": home_opened_event(user_id),
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }


class FakeSlackSocketMode(FakeSlackApi):
    """The fake Web API that also serves Socket Mode; `push()` an envelope, `wait_for_ack()` its acknowledgement."""

    name = "fake Slack Socket Mode"

    def __init__(self, token: str, app_token: str = APP_TOKEN) -> None:
        super().__init__(token)
        self.app_token = app_token
        self.hellos = 0  # connections greeted
        self.received: list[dict[str, Any]] = []  # what the app sent over the socket, in order (its acks)
        self.pings: list[bytes] = []  # the app's pings, each answered
        self.pongs: list[bytes] = []  # the app's answers to the server's pings
        self._tickets = itertools.count(1)
        self._open_tickets: set[str] = set()
        self._socket: web.WebSocketResponse | None = None

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_get("/socket", self._serve_socket)
        return app

    # --- what tests do --------------------------------------------------------------------------------------------

    def wait_for_connection(self, count: int = 1, *, timeout: float = 20.0) -> None:
        """Until the app has been greeted on `count` connections (a reconnect makes a second)."""
        self._wait(lambda: self.hellos >= count or None, f"{count} Socket Mode connection(s)", timeout)

    def push(self, envelope: dict[str, Any]) -> str:
        """Send `envelope` down the current connection, as Slack does; returns its envelope id."""
        self._on_loop(self._send(envelope))
        return str(envelope.get("envelope_id", ""))

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does before it retires a connection."""
        self._on_loop(self._send({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}))

    def wait_for_ack(self, envelope_id: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The app's acknowledgement of `envelope_id`."""

        def ack() -> dict[str, Any] | None:
            with self._lock:
                return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        return self._wait(ack, f"an ack of envelope {envelope_id}", timeout)

    def wait_for_pong(self, *, timeout: float = 10.0) -> bytes:
        """The app's first answer to the server's ping."""

        def pong() -> bytes | None:
            with self._lock:
                return self.pongs[0] if self.pongs else None

        return self._wait(pong, "a pong to the server's ping", timeout)

    # --- the protocol ---------------------------------------------------------------------------------------------

    def _token_refusal(self, method: str, token: str) -> str | None:
        if token not in (self.token, self.app_token):
            return "invalid_auth"
        wanted = self.app_token if method in _APP_TOKEN_METHODS else self.token
        return None if token == wanted else "not_allowed_token_type"

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        ticket = f"ticket-{next(self._tickets)}"
        with self._lock:
            self._open_tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={ticket}"}

    async def _serve_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._open_tickets
            self._open_tickets.discard(ticket)  # a URL connects once
        if not valid:
            return web.Response(status=401, text="invalid ticket")
        # autoping off: pings and pongs reach this loop, so both directions are recorded.
        socket = web.WebSocketResponse(autoping=False)
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {
                    "host": "fake-applink",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": "A0KPI"},
            }
        )
        with self._lock:
            self.hellos += 1
        await socket.ping(SERVER_PING)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                with self._lock:
                    self.received.append(json.loads(message.data))
            elif message.type == WSMsgType.PING:
                with self._lock:
                    self.pings.append(message.data)
                await socket.pong(message.data)
            elif message.type == WSMsgType.PONG:
                with self._lock:
                    self.pongs.append(message.data)
        if self._socket is socket:
            self._socket = None
        return socket

    async def _send(self, message: dict[str, Any]) -> None:
        if self._socket is None or self._socket.closed:
            raise AssertionError("no Socket Mode connection is open")
        await self._socket.send_json(message)

    def _on_loop(self, coroutine: Any) -> None:
        assert self._loop is not None, "the fake is not started"
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5)

    def _wait(self, found: Callable[[], _T | None], what: str, timeout: float) -> _T:
        deadline = time.monotonic() + timeout
        while (result := found()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {what} within {timeout} s; the app sent {self.received}")
            time.sleep(0.02)
        return result
