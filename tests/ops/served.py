"""kpibot's `serve()` on a background thread with its own event loop, on a port the system picks, for the tests
that talk to its HTTP server; stopped and joined on exit."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from bot.serve import Runtime, ServicesFactory, serve

__all__ = ["Served"]


class Served:
    def __init__(self, runtime: Runtime, services: ServicesFactory) -> None:
        self.runtime = runtime
        self.services = services
        self.loop = asyncio.new_event_loop()
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.stop = asyncio.Event()
            await serve(self.runtime, self.services, stop=self.stop)

        try:
            self.loop.run_until_complete(main())
        except BaseException as exc:  # surfaced by __exit__
            self.error = exc

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.runtime.http_port}{path}", timeout=10)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while self.runtime.http_port is None:
            assert self.error is None and time.monotonic() < deadline, f"not serving: {self.error!r}"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)
        assert not self.thread.is_alive(), "serve() did not stop within 20 s"
        self.loop.close()
        if self.error is not None:
            raise self.error
