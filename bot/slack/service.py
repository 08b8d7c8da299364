"""kpibot in Slack: a slack_bolt AsyncApp driven inside kpibot's own event loop.

HTTP mode by default: Slack posts slash commands, button presses and events to `/slack/events` on kpibot's shared
HTTP server (`KPIBOT_HTTP_PORT`). Before bolt sees a request, `bot.slack.inbound` refuses with 401 anything not
signed with `SLACK_SIGNING_SECRET` within five minutes of now, and with 400 a signed body that does not parse or
lacks what kpibot reads; a delivery already answered — a replayed request, or Slack retrying an event — is
acknowledged and dropped (`bot.replays`, a memory shared by every instance through the database). With `SLACK_APP_TOKEN` the app connects out over Socket Mode instead (no public
URL needed; no signing secret either, the WebSocket itself is authenticated). `SLACK_API_BASE_URL` points the Web
API client elsewhere (a proxy, or the fake API of the tests).

A 429 from the Web API is waited out (its Retry-After) and retried up to three times by slack_sdk's retry handler;
the outbox's Sender has a client without it, since the outbox keeps its own schedule of retries.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.replays import first_delivery, request_key
from bot.serve import Runtime
from bot.slack.blocks import ACTION_PREFIX
from bot.slack.handlers import SlackChat
from bot.slack.inbound import delivery_parts, read_body, signature_ok
from bot.slack.sender import SlackSender, startup_failure

__all__ = ["SlackService", "EVENTS_PATH", "SLASH_COMMAND", "make_client"]

log = logging.getLogger(__name__)
_BOLT_LOG = logging.getLogger("kpibot.slack.bolt")
# Bolt reads SLACK_BOT_TOKEN from the environment on its own and warns that the client passed in (made from that
# same token) wins: a line at every start that tells the operator nothing.
_BOLT_LOG.addFilter(lambda record: "`token` will be unused" not in record.getMessage())

EVENTS_PATH = "/slack/events"
SLASH_COMMAND = "/kpi"
_RATE_LIMIT_RETRIES = 3
# A delivery is remembered past anything Slack could still send again: a signed request is accepted up to five
# minutes either side of its timestamp (ten minutes of replays), an event's last retry comes five minutes after the
# first failure. Fifteen minutes covers both with room for clocks that disagree.
REPLAY_MEMORY = timedelta(minutes=15)


def make_client(token: str, base_url: str | None, *, wait_out_rate_limits: bool) -> AsyncWebClient:
    """A Web API client for `token`; with `wait_out_rate_limits` it sleeps through a 429 and tries again."""
    handlers: list[Any] = [AsyncConnectionErrorRetryHandler()]
    if wait_out_rate_limits:
        handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=_RATE_LIMIT_RETRIES))
    url = (base_url or "https://slack.com/api/").rstrip("/") + "/"
    return AsyncWebClient(token=token, base_url=url, retry_handlers=handlers)


class SlackService:
    """The Slack platform service: `start()` connects and begins serving, `stop()` lets go."""

    name = "slack"
    startup_failure = staticmethod(startup_failure)  # why it did not start, in one line

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        if settings.slack_bot_token is None:
            raise ValueError("SLACK_BOT_TOKEN is not set")
        token = settings.slack_bot_token.get_secret_value()
        self.runtime = runtime
        self.app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        signing_secret = (
            settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        )
        if not self.app_token and not signing_secret:
            raise ValueError("HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
        self.client = make_client(token, settings.slack_api_base_url, wait_out_rate_limits=True)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=signing_secret,
            # Socket Mode messages come over an authenticated WebSocket and carry no signature.
            request_verification_enabled=not self.app_token,
            logger=_BOLT_LOG,
        )
        clock = cast(Callable[[], datetime], runtime.clock or (lambda: datetime.now(UTC)))
        self.clock = clock
        self.signing_secret = signing_secret
        self.wall_clock: Callable[[], float] = time.time  # what a signature's timestamp is compared with
        self.chat = SlackChat(runtime.engine, runtime.conversation, self.client, clock)
        self.app.command(SLASH_COMMAND)(self.chat.on_command)
        self.app.action(re.compile(f"^{ACTION_PREFIX}\\d+$"))(self.chat.on_button)
        self.app.event("app_home_opened")(self.chat.on_home_opened)
        self.sender = SlackSender(
            make_client(token, settings.slack_api_base_url, wait_out_rate_limits=False),
            runtime.conversation.registry.names,
        )
        self._socket: Any = None
        if not self.app_token:
            runtime.http.router.add_post(EVENTS_PATH, self._events)

    async def start(self) -> None:
        # auth.test: a wrong token fails here, before anything is served.
        identity = await self.client.auth_test()
        log.info("slack: connected as %s in %s", identity.get("user"), identity.get("team"))
        if self.app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket = AsyncSocketModeHandler(self.app, self.app_token)
            try:
                # apps.connections.open once here rather than inside connect(): there slack_sdk retries a refused
                # app token forever, so a wrong SLACK_APP_TOKEN would hang the start instead of stopping it.
                socket.client.wss_uri = await socket.client.issue_new_wss_url()
            except Exception:
                await socket.close_async()
                raise
            await socket.connect_async()
            self._socket = socket
            log.info("slack: socket mode")
        else:
            log.info("slack: HTTP mode on %s", EVENTS_PATH)
        self.runtime.senders["slack"] = self.sender

    def health(self) -> tuple[bool, str]:
        """Connected: in Socket Mode, its socket is open; in HTTP mode, started is connected (`/readyz`)."""
        if self.app_token and self._socket is None:
            return False, "slack socket mode is not connected"
        return True, "ok"

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    async def _events(self, request: web.Request) -> web.Response:
        """One request from Slack: verified, parsed, remembered, then dispatched by bolt; answered as soon as the
        listener acks."""
        raw = await request.read()
        if not signature_ok(request.headers, raw, self.signing_secret, now=self.wall_clock()):
            return web.Response(status=401, text="invalid request signature")
        inbound, reason = read_body(raw, request.content_type)
        if inbound is None:
            log.warning("slack: refused a signed request: %s", reason)
            return _refused(reason)
        try:
            bolt_request = AsyncBoltRequest(
                body=inbound.text,
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        # A shape the checks above did not foresee.
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("slack: refused a request bolt could not read: %s", type(exc).__name__)
            return _refused("unreadable body")
        parts = delivery_parts(inbound, request.headers)
        if parts is not None:
            key = request_key(*parts)
            first = await asyncio.to_thread(
                first_delivery, self.runtime.engine, key, now=self.clock(), keep=REPLAY_MEMORY
            )
            if not first:
                log.info(
                    "slack: dropped a copy of a request already answered (retry %s, %s)",
                    request.headers.get("X-Slack-Retry-Num", "-"),
                    request.headers.get("X-Slack-Retry-Reason", "replay"),
                )
                return web.Response(status=200)
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)


def _refused(reason: str | None) -> web.Response:
    # X-Slack-No-Retry: a body that does not parse will not parse the second time either.
    return web.Response(status=400, text=f"bad request: {reason}", headers={"X-Slack-No-Retry": "1"})
