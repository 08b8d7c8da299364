"""A reverse proxy that lets nothing through: every request is answered 401 with an HTML page, as an
authenticating gateway in front of a self-hosted Bot API server or a corporate Slack egress does."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["RefusingProxy"]

PAGE = "<html><body><h1>401 Authorization Required</h1></body></html>"


class RefusingProxy(LoopbackServer):
    name = "refusing proxy"

    def build_app(self) -> web.Application:
        async def refuse(request: web.Request) -> web.Response:
            return web.Response(status=401, text=PAGE, content_type="text/html")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", refuse)
        return app
