"""Serve the configured chat platforms and the scheduler in one process and one asyncio event loop.

Each platform is a `Service` (start/stop); run_bot.py chooses which (`build_services`) and passes them in.
Services that receive webhooks (Telegram in webhook mode, Slack in HTTP mode) add routes to one shared aiohttp
server on `KPIBOT_HTTP_PORT`, so one port serves them all behind a load balancer, beside `/healthz`, `/readyz`
and `/metrics` (bot/ops/endpoints.py), which it always serves. A platform service puts its
Sender into `Runtime.senders` when it starts; the scheduler, started after them, delivers through those.

A service that cannot start (a rejected token, a missing setting) stops the whole process with a `StartupError`:
one line for the operator, no secret in it; the traceback is logged at debug level (`-v`), redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from aiohttp import web
from sqlalchemy import Engine

from bot.conversation import Conversation
from bot.ops.endpoints import add_ops_routes
from bot.reply.charts import start_chart_workers, stop_chart_workers
from bot.reply.sender import Sender
from bot.startup import StartupError, startup_reason
from storage.config.secrets import Redactor
from storage.config.settings import Settings
from storage.telemetry import telemetry

__all__ = ["Service", "ServicesFactory", "Runtime", "serve"]

log = logging.getLogger(__name__)


class Service(Protocol):
    """Something served: a chat platform or the scheduler. A platform's service may also carry
    `startup_failure(exc) -> str | None`, its own one-line wording of why it could not start."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    """What services share: settings, the engine, the conversation, the HTTP server and a clock."""

    settings: Settings
    engine: Engine
    conversation: Conversation
    http: web.Application = field(default_factory=web.Application)
    http_host: str = "0.0.0.0"
    clock: Callable[[], datetime] | None = None
    senders: dict[str, Sender] = field(
        default_factory=dict
    )  # platform -> its Sender, set by services as they start
    redact: Callable[[str], str] | None = None  # blanks the settings' secrets out of stored errors
    http_port: int | None = (
        None  # the port the HTTP server listens on, once it does (KPIBOT_HTTP_PORT, or the
    )
    # one the system chose for 0)

    def __post_init__(self) -> None:
        if self.redact is None:
            self.redact = Redactor.from_settings(self.settings)

    @property
    def needs_http(self) -> bool:
        return len(self.http.router.routes()) > 0


ServicesFactory = Callable[[Runtime], list[Service]]


async def serve(
    runtime: Runtime, build_services: ServicesFactory, *, stop: asyncio.Event | None = None
) -> None:
    """Start the services `build_services(runtime)` makes, serve until `stop` is set (or SIGINT/SIGTERM), then stop
    them in reverse."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not the main thread (tests) or not supported on this platform: the caller's `stop` still works.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    redact = runtime.redact or Redactor.from_settings(runtime.settings)
    try:
        services = build_services(runtime)
    except Exception as exc:
        log.debug("building the services failed", exc_info=True)
        raise StartupError(startup_reason("kpibot", exc, redact)) from exc
    started: list[Service] = []
    site_runner: web.AppRunner | None = None
    start_chart_workers(runtime.settings.chat.chart_workers)
    telemetry().watch_store(runtime.engine, runtime.clock)
    add_ops_routes(runtime.http, runtime.engine, services, redact, lambda: started)
    try:
        for service in services:
            try:
                await service.start()
            except Exception as exc:
                log.debug("starting %s failed", service.name, exc_info=True)
                describe = getattr(
                    service, "startup_failure", None
                )  # the platform's own wording, if it has one
                raise StartupError(startup_reason(service.name, exc, redact, describe)) from exc
            started.append(service)
            log.info("%s started", service.name)
        # Always: the health checks and metrics are on it even when no platform takes webhooks.
        site_runner = web.AppRunner(runtime.http, handle_signals=False)
        await site_runner.setup()
        site = web.TCPSite(site_runner, runtime.http_host, runtime.settings.kpibot_http_port)
        await site.start()
        runtime.http_port = site_runner.addresses[0][1] if site_runner.addresses else None
        log.info("HTTP on %s:%s", runtime.http_host, runtime.http_port)
        await stop.wait()
        log.info("stopping: finishing the answers and the sending under way")
    finally:
        if site_runner is not None:
            await site_runner.cleanup()
        for service in reversed(started):
            try:
                await service.stop()
            except Exception:  # one failing stop must not keep the others running
                log.exception("stopping %s failed", service.name)
        await asyncio.to_thread(stop_chart_workers)  # after the answers: their charts are drawn by now
