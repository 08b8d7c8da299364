"""A fake amoCRM (Kommo) REST API v4: a real HTTP server on 127.0.0.1 that kpibot's amoCRM sync talks to.

It answers, as amoCRM's API v4 documents:
- `POST /oauth2/access_token` (JSON): `grant_type=refresh_token` with `client_id`, `client_secret`,
  `refresh_token`, `redirect_uri`, answered `{token_type: "Bearer", expires_in: 86400, access_token,
  refresh_token}`; the refresh token used is retired (amoCRM's rotate). A wrong client or a used token is 400 with
  a problem+json body (`title`, `type`, `status`, `detail`, `hint`).
- `GET /api/v4/users`, `/companies`, `/leads`, `/tasks`, `/leads/notes`, `/leads/pipelines`, `/events`:
  `{_page, _links: {self, next}, _embedded: {<entity>: [...]}}` (no `next` on the last page), 204 with no body when
  nothing matches. `limit` (default 50; at most 250, events 100 — more is 400), `page` (from 1),
  `filter[updated_at][from|to]` (unix seconds, inclusive), `order[<field>]=asc|desc` (leads by created_at,
  updated_at or id; companies and notes by updated_at or id; tasks by created_at, complete_till or id), `with=companies`,
  `filter[note_type][]`, and for events `filter[type]`, `filter[entity]`, `filter[created_at][from]`. Moments are
  unix seconds; a lead's `_embedded.companies` (each an id and a link, no name) only `with=companies`.
The API needs `Authorization: Bearer <token>`: one the fake did not issue, or one it expired, is 401. It allows
`requests_per_second` (7) a second by its own clock; more is 429 (as is each of the calls `limit()` names), and
`fail()` answers the next calls 502; `blocked` answers every call 403.

Tests change the CRM through `add` / `update` / `delete`, stamped from the settable clock `now` (`updated_at`, and
for leads a `lead_status_changed` event when the status changes; a delete writes `lead_deleted` or
`company_deleted`). Every request is recorded with its query and status.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

__all__ = ["ApiCall", "FakeAmocrmApi"]

_ENTITIES = {"users", "companies", "leads", "tasks", "notes"}
# What each list may be ordered by (`order[<field>]=asc|desc`), as amoCRM's API v4 documents.
_ORDERS = {
    "users": ("id",),
    "companies": ("updated_at", "id"),
    "leads": ("created_at", "updated_at", "id"),
    "tasks": ("created_at", "complete_till", "id"),
    "notes": ("updated_at", "id"),
}
_PATHS = {
    "/api/v4/users": "users",
    "/api/v4/companies": "companies",
    "/api/v4/leads": "leads",
    "/api/v4/tasks": "tasks",
    "/api/v4/leads/notes": "notes",
}


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    authorization: str = ""

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


def _problem(status: int, title: str, detail: str, hint: str = "") -> web.Response:
    body = {"title": title, "type": f"https://httpstatus.es/{status}", "status": status, "detail": detail}
    if hint:
        body["hint"] = hint
    return web.json_response(body, status=status, content_type="application/problem+json")


class FakeAmocrmApi(LoopbackServer):
    """The fake server; point AMOCRM_URL at `base_url`."""

    name = "fake amoCRM API"

    def __init__(
        self,
        *,
        client_id: str = "c0ffee00-1111-2222-3333-444455556666",
        client_secret: str = "fake-client-secret-1234",
        redirect_uri: str = "https://kpibot.example.com/amocrm",
        long_lived_token: str = "fake-long-lived-token-0001",
        now: datetime | None = None,
        requests_per_second: int = 7,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret, self.redirect_uri = client_id, client_secret, redirect_uri
        self.long_lived_token = long_lived_token
        self.requests_per_second = requests_per_second
        self._lock = threading.RLock()
        self.reset(now)

    def reset(self, now: datetime | None = None) -> None:
        """A fresh, empty account on the running server: no records, events or calls, only the long-lived token
        valid, the clock at `now` (Nov 1, 09:00 UTC by default) and the rate limit on the real clock."""
        with self._lock:
            self.now = now or datetime(2026, 11, 1, 9, tzinfo=UTC)
            self.clock = time.monotonic  # seconds, for the rate limit (tests pass a virtual one)
            self.calls: list[ApiCall] = []
            self.items: dict[str, dict[int, dict[str, Any]]] = {e: {} for e in _ENTITIES}
            self.events: list[dict[str, Any]] = []
            self.pipelines: list[dict[str, Any]] = []
            self.groups: dict[int, str] = {}
            self._tokens = {self.long_lived_token} if self.long_lived_token else set()
            self._refresh: set[str] = set()
            self._limited = 0
            self.blocked = False  # every API call 403, as for an account blocked for going over the limit
            self._failing = 0
            self._times: list[float] = []
            self._numbers = itertools.count(1)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/oauth2/access_token", self._recorded(self._token))
        app.router.add_get("/api/v4/leads/pipelines", self._recorded(self._pipelines))
        app.router.add_get("/api/v4/events", self._recorded(self._events))
        for path in _PATHS:
            app.router.add_get(path, self._recorded(self._list))
        app.router.add_route("*", "/{tail:.*}", self._recorded(self._missing))
        return app

    # --- the CRM --------------------------------------------------------------------------------------------------

    def stamp(self) -> int:
        return int(self.now.timestamp())

    def issue_refresh_token(self) -> str:
        token = f"fake-refresh-{next(self._numbers):04d}-{uuid.uuid4()}"
        self._refresh.add(token)
        return token

    def pipeline(self, pipeline_id: int, name: str, statuses: list[tuple[int, str]]) -> None:
        """A pipeline with its statuses in order; an unsorted status (type 1) first, 142 and 143 last."""
        listed = [{"id": pipeline_id * 10, "name": "Неразобранное", "sort": 10, "type": 1}]
        listed += [
            {"id": sid, "name": n, "sort": 20 + 10 * i, "type": 0} for i, (sid, n) in enumerate(statuses)
        ]
        listed += [
            {"id": 142, "name": "Успешно реализовано", "sort": 10000, "type": 0},
            {"id": 143, "name": "Закрыто и не реализовано", "sort": 11000, "type": 0},
        ]
        for status in listed:
            status.update(
                pipeline_id=pipeline_id, is_editable=status["id"] not in (142, 143), color="#fffeb2"
            )
        self.pipelines.append(
            {"id": pipeline_id, "name": name, "sort": 1, "is_main": not self.pipelines, "is_unsorted_on": True,
             "is_archive": False, "_embedded": {"statuses": listed}}
        )  # fmt: skip

    def add(self, entity: str, item_id: int, **fields: Any) -> int:
        with self._lock:
            item = {"id": item_id, "created_at": self.stamp(), "updated_at": self.stamp(), **fields}
            if entity == "leads":
                item.setdefault("closed_at", None)
            self.items[entity][item_id] = item
            return item_id

    def update(self, entity: str, item_id: int, **fields: Any) -> None:
        with self._lock:
            item = self.items[entity][item_id]
            if entity == "leads" and "status_id" in fields and fields["status_id"] != item.get("status_id"):
                self._event("lead_status_changed", "lead", item_id,
                            [{"lead_status": {"id": fields["status_id"], "pipeline_id": item["pipeline_id"]}}],
                            [{"lead_status": {"id": item["status_id"], "pipeline_id": item["pipeline_id"]}}])  # fmt: skip
                if fields["status_id"] in (142, 143):
                    fields.setdefault("closed_at", self.stamp())
            item.update(fields, updated_at=self.stamp())

    def delete(self, entity: str, item_id: int) -> None:
        with self._lock:
            del self.items[entity][item_id]
            self._event(f"{entity[:-1]}_deleted", entity[:-1], item_id, [], [])

    def _event(self, kind: str, entity: str, entity_id: int, after: list, before: list) -> None:
        self.events.append(
            {"id": uuid.uuid4().hex[:24], "type": kind, "entity_id": entity_id, "entity_type": entity,
             "created_by": 0, "created_at": self.stamp(), "value_after": after, "value_before": before,
             "account_id": 31000000}
        )  # fmt: skip

    # --- faults ---------------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused (401); refresh tokens still work."""
        with self._lock:
            self._tokens.clear()

    def limit(self, calls: int = 1) -> None:
        with self._lock:
            self._limited += calls

    def fail(self, calls: int = 1) -> None:
        with self._lock:
            self._failing += calls

    def calls_to(self, path: str, *, after: int = 0) -> list[ApiCall]:
        with self._lock:
            return [c for c in self.calls[after:] if c.path == path]

    # --- internals ------------------------------------------------------------------------------------------------

    def _recorded(self, handler):
        async def serve(request: web.Request) -> web.Response:
            response = await handler(request)
            with self._lock:
                self.calls.append(
                    ApiCall(request.method, request.path, tuple(request.query.items()), response.status,
                            request.headers.get("Authorization", ""))
                )  # fmt: skip
            return response

        return serve

    async def _missing(self, request: web.Request) -> web.Response:
        return _problem(404, "Not Found", f"No route for {request.method} {request.path}")

    async def _token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Bad Request", "The body is not JSON")
        with self._lock:
            if (body.get("client_id"), body.get("client_secret")) != (self.client_id, self.client_secret):
                return _problem(401, "Unauthorized", "Client authentication failed")
            if body.get("redirect_uri") != self.redirect_uri:
                return _problem(400, "Bad Request", "Redirect URI mismatch")
            if body.get("grant_type") != "refresh_token":
                return _problem(400, "Bad Request", "Unsupported grant type")
            token = str(body.get("refresh_token") or "")
            if token not in self._refresh:
                return _problem(400, "Некорректный запрос", "Invalid refresh token", "Token has been revoked")
            self._refresh.discard(token)
            access = f"fake-access-{next(self._numbers):04d}-{uuid.uuid4()}"
            self._tokens.add(access)
            refresh = self.issue_refresh_token()
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 86400, "access_token": access, "refresh_token": refresh}
        )

    def _gate(self, request: web.Request) -> web.Response | None:
        """Auth, then the rate limit and the faults asked for."""
        auth = request.headers.get("Authorization", "")
        with self._lock:
            if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
                return _problem(401, "Unauthorized", "Unauthorized")
            if self.blocked:
                return _problem(403, "Forbidden", "Account is blocked")
            now = self.clock()
            self._times = [t for t in self._times if now - t < 1.0]
            if len(self._times) >= self.requests_per_second or self._limited:
                self._limited = max(self._limited - 1, 0)
                return _problem(429, "Too Many Requests", "Too many requests")
            self._times.append(now)
            if self._failing:
                self._failing -= 1
                return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")
        return None

    def _page(self, request: web.Request, entity: str, items: list[dict[str, Any]], cap: int) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", 50))
            page = int(q.get("page", 1))
        except ValueError:
            return _problem(400, "Bad Request", "limit and page are numbers")
        if not 1 <= limit <= cap or page < 1:
            return _problem(400, "Bad Request", f"limit must be from 1 to {cap}")
        chunk = items[(page - 1) * limit : page * limit]
        if not chunk:
            return web.Response(status=204)
        base = f"{self.base_url}{request.path}"
        others = "&".join(f"{k}={v}" for k, v in q.items() if k != "page")
        links: dict[str, Any] = {"self": {"href": f"{base}?{others}&page={page}"}}
        if page * limit < len(items):
            links["next"] = {"href": f"{base}?{others}&page={page + 1}"}
        return web.json_response({"_page": page, "_links": links, "_embedded": {entity: chunk}},
                                 content_type="application/hal+json")  # fmt: skip

    @staticmethod
    def _range(q, name: str) -> tuple[int | None, int | None]:
        low, high = q.get(f"filter[{name}][from]"), q.get(f"filter[{name}][to]")
        return (int(low) if low else None), (int(high) if high else None)

    async def _list(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        entity = _PATHS[request.path]
        q = request.query
        low, high = self._range(q, "updated_at")
        kinds = q.getall("filter[note_type][]", [])
        with self._lock:
            items = [dict(i) for i in self.items[entity].values()]
            companies = dict(self.items["companies"])
        items = [
            i
            for i in items
            if (low is None or i["updated_at"] >= low) and (high is None or i["updated_at"] <= high)
        ]
        if kinds:
            items = [i for i in items if i.get("note_type") in kinds]
        orders = [(k[6:-1], v) for k, v in q.items() if k.startswith("order[")]
        if len(orders) > 1 or any(f not in _ORDERS[entity] or v not in ("asc", "desc") for f, v in orders):
            return _problem(400, "Bad Request", f"order by one of {', '.join(_ORDERS[entity])}, asc or desc")
        field, direction = orders[0] if orders else ("id", "asc")
        items.sort(key=lambda i: (i.get(field) or 0, i["id"]), reverse=direction == "desc")
        for item in items:
            if entity == "leads":
                linked = item.pop("company_ids", [])
                if "companies" in q.get("with", "").split(","):
                    item["_embedded"] = {
                        "companies": [
                            {"id": c, "_links": {"self": {"href": f"{self.base_url}/api/v4/companies/{c}"}}}
                            for c in linked
                            if c in companies
                        ]
                    }
            if entity == "users":
                group = item.get("rights", {}).get("group_id")
                if group is not None and "group" in q.get("with", ""):
                    item["_embedded"] = {"groups": [{"id": group, "name": self.groups.get(group, "")}]}
        return self._page(request, "notes" if entity == "notes" else entity, items, 250)

    async def _pipelines(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        return web.json_response(
            {"_total_items": len(self.pipelines), "_embedded": {"pipelines": self.pipelines}}
        )

    async def _events(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        q = request.query
        low, _ = self._range(q, "created_at")
        kind, entity = q.get("filter[type]"), q.get("filter[entity]")
        with self._lock:
            events = [
                e for e in self.events
                if (kind is None or e["type"] == kind) and (entity is None or e["entity_type"] == entity)
                and (low is None or e["created_at"] >= low)
            ]  # fmt: skip
        events = sorted(
            events, key=lambda e: e["created_at"], reverse=True
        )  # newest first, as amoCRM lists them
        return self._page(request, "events", events, 100)

    def advance(self, **parts: float) -> datetime:
        self.now += timedelta(**parts)
        return self.now
